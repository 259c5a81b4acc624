//! ResourceQuota enforcement on create and the quota controller's status, through the API
//! contract (the messages are the apiserver's quota admission's).

use crate::common;

use common::{cluster, eventually, status_of};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ResourceQuota};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

async fn create_quota(api: &Api<ResourceQuota>, name: &str, spec: Value) {
    let q: ResourceQuota =
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).expect("quota");
    api.create(&PostParams::default(), &q)
        .await
        .expect("create quota");
}

/// Waits until the quota controller has filled `status.hard` and returns `status.used`.
async fn wait_status(api: &Api<ResourceQuota>, name: &str) -> Value {
    eventually(30, || async {
        let q = api.get(name).await.ok()?;
        let st = serde_json::to_value(q.status?).ok()?;
        st.get("hard")?;
        st.get("used").cloned()
    })
    .await
    .expect("quota status filled in")
}

/// Waits until `status.used` equals `want`.
async fn wait_used(api: &Api<ResourceQuota>, name: &str, want: Value) {
    let got = eventually(30, || {
        let want = want.clone();
        async move {
            let used = wait_status(api, name).await;
            (used == want).then_some(used)
        }
    })
    .await;
    assert!(got.is_some(), "status.used of {name} never became {want}");
}

fn pod(name: &str, resources: Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": common::PAUSE, "resources": resources}]}}))
    .expect("pod")
}

#[tokio::test]
async fn gpu_quota_refuses_gpu_pods_with_the_real_message() {
    let c = cluster().await;
    let quotas: Api<ResourceQuota> = Api::namespaced(c.client.clone(), &c.ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    create_quota(
        &quotas,
        "gpu-cap",
        json!({"hard": {"requests.nvidia.com/gpu": "0"}}),
    )
    .await;
    let used = wait_status(&quotas, "gpu-cap").await;
    assert_eq!(used, json!({"requests.nvidia.com/gpu": "0"}));

    let gpu = pod("gpu", json!({"limits": {"nvidia.com/gpu": "1"}}));
    let s = status_of(
        pods.create(&PostParams::default(), &gpu)
            .await
            .expect_err("403"),
    );
    assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        s.message,
        "pods \"gpu\" is forbidden: exceeded quota: gpu-cap, requested: requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=0, limited: requests.nvidia.com/gpu=0"
    );
    let d = s.details.expect("details");
    assert_eq!((d.name.as_str(), d.kind.as_str()), ("gpu", "pods"));
    // A pod that uses no GPU is not constrained by the GPU quota.
    pods.create(&PostParams::default(), &pod("cpu-only", json!({})))
        .await
        .expect("a pod without a GPU is admitted");
    assert!(pods.get_opt("gpu").await.expect("get").is_none());
}

#[tokio::test]
async fn compute_quota_counts_pods_and_requires_requests() {
    let c = cluster().await;
    let quotas: Api<ResourceQuota> = Api::namespaced(c.client.clone(), &c.ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    create_quota(
        &quotas,
        "compute",
        json!({"hard": {"pods": "2", "requests.cpu": "1", "limits.memory": "1Gi"}}),
    )
    .await;
    assert_eq!(
        wait_status(&quotas, "compute").await,
        json!({"pods": "0", "requests.cpu": "0", "limits.memory": "0"})
    );
    // A quota on cpu/memory requires every container to state them.
    let s = status_of(
        pods.create(&PostParams::default(), &pod("bare", json!({})))
            .await
            .expect_err("403"),
    );
    assert_eq!(
        s.message,
        "pods \"bare\" is forbidden: failed quota: compute: must specify limits.memory for: c; requests.cpu for: c"
    );
    let res = |cpu: &str| json!({"requests": {"cpu": cpu}, "limits": {"memory": "256Mi"}});
    pods.create(&PostParams::default(), &pod("a", res("500m")))
        .await
        .expect("a fits");
    wait_used(
        &quotas,
        "compute",
        json!({"pods": "1", "requests.cpu": "500m", "limits.memory": "256Mi"}),
    )
    .await;
    let s = status_of(
        pods.create(&PostParams::default(), &pod("b", res("600m")))
            .await
            .expect_err("403"),
    );
    assert_eq!(
        s.message,
        "pods \"b\" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, used: requests.cpu=500m, limited: requests.cpu=1"
    );
    pods.create(&PostParams::default(), &pod("c", res("500m")))
        .await
        .expect("c fits exactly");
    wait_used(
        &quotas,
        "compute",
        json!({"pods": "2", "requests.cpu": "1", "limits.memory": "512Mi"}),
    )
    .await;
    let s = status_of(
        pods.create(&PostParams::default(), &pod("d", res("100m")))
            .await
            .expect_err("403"),
    );
    assert_eq!(
        s.message,
        "pods \"d\" is forbidden: exceeded quota: compute, requested: pods=1,requests.cpu=100m, used: pods=2,requests.cpu=1, limited: pods=2,requests.cpu=1"
    );
    // A server-side dry run is checked but not charged.
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let s = status_of(
        pods.create(&dry, &pod("d", res("100m")))
            .await
            .expect_err("403 on dry run too"),
    );
    assert_eq!(s.code, 403);
    // Deleting a pod gives its share back.
    pods.delete(
        "a",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        },
    )
    .await
    .expect("delete a");
    wait_used(
        &quotas,
        "compute",
        json!({"pods": "1", "requests.cpu": "500m", "limits.memory": "256Mi"}),
    )
    .await;
    pods.create(&PostParams::default(), &pod("d", res("100m")))
        .await
        .expect("d fits now");
}

#[tokio::test]
async fn object_count_and_scoped_quotas() {
    let c = cluster().await;
    let quotas: Api<ResourceQuota> = Api::namespaced(c.client.clone(), &c.ns);
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    create_quota(
        &quotas,
        "objects",
        json!({"hard": {"count/configmaps": "2"}}),
    )
    .await;
    // kube-root-ca.crt is already there.
    wait_used(&quotas, "objects", json!({"count/configmaps": "1"})).await;
    let cm = |n: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": n}})).expect("cm")
    };
    cms.create(&PostParams::default(), &cm("one"))
        .await
        .expect("one fits");
    wait_used(&quotas, "objects", json!({"count/configmaps": "2"})).await;
    let s = status_of(
        cms.create(&PostParams::default(), &cm("two"))
            .await
            .expect_err("403"),
    );
    assert_eq!(
        s.message,
        "configmaps \"two\" is forbidden: exceeded quota: objects, requested: count/configmaps=1, used: count/configmaps=2, limited: count/configmaps=2"
    );

    // A BestEffort-scoped quota counts only pods without requests or limits.
    create_quota(
        &quotas,
        "best-effort",
        json!({"hard": {"pods": "1"}, "scopes": ["BestEffort"]}),
    )
    .await;
    wait_used(&quotas, "best-effort", json!({"pods": "0"})).await;
    pods.create(&PostParams::default(), &pod("be-1", json!({})))
        .await
        .expect("first best-effort pod");
    wait_used(&quotas, "best-effort", json!({"pods": "1"})).await;
    let s = status_of(
        pods.create(&PostParams::default(), &pod("be-2", json!({})))
            .await
            .expect_err("403"),
    );
    assert!(
        s.message.starts_with(
            "pods \"be-2\" is forbidden: exceeded quota: best-effort, requested: pods=1"
        ),
        "{}",
        s.message
    );
    pods.create(
        &PostParams::default(),
        &pod("burstable", json!({"requests": {"cpu": "10m"}})),
    )
    .await
    .expect("a burstable pod is out of the quota's scope");
}
