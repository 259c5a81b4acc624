//! `cryptojack crdgen`: CRD YAML generated from the Rust types.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct CrdgenArgs {}

pub fn run(_args: CrdgenArgs) -> ExitCode {
    ExitCode::FAILURE
}
