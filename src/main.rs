//! The `cryptojack` command: parse the command line, start the chosen subcommand.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cryptojack",
    version,
    about = "Detect and contain cryptojacking in Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan manifests offline with the detection engine (CI gates, triage of a cluster dump).
    Scan(cryptojack::scan::cli::ScanArgs),
    /// Run the operator: watch pods, record incidents, contain, restore.
    Run(cryptojack::controller::RunArgs),
    /// Render an incident as a Markdown post-incident report.
    Report(cryptojack::report::ReportArgs),
    /// Write the CustomResourceDefinitions generated from the Rust types.
    Crdgen(cryptojack::api::crdgen::CrdgenArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Scan(args) => cryptojack::scan::cli::run(args),
        Command::Run(args) => cryptojack::controller::run(args),
        Command::Report(args) => cryptojack::report::run(args),
        Command::Crdgen(args) => cryptojack::api::crdgen::run(args),
    }
}
