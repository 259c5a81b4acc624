//! `--format sarif`: SARIF 2.1.0 (validated in the tests against the OASIS schema).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::report::{Located, ScanReport};
use super::table::object;
use crate::api::{Category, Severity};

/// The schema the output declares (OASIS SARIF 2.1.0, errata 01).
pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
/// `tool.driver.informationUri`.
pub const INFORMATION_URI: &str = "https://cryptojack.dev/";

/// SARIF level of a severity: critical/high → error, medium → warning, low → note.
pub fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub code scanning's `security-severity` (CVSS-like score).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

fn describe(c: Category) -> &'static str {
    match c {
        Category::MinerImage => "Container image of a cryptocurrency miner",
        Category::MinerBinary => "Cryptocurrency miner program in the command line",
        Category::MinerFlags => "Command-line options only miners use",
        Category::Pool => "Mining pool address (stratum URL or pool domain)",
        Category::Wallet => "Cryptocurrency wallet address in arguments or environment",
        Category::KnownIoc => {
            "Known indicator: an image from cryptojacking incident reports, or a policy's \
             command pattern or Sigma rule"
        }
        Category::GpuUnapproved => "GPU requested without the approval label",
        Category::Port => "Container port commonly used by mining pools (weak signal)",
        Category::Node => "Node placement typical of GPU abuse (instance type, region, spot)",
    }
}

/// A relative URI reference for a path (percent-encoded); absolute paths become `file://` URIs.
pub fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for b in path.bytes() {
        let keep = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/');
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn fully_qualified(f: &Located) -> String {
    let ns = f.namespace.as_deref().unwrap_or("-");
    match &f.container {
        Some(c) => format!("{}/{}/{}/{}", f.kind, ns, f.name, c),
        None => format!("{}/{}/{}", f.kind, ns, f.name),
    }
}

/// Renders the SARIF log.
pub fn render(report: &ScanReport) -> Value {
    // Rules in order of first appearance.
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rules: Vec<Value> = Vec::new();
    for f in &report.findings {
        if index.contains_key(f.rule.as_str()) {
            continue;
        }
        index.insert(&f.rule, rules.len());
        rules.push(json!({
            "id": f.rule,
            "shortDescription": { "text": describe(f.category) },
            "defaultConfiguration": { "level": level(f.severity) },
            "properties": {
                "category": f.category.as_str(),
                "severity": f.severity.as_str(),
                "security-severity": security_severity(f.severity),
                "tags": ["security", "cryptojacking", f.category.as_str()],
            },
        }));
    }
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let container = f.container.as_deref().map(|c| format!(" container {c}")).unwrap_or_default();
            let mut properties = json!({
                "severity": f.severity.as_str(),
                "category": f.category.as_str(),
                "field": f.field,
                "document": f.document,
            });
            if let (Some(item), Some(map)) = (f.item, properties.as_object_mut()) {
                map.insert("item".into(), json!(item));
            }
            json!({
                "ruleId": f.rule,
                "ruleIndex": index.get(f.rule.as_str()).copied().unwrap_or(0),
                "level": level(f.severity),
                "message": {
                    "text": format!("{} in {}{}: {} (field {})", f.category, object(f), container, f.evidence, f.field),
                },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&f.file) },
                        "region": { "startLine": f.line },
                    },
                    "logicalLocations": [{
                        "fullyQualifiedName": fully_qualified(f),
                        "kind": "resource",
                    }],
                }],
                "properties": properties,
            })
        })
        .collect();
    let notifications: Vec<Value> = report
        .errors
        .iter()
        .map(|d| {
            let mut region = serde_json::Map::new();
            if let Some(line) = d.line {
                region.insert("startLine".into(), json!(line));
                if let Some(col) = d.column.filter(|c| *c > 0) {
                    region.insert("startColumn".into(), json!(col));
                }
            }
            let mut physical = json!({ "artifactLocation": { "uri": uri(&d.file) } });
            if !region.is_empty()
                && let Some(map) = physical.as_object_mut()
            {
                map.insert("region".into(), Value::Object(region));
            }
            json!({
                "level": "error",
                "message": { "text": d.to_string() },
                "locations": [{ "physicalLocation": physical }],
                "properties": { "kind": d.error.metric_label() },
            })
        })
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "cryptojack",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": INFORMATION_URI,
                    "rules": rules,
                },
            },
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_encoded() {
        assert_eq!(
            uri("examples/work loads/a.yaml"),
            "examples/work%20loads/a.yaml"
        );
        assert_eq!(uri("/tmp/x#y.yaml"), "file:///tmp/x%23y.yaml");
        assert_eq!(uri("-"), "-");
    }

    #[test]
    fn levels() {
        assert_eq!(level(Severity::Critical), "error");
        assert_eq!(level(Severity::High), "error");
        assert_eq!(level(Severity::Medium), "warning");
        assert_eq!(level(Severity::Low), "note");
    }
}
