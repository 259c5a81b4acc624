//! Scripted load run of the operator (a benchmark, not a test): the real `cryptojack run`
//! binary against an in-process kubesim.
//!
//! ```text
//! cargo bench --bench operator_load                        # 10,000 pods, 100 new pods/s, 1% miners, 3 min
//! PODS=100000 RATE=0 cargo bench --bench operator_load     # start-up with 100,000 pods
//! ```
//!
//! Knobs (environment): `PODS` (10000) running pods before the operator starts, `RATE`
//! (100) new pods per second afterwards (each new pod replaces an old benign one, so the
//! count stays at `PODS`), `SECONDS` (180), `MINER_EVERY` (100: 1% of new pods are miners,
//! alternately a bare pod and a one-replica Deployment), `NODES` (20).
//!
//! Reports: start-up time until every pod was evaluated (the operator's
//! `cryptojack_pods_evaluated_total`), p50/p99 detection latency (from the pod watch
//! event to the incident, `status.detectionLatencyMs`) and time to contain
//! (`status.timeToContainMs`) per kind, and the operator's resident memory (VmRSS, VmHWM).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cryptojack::api::{CryptojackIncident, IncidentPhase};
use kube::api::{Api, ListParams};
use kubesim::api::WriteOpts;
use kubesim::{ControllerSet, Sim};
use serde_json::{Value, json};

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn benign(i: u64, nodes: u64) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("web-{i:07}"), "namespace": format!("team-{}", i % 50),
                     "labels": {"app": format!("web-{}", i % 97)}},
        "spec": {"nodeName": format!("node-{}", i % nodes), "containers": [{
            "name": "app", "image": "registry.example.com/shop/web:1.4.2",
            "command": ["/app/server", "--port", "8080", "--log-level", "info"],
            "env": [{"name": "MODE", "value": "production"}, {"name": "REGION", "value": "eu-west-1"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}
    })
}

fn miner_pod(i: u64, nodes: u64) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("miner-{i:07}"), "namespace": format!("team-{}", i % 50)},
        "spec": {"nodeName": format!("node-{}", i % nodes), "containers": [{
            "name": "worker", "image": "docker.io/library/alpine:3.20",
            "command": ["sh", "-c", "./xmrig -o stratum+tcp://pool.supportxmr.com:3333 -u 44AFFq5kSiGBoZ --donate-level=1"],
            "resources": {"requests": {"cpu": "2"}}}]}
    })
}

fn miner_deployment(i: u64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("miner-{i:07}"), "namespace": format!("team-{}", i % 50)},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": format!("miner-{i}")}},
                 "template": {"metadata": {"labels": {"app": format!("miner-{i}")}},
                              "spec": {"containers": [{"name": "worker", "image": "docker.io/xmrig/xmrig:6.21.0",
                                                       "resources": {"requests": {"cpu": "2"}}}]}}}
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18090)
}

fn metric(port: u16, name: &str) -> Option<f64> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.trim().parse().ok())
}

/// (VmRSS, VmHWM) of a process, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (kib("VmRSS:"), kib("VmHWM:"))
}

fn pct(v: &mut [i64], p: f64) -> i64 {
    if v.is_empty() {
        return -1;
    }
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let pods = knob("PODS", 10_000);
    let rate = knob("RATE", 100);
    let seconds = knob("SECONDS", 180);
    let miner_every = knob("MINER_EVERY", 100).max(1);
    let nodes = knob("NODES", 20);
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let sim = Sim::builder()
        .crds_dir(repo.join("crds"))
        .nodes(nodes as usize)
        .history(200_000)
        .controllers(ControllerSet::all())
        .start()
        .await
        .expect("kubesim");
    let api = sim.api().clone();
    let ns_def = api.registry.get("/namespaces").expect("namespaces");
    for ns in (0..50)
        .map(|i| format!("team-{i}"))
        .chain(["cryptojack-system".to_string()])
    {
        api.create(
            &ns_def,
            "v1",
            None,
            json!({"metadata": {"name": ns}}),
            &WriteOpts::default(),
        )
        .expect("namespace");
    }
    let pods_def = api.registry.get("/pods").expect("pods");
    let deploy_def = api.registry.get("apps/deployments").expect("deployments");
    let t = Instant::now();
    for i in 0..pods {
        let p = benign(i, nodes);
        let ns = p["metadata"]["namespace"]
            .as_str()
            .unwrap_or("team-0")
            .to_string();
        api.create(&pods_def, "v1", Some(&ns), p, &WriteOpts::default())
            .expect("pod");
    }
    sim.settle().await;
    println!("setup: {pods} running pods in {:.1?}", t.elapsed());
    let client = sim.client();
    let policies: Api<kube::api::DynamicObject> = Api::all_with(
        client.clone(),
        &kube::api::ApiResource {
            group: "cryptojack.dev".into(),
            version: "v1alpha1".into(),
            api_version: "cryptojack.dev/v1alpha1".into(),
            kind: "CryptojackPolicy".into(),
            plural: "cryptojackpolicies".into(),
        },
    );
    let policy: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cryptojack.dev/v1alpha1", "kind": "CryptojackPolicy",
        "metadata": {"name": "contain"}, "spec": {"mode": "Contain", "limits": {"maxIncidentsPerMinute": 10000}}
    }))
    .expect("policy");
    policies
        .create(&Default::default(), &policy)
        .await
        .expect("create policy");

    let port = free_port();
    let started = Instant::now();
    let operator = Operator(
        Command::new(env!("CARGO_BIN_EXE_cryptojack"))
            .args([
                "run",
                "--namespace",
                "cryptojack-system",
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
            ])
            .env("KUBECONFIG", sim.kubeconfig_path())
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cryptojack run"),
    );
    let pid = operator.0.id();
    loop {
        let evaluated = metric(port, "cryptojack_pods_evaluated_total").unwrap_or(0.0);
        if evaluated >= pods as f64 {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            panic!("start-up did not finish: {evaluated} of {pods} pods evaluated");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let startup = started.elapsed();
    let (rss, hwm) = memory(pid);
    println!(
        "start-up: every one of {pods} pods evaluated {:.2?} after the process started; RSS {rss:.1} MiB (peak {hwm:.1} MiB)",
        startup
    );
    if rate == 0 || seconds == 0 {
        return;
    }

    // sustained load
    let t0 = Instant::now();
    let mut next = pods;
    let mut oldest = 0u64;
    let mut miners = 0u64;
    let mut peak = hwm;
    for second in 0..seconds {
        let tick = t0 + Duration::from_secs(second);
        tokio::time::sleep_until(tokio::time::Instant::from_std(tick)).await;
        // spread the second's pods over ten slices
        for slice in 0..10 {
            let at = tick + Duration::from_millis(slice * 100);
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            for _ in 0..(rate / 10).max(1) {
                let i = next;
                next += 1;
                let ns = format!("team-{}", i % 50);
                if i.is_multiple_of(miner_every) {
                    miners += 1;
                    if !miners.is_multiple_of(2) {
                        let _ = api.create(
                            &pods_def,
                            "v1",
                            Some(&ns),
                            miner_pod(i, nodes),
                            &WriteOpts::default(),
                        );
                    } else {
                        if let Err(e) = api.create(
                            &deploy_def,
                            "v1",
                            Some(&ns),
                            miner_deployment(i),
                            &WriteOpts::default(),
                        ) {
                            eprintln!("creating a miner Deployment: {e:?}");
                        }
                    }
                } else {
                    let _ = api.create(
                        &pods_def,
                        "v1",
                        Some(&ns),
                        benign(i, nodes),
                        &WriteOpts::default(),
                    );
                    // keep the running count steady: retire the oldest benign pod
                    let old = oldest;
                    oldest += 1;
                    let _ = api.delete(
                        &pods_def,
                        Some(&format!("team-{}", old % 50)),
                        &format!("web-{old:07}"),
                        &Default::default(),
                    );
                }
            }
        }
        peak = peak.max(memory(pid).1);
        if second % 30 == 29 {
            println!(
                "  {}s: {} pods created, {miners} miners, operator RSS {:.1} MiB",
                second + 1,
                next - pods,
                memory(pid).0
            );
        }
    }
    println!(
        "sustained: {} pods in {seconds}s ({miners} miners)",
        next - pods
    );

    // every miner contained
    let incidents: Api<CryptojackIncident> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(120);
    let list = loop {
        let list = incidents
            .list(&ListParams::default())
            .await
            .expect("incidents")
            .items;
        let contained = list
            .iter()
            .filter(|i| {
                i.status
                    .as_ref()
                    .is_some_and(|s| s.phase == IncidentPhase::Contained)
            })
            .count() as u64;
        if contained >= miners || Instant::now() > deadline {
            println!(
                "incidents: {} recorded, {contained} contained (of {miners} miners)",
                list.len()
            );
            break list;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let deploys: Api<k8s_openapi::api::apps::v1::Deployment> = Api::all(client.clone());
    let d = deploys
        .list(&ListParams::default())
        .await
        .map(|l| l.items.len())
        .unwrap_or(0);
    let rs: Api<k8s_openapi::api::apps::v1::ReplicaSet> = Api::all(client.clone());
    let r = rs
        .list(&ListParams::default())
        .await
        .map(|l| l.items.len())
        .unwrap_or(0);
    println!("(miner Deployments: {d}, ReplicaSets: {r})");
    let mut by_kind: BTreeMap<String, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
    for i in &list {
        let kind = i.spec.top_owner.kind.clone();
        let e = by_kind.entry(kind).or_default();
        if let Some(st) = &i.status {
            if let Some(d) = st.detection_latency_ms {
                e.0.push(d);
            }
            if let Some(t) = st.time_to_contain_ms {
                e.1.push(t);
            }
        }
    }
    let mut all_detect: Vec<i64> = Vec::new();
    for (kind, (mut detect, mut contain)) in by_kind {
        all_detect.extend(&detect);
        println!(
            "{kind:>10}: n={:>4}  detection p50 {} ms p99 {} ms | time to contain p50 {} ms p99 {} ms",
            contain.len(),
            pct(&mut detect, 0.5),
            pct(&mut detect, 0.99),
            pct(&mut contain, 0.5),
            pct(&mut contain, 0.99)
        );
    }
    println!(
        "all: detection p50 {} ms p99 {} ms; operator peak RSS {peak:.1} MiB (VmHWM)",
        pct(&mut all_detect.clone(), 0.5),
        pct(&mut all_detect, 0.99)
    );
    drop(operator);
}
