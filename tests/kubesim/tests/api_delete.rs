//! delete: responses, finalizers, propagation policies (Background, Foreground, Orphan), pod
//! grace periods, namespace termination.

use crate::common;

use common::{cluster, eventually, status_of};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use serde_json::json;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}})).expect("cm")
}

fn owned_cm(name: &str, owner: &ConfigMap) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap",
        "name": owner.metadata.name, "uid": owner.metadata.uid, "blockOwnerDeletion": true
    }]}}))
    .expect("cm")
}

async fn gone(api: &Api<ConfigMap>, name: &str, secs: u64) -> bool {
    let api = api.clone();
    let name = name.to_string();
    eventually(secs, move || {
        let api = api.clone();
        let name = name.clone();
        async move {
            api.get_opt(&name)
                .await
                .ok()
                .flatten()
                .is_none()
                .then_some(())
        }
    })
    .await
    .is_some()
}

#[tokio::test]
async fn delete_answers_status_or_object() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    api.create(&PostParams::default(), &cm("d"))
        .await
        .expect("create");
    let r = api
        .delete("d", &DeleteParams::default())
        .await
        .expect("delete");
    // ConfigMaps answer a Status with the details of what was deleted.
    let status = r.right().expect("a Status for configmaps");
    assert_eq!(status.details.expect("details").name, "d");
    let s = status_of(
        api.delete("d", &DeleteParams::default())
            .await
            .expect_err("404"),
    );
    assert_eq!(s.code, 404);
    // Preconditions.
    let o = api
        .create(&PostParams::default(), &cm("pre"))
        .await
        .expect("create");
    let mut dp = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some("00000000-0000-0000-0000-000000000000".into()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let s = status_of(api.delete("pre", &dp).await.expect_err("409"));
    assert_eq!(s.code, 409);
    dp.preconditions = Some(kube::api::Preconditions {
        uid: o.metadata.uid.clone(),
        resource_version: None,
    });
    api.delete("pre", &dp)
        .await
        .expect("delete with the right uid");
}

#[tokio::test]
async fn finalizers_keep_the_object_until_removed() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let mut o = cm("fin");
    o.metadata.finalizers = Some(vec!["cryptojack.dev/test".into()]);
    api.create(&PostParams::default(), &o)
        .await
        .expect("create");
    let r = api
        .delete("fin", &DeleteParams::default())
        .await
        .expect("delete");
    let pending = r.left().expect("the object, still there");
    assert!(pending.metadata.deletion_timestamp.is_some());
    let still = api.get("fin").await.expect("still there");
    assert!(still.metadata.deletion_timestamp.is_some());
    // New finalizers cannot be added while deleting.
    let s = status_of(
        api.patch(
            "fin",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["cryptojack.dev/test", "other/x"]}})),
        )
        .await
        .expect_err("422"),
    );
    assert_eq!(s.code, 422);
    api.patch(
        "fin",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("remove finalizer");
    assert!(gone(&api, "fin", 5).await);
}

#[tokio::test]
async fn orphan_removes_owner_references() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let owner = api
        .create(&PostParams::default(), &cm("owner"))
        .await
        .expect("owner");
    api.create(&PostParams::default(), &owned_cm("child", &owner))
        .await
        .expect("child");
    api.delete("owner", &DeleteParams::orphan())
        .await
        .expect("delete");
    assert!(gone(&api, "owner", 10).await);
    let child = eventually(10, || {
        let api = api.clone();
        async move {
            let ch = api.get("child").await.ok()?;
            ch.metadata
                .owner_references
                .as_ref()
                .is_none_or(|r| r.is_empty())
                .then_some(ch)
        }
    })
    .await;
    assert!(
        child.is_some(),
        "the dependent survives without its ownerReference"
    );
}

#[tokio::test]
async fn background_deletion_collects_dependents() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let owner = api
        .create(&PostParams::default(), &cm("bg-owner"))
        .await
        .expect("owner");
    api.create(&PostParams::default(), &owned_cm("bg-child", &owner))
        .await
        .expect("child");
    api.delete("bg-owner", &DeleteParams::background())
        .await
        .expect("delete");
    assert!(gone(&api, "bg-owner", 5).await);
    assert!(gone(&api, "bg-child", 15).await, "garbage collected");
}

#[tokio::test]
async fn foreground_deletion_deletes_dependents_first() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let owner = api
        .create(&PostParams::default(), &cm("fg-owner"))
        .await
        .expect("owner");
    let mut child = owned_cm("fg-child", &owner);
    // A finalizer on the child holds the owner in foreground deletion.
    child.metadata.finalizers = Some(vec!["cryptojack.dev/hold".into()]);
    api.create(&PostParams::default(), &child)
        .await
        .expect("child");
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        ..DeleteParams::default()
    };
    let r = api.delete("fg-owner", &dp).await.expect("delete");
    let o = r.left().expect("owner still there");
    assert!(o.metadata.deletion_timestamp.is_some());
    assert!(
        o.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"foregroundDeletion".to_string())
    );
    let deleting_child = eventually(10, || {
        let api = api.clone();
        async move {
            let ch = api.get("fg-child").await.ok()?;
            ch.metadata.deletion_timestamp.is_some().then_some(())
        }
    })
    .await;
    assert!(deleting_child.is_some(), "the dependent is being deleted");
    assert!(
        api.get("fg-owner").await.is_ok(),
        "the owner waits for its dependents"
    );
    api.patch(
        "fg-child",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("release child");
    assert!(gone(&api, "fg-child", 10).await);
    assert!(gone(&api, "fg-owner", 15).await);
}

#[tokio::test]
async fn pod_grace_period() {
    let c = cluster().await;
    let api: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    let p: Pod = serde_json::from_value(json!({"metadata": {"name": "g"},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}))
    .expect("pod");
    api.create(&PostParams::default(), &p)
        .await
        .expect("create");
    // Deleting with grace 0 removes the pod immediately.
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    let r = api.delete("g", &dp).await.expect("delete");
    let _ = r;
    let gone = eventually(10, || {
        let api = api.clone();
        async move {
            api.get_opt("g")
                .await
                .ok()
                .flatten()
                .is_none()
                .then_some(())
        }
    })
    .await;
    assert!(gone.is_some());
}

#[tokio::test]
async fn namespace_deletion_removes_its_content() {
    let c = cluster().await;
    let nss: Api<Namespace> = Api::all(c.client.clone());
    let name = common::random_ns();
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    nss.create(&PostParams::default(), &ns).await.expect("ns");
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &name);
    api.create(&PostParams::default(), &cm("x"))
        .await
        .expect("cm");
    let r = nss
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete ns");
    if let Some(n) = r.left() {
        assert_eq!(
            n.status.and_then(|s| s.phase).as_deref(),
            Some("Terminating")
        );
    }
    let gone = eventually(30, || {
        let nss = nss.clone();
        let name = name.clone();
        async move {
            nss.get_opt(&name)
                .await
                .ok()
                .flatten()
                .is_none()
                .then_some(())
        }
    })
    .await;
    assert!(gone.is_some(), "namespace gone");
}

#[tokio::test]
async fn delete_collection_with_a_label_selector() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    for (n, l) in [("dc1", "x"), ("dc2", "x"), ("dc3", "y")] {
        let o: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": n, "labels": {"g": l}}}))
                .expect("cm");
        api.create(&PostParams::default(), &o)
            .await
            .expect("create");
    }
    api.delete_collection(
        &DeleteParams::default(),
        &kube::api::ListParams::default().labels("g=x"),
    )
    .await
    .expect("deletecollection");
    assert!(gone(&api, "dc1", 5).await);
    assert!(gone(&api, "dc2", 5).await);
    assert!(api.get("dc3").await.is_ok());
}

#[tokio::test]
async fn graceful_pod_deletion_sets_a_deletion_timestamp() {
    let c = cluster().await;
    let api: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    let p: Pod = serde_json::from_value(json!({"metadata": {"name": "graceful"},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}))
    .expect("pod");
    api.create(&PostParams::default(), &p)
        .await
        .expect("create");
    // Wait until the pod is scheduled and running (a kubelet will then stop it gracefully).
    let running = eventually(60, || {
        let api = api.clone();
        async move {
            let p = api.get("graceful").await.ok()?;
            (p.status?.phase.as_deref() == Some("Running")).then_some(())
        }
    })
    .await;
    assert!(running.is_some(), "the pod runs");
    let dp = DeleteParams {
        grace_period_seconds: Some(30),
        ..DeleteParams::default()
    };
    let r = api.delete("graceful", &dp).await.expect("delete");
    let pending = r.left().expect("a graceful delete answers the pod");
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert_eq!(pending.metadata.deletion_grace_period_seconds, Some(30));
    let gone = eventually(40, || {
        let api = api.clone();
        async move {
            api.get_opt("graceful")
                .await
                .ok()
                .flatten()
                .is_none()
                .then_some(())
        }
    })
    .await;
    assert!(
        gone.is_some(),
        "the kubelet removes the pod once its containers stopped"
    );
}
