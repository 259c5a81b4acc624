//! ReplicationControllers: the resource (defaulted selector and labels, `scale` and `status`
//! subresources, kubectl's columns) and the controller keeping their pods (ownerReferences to the
//! RC, replacements for deleted pods, scale to 0), with garbage collection of the pods when the RC
//! is deleted.

use crate::common;

use common::{PAUSE, cluster, eventually};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

async fn live_pods(pods: &Api<Pod>, app: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .expect("list pods")
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

async fn wait_pods(pods: &Api<Pod>, app: &str, n: usize) -> Vec<Pod> {
    eventually(30, || async {
        let ps = live_pods(pods, app).await;
        (ps.len() == n).then_some(ps)
    })
    .await
    .unwrap_or_else(|| panic!("{n} pods of {app}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_controllers_keep_scale_and_collect_their_pods() {
    let c = cluster().await;
    let rcs: Api<ReplicationController> = Api::namespaced(c.client.clone(), &c.ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    let rc: ReplicationController = serde_json::from_value(json!({
        "metadata": {"name": "legacy"},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "legacy"}},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "c", "image": PAUSE}]}}}
    }))
    .expect("rc");
    let created = rcs
        .create(&PostParams::default(), &rc)
        .await
        .expect("create");
    // The selector and the labels are defaulted from the template.
    let spec = created.spec.as_ref().expect("spec");
    assert_eq!(
        spec.selector
            .as_ref()
            .and_then(|s| s.get("app"))
            .map(String::as_str),
        Some("legacy")
    );
    assert_eq!(
        created
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app"))
            .map(String::as_str),
        Some("legacy")
    );
    let uid = created.metadata.uid.clone().expect("uid");
    let ps = wait_pods(&pods, "legacy", 2).await;
    for p in &ps {
        let r = &p
            .metadata
            .owner_references
            .as_ref()
            .expect("ownerReferences")[0];
        assert_eq!(
            (
                r.kind.as_str(),
                r.api_version.as_str(),
                r.uid.as_str(),
                r.controller
            ),
            ("ReplicationController", "v1", uid.as_str(), Some(true))
        );
        assert!(
            p.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("legacy-"))
        );
    }
    let ready = eventually(30, || async {
        let s = rcs.get("legacy").await.ok()?.status?;
        (s.ready_replicas == Some(2)).then_some(s.replicas)
    })
    .await;
    assert_eq!(ready, Some(2));
    // A deleted pod is replaced.
    let victim = ps[0].metadata.name.clone().expect("name");
    pods.delete(&victim, &DeleteParams::default().grace_period(0))
        .await
        .expect("delete pod");
    let again = wait_pods(&pods, "legacy", 2).await;
    assert!(
        again
            .iter()
            .all(|p| p.metadata.name.as_deref() != Some(victim.as_str()))
    );
    // kubectl's columns and the scale subresource.
    let table = c.kubectl_ok(&["get", "rc", "legacy"]);
    let header = table.lines().next().unwrap_or("");
    for col in ["NAME", "DESIRED", "CURRENT", "READY", "AGE"] {
        assert!(header.contains(col), "{table}");
    }
    let wide = c.kubectl_ok(&["get", "rc", "legacy", "-o", "wide"]);
    assert!(
        wide.contains("app=legacy") && wide.contains(PAUSE),
        "{wide}"
    );
    let scale = rcs.get_scale("legacy").await.expect("scale");
    assert_eq!(
        scale.status.as_ref().and_then(|s| s.selector.as_deref()),
        Some("app=legacy")
    );
    c.kubectl_ok(&["scale", "rc", "legacy", "--replicas=3"]);
    wait_pods(&pods, "legacy", 3).await;
    rcs.patch_scale(
        "legacy",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 0}})),
    )
    .await
    .expect("scale to 0");
    wait_pods(&pods, "legacy", 0).await;
    // Pods of a deleted RC are garbage-collected.
    rcs.patch_scale(
        "legacy",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .expect("scale to 1");
    wait_pods(&pods, "legacy", 1).await;
    rcs.delete("legacy", &DeleteParams::background())
        .await
        .expect("delete rc");
    wait_pods(&pods, "legacy", 0).await;
}
