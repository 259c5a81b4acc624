//! Size limits: 413 for request bodies over 3 MiB (the apiserver's MaxRequestBodyBytes) and
//! etcd's "request is too large" (500) for objects over 1.5 MiB; nothing is written either way.

use crate::common;

use common::{cluster, status_of};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

const MIB: usize = 1024 * 1024;

fn configmap(name: &str, bytes: usize) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"blob": "x".repeat(bytes)}}))
        .expect("configmap")
}

#[tokio::test]
async fn bodies_over_3_mib_are_413() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let s = status_of(
        api.create(&PostParams::default(), &configmap("huge", 3 * MIB + 1))
            .await
            .expect_err("413"),
    );
    assert_eq!((s.code, s.reason.as_str()), (413, "RequestEntityTooLarge"));
    assert_eq!(s.message, "Request entity too large: limit is 3145728");
    assert!(api.get_opt("huge").await.expect("get").is_none());
    // Patches are request bodies too.
    api.create(&PostParams::default(), &configmap("small", 10))
        .await
        .expect("create");
    let s = status_of(
        api.patch(
            "small",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"blob": "y".repeat(3 * MIB + 1)}})),
        )
        .await
        .expect_err("413"),
    );
    assert_eq!(s.code, 413);
}

#[tokio::test]
async fn objects_over_etcds_limit_are_refused_and_the_old_version_stays() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    // Under 3 MiB of body, over 1.5 MiB stored.
    let s = status_of(
        api.create(&PostParams::default(), &configmap("big", 2 * MIB))
            .await
            .expect_err("too large for etcd"),
    );
    assert_eq!(s.code, 500);
    assert_eq!(s.message, "etcdserver: request is too large");
    assert!(api.get_opt("big").await.expect("get").is_none());
    // A 1 MiB object is fine; growing it past the limit is refused.
    api.create(&PostParams::default(), &configmap("grows", MIB))
        .await
        .expect("1 MiB is stored");
    let s = status_of(
        api.patch(
            "grows",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"more": "z".repeat(MIB)}})),
        )
        .await
        .expect_err("too large for etcd"),
    );
    assert_eq!(
        (s.code, s.message.as_str()),
        (500, "etcdserver: request is too large")
    );
    let now = api.get("grows").await.expect("get");
    let data = now.data.expect("data");
    assert!(data.contains_key("blob") && !data.contains_key("more"));
}
