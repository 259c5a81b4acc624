//! Custom resource types of the `cryptojack.dev` API group. Types only, no behaviour.

pub mod common;
pub mod crdgen;
pub mod incident;
pub mod policy;

pub use common::{Category, Finding, Severity};

pub use incident::*;
pub use policy::*;

/// API group of every cryptojack custom resource.
pub const GROUP: &str = "cryptojack.dev";
/// The served version.
pub const VERSION: &str = "v1alpha1";
