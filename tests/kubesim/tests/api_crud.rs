//! create / get / update semantics through kube::Client (contract tests: they also pass against a
//! real cluster with CRYPTOJACK_E2E_KUBECONFIG).

use crate::common;

use common::{cluster, status_of};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).expect("cm")
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}
        }
    }))
    .expect("deployment")
}

#[tokio::test]
async fn create_fills_metadata_and_generate_name() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let mut obj = cm("");
    obj.metadata.name = None;
    obj.metadata.generate_name = Some("gen-".into());
    let created = api
        .create(&PostParams::default(), &obj)
        .await
        .expect("create");
    let name = created.metadata.name.clone().expect("name");
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
    assert!(
        created
            .metadata
            .uid
            .as_deref()
            .is_some_and(|u| u.len() == 36)
    );
    assert!(created.metadata.creation_timestamp.is_some());
    let rv: u64 = created
        .metadata
        .resource_version
        .as_deref()
        .expect("rv")
        .parse()
        .expect("numeric rv");
    assert!(rv > 0);
    // Namespace defaulted from the URL.
    assert_eq!(created.metadata.namespace.as_deref(), Some(c.ns.as_str()));
    let got = api.get(&name).await.expect("get");
    assert_eq!(got.metadata.uid, created.metadata.uid);
}

#[tokio::test]
async fn create_twice_is_already_exists() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    api.create(&PostParams::default(), &cm("dup"))
        .await
        .expect("create");
    let s = status_of(
        api.create(&PostParams::default(), &cm("dup"))
            .await
            .expect_err("409"),
    );
    assert_eq!(s.code, 409);
    assert_eq!(s.reason, "AlreadyExists");
    assert_eq!(s.message, "configmaps \"dup\" already exists");
    let d = s.details.expect("details");
    assert_eq!((d.name.as_str(), d.kind.as_str()), ("dup", "configmaps"));
}

#[tokio::test]
async fn not_found_and_missing_namespace() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let s = status_of(api.get("nope").await.expect_err("404"));
    assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
    assert_eq!(s.message, "configmaps \"nope\" not found");
    let deps: Api<Deployment> = Api::namespaced(c.client.clone(), &c.ns);
    let s = status_of(deps.get("nope").await.expect_err("404"));
    assert_eq!(s.message, "deployments.apps \"nope\" not found");
    assert_eq!(s.details.expect("details").group, "apps");
    let missing: Api<ConfigMap> = Api::namespaced(c.client.clone(), "cj-e2e-no-such-namespace");
    let s = status_of(
        missing
            .create(&PostParams::default(), &cm("x"))
            .await
            .expect_err("404"),
    );
    assert_eq!(s.code, 404);
    assert_eq!(
        s.message,
        "namespaces \"cj-e2e-no-such-namespace\" not found"
    );
}

#[tokio::test]
async fn update_uses_optimistic_concurrency() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let v1 = api
        .create(&PostParams::default(), &cm("occ"))
        .await
        .expect("create");
    let mut a = v1.clone();
    a.data = Some([("k".to_string(), "a".to_string())].into());
    let v2 = api
        .replace("occ", &PostParams::default(), &a)
        .await
        .expect("update");
    assert_ne!(v2.metadata.resource_version, v1.metadata.resource_version);
    // Writing again from the stale v1 fails.
    let mut stale = v1.clone();
    stale.data = Some([("k".to_string(), "b".to_string())].into());
    let s = status_of(
        api.replace("occ", &PostParams::default(), &stale)
            .await
            .expect_err("conflict"),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        s.message,
        "Operation cannot be fulfilled on configmaps \"occ\": the object has been modified; please apply your changes to the latest version and try again"
    );
    // Without a resourceVersion the update is unconditional.
    stale.metadata.resource_version = None;
    let v3 = api
        .replace("occ", &PostParams::default(), &stale)
        .await
        .expect("unconditional update");
    assert_eq!(v3.data.as_ref().expect("data")["k"], "b");
    // Name mismatch is a 400.
    let s = status_of(
        api.replace("other", &PostParams::default(), &v3.clone())
            .await
            .expect_err("400"),
    );
    assert_eq!(s.code, 400);
}

#[tokio::test]
async fn resource_versions_increase() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let mut last = 0u64;
    for i in 0..5 {
        let o = api
            .create(&PostParams::default(), &cm(&format!("rv{i}")))
            .await
            .expect("create");
        let rv: u64 = o
            .metadata
            .resource_version
            .expect("rv")
            .parse()
            .expect("num");
        assert!(rv > last);
        last = rv;
    }
}

#[tokio::test]
async fn generation_bumps_on_spec_changes_only() {
    let c = cluster().await;
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), &c.ns);
    let d = api
        .create(&PostParams::default(), &deployment("gen", 0))
        .await
        .expect("create");
    assert_eq!(d.metadata.generation, Some(1));
    let pp = PatchParams::default();
    let d = api
        .patch(
            "gen",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .expect("label");
    assert_eq!(d.metadata.generation, Some(1));
    let d = api
        .patch(
            "gen",
            &pp,
            &Patch::Merge(json!({"spec": {"replicas": 0, "minReadySeconds": 3}})),
        )
        .await
        .expect("spec");
    assert_eq!(d.metadata.generation, Some(2));
}

#[tokio::test]
async fn status_subresource_rules() {
    let c = cluster().await;
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), &c.ns);
    api.create(&PostParams::default(), &deployment("st", 0))
        .await
        .expect("create");
    let pp = PatchParams::default();
    // Status written on the main resource is ignored.
    let d = api
        .patch(
            "st",
            &pp,
            &Patch::Merge(json!({"status": {"observedGeneration": 42}})),
        )
        .await
        .expect("main patch");
    assert_ne!(d.status.and_then(|s| s.observed_generation), Some(42));
    // Spec written through /status is ignored, status is taken.
    let d = api
        .patch_status(
            "st",
            &pp,
            &Patch::Merge(
                json!({"spec": {"minReadySeconds": 7}, "status": {"observedGeneration": 42}}),
            ),
        )
        .await
        .expect("status patch");
    assert_eq!(d.status.and_then(|s| s.observed_generation), Some(42));
    assert_ne!(d.spec.and_then(|s| s.min_ready_seconds), Some(7));
    assert_eq!(d.metadata.generation, Some(1));
}

#[tokio::test]
async fn pods_get_defaults_and_pending_status() {
    let c = cluster().await;
    let api: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
        "status": {"phase": "Succeeded"}
    }))
    .expect("pod");
    let p = api
        .create(&PostParams::default(), &p)
        .await
        .expect("create");
    let spec = p.spec.expect("spec");
    assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(spec.termination_grace_period_seconds, Some(30));
    assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    // Status is not writable on create.
    let phase = p.status.and_then(|s| s.phase);
    assert_ne!(phase.as_deref(), Some("Succeeded"));
}
