//! Running the engine over sources, and the result every output format is made from.

use std::collections::BTreeMap;

use serde::Serialize;

use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;

use super::error::{Diagnostic, DiagnosticJson, ScanError};
use super::fast;
use super::lean::{self, Lean, Top, YamlTop, is_claim_kind};
use super::load::{self, Source, Syntax};
use super::locate::Locator;
use super::objects::{self, Object};
use crate::api::{Category, Finding, Severity};
use crate::detect::{
    ClaimSource, CompiledPolicy, DeviceRequestView, EvalContext, FieldPath, PodView, PolicySet,
    device_requests,
};

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
    /// ResourceClaims and ResourceClaimTemplates read so far: (namespace, source) → requests.
    pub claims: Vec<(ClaimKey, Vec<DeviceRequestView>)>,
    /// Pods with resource claims, evaluated once every input is read ([`Scanner::finish`]).
    pub deferred: Vec<Deferred>,
}

/// Identity of a claim object: namespace (empty when the manifest has none), and which
/// object (ResourceClaim or ResourceClaimTemplate, by name).
pub type ClaimKey = (String, ClaimSource);

/// A pod whose resource claims are resolved at the end of the scan, with what is needed to
/// place its findings then.
#[derive(Debug)]
pub struct Deferred {
    pub view: PodView,
    pub file: String,
    pub document: usize,
    pub item: Option<usize>,
    /// The text its field paths are relative to, and that text's first line in the file.
    pub text: String,
    pub first_line: u64,
    pub prefix: String,
    /// `text` is JSON (walked), else YAML (parsed with positions).
    pub json: bool,
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
        self.claims.extend(other.claims);
        self.deferred.extend(other.deferred);
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

/// How a document's text is read back to place its findings (only when it has some).
enum Text<'t> {
    /// YAML read by the full parser: parsed again, with positions, on the first finding.
    Yaml {
        text: &'t str,
        /// Prefix of field paths within `text` (`items[3].` for YAML List items).
        prefix: String,
        locator: Option<Option<Locator>>,
    },
    /// JSON (a document or a List item): walked for the field.
    Json { text: &'t str },
    /// YAML transcoded to JSON: the JSON (a document or an item at `base` of it) is walked,
    /// and the offset mapped back to the YAML line.
    Transcoded {
        json: &'t str,
        base: usize,
        map: &'t fast::Transcoded,
        /// The YAML document and this object's path prefix in it (kept by deferrals).
        yaml: &'t str,
        prefix: String,
    },
}

/// Where a document's findings are placed: its text and its first line in the file.
struct Place<'t> {
    text: Text<'t>,
    first_line: u64,
}

impl<'t> Place<'t> {
    fn yaml(text: &'t str, first_line: u64, prefix: String) -> Place<'t> {
        Place {
            text: Text::Yaml {
                text,
                prefix,
                locator: None,
            },
            first_line,
        }
    }

    fn json(text: &'t str, first_line: u64) -> Place<'t> {
        Place {
            text: Text::Json { text },
            first_line,
        }
    }

    /// The text and path prefix to keep for a deferred evaluation.
    fn owned(&self) -> (String, String, bool) {
        match &self.text {
            Text::Yaml { text, prefix, .. } => (text.to_string(), prefix.clone(), false),
            Text::Json { text } => (text.to_string(), String::new(), true),
            Text::Transcoded { yaml, prefix, .. } => (yaml.to_string(), prefix.clone(), false),
        }
    }

    /// 1-based line (and column when known) of a field, in the file.
    fn find(&mut self, field: &str) -> Option<(u64, Option<u64>)> {
        let first = self.first_line;
        match &mut self.text {
            Text::Yaml {
                text,
                prefix,
                locator,
            } => {
                let text: &str = text;
                let loc = locator.get_or_insert_with(|| Locator::new(text));
                let path = format!("{prefix}{field}");
                loc.as_ref()
                    .and_then(|l| l.find(&path))
                    .map(|(line, col)| (line + first - 1, Some(col)))
            }
            Text::Json { text } => {
                let path = FieldPath::parse(field).ok()?;
                let (off, _) = fast::json_find(text, &path)?;
                let (line, col) = fast::line_col(text, off);
                Some((line + first - 1, Some(col)))
            }
            Text::Transcoded {
                json, base, map, ..
            } => {
                let path = FieldPath::parse(field).ok()?;
                let (off, _) = fast::json_find(json, &path)?;
                map.line_of(*base + off).map(|l| (l + first - 1, None))
            }
        }
    }
}

/// Counts lines up to byte offsets given in increasing order (JSON List items).
struct LineCounter<'t> {
    text: &'t str,
    at: usize,
    line: u64,
}

impl LineCounter<'_> {
    fn line_at(&mut self, offset: usize) -> u64 {
        let offset = offset.min(self.text.len());
        if offset < self.at {
            self.at = 0;
            self.line = 1;
        }
        self.line += self.text.as_bytes()[self.at..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        self.at = offset;
        self.line
    }
}

/// Byte offset of `part` inside `whole` (`part` borrowed from `whole`).
fn offset_in(whole: &str, part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

fn first_line_of(text: &str) -> u64 {
    let skipped = text.len() - text.trim_start().len();
    1 + text.as_bytes()[..skipped]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64
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

    /// Scans every document of a source into `report`. Pods with resource claims wait for
    /// [`finish`](Self::finish), when every claim object of the input is known.
    pub fn scan_source(&self, source: &Source, report: &mut ScanReport) {
        match source.syntax {
            Syntax::Json => self.scan_json(source, report),
            Syntax::Yaml => {
                for (index, (first_line, chunk)) in
                    load::split_yaml(&source.text).into_iter().enumerate()
                {
                    report.documents += 1;
                    self.yaml_document(source, index, first_line, chunk, report);
                }
            }
        }
    }

    fn scan_json(&self, source: &Source, report: &mut ScanReport) {
        let text = source.text.as_str();
        // the common case: one JSON value (an object or a List)
        match serde_json::from_str::<Top<&RawValue>>(text) {
            Ok(top) => {
                report.documents += 1;
                self.json_document(source, 0, first_line_of(text), text, top, report);
                return;
            }
            Err(e) if e.is_data() => {
                report.documents += 1;
                self.typed_document(source, 0, first_line_of(text), text, report);
                return;
            }
            Err(_) => {}
        }
        // a stream of JSON values, or a syntax error
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
        let mut counter = LineCounter {
            text,
            at: 0,
            line: 1,
        };
        let mut index = 0;
        loop {
            match stream.next() {
                None => break,
                Some(Ok(raw)) => {
                    report.documents += 1;
                    let doc = raw.get();
                    let first_line = counter.line_at(offset_in(text, doc));
                    match serde_json::from_str::<Top<&RawValue>>(doc) {
                        Ok(top) => self.json_document(source, index, first_line, doc, top, report),
                        Err(_) => self.typed_document(source, index, first_line, doc, report),
                    }
                }
                Some(Err(err)) => {
                    // a JSON stream cannot be resynchronised after a syntax error
                    report.documents += 1;
                    report.errors.push(Diagnostic {
                        file: source.name.clone(),
                        document: Some(index),
                        item: None,
                        line: Some(err.line() as u64),
                        column: Some(err.column() as u64),
                        error: ScanError::Json {
                            message: load::plain_json_message(&err),
                        },
                    });
                    break;
                }
            }
            index += 1;
        }
    }

    /// One JSON document: a List's items one at a time, or one object.
    fn json_document(
        &self,
        source: &Source,
        index: usize,
        first_line: u64,
        doc: &str,
        top: Top<&RawValue>,
        report: &mut ScanReport,
    ) {
        let kind = top.kind.clone().unwrap_or_default();
        if lean::is_list_kind(&kind) && top.items.is_some() {
            let item_kind = kind
                .strip_suffix("List")
                .filter(|k| !k.is_empty())
                .map(str::to_string);
            let item_api = if item_kind.is_some() {
                top.api_version.clone()
            } else {
                None
            };
            let inherit = item_kind.as_deref().map(|k| (k, item_api.as_deref()));
            let mut counter = LineCounter {
                text: doc,
                at: 0,
                line: first_line,
            };
            for (i, raw) in top.items.into_iter().flatten().enumerate() {
                let text = raw.get();
                let start = counter.line_at(offset_in(doc, text));
                let at = Origin {
                    file: &source.name,
                    document: index,
                    item: Some(i),
                };
                match serde_json::from_str::<Top<IgnoredAny>>(text) {
                    Ok(item)
                        if item.items.is_some()
                            && item.kind.as_deref().is_some_and(lean::is_list_kind) =>
                    {
                        report.skipped += 1;
                    }
                    Ok(item) => {
                        let lean = lean::object(item, inherit);
                        self.lean_object(
                            lean,
                            &at,
                            Place::json(text, start),
                            || serde_json::from_str::<Value>(text).ok(),
                            inherit,
                            report,
                        );
                    }
                    Err(_) => {
                        // decoded by the typed path, which names what is wrong
                        let value = serde_json::from_str::<Value>(text).ok();
                        self.typed_item(value, &at, Place::json(text, start), inherit, report);
                    }
                }
            }
            return;
        }
        let at = Origin {
            file: &source.name,
            document: index,
            item: None,
        };
        let lean = lean::object(top, None);
        self.lean_object(
            lean,
            &at,
            Place::json(doc, first_line),
            || serde_json::from_str::<Value>(doc).ok(),
            None,
            report,
        );
    }

    /// One YAML document.
    fn yaml_document(
        &self,
        source: &Source,
        index: usize,
        first_line: u64,
        chunk: &str,
        report: &mut ScanReport,
    ) {
        if let Some(t) = fast::yaml_to_json(chunk)
            && let Ok(top) = serde_json::from_str::<Top<&RawValue>>(&t.json)
        {
            self.transcoded_document(source, index, first_line, chunk, &t, top, report);
            return;
        }
        let top = match serde_saphyr::from_str_with_options::<YamlTop>(chunk, load::yaml_options())
        {
            Ok(top) => top,
            Err(_) => {
                self.typed_document(source, index, first_line, chunk, report);
                return;
            }
        };
        let kind = top.kind.clone().unwrap_or_default();
        if lean::is_list_kind(&kind) && top.items.is_some() {
            let item_kind = kind
                .strip_suffix("List")
                .filter(|k| !k.is_empty())
                .map(str::to_string);
            let item_api = if item_kind.is_some() {
                top.api_version.clone()
            } else {
                None
            };
            let inherit = item_kind.as_deref().map(|k| (k, item_api.as_deref()));
            // claim objects among the items are read from the whole document, once
            let mut doc_value: Option<Option<Value>> = None;
            for (i, item) in top.items.into_iter().flatten().enumerate() {
                let at = Origin {
                    file: &source.name,
                    document: index,
                    item: Some(i),
                };
                if item.items.is_some() && item.kind.as_deref().is_some_and(lean::is_list_kind) {
                    report.skipped += 1;
                    continue;
                }
                let lean = lean::object(item, inherit);
                let value = || {
                    doc_value
                        .get_or_insert_with(|| yaml_value(chunk))
                        .as_ref()
                        .and_then(|v| v.pointer(&format!("/items/{i}")))
                        .cloned()
                };
                self.lean_object(
                    lean,
                    &at,
                    Place::yaml(chunk, first_line, format!("items[{i}].")),
                    value,
                    inherit,
                    report,
                );
            }
            return;
        }
        let at = Origin {
            file: &source.name,
            document: index,
            item: None,
        };
        let lean = lean::object(top, None);
        self.lean_object(
            lean,
            &at,
            Place::yaml(chunk, first_line, String::new()),
            || yaml_value(chunk),
            None,
            report,
        );
    }

    /// A YAML document transcoded to JSON: decoded like JSON, placed in the YAML.
    #[allow(clippy::too_many_arguments)]
    fn transcoded_document(
        &self,
        source: &Source,
        index: usize,
        first_line: u64,
        chunk: &str,
        t: &fast::Transcoded,
        top: Top<&RawValue>,
        report: &mut ScanReport,
    ) {
        let json = t.json.as_str();
        fn place<'a>(
            json: &'a str,
            text: &'a str,
            t: &'a fast::Transcoded,
            first_line: u64,
            yaml: &'a str,
            prefix: String,
        ) -> Place<'a> {
            Place {
                text: Text::Transcoded {
                    json: text,
                    base: offset_in(json, text),
                    map: t,
                    yaml,
                    prefix,
                },
                first_line,
            }
        }
        let kind = top.kind.clone().unwrap_or_default();
        if lean::is_list_kind(&kind) && top.items.is_some() {
            let item_kind = kind
                .strip_suffix("List")
                .filter(|k| !k.is_empty())
                .map(str::to_string);
            let item_api = if item_kind.is_some() {
                top.api_version.clone()
            } else {
                None
            };
            let inherit = item_kind.as_deref().map(|k| (k, item_api.as_deref()));
            for (i, raw) in top.items.into_iter().flatten().enumerate() {
                let text = raw.get();
                let at = Origin {
                    file: &source.name,
                    document: index,
                    item: Some(i),
                };
                match serde_json::from_str::<Top<IgnoredAny>>(text) {
                    Ok(item)
                        if item.items.is_some()
                            && item.kind.as_deref().is_some_and(lean::is_list_kind) =>
                    {
                        report.skipped += 1;
                    }
                    Ok(item) => {
                        let lean = lean::object(item, inherit);
                        self.lean_object(
                            lean,
                            &at,
                            place(json, text, t, first_line, chunk, format!("items[{i}].")),
                            || serde_json::from_str::<Value>(text).ok(),
                            inherit,
                            report,
                        );
                    }
                    Err(_) => {
                        // the typed path reports it, placed in the YAML
                        let value = serde_json::from_str::<Value>(text).ok();
                        self.typed_item(
                            value,
                            &at,
                            Place::yaml(chunk, first_line, format!("items[{i}].")),
                            inherit,
                            report,
                        );
                    }
                }
            }
            return;
        }
        let at = Origin {
            file: &source.name,
            document: index,
            item: None,
        };
        match lean::object(top, None) {
            // the typed path reports what is missing, placed in the YAML
            Lean::Fallback => self.typed_document(source, index, first_line, chunk, report),
            lean => self.lean_object(
                lean,
                &at,
                place(json, json, t, first_line, chunk, String::new()),
                || serde_json::from_str::<Value>(json).ok(),
                None,
                report,
            ),
        }
    }

    /// What the lean path made of an object; `value` gives the object as JSON when it is
    /// needed (claim objects, and the typed path's checks).
    fn lean_object(
        &self,
        lean: Lean,
        at: &Origin<'_>,
        place: Place<'_>,
        value: impl FnOnce() -> Option<Value>,
        inherit: Option<(&str, Option<&str>)>,
        report: &mut ScanReport,
    ) {
        match lean {
            Lean::Skipped => report.skipped += 1,
            Lean::Claim => {
                report.skipped += 1;
                if let Some(v) = value() {
                    record_claim(&v, report);
                }
            }
            Lean::Fallback => self.typed_item(value(), at, place, inherit, report),
            Lean::Target(view) => self.target(*view, at, place, report),
        }
    }

    /// A document the lean path could not read: parsed again as a value, decoded by the
    /// typed path (the same results, and errors that name their field).
    fn typed_document(
        &self,
        source: &Source,
        index: usize,
        first_line: u64,
        text: &str,
        report: &mut ScanReport,
    ) {
        let single = Source {
            name: source.name.clone(),
            text: text.to_string(),
            syntax: source.syntax,
        };
        let doc = match load::documents(&single).next() {
            Some(Ok(doc)) => doc,
            Some(Err(e)) => {
                let mut d = e.into_diagnostic(&source.name);
                d.document = Some(index);
                d.line = d.line.map(|l| l + first_line - 1);
                report.errors.push(d);
                return;
            }
            None => return,
        };
        let at = Origin {
            file: &source.name,
            document: index,
            item: None,
        };
        let list = objects::is_list(&doc.value);
        if list {
            if let Some(v) = doc.value.get("items").and_then(Value::as_array) {
                for (i, item) in v.iter().enumerate() {
                    if item.get("kind").and_then(Value::as_str).is_some_and(|k| {
                        is_claim_kind(
                            k,
                            item.get("apiVersion")
                                .and_then(Value::as_str)
                                .unwrap_or_default(),
                        )
                    }) {
                        let _ = i;
                        record_claim(item, report);
                    }
                }
            }
        } else if doc
            .value
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| {
                is_claim_kind(
                    k,
                    doc.value
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                )
            })
        {
            record_claim(&doc.value, report);
        }
        for entry in objects::entries(doc.value) {
            let item_at = Origin {
                item: entry.item,
                ..at
            };
            let prefix = entry
                .item
                .map(|i| format!("items[{i}]."))
                .unwrap_or_default();
            self.typed_object(
                entry.object,
                &item_at,
                Place::yaml(text, first_line, prefix),
                report,
            );
        }
    }

    /// A List item the lean path could not read, decoded by the typed path.
    fn typed_item(
        &self,
        value: Option<Value>,
        at: &Origin<'_>,
        place: Place<'_>,
        inherit: Option<(&str, Option<&str>)>,
        report: &mut ScanReport,
    ) {
        let Some(mut value) = value else {
            report.skipped += 1;
            return;
        };
        if let (Value::Object(map), Some((k, a))) = (&mut value, inherit) {
            map.entry("kind")
                .or_insert_with(|| Value::String(k.to_string()));
            if let Some(a) = a {
                map.entry("apiVersion")
                    .or_insert_with(|| Value::String(a.to_string()));
            }
        }
        let mut place = Some(place);
        for entry in objects::entries(value) {
            let p = match place.take() {
                Some(p) => p,
                None => Place::yaml("", 0, String::new()),
            };
            self.typed_object(entry.object, at, p, report);
        }
    }

    fn typed_object(
        &self,
        object: Object,
        at: &Origin<'_>,
        mut place: Place<'_>,
        report: &mut ScanReport,
    ) {
        match object {
            Object::Skipped => report.skipped += 1,
            Object::Invalid {
                kind,
                name,
                field,
                message,
            } => {
                let (line, column) = match place.find(&field) {
                    Some((l, c)) => (Some(l), c),
                    None => (Some(place.first_line), None),
                };
                report.errors.push(Diagnostic {
                    file: at.file.to_string(),
                    document: Some(at.document),
                    item: at.item,
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
            Object::Target(view) => self.target(*view, at, place, report),
        }
    }

    /// Evaluates a pod (now, or at the end when it has resource claims).
    fn target(
        &self,
        view: PodView,
        at: &Origin<'_>,
        mut place: Place<'_>,
        report: &mut ScanReport,
    ) {
        report.objects += 1;
        if !view.resource_claims.is_empty() {
            let (text, prefix, json) = place.owned();
            report.deferred.push(Deferred {
                view,
                file: at.file.to_string(),
                document: at.document,
                item: at.item,
                text,
                first_line: place.first_line,
                prefix,
                json,
            });
            return;
        }
        let findings = self.evaluate(&view);
        push_findings(&view, findings, at, &mut place, &mut report.findings);
    }

    /// Evaluates the pods with resource claims once every claim object is known, and puts
    /// their findings in input order.
    pub fn finish(&self, report: &mut ScanReport) {
        if report.deferred.is_empty() {
            return;
        }
        let claims = std::mem::take(&mut report.claims);
        for d in std::mem::take(&mut report.deferred) {
            let mut view = d.view;
            let ns = view.namespace.clone().unwrap_or_default();
            view.resolve_claims(|source| {
                claims
                    .iter()
                    .find(|((n, s), _)| *n == ns && s == source)
                    .map(|(_, r)| r.clone())
            });
            let findings = self.evaluate(&view);
            let at = Origin {
                file: &d.file,
                document: d.document,
                item: d.item,
            };
            let mut place = if d.json {
                Place::json(&d.text, d.first_line)
            } else {
                Place::yaml(&d.text, d.first_line, d.prefix.clone())
            };
            push_findings(&view, findings, &at, &mut place, &mut report.findings);
        }
        report.claims = claims;
        // input order: file (parts are merged in order; sort is stable), document, item
        let order: Vec<String> = {
            let mut seen = Vec::new();
            for f in &report.findings {
                if !seen.contains(&f.file) {
                    seen.push(f.file.clone());
                }
            }
            seen
        };
        report.findings.sort_by_key(|f| {
            (
                order.iter().position(|x| *x == f.file).unwrap_or(0),
                f.document,
                f.item.unwrap_or(0),
            )
        });
    }
}

/// Where an object is in the input.
#[derive(Clone, Copy)]
struct Origin<'a> {
    file: &'a str,
    document: usize,
    item: Option<usize>,
}

fn push_findings(
    view: &PodView,
    findings: Vec<Finding>,
    at: &Origin<'_>,
    place: &mut Place<'_>,
    out: &mut Vec<Located>,
) {
    for f in findings {
        let line = place
            .find(&f.field)
            .map(|(l, _)| l)
            .unwrap_or(place.first_line);
        out.push(Located {
            file: at.file.to_string(),
            document: at.document,
            item: at.item,
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

/// Records a ResourceClaim or ResourceClaimTemplate (as JSON) in the report.
fn record_claim(v: &Value, report: &mut ScanReport) {
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
    let Some(name) = v.pointer("/metadata/name").and_then(Value::as_str) else {
        return;
    };
    let ns = v
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let source = match kind {
        "ResourceClaimTemplate" => ClaimSource::Template(name.to_string()),
        _ => ClaimSource::Claim(name.to_string()),
    };
    report.claims.push(((ns, source), device_requests(v)));
}

fn yaml_value(text: &str) -> Option<Value> {
    serde_saphyr::from_str_with_options::<Value>(text, load::yaml_options()).ok()
}
