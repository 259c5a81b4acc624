//! `--format table`: one line per finding, most severe first, and a summary line.

use std::fmt::Write;

use super::report::{Located, ScanReport};

const HEADERS: [&str; 7] = [
    "SEVERITY",
    "LOCATION",
    "OBJECT",
    "CONTAINER",
    "CATEGORY",
    "RULE",
    "EVIDENCE",
];

/// Location of a finding as `file:document` (`file:document/item` inside a List) and line.
pub fn location(f: &Located) -> String {
    match f.item {
        Some(item) => format!("{}:{}/{} (line {})", f.file, f.document, item, f.line),
        None => format!("{}:{} (line {})", f.file, f.document, f.line),
    }
}

/// `Kind namespace/name` (no namespace: `Kind name`).
pub fn object(f: &Located) -> String {
    match &f.namespace {
        Some(ns) => format!("{} {}/{}", f.kind, ns, f.name),
        None => format!("{} {}", f.kind, f.name),
    }
}

/// Renders the table (no trailing errors: those go to stderr).
pub fn render(report: &ScanReport) -> String {
    let mut findings: Vec<&Located> = report.findings.iter().collect();
    // Stable: within a severity, input order.
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let rows: Vec<[String; 7]> = findings
        .iter()
        .map(|f| {
            [
                f.severity.to_string(),
                location(f),
                object(f),
                f.container.clone().unwrap_or_else(|| "-".into()),
                f.category.to_string(),
                f.rule.clone(),
                f.evidence.replace(['\n', '\r', '\t'], " "),
            ]
        })
        .collect();
    let mut widths = HEADERS.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    if !rows.is_empty() {
        line(&mut out, &HEADERS.map(String::from), &widths);
        for row in &rows {
            line(&mut out, row, &widths);
        }
        out.push('\n');
    }
    let s = report.summary();
    let _ = writeln!(
        out,
        "{} findings (critical {}, high {}, medium {}, low {}) in {} objects from {} documents; {} skipped; {} errors",
        report.findings.len(),
        s.by_severity.critical,
        s.by_severity.high,
        s.by_severity.medium,
        s.by_severity.low,
        s.objects,
        s.documents,
        s.skipped,
        s.errors,
    );
    out
}

fn line(out: &mut String, cells: &[String; 7], widths: &[usize; 7]) {
    let last = cells.len() - 1;
    for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
        if i == last {
            out.push_str(cell);
        } else {
            let pad = w.saturating_sub(cell.chars().count());
            out.push_str(cell);
            out.extend(std::iter::repeat_n(' ', pad + 2));
        }
    }
    out.push('\n');
}
