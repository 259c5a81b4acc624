//! Fault injection (kubesim only): failing requests, latency, closing watches, time advance,
//! through the harness and through the admin endpoint.

mod common;

use std::time::{Duration, Instant};

use common::{default_builder, sim_cluster, status_of};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchParams};
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
