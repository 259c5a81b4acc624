//! `cryptojack scan` command line.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ScanArgs {}

pub fn run(_args: ScanArgs) -> ExitCode {
    ExitCode::FAILURE
}
