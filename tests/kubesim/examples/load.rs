//! kubesim load measurements (run with `cargo run --release -p kubesim --example load`).
//!
//! 1. List latency with 50,000 pods (inserted through kubesim's API layer, in process, not HTTP).
//! 2. Sustained creates per second through HTTP (kube::Client, several concurrent tasks).
//! 3. Watch fan-out: events per second delivered to several watchers.
//!
//! Controllers are off so that the numbers are the server's own (`CONTROLLERS=1` turns them on).
//! Environment knobs: `PODS` (50000), `TASKS` (8), `CREATE_SECS` (5), `WATCHERS` (8),
//! `EVENTS` (20000), `ONLY` (list|create|watch).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use kubesim::api::WriteOpts;
use kubesim::{ControllerSet, Sim};
use serde_json::json;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pod(i: usize) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("load-{i:06}"), "namespace": format!("ns-{}", i % 10),
            "labels": {"app": format!("app-{}", i % 100), "tier": if i.is_multiple_of(2) { "front" } else { "back" }}},
        "spec": {"nodeName": format!("node-{}", i % 3), "containers": [{
            "name": "c", "image": "registry.k8s.io/pause:3.10",
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn start() -> Sim {
    // CONTROLLERS=1 runs the simulated controllers (scheduler/kubelet, GC, ...) during the runs.
    let set = if env("CONTROLLERS", 0) == 1 {
        ControllerSet::all()
    } else {
        ControllerSet::none()
    };
    Sim::builder()
        .nodes(3)
        .history(10_000)
        .controllers(set)
        .start()
        .await
        .expect("kubesim")
}

fn client(sim: &Sim) -> kube::Client {
    let mut cfg = sim.client_config(sim.admin_token());
    cfg.default_retry = false;
    kube::Client::try_from(cfg).expect("client")
}

async fn list_latency() {
    let n = env("PODS", 50_000);
    let sim = start().await;
    let api = sim.api().clone();
    let ns_def = api.registry.get("/namespaces").expect("namespaces");
    for i in 0..10 {
        api.create(
            &ns_def,
            "v1",
            None,
            json!({"metadata": {"name": format!("ns-{i}")}}),
            &WriteOpts::default(),
        )
        .expect("ns");
    }
    let pods_def = api.registry.get("/pods").expect("pods");
    let t = Instant::now();
    for i in 0..n {
        let p = pod(i);
        let ns = format!("ns-{}", i % 10);
        api.create(&pods_def, "v1", Some(&ns), p, &WriteOpts::default())
            .expect("pod");
    }
    let insert = t.elapsed();
    println!(
        "insert {n} pods in process (API layer, no HTTP): {:.2?} ({:.0}/s)",
        insert,
        n as f64 / insert.as_secs_f64()
    );
    if env("CONTROLLERS", 0) == 1 {
        // Let the controllers (the kubelet simulation writes every pod's status) converge first,
        // so that the lists below measure the steady state with controllers on.
        let t = Instant::now();
        let applied = sim.settle().await;
        println!(
            "controllers converge over {n} pods: {applied} mutations in {:.2?}; one idle pass: {:.2?}",
            t.elapsed(),
            {
                let t = Instant::now();
                sim.settle().await;
                t.elapsed()
            }
        );
    }
    let c = client(&sim);
    let pods: Api<Pod> = Api::all(c.clone());
    let mut full = Vec::new();
    let mut bytes = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let l = pods.list(&ListParams::default()).await.expect("list");
        full.push(t.elapsed());
        assert_eq!(l.items.len(), n);
        bytes = serde_json::to_vec(&l).map(|v| v.len()).unwrap_or(0);
    }
    println!(
        "list all {n} pods through kube::Client (HTTP + JSON decode into k8s-openapi Pods): median {:.2?} (~{} MB)",
        median(full),
        bytes / 1_000_000
    );
    let req_raw = || {
        axum::http::Request::get("/api/v1/pods")
            .body(Vec::new())
            .expect("request")
    };
    let mut raw = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let s = c.request_text(req_raw()).await.expect("raw list");
        raw.push(t.elapsed());
        assert!(s.len() > 1000);
    }
    println!(
        "list all {n} pods, server time + transfer (raw text, no decode): median {:.2?}",
        median(raw)
    );
    let mut paged = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let mut lp = ListParams::default().limit(500);
        let mut total = 0;
        loop {
            let page = pods.list(&lp).await.expect("page");
            total += page.items.len();
            match page.metadata.continue_ {
                Some(tok) if !tok.is_empty() => lp = lp.continue_token(&tok),
                _ => break,
            }
        }
        assert_eq!(total, n);
        paged.push(t.elapsed());
    }
    println!(
        "list all {n} pods in pages of 500: median {:.2?}",
        median(paged)
    );
    let mut sel = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let l = pods
            .list(&ListParams::default().labels("app=app-7,tier=back"))
            .await
            .expect("list");
        sel.push(t.elapsed());
        assert_eq!(l.items.len(), n / 100);
    }
    println!(
        "list with a label selector matching {} of {n} pods: median {:.2?}",
        n / 100,
        median(sel)
    );
    let ns_pods: Api<Pod> = Api::namespaced(c, "ns-3");
    let mut nsl = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let l = ns_pods.list(&ListParams::default()).await.expect("list");
        nsl.push(t.elapsed());
        assert_eq!(l.items.len(), n / 10);
    }
    println!(
        "list one namespace ({} pods): median {:.2?}",
        n / 10,
        median(nsl)
    );
}

async fn create_rate() {
    let tasks = env("TASKS", 8);
    let secs = env("CREATE_SECS", 5) as u64;
    let sim = start().await;
    let c = client(&sim);
    let stop = Instant::now() + Duration::from_secs(secs);
    let t = Instant::now();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let api: Api<Pod> = Api::namespaced(c.clone(), "default");
        handles.push(tokio::spawn(async move {
            let mut n = 0usize;
            while Instant::now() < stop {
                let mut p: Pod = serde_json::from_value(pod(task * 10_000_000 + n)).expect("pod");
                p.metadata.namespace = None;
                api.create(&PostParams::default(), &p)
                    .await
                    .expect("create");
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.expect("task");
    }
    let el = t.elapsed();
    println!(
        "sustained pod creates through kube::Client, {tasks} concurrent tasks: {total} in {:.2?} = {:.0}/s",
        el,
        total as f64 / el.as_secs_f64()
    );
}

async fn watch_fanout() {
    let watchers = env("WATCHERS", 8);
    let events = env("EVENTS", 20_000);
    let sim = start().await;
    let c = client(&sim);
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let rv = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    let done = Arc::new(tokio::sync::Barrier::new(watchers + 1));
    let mut handles = Vec::new();
    for _ in 0..watchers {
        let api = api.clone();
        let rv = rv.clone();
        let done = done.clone();
        handles.push(tokio::spawn(async move {
            let mut s = std::pin::pin!(
                api.watch(
                    &WatchParams::default().timeout(290).disable_bookmarks(),
                    &rv
                )
                .await
                .expect("watch")
            );
            done.wait().await;
            let mut n = 0;
            while let Some(e) = s.next().await {
                if let Ok(WatchEvent::Added(_)) = e {
                    n += 1;
                    if n == events {
                        break;
                    }
                }
            }
            n
        }));
    }
    done.wait().await;
    let store_api = sim.api().clone();
    let cm_def = store_api.registry.get("/configmaps").expect("configmaps");
    let t = Instant::now();
    for i in 0..events {
        store_api
            .create(
                &cm_def,
                "v1",
                Some("default"),
                json!({"metadata": {"name": format!("fan-{i:06}")}, "data": {"k": "v", "i": i.to_string()}}),
                &WriteOpts::default(),
            )
            .expect("create");
    }
    let written = t.elapsed();
    let mut delivered = 0;
    for h in handles {
        delivered += h.await.expect("watcher");
    }
    let el = t.elapsed();
    println!(
        "watch fan-out: {events} events written in {:.2?}, {watchers} watchers received {delivered} events in {:.2?} = {:.0} events/s delivered ({:.0}/s per watcher)",
        written,
        el,
        delivered as f64 / el.as_secs_f64(),
        delivered as f64 / el.as_secs_f64() / watchers as f64
    );
}

#[tokio::main]
async fn main() {
    // ONLY=list|create|watch runs one measurement.
    let only = std::env::var("ONLY").unwrap_or_default();
    if only.is_empty() || only == "list" {
        list_latency().await;
    }
    if only.is_empty() || only == "create" {
        create_rate().await;
    }
    if only.is_empty() || only == "watch" {
        watch_fanout().await;
    }
}
