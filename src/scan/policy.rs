//! `--policy FILE`: CryptojackPolicy manifests, compiled once before scanning.

use std::path::PathBuf;

use serde_json::Value;

use super::error::{Diagnostic, ScanError};
use super::load;
use super::locate::locate;
use crate::api::CryptojackPolicy;
use crate::detect::CompiledPolicy;

/// Reads and compiles every policy of the given files. Invalid policies are reported in
/// `errors` (file, document, line of the offending field when it can be found) and left out.
pub fn load_policies(files: &[PathBuf], errors: &mut Vec<Diagnostic>) -> Vec<CompiledPolicy> {
    let mut policies = Vec::new();
    for file in files {
        let source = match load::read(Some(file)) {
            Ok(source) => source,
            Err(diag) => {
                errors.push(*diag);
                continue;
            }
        };
        let before = policies.len();
        let errors_before = errors.len();
        for doc in load::documents(&source) {
            let doc = match doc {
                Ok(doc) => doc,
                Err(e) => {
                    errors.push(e.into_diagnostic(&source.name));
                    continue;
                }
            };
            let at = |line: Option<u64>, column: Option<u64>, error: ScanError| Diagnostic {
                file: source.name.clone(),
                document: Some(doc.index),
                item: None,
                line: line.or(Some(doc.first_line)),
                column,
                error,
            };
            let kind = doc
                .value
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("(no kind)");
            let api = doc
                .value
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("(no apiVersion)");
            if kind != "CryptojackPolicy" || api != "cryptojack.dev/v1alpha1" {
                errors.push(at(
                    None,
                    None,
                    ScanError::NotAPolicy {
                        found: format!("{api} {kind}"),
                    },
                ));
                continue;
            }
            let declared_name = doc
                .value
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{}#{}", source.name, doc.index));
            let policy: CryptojackPolicy = match serde_path_to_error::deserialize(doc.value) {
                Ok(p) => p,
                Err(e) => {
                    let field = e.path().to_string();
                    let (line, column) = position(doc.text, doc.first_line, &field);
                    errors.push(at(
                        line,
                        column,
                        ScanError::InvalidPolicy {
                            policy: declared_name,
                            field,
                            message: e.into_inner().to_string(),
                        },
                    ));
                    continue;
                }
            };
            let name = declared_name;
            match CompiledPolicy::compile(&name, &policy.spec) {
                Ok(compiled) => policies.push(compiled),
                Err(err) => {
                    for fe in &err.errors {
                        let field = fe.field.to_string();
                        let (line, column) = position(doc.text, doc.first_line, &field);
                        errors.push(at(
                            line,
                            column,
                            ScanError::InvalidPolicy {
                                policy: name.clone(),
                                field,
                                message: fe.message.to_string(),
                            },
                        ));
                    }
                    if err.errors.is_empty() {
                        errors.push(at(
                            None,
                            None,
                            ScanError::InvalidPolicy {
                                policy: name.clone(),
                                field: "spec".into(),
                                message: err.to_string(),
                            },
                        ));
                    }
                }
            }
        }
        if policies.len() == before && errors.len() == errors_before {
            errors.push(Diagnostic::file(&source.name, ScanError::NoPolicy));
        }
    }
    policies
}

/// File position of a policy field; field paths may be given from the object root
/// (`spec.detect...`) or from the spec (`detect...`).
fn position(text: &str, first_line: u64, field: &str) -> (Option<u64>, Option<u64>) {
    let found = if field.starts_with("spec.") || field == "spec" {
        locate(text, field)
    } else {
        locate(text, &format!("spec.{field}")).or_else(|| locate(text, field))
    };
    match found {
        Some((line, column)) => (Some(line + first_line - 1), Some(column)),
        None => (None, None),
    }
}
