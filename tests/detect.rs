//! Detection: the rules, generated evasion classes, indicators, GPU requests, false positives, labelled fixtures.
//!
//! One test binary per family (each file below is a module): one link and one copy of
//! kube, tokio and hyper on disk instead of one per file (see Cargo.toml `autotests`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod detect_common;

mod detect_evasions;
mod detect_false_positives;
mod detect_fixtures;
mod detect_gpu;
mod detect_indicators;
mod detect_rules;
