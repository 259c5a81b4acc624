//! Discovery: /version, /api, /api/v1, /apis, /apis/GROUP, /apis/GROUP/VERSION, OpenAPI v3 index.

use crate::common;

use common::cluster;
use kube::discovery::{Discovery, Scope};
use serde_json::Value;

async fn get(client: &kube::Client, path: &str) -> Value {
    let req = axum::http::Request::get(path)
        .body(Vec::new())
        .expect("request");
    client.request(req).await.expect(path)
}

#[tokio::test]
async fn discovery_documents() {
    let c = cluster().await;
    let v = c.client.apiserver_version().await.expect("version");
    assert_eq!(v.major, "1");
    let api = get(&c.client, "/api").await;
    assert_eq!(api["kind"], "APIVersions");
    assert!(
        api["versions"]
            .as_array()
            .expect("versions")
            .iter()
            .any(|v| v == "v1")
    );
    let core = get(&c.client, "/api/v1").await;
    let names: Vec<&str> = core["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for want in [
        "pods",
        "pods/status",
        "pods/eviction",
        "nodes",
        "namespaces",
        "serviceaccounts",
        "serviceaccounts/token",
        "secrets",
        "configmaps",
        "services",
        "events",
        "resourcequotas",
    ] {
        assert!(names.contains(&want), "core lacks {want}");
    }
    let pods = core["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["name"] == "pods")
        .expect("pods")
        .clone();
    assert_eq!(pods["kind"], "Pod");
    assert_eq!(pods["namespaced"], true);
    assert!(
        pods["shortNames"]
            .as_array()
            .expect("short")
            .iter()
            .any(|s| s == "po")
    );
    assert!(
        pods["verbs"]
            .as_array()
            .expect("verbs")
            .iter()
            .any(|s| s == "watch")
    );
    let eviction = core["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["name"] == "pods/eviction")
        .expect("eviction")
        .clone();
    assert_eq!(eviction["group"], "policy");
    assert_eq!(eviction["kind"], "Eviction");
    let apps = get(&c.client, "/apis/apps/v1").await;
    let names: Vec<&str> = apps["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for want in [
        "deployments",
        "deployments/scale",
        "replicasets/scale",
        "statefulsets/scale",
        "daemonsets",
    ] {
        assert!(names.contains(&want), "apps lacks {want}");
    }
    let group = get(&c.client, "/apis/policy").await;
    assert_eq!(group["kind"], "APIGroup");
    assert_eq!(group["preferredVersion"]["groupVersion"], "policy/v1");
    let groups = get(&c.client, "/apis").await;
    let gnames: Vec<&str> = groups["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    for want in [
        "apps",
        "batch",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "coordination.k8s.io",
        "policy",
        "apiextensions.k8s.io",
        "events.k8s.io",
    ] {
        assert!(gnames.contains(&want), "missing group {want}");
    }
    let missing = axum::http::Request::get("/apis/nope.example.com/v1")
        .body(Vec::new())
        .expect("request");
    let e = c.client.request::<Value>(missing).await.expect_err("404");
    assert!(matches!(e, kube::Error::Api(s) if s.code == 404));
}

#[tokio::test]
async fn kube_discovery_runs() {
    let c = cluster().await;
    let d = Discovery::new(c.client.clone())
        .run()
        .await
        .expect("discovery");
    let (ar, caps) = d
        .groups()
        .find(|g| g.name() == "apps")
        .and_then(|g| {
            g.recommended_resources()
                .into_iter()
                .find(|(ar, _)| ar.plural == "deployments")
        })
        .expect("deployments");
    assert_eq!(ar.kind, "Deployment");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(caps.subresources.iter().any(|(s, _)| s.plural == "scale"));
}

#[tokio::test]
async fn openapi_v3_index_lists_group_versions() {
    let c = cluster().await;
    let idx = get(&c.client, "/openapi/v3").await;
    let url = idx["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .expect("apps/v1 entry")
        .to_string();
    let doc = get(&c.client, &url).await;
    let patch = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .find(|(p, _)| p.ends_with("/deployments/{name}"))
        .map(|(_, v)| v["patch"].clone())
        .expect("deployment item path");
    assert!(
        patch["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .any(|p| p["name"] == "fieldValidation")
    );
}
