//! The CRDs: drift from the Rust types, schema shape, CEL rules.
//!
//! One test binary per family (each file below is a module): one link and one copy of
//! kube, tokio and hyper on disk instead of one per file (see Cargo.toml `autotests`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod crd_cel;
mod crd_drift;
mod crd_schema;
