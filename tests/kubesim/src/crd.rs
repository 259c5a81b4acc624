//! CustomResourceDefinitions: loading them from YAML files, completing their status, and turning
//! them into served resources.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::resources::{CrdInfo, ResourceDef, ScalePaths};

/// Resource key of CustomResourceDefinitions.
pub const CRD_KEY: &str = "apiextensions.k8s.io/customresourcedefinitions";

#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing YAML in {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("CustomResourceDefinition {name:?}: {field}: Required value")]
    Missing { name: String, field: &'static str },
    #[error(
        "CustomResourceDefinition {name:?}: metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
    )]
    BadName { name: String },
    #[error(
        "CustomResourceDefinition {name:?}: spec.versions: Invalid value: must have exactly one version marked as storage version"
    )]
    Storage { name: String },
}

impl CrdError {
    /// The field path the error is about (for 422 causes).
    pub fn field(&self) -> &'static str {
        match self {
            CrdError::Missing { field, .. } => field,
            CrdError::BadName { .. } => "metadata.name",
            CrdError::Storage { .. } => "spec.versions",
            CrdError::Read { .. } | CrdError::Parse { .. } => "",
        }
    }
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn strings(v: &Value, ptr: &str) -> Vec<String> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Builds the served resource of a CRD object.
pub fn resource_def(crd: &Value) -> Result<ResourceDef, CrdError> {
    let name = s(crd, "/metadata/name").to_string();
    let group = s(crd, "/spec/group").to_string();
    let kind = s(crd, "/spec/names/kind").to_string();
    let plural = s(crd, "/spec/names/plural").to_string();
    for (v, f) in [
        (&group, "spec.group"),
        (&kind, "spec.names.kind"),
        (&plural, "spec.names.plural"),
    ] {
        if v.is_empty() {
            return Err(CrdError::Missing { name, field: f });
        }
    }
    let served: Vec<&Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
                .collect()
        })
        .unwrap_or_default();
    if served.is_empty() {
        return Err(CrdError::Missing {
            name,
            field: "spec.versions",
        });
    }
    let storage = served
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool).unwrap_or(false))
        .or(served.first())
        .map(|v| s(v, "/name").to_string())
        .unwrap_or_default();
    let mut versions: Vec<String> = vec![storage.clone()];
    versions.extend(
        served
            .iter()
            .map(|v| s(v, "/name").to_string())
            .filter(|n| *n != storage),
    );
    let by_version: BTreeMap<String, Value> = served
        .iter()
        .map(|v| (s(v, "/name").to_string(), (*v).clone()))
        .collect();
    let sv = by_version.get(&storage).cloned().unwrap_or(Value::Null);
    let status = sv.pointer("/subresources/status").is_some();
    let scale = sv.pointer("/subresources/scale").map(|sc| ScalePaths {
        spec_replicas: s(sc, "/specReplicasPath").to_string(),
        status_replicas: s(sc, "/statusReplicasPath").to_string(),
        label_selector: sc
            .get("labelSelectorPath")
            .and_then(Value::as_str)
            .map(String::from),
    });
    let namespaced = s(crd, "/spec/scope") != "Cluster";
    let singular = match s(crd, "/spec/names/singular") {
        "" => kind.to_lowercase(),
        x => x.to_string(),
    };
    let list_kind = match s(crd, "/spec/names/listKind") {
        "" => format!("{kind}List"),
        x => x.to_string(),
    };
    Ok(ResourceDef {
        group,
        version: storage,
        versions,
        kind,
        list_kind,
        plural,
        singular,
        namespaced,
        short_names: strings(crd, "/spec/names/shortNames"),
        categories: strings(crd, "/spec/names/categories"),
        verbs: [
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "create",
            "update",
            "watch",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        status,
        scale,
        eviction: false,
        token: false,
        generation: true,
        return_deleted_object: true,
        crd: Some(Arc::new(CrdInfo {
            crd: crd.clone(),
            versions: by_version,
        })),
    })
}

/// Checks a CRD object and fills in its status (accepted names, Established) as the apiextensions
/// controllers would.
pub fn prepare(crd: &mut Value, now: &str) -> Result<(), CrdError> {
    let def = resource_def(crd)?;
    let name = s(crd, "/metadata/name").to_string();
    if name != format!("{}.{}", def.plural, def.group) {
        return Err(CrdError::BadName { name });
    }
    let storage_count = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool).unwrap_or(false))
                .count()
        })
        .unwrap_or(0);
    if storage_count != 1 {
        return Err(CrdError::Storage { name });
    }
    let mut names = json!({"kind": def.kind, "listKind": def.list_kind, "plural": def.plural, "singular": def.singular});
    if !def.short_names.is_empty() {
        names["shortNames"] = json!(def.short_names);
    }
    if !def.categories.is_empty() {
        names["categories"] = json!(def.categories);
    }
    let cond = |t: &str, reason: &str, msg: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": msg});
    crd["status"] = json!({
        "acceptedNames": names,
        "conditions": [
            cond("NamesAccepted", "NoConflicts", "no conflicts found"),
            cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": [def.version],
    });
    Ok(())
}

/// Parses every CustomResourceDefinition document in a YAML/JSON file.
pub fn parse_file(path: &Path) -> Result<Vec<Value>, CrdError> {
    let text = std::fs::read_to_string(path).map_err(|source| CrdError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).map_err(|e| CrdError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(docs
        .into_iter()
        .filter(|d| d.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"))
        .collect())
}

/// Every CRD in a file, or in the `.yaml`/`.yml`/`.json` files of a directory (recursively).
pub fn load_path(path: &Path) -> Result<Vec<Value>, CrdError> {
    if path.is_file() {
        return parse_file(path);
    }
    let mut out = Vec::new();
    let rd = std::fs::read_dir(path).map_err(|source| CrdError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(load_path(&p)?);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml") | Some("yml") | Some("json")
        ) {
            out.extend(parse_file(&p)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
          "metadata":{"name":"widgets.example.com"},
          "spec":{"group":"example.com","scope":"Namespaced",
            "names":{"kind":"Widget","plural":"widgets","shortNames":["wd"]},
            "versions":[{"name":"v1","served":true,"storage":true,
              "subresources":{"status":{},"scale":{"specReplicasPath":".spec.replicas","statusReplicasPath":".status.replicas"}},
              "schema":{"openAPIV3Schema":{"type":"object"}}}]}})
    }

    #[test]
    fn def_from_crd() {
        let d = resource_def(&crd()).expect("def");
        assert_eq!(d.key(), "example.com/widgets");
        assert_eq!(d.list_kind, "WidgetList");
        assert!(d.status && d.scale.is_some() && d.namespaced);
        let mut c = crd();
        prepare(&mut c, "2026-01-01T00:00:00Z").expect("prepare");
        assert_eq!(c["status"]["acceptedNames"]["singular"], "widget");
        let mut bad = crd();
        bad["metadata"]["name"] = json!("nope");
        assert!(matches!(
            prepare(&mut bad, ""),
            Err(CrdError::BadName { .. })
        ));
    }
}
