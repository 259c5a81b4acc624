//! `cryptojack scan` command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::ValueEnum;

use super::load;
use super::policy::load_policies;
use super::report::{ScanReport, Scanner};
use super::{sarif, table};
use crate::api::Severity;
use crate::detect::CompiledPolicy;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable table, most severe first.
    Table,
    /// The JSON contract (findings, summary, errors).
    Json,
    /// SARIF 2.1.0.
    Sarif,
}

/// Lowest severity that fails the scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Critical,
    High,
    Medium,
    Low,
}

impl FailOn {
    pub fn severity(self) -> Severity {
        match self {
            FailOn::Critical => Severity::Critical,
            FailOn::High => Severity::High,
            FailOn::Medium => Severity::Medium,
            FailOn::Low => Severity::Low,
        }
    }
}

/// Scan manifests (files, directories, `-` for stdin) for cryptojacking.
///
/// Exit codes: 0 no finding at or above --fail-on; 1 findings at or above --fail-on;
/// 2 an input or policy could not be read or is invalid (takes precedence).
#[derive(clap::Args, Debug)]
pub struct ScanArgs {
    /// Files, directories (walked recursively: .yaml, .yml, .json) or `-` for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// CryptojackPolicy manifest (repeatable; multi-document files allowed). Without it,
    /// the built-in default policy.
    #[arg(long = "policy", short = 'p', value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Exit 1 when any finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = FailOn::High)]
    pub fail_on: FailOn,
}

/// Runs the scan described by `args` and returns everything found.
pub fn scan(args: &ScanArgs) -> ScanReport {
    let mut report = ScanReport::default();
    let policies = if args.policies.is_empty() {
        vec![CompiledPolicy::builtin_default()]
    } else {
        load_policies(&args.policies, &mut report.errors)
    };
    let scanner = Scanner::new(policies);
    report.policies = scanner.policy_names();
    let files = load::expand(&args.paths, &mut report.errors);
    for part in scan_files(&scanner, &files) {
        report.merge(part);
    }
    scanner.finish(&mut report);
    report
}

/// Scans the files on all available cores (files are independent); results come back in
/// input order.
fn scan_files(scanner: &Scanner, files: &[Option<PathBuf>]) -> Vec<ScanReport> {
    let scan_one = |path: &Option<PathBuf>| {
        let mut part = ScanReport::default();
        match load::read(path.as_deref()) {
            Ok(source) => scanner.scan_source(&source, &mut part),
            Err(diag) => part.errors.push(*diag),
        }
        part
    };
    let workers = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .min(files.len());
    if workers <= 1 {
        return files.iter().map(scan_one).collect();
    }
    let next = AtomicUsize::new(0);
    let mut parts: Vec<(usize, ScanReport)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = files.get(i) else { break };
                        mine.push((i, scan_one(path)));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(mine) => mine,
                // A panic in a worker is a bug: surface it on the main thread.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    parts.sort_by_key(|(i, _)| *i);
    parts.into_iter().map(|(_, part)| part).collect()
}

/// Exit code of a finished scan: 2 on any error, 1 on a finding at or above `fail_on`, else 0.
pub fn exit_code(report: &ScanReport, fail_on: FailOn) -> u8 {
    if !report.errors.is_empty() {
        2
    } else if report
        .max_severity()
        .is_some_and(|s| s >= fail_on.severity())
    {
        1
    } else {
        0
    }
}

pub fn run(args: ScanArgs) -> ExitCode {
    let report = scan(&args);
    let rendered = match args.format {
        Format::Table => Ok(table::render(&report)),
        Format::Json => serde_json::to_string_pretty(&report.json()).map(|s| s + "\n"),
        Format::Sarif => serde_json::to_string_pretty(&sarif::render(&report)).map(|s| s + "\n"),
    };
    let mut stderr = std::io::stderr().lock();
    for diag in &report.errors {
        let _ = writeln!(stderr, "error: {diag}");
    }
    match rendered {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(text.as_bytes())
                .and_then(|_| stdout.flush())
                .is_err()
            {
                return ExitCode::from(2);
            }
        }
        Err(e) => {
            let _ = writeln!(stderr, "error: cannot render the report: {e}");
            return ExitCode::from(2);
        }
    }
    ExitCode::from(exit_code(&report, args.fail_on))
}
