//! The operator against kubesim: containment, restore, policies, reliability, part two, and the black-box end to end.
//!
//! One test binary per family (each file below is a module): one link and one copy of
//! kube, tokio and hyper on disk instead of one per file (see Cargo.toml `autotests`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod operator_common;

mod operator_contain;
mod operator_containment2;
mod operator_e2e;
mod operator_policies;
mod operator_reliability;
mod operator_restore;
