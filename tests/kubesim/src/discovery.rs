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

fn sub_entry(
    d: &ResourceDef,
    sub: &str,
    kind: &str,
    group: Option<(&str, &str)>,
    verbs: &[&str],
) -> Value {
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

/// The resources served in GROUP/VERSION, by plural; `None` when the group-version is not served.
fn served_defs(
    reg: &Registry,
    group: &str,
    version: &str,
) -> Option<Vec<std::sync::Arc<ResourceDef>>> {
    let mut defs: Vec<_> = reg
        .all()
        .into_iter()
        .filter(|d| d.group == group && d.serves_version(version))
        .collect();
    if defs.is_empty() {
        return None;
    }
    defs.sort_by(|a, b| a.plural.cmp(&b.plural));
    Some(defs)
}

/// GET /api/v1 or /apis/GROUP/VERSION
pub fn api_resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let defs = served_defs(reg, group, version)?;
    let mut resources = Vec::new();
    for d in &defs {
        resources.push(resource_entry(d));
        if d.status {
            resources.push(sub_entry(
                d,
                "status",
                &d.kind,
                None,
                &["get", "patch", "update"],
            ));
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
        if d.key() == "/pods" {
            resources.push(sub_entry(d, "log", &d.kind, None, &["get"]));
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

/// Path key of a group-version in the OpenAPI v3 index: `api/v1`, `apis/apps/v1`.
fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn served_gvs(reg: &Registry) -> std::collections::BTreeSet<(String, String)> {
    reg.all()
        .iter()
        .flat_map(|d| {
            d.versions
                .iter()
                .map(|v| (d.group.clone(), v.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// GET /openapi/v3: the index of group-version documents.
pub fn openapi_v3_index(reg: &Registry) -> Value {
    let mut paths = serde_json::Map::new();
    for (g, v) in served_gvs(reg) {
        let doc = openapi_v3_gv(reg, &g, &v).unwrap_or(Value::Null);
        let hash = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            doc.to_string().hash(&mut h);
            format!("{:016X}", h.finish())
        };
        let p = gv_path(&g, &v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

/// GET /openapi/v3/apis/GROUP/VERSION: a minimal OpenAPI v3 document. It declares the operations
/// with their `x-kubernetes-group-version-kind` and the `fieldValidation`/`fieldManager` query
/// parameters (kubectl checks these to decide on server-side field validation); schemas are the
/// CRDs' own, and free-form objects for built-ins.
pub fn openapi_v3_gv(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let defs = served_defs(reg, group, version)?;
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let qp = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for d in &defs {
        let gvk = json!({"group": group, "version": version, "kind": d.kind});
        let schema_name = format!(
            "{}.{}.{}",
            if group.is_empty() {
                "io.k8s.api.core"
            } else {
                group
            },
            version,
            d.kind
        );
        let schema = d
            .crd
            .as_ref()
            .and_then(|c| c.schema(version).cloned())
            .unwrap_or_else(
                || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            );
        let mut schema = schema;
        schema["x-kubernetes-group-version-kind"] = json!([gvk]);
        schemas.insert(schema_name.clone(), schema);
        let body = json!({"content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema_name}")}}}});
        let ok = json!({"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema_name}")}}}}});
        let op = |action: &str, params: Vec<Value>, with_body: bool| {
            let mut o = json!({
                "operationId": format!("{action}{}", d.kind),
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": params,
                "responses": ok,
            });
            if with_body {
                o["requestBody"] = body.clone();
            }
            o
        };
        let write_params = vec![qp("dryRun"), qp("fieldManager"), qp("fieldValidation")];
        let mut patch_params = write_params.clone();
        patch_params.push(qp("force"));
        let item = json!({
            "get": op("get", vec![], false),
            "put": op("put", write_params.clone(), true),
            "patch": op("patch", patch_params, true),
            "delete": op("delete", vec![qp("dryRun")], false),
        });
        let coll = json!({
            "get": op("list", vec![qp("labelSelector"), qp("fieldSelector"), qp("limit"), qp("continue"), qp("watch"), qp("resourceVersion")], false),
            "post": op("post", write_params, true),
        });
        if d.namespaced {
            paths.insert(
                format!("{prefix}/namespaces/{{namespace}}/{}", d.plural),
                coll,
            );
            paths.insert(
                format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", d.plural),
                item,
            );
        } else {
            paths.insert(format!("{prefix}/{}", d.plural), coll);
            paths.insert(format!("{prefix}/{}/{{name}}", d.plural), item);
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0-kubesim"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// The Content-Type of `/openapi/v2` in protobuf, as kube-openapi answers it: client-go asks for
/// `application/com.github.proto-openapi.spec.v2@v1.0+protobuf` (and reads nothing else
/// there); the answer spells the version `.v1.0`, since Go's mime parser refuses the `@`.
pub const OPENAPI_V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// `/openapi/v2`: a Swagger 2.0 document (gnostic's `openapi_v2.Document` in protobuf) with
/// only `swagger: "2.0"`: no definitions. kubesim describes its types in OpenAPI v3 only; kubectl
/// reads v2 where v3 does not settle a question (a `kind: List` file, a kind missing from the v3
/// document) for client-side validation, and skips a kind the v2 document does not describe, as
/// it does for a CRD without a schema — so `kubectl apply -f list.yaml` works, and the server's
/// own validation still applies to every item.
pub fn openapi_v2_protobuf() -> Vec<u8> {
    let mut doc = Vec::new();
    crate::proto::bytes_field(1, b"2.0", &mut doc); // Document.swagger
    doc
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
        assert!(
            apps["resources"]
                .as_array()
                .expect("array")
                .iter()
                .any(|x| x["name"] == "deployments/scale")
        );
        let groups = api_group_list(&r);
        assert!(
            groups["groups"]
                .as_array()
                .expect("array")
                .iter()
                .any(|g| g["name"] == "policy")
        );
        assert!(api_group(&r, "nope").is_none());
        assert!(api_resource_list(&r, "apps", "v9").is_none());
    }
}
