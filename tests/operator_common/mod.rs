//! Shared helpers of the operator tests: a kubesim with the project's CRDs, the operator
//! running in-process against it, and polling with deadlines (never fixed sleeps).
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cryptojack::api::{CryptojackIncident, CryptojackPolicy};
use cryptojack::controller::{Options, leader::Timing, operate};
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kubesim::Sim;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const OPERATOR_NS: &str = "cryptojack-system";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Env {
    pub sim: Sim,
    pub client: Client,
    pub operators: Vec<(CancellationToken, tokio::task::JoinHandle<()>)>,
}

/// Runs a request again when the connection failed (not on an API answer): a test's own
/// client meets the connections `Sim::restart` drops the way any client would.
pub async fn retry_transport<T, F, Fut>(mut f: F) -> kube::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = kube::Result<T>>,
{
    let mut attempt = 0;
    loop {
        match f().await {
            Err(kube::Error::Api(s)) => return Err(kube::Error::Api(s)),
            Err(e) if attempt < 5 => {
                attempt += 1;
                eprintln!("retrying after a connection error: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

pub fn sim_builder() -> kubesim::SimBuilder {
    Sim::builder()
        .crds_dir(repo().join("crds"))
        .nodes(3)
        .gpu_nodes(1)
        .tick(Duration::from_millis(50))
}

pub async fn sim() -> Sim {
    sim_builder().start().await.expect("kubesim starts")
}

pub fn options(identity: &str) -> Options {
    Options {
        namespace: OPERATOR_NS.into(),
        metrics_addr: None,
        dry_run: false,
        timing: Timing {
            lease_duration: Duration::from_secs(3),
            renew_deadline: Duration::from_secs(2),
            retry_period: Duration::from_millis(300),
        },
        identity: identity.into(),
        crash_after_mutations: None,
    }
}

impl Env {
    pub async fn start() -> Env {
        Env::start_with(options("op-1")).await
    }

    pub async fn start_with(opts: Options) -> Env {
        Env::start_on(sim_builder(), opts).await
    }

    /// An operator against a simulator built by `builder` (extra CRDs, RBAC+TLS, ...).
    pub async fn start_on(builder: kubesim::SimBuilder, opts: Options) -> Env {
        if std::env::var_os("RUST_LOG").is_some() {
            cryptojack::telemetry::init(cryptojack::telemetry::LogFormat::Text);
        }
        let sim = builder.start().await.expect("kubesim starts");
        let client = sim.client();
        let mut env = Env {
            sim,
            client,
            operators: Vec::new(),
        };
        env.namespace(OPERATOR_NS).await;
        env.spawn_operator(opts);
        env
    }

    pub fn spawn_operator(&mut self, opts: Options) {
        let config = self.sim.client_config(self.sim.admin_token());
        let token = CancellationToken::new();
        let t = token.clone();
        let handle = tokio::spawn(async move {
            if let Err(e) = operate(config, opts, t).await {
                panic!("operator failed to start: {e}");
            }
        });
        self.operators.push((token, handle));
    }

    /// Stops every operator (as a graceful shutdown).
    pub async fn stop_operators(&mut self) {
        for (t, h) in self.operators.drain(..) {
            t.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(15), h).await;
        }
    }

    pub async fn namespace(&self, name: &str) {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
        let pp = PostParams::default();
        match retry_transport(|| api.create(&pp, &ns)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => panic!("creating namespace {name}: {e}"),
        }
    }

    /// Creates (or replaces) any object from JSON with server-side apply.
    pub async fn apply(&self, obj: Value) -> Value {
        let api_version = obj["apiVersion"].as_str().expect("apiVersion").to_string();
        let kind = obj["kind"].as_str().expect("kind").to_string();
        let name = obj["metadata"]["name"].as_str().expect("name").to_string();
        let ns = obj["metadata"]["namespace"].as_str().map(String::from);
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, &kind);
        let (ar, _) = retry_transport(|| kube::discovery::pinned_kind(&self.client, &gvk))
            .await
            .expect("discovery");
        let api: Api<kube::api::DynamicObject> = match &ns {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        };
        let (params, patch) = (PatchParams::apply("test").force(), Patch::Apply(&obj));
        let out = retry_transport(|| api.patch(&name, &params, &patch))
            .await
            .unwrap_or_else(|e| panic!("applying {kind} {name}: {e}"));
        serde_json::to_value(out).expect("json")
    }

    /// Applies a policy and, when an operator runs, waits until it has read it (status
    /// for this generation).
    pub async fn policy(&self, name: &str, spec: Value) {
        let applied = self
            .apply(json!({
                "apiVersion": "cryptojack.dev/v1alpha1",
                "kind": "CryptojackPolicy",
                "metadata": {"name": name},
                "spec": spec
            }))
            .await;
        if self.operators.is_empty() {
            return;
        }
        let generation = applied["metadata"]["generation"].as_i64();
        eventually(
            &format!("policy {name} seen by the operator"),
            Duration::from_secs(20),
            || async {
                let p = self.policy_status(name).await?;
                (p.status.as_ref()?.observed_generation == generation).then_some(())
            },
        )
        .await;
    }

    pub async fn incidents(&self, ns: &str) -> Vec<CryptojackIncident> {
        let api: Api<CryptojackIncident> = Api::namespaced(self.client.clone(), ns);
        api.list(&ListParams::default())
            .await
            .expect("list incidents")
            .items
    }

    pub async fn policy_status(&self, name: &str) -> Option<CryptojackPolicy> {
        let api: Api<CryptojackPolicy> = Api::all(self.client.clone());
        api.get_opt(name).await.expect("get policy")
    }
}

/// Polls `f` until it returns Some, or panics after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Deployment running `image` with `command`.
pub fn deployment(ns: &str, name: &str, replicas: i32, image: &str, command: &[&str]) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image, "command": command}]}
            }
        }
    })
}

pub fn contain_policy() -> Value {
    json!({"mode": "Contain"})
}

/// A pod template running `image` with `command`, labelled `app: name`.
pub fn template(name: &str, image: &str, command: &[&str]) -> Value {
    json!({
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": image, "command": command}]}
    })
}

pub fn workload(kind: &str, ns: &str, name: &str, image: &str, command: &[&str]) -> Value {
    let t = template(name, image, command);
    match kind {
        "Deployment" => deployment(ns, name, 2, image, command),
        "ReplicaSet" | "StatefulSet" => json!({
            "apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 2, "serviceName": name, "selector": {"matchLabels": {"app": name}}, "template": t}
        }),
        "DaemonSet" => json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": t}
        }),
        "ReplicationController" => json!({
            "apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 2, "selector": {"app": name}, "template": t}
        }),
        "Job" => {
            let mut t = t;
            t["spec"]["restartPolicy"] = json!("Never");
            json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"parallelism": 2, "completions": 4, "template": t}
            })
        }
        "CronJob" => {
            let mut t = t;
            t["spec"]["restartPolicy"] = json!("Never");
            json!({
                "apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": t}}}
            })
        }
        "Pod" => json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {"containers": [{"name": "main", "image": image, "command": command}]}
        }),
        other => panic!("no builder for {other}"),
    }
}

pub const XMRIG: (&str, &[&str]) = (
    "docker.io/xmrig/xmrig:6.21.0",
    &[
        "xmrig",
        "-o",
        "stratum+tcp://pool.supportxmr.com:3333",
        "--donate-level=1",
    ],
);

pub const BENIGN: (&str, &[&str]) = ("registry.k8s.io/pause:3.9", &["/pause"]);

impl Env {
    /// Waits until the namespace has an incident in one of `phases`; returns it.
    pub async fn incident_in(
        &self,
        ns: &str,
        phases: &[cryptojack::api::IncidentPhase],
        timeout: Duration,
    ) -> CryptojackIncident {
        let start = Instant::now();
        loop {
            let all = self.incidents(ns).await;
            if let Some(i) = all
                .iter()
                .find(|i| i.status.as_ref().is_some_and(|s| phases.contains(&s.phase)))
            {
                return i.clone();
            }
            if start.elapsed() > timeout {
                let seen: Vec<String> = all
                    .iter()
                    .map(|i| {
                        let st = i.status.clone().unwrap_or_default();
                        let actions: Vec<String> = st
                            .actions
                            .iter()
                            .map(|a| {
                                let why = a.error.clone().or(a.message.clone()).unwrap_or_default();
                                format!("{} {:?} {why}", a.id, a.state)
                            })
                            .collect();
                        format!(
                            "{} {:?}: {}",
                            i.metadata.name.clone().unwrap_or_default(),
                            st.phase,
                            actions.join(" | ")
                        )
                    })
                    .collect();
                panic!(
                    "timed out after {timeout:?} waiting for an incident in {ns} in phase {phases:?}; incidents: {seen:#?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The live (not terminating) pods of a namespace.
    pub async fn live_pods(&self, ns: &str) -> Vec<k8s_openapi::api::core::v1::Pod> {
        let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(self.client.clone(), ns);
        api.list(&ListParams::default())
            .await
            .expect("list pods")
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect()
    }

    pub async fn all_pods(&self, ns: &str) -> Vec<k8s_openapi::api::core::v1::Pod> {
        let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(self.client.clone(), ns);
        api.list(&ListParams::default())
            .await
            .expect("list pods")
            .items
    }

    /// Reads any namespaced object as JSON.
    pub async fn get(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let (ar, _) = retry_transport(|| kube::discovery::pinned_kind(&self.client, &gvk))
            .await
            .expect("discovery");
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &ar);
        api.get_opt(name)
            .await
            .expect("get")
            .map(|o| serde_json::to_value(o).expect("json"))
    }
}

/// A `cryptojack run` process (the real binary) against the simulator.
pub struct OperatorProcess {
    pub child: std::process::Child,
    pub identity: String,
}

impl OperatorProcess {
    pub fn spawn(sim: &Sim, identity: &str, extra: &[&str]) -> OperatorProcess {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_cryptojack"))
            .args([
                "run",
                "--namespace",
                OPERATOR_NS,
                "--metrics-addr",
                "127.0.0.1:0",
                "--lease-duration-seconds",
                "3",
                "--identity",
                identity,
            ])
            .args(extra)
            .env("KUBECONFIG", sim.kubeconfig_path())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawning cryptojack run");
        OperatorProcess {
            child,
            identity: identity.to_string(),
        }
    }

    /// SIGKILL, as `kill -9`.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit on its own; its exit code.
    pub async fn exit_code(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(s)) = self.child.try_wait() {
                use std::os::unix::process::ExitStatusExt;
                return s.code().or_else(|| s.signal().map(|n| 128 + n));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Env {
    /// A simulator without any operator.
    pub async fn bare() -> Env {
        let sim = sim().await;
        let client = sim.client();
        let env = Env {
            sim,
            client,
            operators: Vec::new(),
        };
        env.namespace(OPERATOR_NS).await;
        env
    }

    /// The current holder of the operator's Lease.
    pub async fn leader(&self) -> Option<String> {
        let api: Api<k8s_openapi::api::coordination::v1::Lease> =
            Api::namespaced(self.client.clone(), OPERATOR_NS);
        api.get_opt("cryptojack-leader")
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .filter(|h| !h.is_empty())
    }
}

/// A TokenRequest token of ServiceAccount `ns/name` (as an attacker would take out).
pub async fn request_token(client: &Client, ns: &str, name: &str) -> String {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::ServiceAccount;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let tr: TokenRequest = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"audiences": [], "expirationSeconds": 3600}
    }))
    .expect("token request");
    let out: TokenRequest = sas
        .create_subresource("token", name, &PostParams::default(), &tr)
        .await
        .expect("TokenRequest");
    out.status.expect("status").token
}

/// The HTTP status of listing pods in `ns` with `token` (200, 401, 403).
pub async fn probe_token(sim: &Sim, ns: &str, token: &str) -> u16 {
    let mut cfg = sim.client_config(token);
    cfg.default_retry = false;
    let client = Client::try_from(cfg).expect("client");
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client, ns);
    match pods.list(&ListParams::default().limit(1)).await {
        Ok(_) => 200,
        Err(kube::Error::Api(s)) => s.code,
        Err(e) => panic!("probing a token: {e}"),
    }
}
