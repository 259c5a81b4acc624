//! The Helm chart and image: render, rules, RBAC proof, install, image.
//!
//! One test binary per family (each file below is a module): one link and one copy of
//! kube, tokio and hyper on disk instead of one per file (see Cargo.toml `autotests`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod chart_common;
mod operator_common;

mod chart_image;
mod chart_install;
mod chart_rbac;
mod chart_render;
mod chart_rules;
