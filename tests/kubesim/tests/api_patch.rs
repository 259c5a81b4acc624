//! patch: JSON merge, JSON patch, strategic merge (keyed lists), server-side apply.

use crate::common;

use common::{cluster, status_of};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [
                    {"name": "a", "image": "registry.k8s.io/pause:3.10", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
                    {"name": "b", "image": "registry.k8s.io/pause:3.10"}
                ]}}
        }
    }))
    .expect("deployment")
}

#[tokio::test]
async fn merge_and_json_patch() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let o: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "m", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1", "y": "2"}}),
    )
    .expect("cm");
    api.create(&PostParams::default(), &o)
        .await
        .expect("create");
    let pp = PatchParams::default();
    let o = api
        .patch(
            "m",
            &pp,
            &Patch::Merge(
                json!({"metadata": {"labels": {"b": null, "c": "3"}}, "data": {"x": "9"}}),
            ),
        )
        .await
        .expect("merge");
    let labels = o.metadata.labels.expect("labels");
    assert_eq!(labels.get("a").map(String::as_str), Some("1"));
    assert!(!labels.contains_key("b"));
    assert_eq!(o.data.as_ref().expect("data")["x"], "9");
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/y", "value": "2"},
        {"op": "remove", "path": "/data/y"},
        {"op": "add", "path": "/data/z", "value": "3"}
    ]))
    .expect("ops");
    let o = api
        .patch("m", &pp, &Patch::<()>::Json(ops))
        .await
        .expect("json patch");
    let data = o.data.expect("data");
    assert!(!data.contains_key("y"));
    assert_eq!(data["z"], "3");
    // A failing test op is a 422 and changes nothing.
    let bad: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/z", "value": "nope"}]))
            .expect("ops");
    let s = status_of(
        api.patch("m", &pp, &Patch::<()>::Json(bad))
            .await
            .expect_err("422"),
    );
    assert_eq!(s.code, 422);
    // A patch carrying a stale resourceVersion is a conflict.
    let s = status_of(
        api.patch(
            "m",
            &pp,
            &Patch::Merge(json!({"metadata": {"resourceVersion": "1"}, "data": {"x": "0"}})),
        )
        .await
        .expect_err("409"),
    );
    assert_eq!(s.code, 409);
    // Patching something that does not exist is a 404.
    let s = status_of(
        api.patch("ghost", &pp, &Patch::Merge(json!({"data": {}})))
            .await
            .expect_err("404"),
    );
    assert_eq!(s.code, 404);
}

#[tokio::test]
async fn strategic_merge_patch_merges_keyed_lists() {
    let c = cluster().await;
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), &c.ns);
    api.create(&PostParams::default(), &deployment("smp"))
        .await
        .expect("create");
    let d = api
        .patch(
            "smp",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "a", "image": "registry.k8s.io/pause:3.9", "env": [{"name": "Y", "value": "20"}, {"name": "Z", "value": "3"}]}
            ]}}}})),
        )
        .await
        .expect("smp");
    let cs = d
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod spec")
        .containers;
    assert_eq!(cs.len(), 2, "container b is kept");
    let a = cs.iter().find(|c| c.name == "a").expect("a");
    assert_eq!(a.image.as_deref(), Some("registry.k8s.io/pause:3.9"));
    let env: Vec<(String, String)> = a
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.name, e.value.unwrap_or_default()))
        .collect();
    assert!(env.contains(&("X".into(), "1".into())));
    assert!(env.contains(&("Y".into(), "20".into())));
    assert!(env.contains(&("Z".into(), "3".into())));
    // $patch: delete removes one element.
    let d = api
        .patch(
            "smp",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "b", "$patch": "delete"}
            ]}}}})),
        )
        .await
        .expect("smp delete");
    let cs = d
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod spec")
        .containers;
    assert_eq!(
        cs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        vec!["a"]
    );
}

#[tokio::test]
async fn server_side_apply_creates_merges_and_detects_conflicts() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let alice = PatchParams::apply("alice");
    let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"owner": "alice", "a": "1"}});
    // Create-or-merge: the object does not exist yet.
    let o = api
        .patch("ssa", &alice, &Patch::Apply(&cfg))
        .await
        .expect("apply creates");
    assert_eq!(o.data.as_ref().expect("data")["a"], "1");
    let mf = o.metadata.managed_fields.clone().expect("managedFields");
    assert!(
        mf.iter()
            .any(|m| m.manager.as_deref() == Some("alice")
                && m.operation.as_deref() == Some("Apply"))
    );
    // Another manager adds its own field: merged.
    let bob = PatchParams::apply("bob");
    let o = api
        .patch(
            "ssa",
            &bob,
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"b": "2"}})),
        )
        .await
        .expect("bob applies");
    let data = o.data.expect("data");
    assert_eq!((data["a"].as_str(), data["b"].as_str()), ("1", "2"));
    // Bob changing alice's field conflicts...
    let grab = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"b": "2", "owner": "bob"}});
    let s = status_of(
        api.patch("ssa", &bob, &Patch::Apply(&grab))
            .await
            .expect_err("conflict"),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(
        s.message.contains("conflict with \"alice\""),
        "{}",
        s.message
    );
    // ...unless forced.
    let o = api
        .patch("ssa", &bob.clone().force(), &Patch::Apply(&grab))
        .await
        .expect("forced");
    assert_eq!(o.data.expect("data")["owner"], "bob");
    // Alice stops applying `a`: it is removed.
    let o = api
        .patch(
            "ssa",
            &alice,
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {}})),
        )
        .await
        .expect("alice shrinks");
    let data = o.data.unwrap_or_default();
    assert!(!data.contains_key("a"));
    assert_eq!(data.get("b").map(String::as_str), Some("2"));
}
