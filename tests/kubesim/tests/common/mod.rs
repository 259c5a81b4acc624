//! Shared helpers of the kubesim integration tests.
//!
//! Every test gets a [`Cluster`]: by default a fresh kubesim; when `CRYPTOJACK_E2E_KUBECONFIG`
//! points at a kubeconfig, that real cluster instead. Either way the test works in its own
//! temporary namespace `cj-e2e-<random>`, so the same test body runs against both. Tests of
//! kubesim-only features (faults, time, compaction) call [`sim_cluster`] and are skipped (they
//! return early with a note) against a real cluster.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kubesim::{Sim, SimBuilder};
use serde_json::json;

pub const E2E_ENV: &str = "CRYPTOJACK_E2E_KUBECONFIG";

pub struct Cluster {
    pub sim: Option<Sim>,
    /// Admin client (no automatic retries, so that tests see every status).
    pub client: kube::Client,
    /// The test's own namespace.
    pub ns: String,
    pub kubeconfig: PathBuf,
}

impl Cluster {
    pub fn is_sim(&self) -> bool {
        self.sim.is_some()
    }

    /// The simulator (only for tests obtained through [`sim_cluster`]).
    pub fn sim(&self) -> &Sim {
        self.sim.as_ref().expect("this test needs kubesim")
    }

    /// `kubectl --kubeconfig K -n NS ARGS...` (tests calling it must use the multi-threaded
    /// runtime: the server runs on the same runtime while kubectl blocks this thread).
    pub fn kubectl(&self, args: &[&str]) -> Output {
        tokio::task::block_in_place(|| {
            Command::new(kubectl_bin())
                .arg("--kubeconfig")
                .arg(&self.kubeconfig)
                .arg("-n")
                .arg(&self.ns)
                .args(args)
                .output()
                .expect("running kubectl")
        })
    }

    /// Runs kubectl and asserts success; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// kubectl with a YAML document on stdin.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        tokio::task::block_in_place(|| self.kubectl_stdin_blocking(args, stdin))
    }

    fn kubectl_stdin_blocking(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(kubectl_bin())
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("-n")
            .arg(&self.ns)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawning kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("writing stdin");
        child.wait_with_output().expect("kubectl output")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.sim.is_some() {
            return;
        }
        // Real cluster: remove the test namespace (from another thread: we may be inside a runtime).
        let kc = self.kubeconfig.clone();
        let ns = self.ns.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(c) = e2e_client(&kc).await {
                    let _ = Api::<Namespace>::all(c)
                        .delete(&ns, &DeleteParams::default())
                        .await;
                }
            });
        })
        .join();
    }
}

/// The kubectl binary: `$KUBECTL`, else `.tools/bin/kubectl` of the repository, else `kubectl`.
pub fn kubectl_bin() -> PathBuf {
    if let Ok(k) = std::env::var("KUBECTL")
        && !k.is_empty()
    {
        return PathBuf::from(k);
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tools = repo.join(".tools/bin/kubectl");
    if tools.exists() {
        return tools;
    }
    PathBuf::from("kubectl")
}

pub fn random_ns() -> String {
    let s: String = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
    format!("cj-e2e-{s}")
}

async fn e2e_client(kc: &Path) -> Result<kube::Client, String> {
    let kubeconfig = Kubeconfig::read_from(kc).map_err(|e| e.to_string())?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| e.to_string())?;
    config.default_retry = false;
    kube::Client::try_from(config).map_err(|e| e.to_string())
}

/// The default kubesim for tests: small history, 2 nodes, all controllers.
pub fn default_builder() -> SimBuilder {
    Sim::builder()
        .history(200)
        .nodes(2)
        .bookmark_interval(Duration::from_millis(300))
        .tick(Duration::from_millis(50))
}

/// A cluster for a contract test: kubesim (from `builder`), or the real cluster in e2e mode.
pub async fn cluster_with(builder: SimBuilder) -> Cluster {
    let ns = random_ns();
    if let Ok(kc) = std::env::var(E2E_ENV)
        && !kc.is_empty()
    {
        let kc = PathBuf::from(kc);
        let client = e2e_client(&kc).await.expect("client for the e2e cluster");
        create_ns(&client, &ns).await;
        return Cluster {
            sim: None,
            client,
            ns,
            kubeconfig: kc,
        };
    }
    let sim = builder.start().await.expect("starting kubesim");
    let mut cfg = sim.client_config(sim.admin_token());
    cfg.default_retry = false;
    let client = kube::Client::try_from(cfg).expect("client");
    create_ns(&client, &ns).await;
    let kubeconfig = sim.kubeconfig_path().to_path_buf();
    Cluster {
        sim: Some(sim),
        client,
        ns,
        kubeconfig,
    }
}

pub async fn cluster() -> Cluster {
    cluster_with(default_builder()).await
}

/// A kubesim-only cluster; `None` (the test is skipped) in e2e mode.
pub async fn sim_cluster(builder: SimBuilder) -> Option<Cluster> {
    if std::env::var(E2E_ENV).is_ok_and(|v| !v.is_empty()) {
        eprintln!("skipped: kubesim-specific test in e2e mode");
        return None;
    }
    Some(cluster_with(builder).await)
}

async fn create_ns(client: &kube::Client, ns: &str) {
    let nss: Api<Namespace> = Api::all(client.clone());
    let obj: Namespace =
        serde_json::from_value(json!({"metadata": {"name": ns}})).expect("namespace");
    nss.create(&PostParams::default(), &obj)
        .await
        .expect("creating the test namespace");
}

/// The Status of a kube API error (panics on other errors).
pub fn status_of(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Polls `f` until it returns Some, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The image of every simulated workload in the tests (it is never pulled: nothing runs).
pub const PAUSE: &str = "registry.k8s.io/pause:3.10";

/// Creates a Deployment `name` of `replicas` pause pods labelled `app=name` and returns it.
pub async fn create_pause_deployment(
    api: &Api<k8s_openapi::api::apps::v1::Deployment>,
    name: &str,
    replicas: i32,
) -> k8s_openapi::api::apps::v1::Deployment {
    let d = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": PAUSE}]}}}
    }))
    .expect("deployment");
    api.create(&PostParams::default(), &d)
        .await
        .expect("create deployment")
}

impl Cluster {
    /// A kubeconfig for the bearer token `token`: the same server and CA as the test's, the test
    /// namespace as its context's namespace (kubesim: [`Sim::kubeconfig_for_token_in`]; a real
    /// cluster: built from its kubeconfig's current context).
    pub fn token_kubeconfig(&self, token: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "kubesim-token-{}.kubeconfig",
            uuid::Uuid::new_v4().simple()
        ));
        if let Some(sim) = &self.sim {
            sim.kubeconfig_for_token_in(token, &self.ns, &path)
                .expect("token kubeconfig");
            return path;
        }
        let kc = Kubeconfig::read_from(&self.kubeconfig).expect("e2e kubeconfig");
        let ctx_name = kc.current_context.clone().expect("current context");
        let ctx = kc
            .contexts
            .iter()
            .find(|c| c.name == ctx_name)
            .and_then(|c| c.context.clone())
            .expect("context");
        let cluster = kc
            .clusters
            .iter()
            .find(|c| c.name == ctx.cluster)
            .cloned()
            .expect("cluster");
        let out = json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [cluster],
            "users": [{"name": "token", "user": {"token": token}}],
            "contexts": [{"name": "token", "context": {"cluster": ctx.cluster, "user": "token", "namespace": self.ns}}],
            "current-context": "token",
        });
        std::fs::write(&path, serde_json::to_vec(&out).expect("json")).expect("write kubeconfig");
        path
    }

    /// `kubectl --kubeconfig KUBECONFIG -n NS ARGS...` with another kubeconfig.
    pub fn kubectl_with(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        tokio::task::block_in_place(|| {
            Command::new(kubectl_bin())
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .arg("-n")
                .arg(&self.ns)
                .args(args)
                .output()
                .expect("running kubectl")
        })
    }

    /// A kube::Client for the bearer token `token` (no automatic retries).
    pub async fn client_for_token(&self, token: &str) -> kube::Client {
        let path = self.token_kubeconfig(token);
        let c = e2e_client(&path).await.expect("client for token");
        let _ = std::fs::remove_file(path);
        c
    }
}

/// Requests a TokenRequest token for the ServiceAccount `name` in `ns`.
pub async fn request_token(client: &kube::Client, ns: &str, name: &str) -> String {
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

/// Creates the ServiceAccount `name` in `ns`.
pub async fn create_sa(client: &kube::Client, ns: &str, name: &str) {
    use k8s_openapi::api::core::v1::ServiceAccount;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("sa");
    sas.create(&PostParams::default(), &sa)
        .await
        .expect("create sa");
}

/// Creates (server-side applies) any object given as JSON with the admin client.
pub async fn apply_json(client: &kube::Client, obj: serde_json::Value) {
    use kube::api::{DynamicObject, Patch, PatchParams};
    let av = obj["apiVersion"].as_str().expect("apiVersion").to_string();
    let kind = obj["kind"].as_str().expect("kind").to_string();
    let (group, version) = av.split_once('/').unwrap_or(("", &av));
    let gvk = kube::core::GroupVersionKind::gvk(group, version, &kind);
    let (ar, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .expect("discovery of the kind");
    let name = obj["metadata"]["name"].as_str().expect("name").to_string();
    let api: Api<DynamicObject> = match obj["metadata"]["namespace"].as_str() {
        Some(ns) if caps.scope == kube::discovery::Scope::Namespaced => {
            Api::namespaced_with(client.clone(), ns, &ar)
        }
        _ => Api::all_with(client.clone(), &ar),
    };
    api.patch(
        &name,
        &PatchParams::apply("kubesim-tests").force(),
        &Patch::Apply(obj),
    )
    .await
    .expect("apply");
}

/// The helm binary: `$HELM`, else `.tools/bin/helm` of the repository, else `helm`.
pub fn helm_bin() -> PathBuf {
    if let Ok(h) = std::env::var("HELM")
        && !h.is_empty()
    {
        return PathBuf::from(h);
    }
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin/helm");
    if tools.exists() {
        return tools;
    }
    PathBuf::from("helm")
}
