//! Discovery documents: /version, /api, /api/v1, /apis, /apis/GROUP, /apis/GROUP/VERSION.
//! Served in the legacy (unaggregated) format; clients that ask for aggregated discovery
//! (kubectl ≥ 1.30) fall back to it when the content type is plain `application/json`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::resources::{Registry, ResourceDef};

/// GET /version
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-kubesim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// GET /api
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_entry(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({
        "name": group,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
    })
}

/// group → served versions (preferred first), for every non-core group.
fn groups(reg: &Registry) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in reg.all() {
        if d.group.is_empty() {
            continue;
        }
        let e = out.entry(d.group.clone()).or_default();
        for v in &d.versions {
            if !e.contains(v) {
                e.push(v.clone());
            }
        }
    }
    out
}

/// GET /apis
pub fn api_group_list(reg: &Registry) -> Value {
    let gs: Vec<Value> = groups(reg)
        .iter()
        .map(|(g, vs)| group_entry(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": gs})
}

/// GET /apis/GROUP
pub fn api_group(reg: &Registry, group: &str) -> Option<Value> {
    let gs = groups(reg);
    let vs = gs.get(group)?;
    let mut g = group_entry(group, vs);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

fn resource_entry(d: &ResourceDef) -> Value {
    let mut r = json!({
        "name": d.plural,
        "singularName": d.singular,
        "namespaced": d.namespaced,
        "kind": d.kind,
        "verbs": d.verbs,
    });
    if !d.short_names.is_empty() {
        r["shortNames"] = json!(d.short_names);
    }
    if !d.categories.is_empty() {
        r["categories"] = json!(d.categories);
    }
    r
}

fn sub_entry(d: &ResourceDef, sub: &str, kind: &str, group: Option<(&str, &str)>, verbs: &[&str]) -> Value {
    let mut r = json!({
        "name": format!("{}/{}", d.plural, sub),
        "singularName": "",
        "namespaced": d.namespaced,
        "kind": kind,
        "verbs": verbs,
    });
    if let Some((g, v)) = group {
        r["group"] = json!(g);
        r["version"] = json!(v);
    }
    r
}

/// GET /api/v1 or /apis/GROUP/VERSION
pub fn api_resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut defs: Vec<_> = reg
        .all()
        .into_iter()
        .filter(|d| d.group == group && d.serves_version(version))
        .collect();
    if defs.is_empty() {
        return None;
    }
    defs.sort_by(|a, b| a.plural.cmp(&b.plural));
    let mut resources = Vec::new();
    for d in &defs {
        resources.push(resource_entry(d));
        if d.status {
            resources.push(sub_entry(d, "status", &d.kind, None, &["get", "patch", "update"]));
        }
        if d.scale.is_some() {
            resources.push(sub_entry(
                d,
                "scale",
                "Scale",
                Some(("autoscaling", "v1")),
                &["get", "patch", "update"],
            ));
        }
        if d.eviction {
            resources.push(sub_entry(
                d,
                "eviction",
                "Eviction",
                Some(("policy", "v1")),
                &["create"],
            ));
        }
        if d.token {
            resources.push(sub_entry(
                d,
                "token",
                "TokenRequest",
                Some(("authentication.k8s.io", "v1")),
                &["create"],
            ));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents() {
        let r = Registry::with_builtins();
        let core = api_resource_list(&r, "", "v1").expect("core");
        let names: Vec<&str> = core["resources"]
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|x| x["name"].as_str())
            .collect();
        assert!(names.contains(&"pods") && names.contains(&"pods/eviction"));
        assert!(names.contains(&"serviceaccounts/token"));
        let apps = api_resource_list(&r, "apps", "v1").expect("apps");
        assert!(apps["resources"].as_array().expect("array").iter().any(|x| x["name"] == "deployments/scale"));
        let groups = api_group_list(&r);
        assert!(groups["groups"].as_array().expect("array").iter().any(|g| g["name"] == "policy"));
        assert!(api_group(&r, "nope").is_none());
        assert!(api_resource_list(&r, "apps", "v9").is_none());
    }
}
