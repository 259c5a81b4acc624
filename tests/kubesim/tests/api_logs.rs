//! pods/log (kubesim only: the text is set by the test, `Sim::set_pod_log` or the admin
//! endpoint): empty until set, container choice and its 400s, tailLines/limitBytes/timestamps,
//! previous, 404/422 shapes, follow, `kubectl logs`.

use crate::common;

use std::time::Duration;

use common::{PAUSE, default_builder, eventually, sim_cluster, status_of};
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, LogParams, PostParams};
use serde_json::{Value, json};

async fn running(pods: &Api<Pod>, name: &str, spec: Value) {
    let p: Pod =
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).expect("pod");
    pods.create(&PostParams::default(), &p)
        .await
        .expect("create pod");
    eventually(10, || async {
        let p = pods.get(name).await.ok()?;
        (p.status?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await
    .expect("running");
}

fn one_container() -> Value {
    json!({"terminationGracePeriodSeconds": 0, "containers": [{"name": "miner", "image": PAUSE}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_a_test_sets_are_served_with_the_kubelets_options() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let sim = c.sim();
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    running(&pods, "p", one_container()).await;
    let lp = LogParams::default();
    assert_eq!(pods.logs("p", &lp).await.expect("empty log"), "");
    sim.set_pod_log(&c.ns, "p", "miner", "one\ntwo\nthree\n")
        .expect("set log");
    assert_eq!(pods.logs("p", &lp).await.expect("log"), "one\ntwo\nthree\n");
    let tail = LogParams {
        tail_lines: Some(2),
        ..LogParams::default()
    };
    assert_eq!(pods.logs("p", &tail).await.expect("tail"), "two\nthree\n");
    let limited = LogParams {
        limit_bytes: Some(6),
        ..LogParams::default()
    };
    assert_eq!(pods.logs("p", &limited).await.expect("limit"), "one\ntw");
    let both = LogParams {
        tail_lines: Some(1),
        limit_bytes: Some(3),
        container: Some("miner".into()),
        ..LogParams::default()
    };
    assert_eq!(pods.logs("p", &both).await.expect("both"), "thr");
    let stamped = LogParams {
        timestamps: true,
        tail_lines: Some(1),
        ..LogParams::default()
    };
    let line = pods.logs("p", &stamped).await.expect("timestamps");
    let (ts, rest) = line.split_once(' ').expect("a timestamp");
    assert!(ts.parse::<jiff::Timestamp>().is_ok(), "{line}");
    assert_eq!(rest, "three\n");
    // The previous container's log.
    let previous = LogParams {
        previous: true,
        ..LogParams::default()
    };
    let s = status_of(pods.logs("p", &previous).await.expect_err("no previous"));
    assert_eq!(s.code, 400);
    assert_eq!(
        s.message,
        "previous terminated container \"miner\" in pod \"p\" not found"
    );
    sim.set_previous_pod_log(&c.ns, "p", "miner", "crashed\n")
        .expect("set previous");
    assert_eq!(
        pods.logs("p", &previous).await.expect("previous"),
        "crashed\n"
    );
    // Invalid options and missing pods, as the apiserver answers them.
    let bad = LogParams {
        tail_lines: Some(-1),
        ..LogParams::default()
    };
    let s = status_of(pods.logs("p", &bad).await.expect_err("422"));
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        s.message,
        "PodLogOptions \"p\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"
    );
    let s = status_of(pods.logs("ghost", &lp).await.expect_err("404"));
    assert_eq!(
        (s.code, s.message.as_str()),
        (404, "pods \"ghost\" not found")
    );
    // A pod re-created with the same name starts with an empty log.
    pods.delete("p", &DeleteParams::default().grace_period(0))
        .await
        .expect("delete");
    eventually(10, || async {
        pods.get_opt("p").await.ok()?.is_none().then_some(())
    })
    .await
    .expect("gone");
    running(&pods, "p", one_container()).await;
    assert_eq!(pods.logs("p", &lp).await.expect("fresh log"), "");
    // Setting the log of something that does not exist is an error of the harness.
    assert!(sim.set_pod_log(&c.ns, "p", "nope", "x").is_err());
    assert!(sim.set_pod_log(&c.ns, "ghost", "miner", "x").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_containers_need_a_name_and_kubectl_logs_works() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    running(
        &pods,
        "multi",
        json!({"terminationGracePeriodSeconds": 0,
            "initContainers": [{"name": "setup", "image": PAUSE}],
            "containers": [{"name": "app", "image": PAUSE}, {"name": "miner", "image": PAUSE}]}),
    )
    .await;
    let s = status_of(
        pods.logs("multi", &LogParams::default())
            .await
            .expect_err("400"),
    );
    assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"));
    assert_eq!(
        s.message,
        "a container name must be specified for pod multi, choose one of: [setup app miner]"
    );
    let nope = LogParams {
        container: Some("nope".into()),
        ..LogParams::default()
    };
    let s = status_of(pods.logs("multi", &nope).await.expect_err("400"));
    assert_eq!(s.message, "container nope is not valid for pod multi");
    // Through the admin endpoint.
    let req = axum::http::Request::post("/kubesim/pod-logs")
        .header("Content-Type", "application/json")
        .body(
            serde_json::to_vec(
                &json!({"namespace": c.ns, "pod": "multi", "container": "miner",
                "text": "hashrate 42 kH/s\nshare accepted\n"}),
            )
            .expect("json"),
        )
        .expect("request");
    c.client
        .request::<Value>(req)
        .await
        .expect("admin pod-logs");
    let out = c.kubectl_ok(&["logs", "multi", "-c", "miner"]);
    assert_eq!(out, "hashrate 42 kH/s\nshare accepted\n");
    let out = c.kubectl_ok(&["logs", "multi", "-c", "miner", "--tail=1"]);
    assert_eq!(out, "share accepted\n");
    let out = c.kubectl_ok(&["logs", "multi", "-c", "app"]);
    assert_eq!(out, "");
}

#[tokio::test]
async fn follow_streams_appended_lines_until_the_pod_goes() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let sim = c.sim();
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    running(&pods, "p", one_container()).await;
    sim.set_pod_log(&c.ns, "p", "miner", "first\n")
        .expect("set");
    let follow = LogParams {
        follow: true,
        ..LogParams::default()
    };
    let mut lines = pods.log_stream("p", &follow).await.expect("stream").lines();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), lines.next())
            .await
            .expect("in time")
            .map(|r| r.expect("line")),
        Some("first".to_string())
    );
    sim.append_pod_log(&c.ns, "p", "miner", "second\n")
        .expect("append");
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), lines.next())
            .await
            .expect("in time")
            .map(|r| r.expect("line")),
        Some("second".to_string())
    );
    pods.delete("p", &DeleteParams::default().grace_period(0))
        .await
        .expect("delete");
    assert!(
        tokio::time::timeout(Duration::from_secs(5), lines.next())
            .await
            .expect("ends in time")
            .is_none(),
        "the stream ends with the pod"
    );
}
