//! watch: resourceVersion replay, selectors (transitions become ADDED/DELETED), bookmarks,
//! timeoutSeconds, 410 Gone as an ERROR event, and kube-runtime's watcher across a "restart".

use crate::common;

use std::time::Duration;

use common::{cluster, default_builder, sim_cluster};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).expect("cm")
}

fn describe(e: &WatchEvent<ConfigMap>) -> String {
    let name = |o: &ConfigMap| o.metadata.name.clone().unwrap_or_default();
    match e {
        WatchEvent::Added(o) => format!("ADDED {}", name(o)),
        WatchEvent::Modified(o) => format!("MODIFIED {}", name(o)),
        WatchEvent::Deleted(o) => format!("DELETED {}", name(o)),
        WatchEvent::Bookmark(_) => "BOOKMARK".into(),
        WatchEvent::Error(s) => format!("ERROR {}", s.code),
    }
}

/// Collects non-bookmark events until `n` were seen (or 10 s pass).
async fn collect(
    stream: impl futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>>,
    n: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut s = std::pin::pin!(stream);
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(e)) = s.next().await {
            if matches!(e, WatchEvent::Bookmark(_)) {
                continue;
            }
            out.push(describe(&e));
            if out.len() >= n {
                break;
            }
        }
    })
    .await;
    out
}

#[tokio::test]
async fn watch_from_resource_version_sees_changes_in_order() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let rv = api
        .create(&PostParams::default(), &cm("w0", json!({"w": "1"})))
        .await
        .expect("create")
        .metadata
        .resource_version
        .expect("rv");
    // These happen before the watch starts: replayed from history.
    api.create(&PostParams::default(), &cm("w1", json!({"w": "1"})))
        .await
        .expect("create");
    api.patch(
        "w0",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "b"}})),
    )
    .await
    .expect("patch");
    let stream = api
        .watch(&WatchParams::default().labels("w=1").timeout(10), &rv)
        .await
        .expect("watch");
    let api2 = api.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = api2.delete("w1", &DeleteParams::default()).await;
    });
    let got = collect(stream, 3).await;
    assert_eq!(got, vec!["ADDED w1", "MODIFIED w0", "DELETED w1"]);
}

#[tokio::test]
async fn watch_without_resource_version_starts_with_current_state() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    api.create(&PostParams::default(), &cm("s0", json!({"s": "1"})))
        .await
        .expect("create");
    let stream = api
        .watch(&WatchParams::default().labels("s=1").timeout(5), "0")
        .await
        .expect("watch");
    assert_eq!(collect(stream, 1).await, vec!["ADDED s0"]);
}

#[tokio::test]
async fn selector_transitions_become_added_and_deleted() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let rv = api
        .create(&PostParams::default(), &cm("t", json!({"color": "red"})))
        .await
        .expect("create")
        .metadata
        .resource_version
        .expect("rv");
    let stream = api
        .watch(
            &WatchParams::default().labels("color=blue").timeout(10),
            &rv,
        )
        .await
        .expect("watch");
    let api2 = api.clone();
    tokio::spawn(async move {
        let pp = PatchParams::default();
        for color in ["blue", "blue", "green"] {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = api2
                .patch(
                    "t",
                    &pp,
                    &Patch::Merge(json!({"metadata": {"labels": {"color": color}}, "data": {"c": color, "n": uuid::Uuid::new_v4().to_string()}})),
                )
                .await;
        }
    });
    let got = collect(stream, 3).await;
    assert_eq!(got, vec!["ADDED t", "MODIFIED t", "DELETED t"]);
}

#[tokio::test]
async fn bookmarks_carry_a_resource_version() {
    // A real apiserver sends bookmarks about once a minute; kubesim's tests use 300 ms.
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let list = api.list(&Default::default()).await.expect("list");
    let rv = list.metadata.resource_version.expect("rv");
    let mut stream = std::pin::pin!(
        api.watch(&WatchParams::default().timeout(5), &rv)
            .await
            .expect("watch")
    );
    let bm = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(e)) = stream.next().await {
            if let WatchEvent::Bookmark(b) = e {
                return Some(b);
            }
        }
        None
    })
    .await
    .expect("a bookmark within 5 s")
    .expect("bookmark");
    let brv: u64 = bm.metadata.resource_version.parse().expect("numeric rv");
    assert!(brv >= rv.parse::<u64>().expect("rv"));
    assert_eq!(bm.types.kind, "ConfigMap");
}

#[tokio::test]
async fn timeout_seconds_ends_the_stream() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let start = std::time::Instant::now();
    let stream = api
        .watch(&WatchParams::default().timeout(1).disable_bookmarks(), "0")
        .await
        .expect("watch");
    let n = tokio::time::timeout(Duration::from_secs(10), stream.count())
        .await
        .expect("the stream ends");
    assert!(n <= 1);
    assert!(start.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn too_old_resource_version_is_an_error_event_410() {
    // Against a real cluster, resourceVersion 1 is long compacted; kubesim keeps 5 events here.
    let c = common::cluster_with(default_builder().history(5)).await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    for i in 0..10 {
        api.create(&PostParams::default(), &cm(&format!("o{i}"), json!({})))
            .await
            .expect("create");
    }
    let mut stream = std::pin::pin!(
        api.watch(&WatchParams::default().timeout(5), "1")
            .await
            .expect("the watch request itself succeeds")
    );
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an event")
        .expect("an item");
    match first {
        Ok(WatchEvent::Error(s)) => {
            assert_eq!(s.code, 410);
            assert_eq!(s.reason, "Expired");
            assert!(
                s.message.starts_with("too old resource version"),
                "{}",
                s.message
            );
        }
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 410),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
}

#[tokio::test]
async fn restart_closes_watches_and_forces_a_relist() {
    let Some(c) = sim_cluster(default_builder().history(50)).await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let rv = api
        .create(&PostParams::default(), &cm("r0", json!({})))
        .await
        .expect("create")
        .metadata
        .resource_version
        .expect("rv");
    let stream = api
        .watch(&WatchParams::default().timeout(30), &rv)
        .await
        .expect("watch");
    c.sim().restart();
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.count()).await;
    assert!(ended.is_ok(), "restart closes open watches");
    let mut again = std::pin::pin!(
        api.watch(&WatchParams::default().timeout(5), &rv)
            .await
            .expect("watch")
    );
    match again.next().await {
        Some(Ok(WatchEvent::Error(s))) => assert_eq!(s.code, 410),
        other => panic!("expected 410 after restart, got {other:?}"),
    }
    // close-watches with gone=true: the ERROR 410 arrives mid-stream.
    let rv2 = api
        .list(&Default::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    let mut s2 = std::pin::pin!(
        api.watch(&WatchParams::default().timeout(30), &rv2)
            .await
            .expect("watch")
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.sim().store().close_watches(true);
    let ev = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(e) = s2.next().await {
            if let Ok(WatchEvent::Error(s)) = e {
                return Some(s.code);
            }
        }
        None
    })
    .await
    .expect("event");
    assert_eq!(ev, Some(410));
}

#[tokio::test]
async fn kube_runtime_watcher_recovers_after_restart() {
    let Some(c) = sim_cluster(default_builder().history(20)).await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    api.create(&PostParams::default(), &cm("k0", json!({})))
        .await
        .expect("create");
    let (reader, writer) = kube::runtime::reflector::store();
    let stream = kube::runtime::reflector(writer, watcher(api.clone(), watcher::Config::default()))
        .applied_objects();
    let task = tokio::spawn(async move {
        let mut s = std::pin::pin!(stream);
        // Errors (the 410 after the restart) are reported in the stream, which goes on.
        while s.next().await.is_some() {}
    });
    let has = |n: &'static str| {
        let r = reader.clone();
        move || {
            let r = r.clone();
            async move {
                r.state()
                    .iter()
                    .any(|o| o.metadata.name.as_deref() == Some(n))
                    .then_some(())
            }
        }
    };
    assert!(common::eventually(5, has("k0")).await.is_some());
    c.sim().restart();
    api.create(&PostParams::default(), &cm("k1", json!({})))
        .await
        .expect("create");
    assert!(
        common::eventually(10, has("k1")).await.is_some(),
        "the watcher relisted"
    );
    task.abort();
}

#[tokio::test]
async fn send_initial_events_ends_with_a_marked_bookmark() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    api.create(&PostParams::default(), &cm("i0", json!({})))
        .await
        .expect("create");
    let mut s = std::pin::pin!(
        api.watch(&WatchParams::default().initial_events().timeout(5), "")
            .await
            .expect("watch")
    );
    let mut added = 0;
    let mut marked = false;
    while let Ok(Some(Ok(e))) = tokio::time::timeout(Duration::from_secs(5), s.next()).await {
        match e {
            WatchEvent::Added(_) => added += 1,
            WatchEvent::Bookmark(b) => {
                marked = b
                    .metadata
                    .annotations
                    .get("k8s.io/initial-events-end")
                    .is_some_and(|v| v == "true");
                break;
            }
            _ => {}
        }
    }
    assert!(added >= 1);
    assert!(marked);
}

#[tokio::test]
async fn a_watcher_that_falls_behind_is_dropped() {
    let Some(c) = sim_cluster(default_builder().watch_buffer(16)).await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let stream = api
        .watch(&WatchParams::default().timeout(60), "0")
        .await
        .expect("watch");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A burst of writes without yielding: the watcher cannot keep up with a 16-event buffer.
    let store_api = c.sim().api().clone();
    let def = store_api.registry.get("/configmaps").expect("configmaps");
    for i in 0..2000 {
        store_api
            .create(
                &def,
                "v1",
                Some(&c.ns),
                json!({"metadata": {"name": format!("burst-{i}")}}),
                &Default::default(),
            )
            .expect("create");
    }
    let n = tokio::time::timeout(Duration::from_secs(10), stream.count())
        .await
        .expect("the lagging watch is closed by the server");
    assert!(
        n < 2000,
        "the watch ended before delivering everything ({n})"
    );
}
