//! The bootstrap RBAC objects a fresh cluster has (`bootstrap/cluster-roles.yaml`): the
//! user-facing ClusterRoles `cluster-admin`, `admin`, `edit`, `view` with their aggregation rules
//! and labels, the `system:aggregate-to-*` roles they aggregate, and the `cluster-admin` binding of
//! `system:masters`. Charts that label their roles `rbac.authorization.k8s.io/aggregate-to-view`
//! (etc.) are aggregated into them by the ClusterRole aggregation controller.
//!
//! The discovery, basic-user and public-info-viewer bindings stay implicit (see `rbac.rs`).

use serde_json::Value;

use crate::api::{Api, ApiError, WriteOpts};

const OBJECTS: &str = include_str!("bootstrap/cluster-roles.yaml");

/// The bootstrap objects.
pub fn objects() -> Result<Vec<Value>, String> {
    serde_saphyr::from_str(OBJECTS).map_err(|e| format!("bootstrap/cluster-roles.yaml: {e}"))
}

/// Creates the bootstrap objects.
pub fn seed(api: &Api) -> Result<(), ApiError> {
    let objects = objects().map_err(ApiError::internal)?;
    for o in objects {
        let av = o.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
        let def = api
            .registry
            .by_kind(av, kind)
            .ok_or_else(|| ApiError::internal(format!("{av} {kind} is not served")))?;
        api.create(&def, &def.version, None, o, &WriteOpts::default())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let objs = objects().expect("yaml");
        let names: Vec<&str> = objs
            .iter()
            .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
            .collect();
        for n in [
            "cluster-admin",
            "admin",
            "edit",
            "view",
            "system:aggregate-to-view",
        ] {
            assert!(names.contains(&n), "{n} in {names:?}");
        }
    }
}
