//! Pods whose containers ignore SIGTERM (kubesim only: the `kubesim.dev/ignore-sigterm`
//! annotation stands for a container that traps the signal): they stay Terminating until their
//! grace period ends, a later delete may only shorten it, grace 0 forces, eviction follows the same
//! rules; time is the simulated clock (`advance_time`) and real time alike.

use crate::common;

use std::time::Duration;

use common::{PAUSE, default_builder, eventually, sim_cluster};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, EvictParams, PostParams};
use serde_json::json;

/// Creates a pod (optionally ignoring SIGTERM) and waits until the kubelet runs it.
async fn running_pod(api: &Api<Pod>, name: &str, ignore_sigterm: bool, grace: i64) -> Pod {
    let annotations = if ignore_sigterm {
        json!({"kubesim.dev/ignore-sigterm": "true"})
    } else {
        json!({})
    };
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"terminationGracePeriodSeconds": grace,
                 "containers": [{"name": "miner", "image": PAUSE}]}
    }))
    .expect("pod");
    api.create(&PostParams::default(), &p)
        .await
        .expect("create");
    eventually(10, || {
        let api = api.clone();
        let name = name.to_string();
        async move {
            let p = api.get(&name).await.ok()?;
            (p.status.as_ref()?.phase.as_deref() == Some("Running")).then_some(p)
        }
    })
    .await
    .expect("pod running")
}

fn deletion(p: &Pod) -> (Option<Timestamp>, Option<i64>) {
    (
        p.metadata.deletion_timestamp.as_ref().map(|t| t.0),
        p.metadata.deletion_grace_period_seconds,
    )
}

async fn gone(api: &Api<Pod>, name: &str, secs: u64) -> bool {
    eventually(secs, || {
        let api = api.clone();
        let name = name.to_string();
        async move { api.get_opt(&name).await.ok()?.is_none().then_some(()) }
    })
    .await
    .is_some()
}

#[tokio::test]
async fn a_pod_ignoring_sigterm_stays_terminating_until_its_grace_period_ends() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let sim = c.sim();
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    running_pod(&pods, "miner", true, 3600).await;
    let before = Timestamp::now();
    pods.delete("miner", &DeleteParams::default().grace_period(5))
        .await
        .expect("delete");
    let p = pods.get("miner").await.expect("still there");
    let (ts, grace) = deletion(&p);
    assert_eq!(grace, Some(5));
    let ts = ts.expect("deletionTimestamp");
    // now + 5 s, truncated to the second.
    assert!(ts.as_second() >= before.as_second() + 4 && ts.as_second() <= before.as_second() + 6);
    sim.settle().await;
    sim.advance_time(Duration::from_secs(4)).await;
    assert!(
        pods.get_opt("miner").await.expect("get").is_some(),
        "SIGTERM is ignored: the pod is still Terminating 4 s into a 5 s grace period"
    );
    sim.advance_time(Duration::from_secs(2)).await;
    assert!(
        gone(&pods, "miner", 5).await,
        "killed when the grace period ended"
    );
}

#[tokio::test]
async fn a_pod_that_exits_at_sigterm_goes_at_once_whatever_its_grace_period() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    running_pod(&pods, "web", false, 3600).await;
    let p = pods
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete")
        .left()
        .expect("a pod being deleted gracefully is returned");
    assert_eq!(deletion(&p).1, Some(3600));
    assert!(
        gone(&pods, "web", 5).await,
        "the containers exited at SIGTERM"
    );
}

#[tokio::test]
async fn a_later_delete_may_only_shorten_the_grace_period_and_zero_forces() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    running_pod(&pods, "miner", true, 3600).await;
    pods.delete("miner", &DeleteParams::default())
        .await
        .expect("delete");
    let first = pods.get("miner").await.expect("terminating");
    let (ts0, g0) = deletion(&first);
    assert_eq!(g0, Some(3600));
    let ts0 = ts0.expect("deletionTimestamp");
    // A longer (or equal) grace period changes nothing.
    pods.delete("miner", &DeleteParams::default().grace_period(7200))
        .await
        .expect("delete again");
    let same = pods.get("miner").await.expect("terminating");
    assert_eq!(deletion(&same), (Some(ts0), Some(3600)));
    assert_eq!(
        same.metadata.resource_version, first.metadata.resource_version,
        "not written"
    );
    // A shorter one moves the deadline back, relative to the first request.
    pods.delete("miner", &DeleteParams::default().grace_period(30))
        .await
        .expect("shorten");
    let shorter = pods.get("miner").await.expect("terminating");
    let (ts1, g1) = deletion(&shorter);
    assert_eq!(g1, Some(30));
    let moved = ts0.as_second() - ts1.expect("deletionTimestamp").as_second();
    assert!((3569..=3571).contains(&moved), "moved back by {moved} s");
    c.sim().advance_time(Duration::from_secs(10)).await;
    assert!(pods.get_opt("miner").await.expect("get").is_some());
    // Grace 0 removes it at once.
    pods.delete("miner", &DeleteParams::default().grace_period(0))
        .await
        .expect("force");
    assert!(pods.get_opt("miner").await.expect("get").is_none());
}

#[tokio::test]
async fn eviction_honours_the_grace_period_of_its_delete_options() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let sim = c.sim();
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    running_pod(&pods, "a", true, 3600).await;
    running_pod(&pods, "b", true, 3600).await;
    // kube 5's `Api::evict` serialises the delete options as `delete_options`, a field the
    // apiserver does not know (it ignores it, and so does kubesim): send the Eviction by hand.
    let client = c.client.clone();
    let ns = c.ns.clone();
    let evict_raw = |name: &'static str, g: i64| {
        let client = client.clone();
        let ns = ns.clone();
        async move {
            let body = json!({"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": name, "namespace": ns},
                "deleteOptions": {"gracePeriodSeconds": g}});
            let req =
                axum::http::Request::post(format!("/api/v1/namespaces/{ns}/pods/{name}/eviction"))
                    .header("Content-Type", "application/json")
                    .body(serde_json::to_vec(&body).expect("json"))
                    .expect("request");
            client.request::<serde_json::Value>(req).await.map(|_| ())
        }
    };
    evict_raw("a", 5).await.expect("evict a");
    evict_raw("b", 0).await.expect("evict b");
    assert!(
        pods.get_opt("b").await.expect("get").is_none(),
        "grace 0 forces"
    );
    let a = pods.get("a").await.expect("a terminating");
    assert_eq!(deletion(&a).1, Some(5));
    sim.advance_time(Duration::from_secs(3)).await;
    assert!(pods.get_opt("a").await.expect("get").is_some());
    // A second eviction with a longer grace period does not extend it.
    evict_raw("a", 600).await.expect("evict again");
    assert_eq!(
        deletion(&pods.get("a").await.expect("a")).1,
        Some(5),
        "only shortened, never extended"
    );
    sim.advance_time(Duration::from_secs(3)).await;
    assert!(gone(&pods, "a", 5).await);
    // kube's own evict: its `delete_options` are ignored, the pod's 3600 s apply.
    running_pod(&pods, "c", true, 3600).await;
    let ep = EvictParams {
        delete_options: Some(DeleteParams::default().grace_period(0)),
        ..EvictParams::default()
    };
    pods.evict("c", &ep).await.expect("evict c");
    assert_eq!(deletion(&pods.get("c").await.expect("c")).1, Some(3600));
}

#[tokio::test]
async fn grace_periods_also_end_in_real_time() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    running_pod(&pods, "slow", true, 3600).await;
    let t0 = std::time::Instant::now();
    pods.delete("slow", &DeleteParams::default().grace_period(2))
        .await
        .expect("delete");
    // Poll until gone: never before the grace period, soon after it (the idle driver passes once
    // a second; the test helper ticks every 50 ms).
    assert!(gone(&pods, "slow", 10).await);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "removed after {took:?}, before its 2 s grace period"
    );
    assert!(took < Duration::from_secs(5), "removed only after {took:?}");
}
