//! The detection engine. PURE: no Kubernetes client, no async, no I/O.
//!
//! `CompiledPolicy::compile` turns a `CryptojackPolicy` into multi-pattern automata once;
//! `CompiledPolicy::evaluate` runs a `PodView` through them and returns the findings.

pub mod view;

pub use crate::api::{Category, Finding, Severity};
pub use view::{ContainerKind, ContainerView, EnvView, NodeRequirement, PodView, PortView, TolerationView};
