//! Fault injection (kubesim only): failing requests, latency, closing watches, time advance,
//! through the harness and through the admin endpoint.

use crate::common;

use std::time::{Duration, Instant};

use common::{default_builder, sim_cluster, status_of};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kubesim::FaultRule;
use serde_json::{Value, json};

async fn admin(client: &kube::Client, path: &str, body: Value) -> Value {
    let req = axum::http::Request::post(path)
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&body).expect("json"))
        .expect("request");
    client.request(req).await.expect(path)
}

#[tokio::test]
async fn next_requests_fail_with_the_given_status() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    c.sim()
        .faults()
        .add(FaultRule::new("list", "configmaps", 500, 2));
    for _ in 0..2 {
        let s = status_of(api.list(&ListParams::default()).await.expect_err("500"));
        assert_eq!((s.code, s.reason.as_str()), (500, "InternalError"));
    }
    api.list(&ListParams::default())
        .await
        .expect("third list succeeds");
    // Other verbs are unaffected.
    c.sim()
        .faults()
        .add(FaultRule::new("create", "configmaps", 409, 1));
    api.list(&ListParams::default())
        .await
        .expect("list unaffected");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).expect("cm");
    let s = status_of(
        api.create(&PostParams::default(), &cm)
            .await
            .expect_err("409"),
    );
    assert_eq!(s.code, 409);
    api.create(&PostParams::default(), &cm)
        .await
        .expect("created afterwards");
}

#[tokio::test]
async fn admin_endpoint_injects_429_with_retry_after_and_latency() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let rules = admin(
        &c.client,
        "/kubesim/faults",
        json!({"verb": "get", "resource": "configmaps", "count": 1, "status": 429, "retryAfterSeconds": 2}),
    )
    .await;
    assert_eq!(rules.as_array().map(Vec::len), Some(1));
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let s = status_of(api.get("kube-root-ca.crt").await.expect_err("429"));
    assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests"));
    assert_eq!(s.details.expect("details").retry_after_seconds, 2);
    admin(&c.client, "/kubesim/latency", json!({"millis": 200})).await;
    let t = Instant::now();
    api.list(&ListParams::default()).await.expect("list");
    assert!(t.elapsed() >= Duration::from_millis(200));
    admin(&c.client, "/kubesim/latency", json!({"millis": 0})).await;
    let health: Value = c
        .client
        .request(
            axum::http::Request::get("/kubesim/healthz")
                .body(Vec::new())
                .expect("req"),
        )
        .await
        .expect("health");
    assert_eq!(health["status"], "ok");
}

#[tokio::test]
async fn close_watches_ends_open_streams() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let stream = api
        .watch(&WatchParams::default().timeout(60), "0")
        .await
        .expect("watch");
    tokio::time::sleep(Duration::from_millis(100)).await;
    admin(&c.client, "/kubesim/close-watches", json!({})).await;
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.count()).await;
    assert!(ended.is_ok());
}

#[tokio::test]
async fn advancing_time_runs_cronjobs() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let cjs: Api<CronJob> = Api::namespaced(c.client.clone(), &c.ns);
    let cj: CronJob = serde_json::from_value(json!({
        "metadata": {"name": "tick"},
        "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}}}}
    }))
    .expect("cronjob");
    cjs.create(&PostParams::default(), &cj)
        .await
        .expect("create");
    let jobs: Api<Job> = Api::namespaced(c.client.clone(), &c.ns);
    c.sim().settle().await;
    assert!(
        jobs.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    c.sim().advance_time(Duration::from_secs(6 * 60)).await;
    let n = common::eventually(10, || {
        let jobs = jobs.clone();
        async move {
            let n = jobs.list(&ListParams::default()).await.ok()?.items.len();
            (n > 0).then_some(n)
        }
    })
    .await;
    assert!(n.is_some(), "a Job was created after advancing time");
    // Through the admin endpoint too.
    let r = admin(&c.client, "/kubesim/advance-time", json!({"seconds": 600})).await;
    assert!(r["now"].as_str().is_some());
}

#[tokio::test]
async fn admin_restart_drops_connections_and_compacts() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let rv = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    let stream = api
        .watch(&WatchParams::default().timeout(60), &rv)
        .await
        .expect("watch");
    let r = admin(&c.client, "/kubesim/restart", json!({})).await;
    assert!(r["resourceVersion"].as_str().is_some());
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.count()).await;
    assert!(ended.is_ok(), "the watch connection was dropped");
    // The client reconnects; the old resourceVersion is gone.
    tokio::time::sleep(Duration::from_millis(100)).await;
    api.list(&ListParams::default())
        .await
        .expect("list after restart");
    let mut again = std::pin::pin!(
        api.watch(&WatchParams::default().timeout(5), &rv)
            .await
            .expect("watch")
    );
    match again.next().await {
        Some(Ok(kube::api::WatchEvent::Error(s))) => assert_eq!(s.code, 410),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
}

/// A lost response after a scale: the write is applied (watchers see it), the client gets a 500.
/// Rules match by object name, so the other Deployment is unaffected.
#[tokio::test]
async fn after_write_fault_applies_the_scale_and_loses_the_answer() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let deps: Api<Deployment> = Api::namespaced(c.client.clone(), &c.ns);
    common::create_pause_deployment(&deps, "web", 2).await;
    common::create_pause_deployment(&deps, "api", 2).await;
    let rv = deps
        .get("web")
        .await
        .expect("get")
        .metadata
        .resource_version
        .expect("rv");
    let mut watch = std::pin::pin!(
        deps.watch(
            &WatchParams::default()
                .fields("metadata.name=web")
                .timeout(10),
            &rv
        )
        .await
        .expect("watch")
    );
    c.sim().faults().add(
        FaultRule::new("patch", "deployments/scale", 500, 1)
            .namespace(&c.ns)
            .name("web")
            .after_write(),
    );
    let scale = |n: i32| Patch::Merge(json!({"spec": {"replicas": n}}));
    // Another object: not matched, and the rule is still pending afterwards.
    deps.patch_scale("api", &PatchParams::default(), &scale(1))
        .await
        .expect("api scaled");
    assert_eq!(c.sim().faults().rules().len(), 1);
    let s = status_of(
        deps.patch_scale("web", &PatchParams::default(), &scale(0))
            .await
            .expect_err("the answer is lost"),
    );
    assert_eq!((s.code, s.reason.as_str()), (500, "InternalError"));
    assert!(c.sim().faults().rules().is_empty(), "the rule was consumed");
    // The write happened: the object and its watchers have it.
    let web = deps.get("web").await.expect("get web");
    assert_eq!(web.spec.and_then(|s| s.replicas), Some(0));
    let seen = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = watch.next().await {
            if let Ok(kube::api::WatchEvent::Modified(d)) = ev
                && d.spec.as_ref().and_then(|s| s.replicas) == Some(0)
            {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(seen, Ok(true), "the watcher saw replicas 0");
    // A retry of the same change is harmless (idempotent) and answers normally.
    let again = deps
        .patch_scale("web", &PatchParams::default(), &scale(0))
        .await
        .expect("retry");
    assert_eq!(again.spec.and_then(|s| s.replicas), Some(0));
}

/// The connection is closed without an answer, after the create was applied: the retry of the
/// create gets 409 AlreadyExists. Configured through the admin endpoint's JSON.
#[tokio::test]
async fn after_write_drop_connection_on_create_through_the_admin_endpoint() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    admin(
        &c.client,
        "/kubesim/faults",
        json!({"verb": "create", "resource": "configmaps", "namespace": c.ns, "name": "lost",
               "afterWrite": true, "dropConnection": true}),
    )
    .await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let other: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "kept"}})).expect("cm");
    api.create(&PostParams::default(), &other)
        .await
        .expect("another name is not matched");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "lost"}, "data": {"k": "v"}}))
            .expect("cm");
    match api.create(&PostParams::default(), &cm).await {
        Err(kube::Error::Api(s)) => panic!("expected no answer, got the Status {s:?}"),
        Err(_) => {}
        Ok(o) => panic!("expected no answer, got {o:?}"),
    }
    let stored = api.get("lost").await.expect("the create was applied");
    assert_eq!(
        stored.data.and_then(|d| d.get("k").cloned()).as_deref(),
        Some("v")
    );
    let s = status_of(
        api.create(&PostParams::default(), &cm)
            .await
            .expect_err("409"),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"));
    let rules = c.sim().faults().rules();
    assert!(rules.is_empty(), "consumed: {rules:?}");
}

/// A dropped connection before the write: nothing changes. A request that fails on its own
/// (here a 409 on a stale update) does not consume an after-write rule.
#[tokio::test]
async fn drop_before_write_changes_nothing_and_failed_writes_keep_after_write_rules() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "x"}, "data": {"n": "1"}})).expect("cm");
    let created = api
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    c.sim().faults().add(
        FaultRule::new("patch", "configmaps", 500, 1)
            .name("x")
            .drop_connection(),
    );
    let patch = Patch::Merge(json!({"data": {"n": "2"}}));
    let r = api.patch("x", &PatchParams::default(), &patch).await;
    assert!(
        matches!(&r, Err(e) if !matches!(e, kube::Error::Api(_))),
        "no answer: {r:?}"
    );
    let now = api.get("x").await.expect("get");
    assert_eq!(
        now.data.and_then(|d| d.get("n").cloned()).as_deref(),
        Some("1")
    );
    // After-write rule + a stale update (409): the rule stays for the next successful write.
    c.sim().faults().add(
        FaultRule::new("update", "configmaps", 503, 1)
            .name("x")
            .after_write(),
    );
    let mut stale = created.clone();
    stale.data = Some([("n".to_string(), "3".to_string())].into());
    api.patch("x", &PatchParams::default(), &patch)
        .await
        .expect("bump the resourceVersion");
    let s = status_of(
        api.replace("x", &PostParams::default(), &stale)
            .await
            .expect_err("409"),
    );
    assert_eq!(s.code, 409);
    assert_eq!(c.sim().faults().rules().len(), 1);
    let mut fresh = api.get("x").await.expect("get");
    fresh.data = Some([("n".to_string(), "4".to_string())].into());
    let s = status_of(
        api.replace("x", &PostParams::default(), &fresh)
            .await
            .expect_err("503 after the write"),
    );
    assert_eq!((s.code, s.reason.as_str()), (503, "ServiceUnavailable"));
    let now = api.get("x").await.expect("get");
    assert_eq!(
        now.data.and_then(|d| d.get("n").cloned()).as_deref(),
        Some("4")
    );
}
