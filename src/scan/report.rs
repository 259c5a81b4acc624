//! Running the engine over sources, and the result every output format is made from.

use std::collections::BTreeMap;

use serde::Serialize;

use super::error::{Diagnostic, DiagnosticJson, ScanError};
use super::load::{self, Source};
use super::locate::Locator;
use super::objects::{self, Object};
use crate::api::{Category, Finding, Severity};
use crate::detect::{CompiledPolicy, EvalContext, PodView, PolicySet};

/// One finding with where it was found. Serialized as an element of `findings[]` of the
/// JSON output (see the module documentation for the contract).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Located {
    /// The input path as given (`-` for stdin), `/`-separated.
    pub file: String,
    /// 0-based index of the document within the file.
    pub document: usize,
    /// 0-based index within a `List` document; absent for documents that are not Lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// 1-based line of the finding's field (or of the document's start when the field
    /// cannot be placed).
    pub line: u64,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub container: Option<String>,
    pub rule: String,
    #[serde(serialize_with = "category_lowercase")]
    pub category: Category,
    #[serde(serialize_with = "severity_lowercase")]
    pub severity: Severity,
    /// Field path within the object (for List items: within the item).
    pub field: String,
    pub evidence: String,
}

/// The scan contract spells categories in kebab-case (`miner-image`), unlike the CRDs.
fn category_lowercase<S: serde::Serializer>(c: &Category, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.as_str())
}

/// The scan contract spells severities in lowercase (`critical`), unlike the CRDs.
fn severity_lowercase<S: serde::Serializer>(v: &Severity, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

/// Counts by severity, always with all four keys.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BySeverity {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
}

impl BySeverity {
    fn add(&mut self, s: Severity) {
        match s {
            Severity::Critical => self.critical += 1,
            Severity::High => self.high += 1,
            Severity::Medium => self.medium += 1,
            Severity::Low => self.low += 1,
        }
    }
}

/// The `summary` object of the JSON output.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub by_severity: BySeverity,
    /// Every category, with 0 for those not found.
    pub by_category: BTreeMap<&'static str, usize>,
    /// Documents read (a List counts as one document).
    pub documents: usize,
    /// Objects evaluated (Pods and workload templates, List items counted one by one).
    pub objects: usize,
    /// Documents or List items of other kinds (or that are no Kubernetes object).
    pub skipped: usize,
    /// Errors (unreadable files, syntax errors, invalid fields, invalid policies).
    pub errors: usize,
    /// Policies the scan ran with (names).
    pub policies: Vec<String>,
}

/// The whole result of a scan.
#[derive(Debug, Default)]
pub struct ScanReport {
    pub findings: Vec<Located>,
    pub documents: usize,
    pub objects: usize,
    pub skipped: usize,
    pub errors: Vec<Diagnostic>,
    pub policies: Vec<String>,
}

/// The JSON output (`--format json`).
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    pub findings: &'a [Located],
    pub summary: Summary,
    pub errors: Vec<DiagnosticJson>,
}

impl ScanReport {
    pub fn summary(&self) -> Summary {
        let mut by_severity = BySeverity::default();
        let mut by_category: BTreeMap<&'static str, usize> =
            Category::ALL.iter().map(|c| (c.as_str(), 0)).collect();
        for f in &self.findings {
            by_severity.add(f.severity);
            *by_category.entry(f.category.as_str()).or_default() += 1;
        }
        Summary {
            by_severity,
            by_category,
            documents: self.documents,
            objects: self.objects,
            skipped: self.skipped,
            errors: self.errors.len(),
            policies: self.policies.clone(),
        }
    }

    pub fn json(&self) -> JsonReport<'_> {
        JsonReport {
            findings: &self.findings,
            summary: self.summary(),
            errors: self.errors.iter().map(Diagnostic::to_json).collect(),
        }
    }

    /// Appends another (later) part of the same scan.
    pub fn merge(&mut self, other: ScanReport) {
        self.findings.extend(other.findings);
        self.documents += other.documents;
        self.objects += other.objects;
        self.skipped += other.skipped;
        self.errors.extend(other.errors);
    }

    /// Highest severity found, if any.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// The compiled policies, applied to every object.
pub struct Scanner {
    policies: PolicySet,
}

impl Scanner {
    pub fn new(policies: Vec<CompiledPolicy>) -> Scanner {
        Scanner {
            policies: PolicySet::new(policies),
        }
    }

    pub fn policy_names(&self) -> Vec<String> {
        self.policies.names()
    }

    /// Findings of every policy that applies (namespace labels unknown: a namespace selector
    /// is treated as matching; the object is its own workload for exemptions),
    /// deduplicated by rule, container and field.
    pub fn evaluate(&self, view: &PodView) -> Vec<Finding> {
        self.policies
            .evaluate(view, &EvalContext::offline(view))
            .findings
    }

    /// Scans every document of a source into `report`.
    pub fn scan_source(&self, source: &Source, report: &mut ScanReport) {
        for doc in load::documents(source) {
            let doc = match doc {
                Ok(doc) => doc,
                Err(e) => {
                    report.documents += 1;
                    report.errors.push(e.into_diagnostic(&source.name));
                    continue;
                }
            };
            report.documents += 1;
            // Parsed a second time only when there is something to place.
            let mut locator: Option<Option<Locator>> = None;
            let mut place = |path: &str| -> Option<(u64, u64)> {
                let loc = locator.get_or_insert_with(|| Locator::new(doc.text));
                loc.as_ref()
                    .and_then(|l| l.find(path))
                    .map(|(line, col)| (line + doc.first_line - 1, col))
            };
            for entry in objects::entries(doc.value) {
                let prefix = entry
                    .item
                    .map(|i| format!("items[{i}]."))
                    .unwrap_or_default();
                match entry.object {
                    Object::Skipped => report.skipped += 1,
                    Object::Invalid {
                        kind,
                        name,
                        field,
                        message,
                    } => {
                        let (line, column) = match place(&format!("{prefix}{field}")) {
                            Some((l, c)) => (Some(l), Some(c)),
                            None => (Some(doc.first_line), None),
                        };
                        report.errors.push(Diagnostic {
                            file: source.name.clone(),
                            document: Some(doc.index),
                            item: entry.item,
                            line,
                            column,
                            error: ScanError::Decode {
                                kind,
                                name,
                                field,
                                message,
                            },
                        });
                    }
                    Object::Target(view) => {
                        report.objects += 1;
                        for f in self.evaluate(&view) {
                            let line = place(&format!("{prefix}{}", f.field))
                                .map(|(l, _)| l)
                                .unwrap_or(doc.first_line);
                            report.findings.push(Located {
                                file: source.name.clone(),
                                document: doc.index,
                                item: entry.item,
                                line,
                                kind: view.kind.clone(),
                                namespace: view.namespace.clone(),
                                name: view.name.clone(),
                                container: f.container,
                                rule: f.rule,
                                category: f.category,
                                severity: f.severity,
                                field: f.field,
                                evidence: f.evidence,
                            });
                        }
                    }
                }
            }
        }
    }
}
