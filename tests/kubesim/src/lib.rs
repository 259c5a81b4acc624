//! kubesim: an in-memory Kubernetes API server for tests and local runs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kubesim::SimError> {
//! let sim = kubesim::Sim::builder().nodes(3).history(100).start().await?;
//! let client = sim.client();
//! # let _ = client;
//! # Ok(()) }
//! ```
//!
//! See tests/kubesim/README.md for what is modelled and what is approximated.

pub mod access;
pub mod admin;
pub mod admission;
pub mod api;
pub mod auth;
pub mod authn;
pub mod bootstrap;
pub mod controllers;
pub mod crd;
pub mod cron;
pub mod defaults;
pub mod discovery;
pub mod driver;
pub mod escalation;
pub mod events;
pub mod faults;
pub mod grace;
pub mod impersonation;
pub mod jsonpath;
pub mod limits;
pub mod logs;
pub mod patch;
pub mod pdb;
pub mod proto;
pub mod quantity;
pub mod quota;
pub mod rbac;
pub mod resources;
pub mod reviews;
pub mod schema;
pub mod selector;
pub mod server;
pub mod ssa;
pub mod status;
pub mod store;
pub mod subresources;
pub mod table;
pub mod tls;
pub mod validation;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

pub use controllers::ControllerSet;
pub use faults::{FaultRule, Faults};

use api::{Api, Clock, DeleteBehaviour, WriteOpts};
use resources::Registry;
use store::Store;

/// Errors starting or running a simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("loading CRDs: {0}")]
    Crd(#[from] crd::CrdError),
    #[error("creating CRD {name}: {message}")]
    CrdCreate { name: String, message: String },
    #[error("writing kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("creating {what}: {message}")]
    Seed { what: String, message: String },
    #[error("building a kube::Client for kubesim: {message}")]
    Client { message: String },
    #[error("setting up TLS: {0}")]
    Tls(#[from] tls::TlsError),
}

/// Builder of a [`Sim`].
pub struct SimBuilder {
    crds: Vec<PathBuf>,
    crd_objects: Vec<Value>,
    history: usize,
    watch_buffer: usize,
    nodes: usize,
    gpu_nodes: usize,
    controllers: ControllerSet,
    rbac: bool,
    listen: SocketAddr,
    kubeconfig: Option<PathBuf>,
    bookmark_interval: Duration,
    tick: Duration,
    admin_token: Option<String>,
    /// None: TLS exactly when RBAC is on.
    tls: Option<bool>,
}

impl Default for SimBuilder {
    fn default() -> Self {
        SimBuilder {
            crds: Vec::new(),
            crd_objects: Vec::new(),
            history: 1000,
            watch_buffer: 65536,
            nodes: 0,
            gpu_nodes: 0,
            controllers: ControllerSet::all(),
            rbac: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            kubeconfig: None,
            bookmark_interval: Duration::from_secs(1),
            tick: Duration::from_millis(200),
            admin_token: None,
            tls: None,
        }
    }
}

impl SimBuilder {
    /// Loads every CRD of a YAML file or directory at start (may be called several times).
    pub fn crds_dir(mut self, p: impl Into<PathBuf>) -> Self {
        self.crds.push(p.into());
        self
    }

    /// Installs a CRD object at start.
    pub fn crd(mut self, crd: Value) -> Self {
        self.crd_objects.push(crd);
        self
    }

    /// Number of events kept for watch replay (small in tests to provoke 410 Gone).
    pub fn history(mut self, n: usize) -> Self {
        self.history = n;
        self
    }

    /// How many events a watcher may lag behind before it is dropped.
    pub fn watch_buffer(mut self, n: usize) -> Self {
        self.watch_buffer = n;
        self
    }

    /// Creates `n` Ready nodes `node-0..`.
    pub fn nodes(mut self, n: usize) -> Self {
        self.nodes = n;
        self
    }

    /// Of the nodes, the last `n` get `nvidia.com/gpu: 1` allocatable.
    pub fn gpu_nodes(mut self, n: usize) -> Self {
        self.gpu_nodes = n;
        self
    }

    pub fn controllers(mut self, set: ControllerSet) -> Self {
        self.controllers = set;
        self
    }

    /// Enforces authentication and RBAC.
    pub fn rbac(mut self, on: bool) -> Self {
        self.rbac = on;
        self
    }

    /// Listen address (default 127.0.0.1:0, an ephemeral port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Where to write the kubeconfig (default: a temporary file removed on drop).
    pub fn kubeconfig(mut self, p: impl Into<PathBuf>) -> Self {
        self.kubeconfig = Some(p.into());
        self
    }

    pub fn bookmark_interval(mut self, d: Duration) -> Self {
        self.bookmark_interval = d;
        self
    }

    /// Interval of the controller driver's periodic pass.
    pub fn tick(mut self, d: Duration) -> Self {
        self.tick = d;
        self
    }

    /// The admin bearer token (default: random).
    pub fn admin_token(mut self, t: impl Into<String>) -> Self {
        self.admin_token = Some(t.into());
        self
    }

    /// Serves HTTPS (a CA and a serving certificate generated at start; the CA is written into the
    /// kubeconfig) or plain HTTP. Default: HTTPS exactly when [`SimBuilder::rbac`] is on, since
    /// kubectl and helm send no credentials to a plain-HTTP server.
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = Some(on);
        self
    }

    /// Starts the server; returns once it accepts connections and the kubeconfig is written.
    pub async fn start(self) -> Result<Sim, SimError> {
        let tls = if self.tls.unwrap_or(self.rbac) {
            Some(tls::generate(self.listen.ip())?)
        } else {
            None
        };
        let store = Arc::new(Store::new(self.history, self.watch_buffer));
        let registry = Arc::new(Registry::with_builtins());
        let clock = Arc::new(Clock::default());
        let api = Arc::new(Api {
            store: store.clone(),
            registry,
            clock,
            behaviour: std::sync::Mutex::new(DeleteBehaviour::default()),
            root_ca: tls.as_ref().map(|t| t.ca_pem.clone()),
            logs: Default::default(),
            access: Default::default(),
        });
        seed(&api, &self)?;
        let kick = Arc::new(Notify::new());
        let driver = Arc::new(driver::Driver::new(
            api.clone(),
            self.controllers,
            kick.clone(),
            self.tick,
        ));
        let tokens = Arc::new(auth::Tokens::default());
        let admin_token = self
            .admin_token
            .clone()
            .unwrap_or_else(|| format!("kubesim-admin-{}", uuid::Uuid::new_v4().simple()));
        tokens.add_static(
            &admin_token,
            auth::UserInfo {
                username: authn::ADMIN_USER.into(),
                uid: None,
                groups: vec!["system:masters".into(), "system:authenticated".into()],
                extra: Default::default(),
            },
        );
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: self.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: self.listen,
            source,
        })?;
        let faults = Arc::new(Faults::default());
        let conns = Arc::new(tokio::sync::watch::Sender::new(0u64));
        let state = Arc::new(server::ServerState {
            conns: conns.clone(),
            api: api.clone(),
            faults: faults.clone(),
            auth: authn::Authn {
                rbac: self.rbac,
                admin_token: admin_token.clone(),
                tokens: tokens.clone(),
            },
            bookmark_interval: self.bookmark_interval,
            server_address: addr.to_string(),
            kick: kick.clone(),
        });
        let app = server::router(state);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let acceptor = tls
            .as_ref()
            .map(|t| tokio_rustls::TlsAcceptor::from(t.server_config.clone()));
        let server_task = tokio::spawn(serve(listener, app, stop_rx, conns.clone(), acceptor));
        let driver_task = tokio::spawn(driver.clone().run());
        driver.pass().await;
        let url = match &tls {
            Some(_) => format!("https://{addr}"),
            None => format!("http://{addr}"),
        };
        let (kubeconfig, temp_dir) = match &self.kubeconfig {
            Some(p) => (p.clone(), None),
            None => {
                let dir =
                    std::env::temp_dir().join(format!("kubesim-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir).map_err(|source| SimError::Kubeconfig {
                    path: dir.clone(),
                    source,
                })?;
                (dir.join("kubeconfig"), Some(dir))
            }
        };
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        write_kubeconfig(
            &kubeconfig,
            &url,
            ca_pem.as_deref(),
            ("kubesim-admin", &admin_token),
            "default",
        )?;
        Ok(Sim {
            tls,
            url,
            addr,
            api,
            faults,
            driver,
            tokens,
            admin_token,
            kubeconfig,
            temp_dir,
            stop: Some(stop_tx),
            conns,
            tasks: vec![server_task, driver_task],
        })
    }
}

/// Serves HTTP/1.1 connections (over TLS when `tls` is set) until `stop`; every connection is
/// dropped when `conns` changes.
async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    mut stop: oneshot::Receiver<()>,
    conns: Arc<tokio::sync::watch::Sender<u64>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "kubesim: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // A fault may close this one connection (`FaultRule::drop_connection`).
        let kill = Arc::new(Notify::new());
        let svc = hyper_util::service::TowerToHyperService::new(
            app.clone()
                .layer(axum::Extension(faults::ConnectionKill(kill.clone()))),
        );
        let mut dropped = conns.subscribe();
        let tls = tls.clone();
        tokio::spawn(async move {
            let serve_io = async move {
                match tls {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(s) => serve_connection(s, svc).await,
                        Err(e) => tracing::debug!(error = %e, "kubesim: TLS handshake failed"),
                    },
                    None => serve_connection(stream, svc).await,
                }
            };
            tokio::select! {
                _ = serve_io => {}
                _ = dropped.changed() => {}
                _ = kill.notified() => {}
            }
        });
    }
}

/// Serves one HTTP/1.1 connection.
async fn serve_connection<S>(stream: S, svc: hyper_util::service::TowerToHyperService<axum::Router>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(stream);
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, svc)
        .with_upgrades();
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "kubesim: connection ended");
    }
}

/// Pre-created namespaces, nodes and CRDs.
fn seed(api: &Api, b: &SimBuilder) -> Result<(), SimError> {
    let opts = WriteOpts::default();
    let reg = api.registry.clone();
    let seed_err = |what: String| {
        move |e: api::ApiError| SimError::Seed {
            what: what.clone(),
            message: e.message,
        }
    };
    let ns_def = reg.get("/namespaces").ok_or_else(|| SimError::Seed {
        what: "namespaces".into(),
        message: "not served".into(),
    })?;
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        api.create(
            &ns_def,
            "v1",
            None,
            json!({"metadata": {"name": ns}}),
            &opts,
        )
        .map_err(seed_err(format!("namespace {ns}")))?;
    }
    bootstrap::seed(api).map_err(seed_err("the bootstrap RBAC roles".into()))?;
    let node_def = reg.get("/nodes").ok_or_else(|| SimError::Seed {
        what: "nodes".into(),
        message: "not served".into(),
    })?;
    for i in 0..b.nodes {
        let gpu = i >= b.nodes.saturating_sub(b.gpu_nodes);
        api.create(&node_def, "v1", None, node(i, gpu, &api.now()), &opts)
            .map_err(seed_err(format!("node-{i}")))?;
    }
    let crd_def = reg.get(crd::CRD_KEY).ok_or_else(|| SimError::Seed {
        what: "crds".into(),
        message: "not served".into(),
    })?;
    let mut crds = b.crd_objects.clone();
    for p in &b.crds {
        crds.extend(crd::load_path(p)?);
    }
    for c in crds {
        let name = api::name_of(&c).to_string();
        let mut c = c;
        if let Some(md) = c.get_mut("metadata").and_then(Value::as_object_mut) {
            md.remove("resourceVersion");
            md.remove("uid");
            md.remove("creationTimestamp");
        }
        api.create(&crd_def, "v1", None, c, &opts)
            .map_err(|e| SimError::CrdCreate {
                name,
                message: e.message,
            })?;
    }
    Ok(())
}

/// A Ready node `node-i`.
pub fn node(i: usize, gpu: bool, now: &str) -> Value {
    let name = format!("node-{i}");
    let zone = ["a", "b", "c"][i % 3];
    let mut allocatable =
        json!({"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"});
    let mut capacity = allocatable.clone();
    let mut labels = json!({
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": if gpu { "g5.2xlarge" } else { "m5.2xlarge" },
        "topology.kubernetes.io/region": "sim-1",
        "topology.kubernetes.io/zone": format!("sim-1{zone}"),
    });
    if gpu {
        allocatable["nvidia.com/gpu"] = json!("1");
        capacity["nvidia.com/gpu"] = json!("1");
        labels["nvidia.com/gpu.present"] = json!("true");
    }
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"podCIDR": format!("10.244.{i}.0/24"), "podCIDRs": [format!("10.244.{i}.0/24")]},
        "status": {
            "allocatable": allocatable,
            "capacity": capacity,
            "addresses": [
                {"type": "InternalIP", "address": format!("10.0.0.{}", 10 + i)},
                {"type": "Hostname", "address": name},
            ],
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                 "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available",
                 "lastHeartbeatTime": now, "lastTransitionTime": now},
            ],
            "nodeInfo": {"kubeletVersion": "v1.33.0-kubesim", "containerRuntimeVersion": "kubesim://1.0",
                "operatingSystem": "linux", "architecture": "amd64", "osImage": "kubesim", "kernelVersion": "6.0.0"},
        },
    })
}

/// Writes a kubeconfig for `url` (with the CA when serving HTTPS), a user entry named `user` with
/// bearer `token`, and namespace `ns`.
fn write_kubeconfig(
    path: &Path,
    url: &str,
    ca_pem: Option<&str>,
    (user, token): (&str, &str),
    ns: &str,
) -> Result<(), SimError> {
    use base64::Engine as _;
    let ca = ca_pem
        .map(|pem| {
            format!(
                "    certificate-authority-data: {}\n",
                base64::engine::general_purpose::STANDARD.encode(pem)
            )
        })
        .unwrap_or_default();
    // Strings are JSON-quoted (valid YAML) so that any token or namespace is written safely.
    let q = |s: &str| Value::String(s.to_string()).to_string();
    let kc = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kubesim\n  cluster:\n    server: {url}\n{ca}contexts:\n- name: kubesim\n  context:\n    cluster: kubesim\n    user: {user}\n    namespace: {ns}\ncurrent-context: kubesim\nusers:\n- name: {user}\n  user:\n    token: {token}\n",
        ns = q(ns),
        token = q(token),
    );
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|source| SimError::Kubeconfig {
            path: path.to_path_buf(),
            source,
        })?;
    }
    // Written atomically so that a watcher of the file never reads half of it.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, kc)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|source| SimError::Kubeconfig {
            path: path.to_path_buf(),
            source,
        })
}

/// A running simulator. Dropping it stops the server.
pub struct Sim {
    tls: Option<tls::TlsMaterial>,
    url: String,
    addr: SocketAddr,
    api: Arc<Api>,
    faults: Arc<Faults>,
    driver: Arc<driver::Driver>,
    tokens: Arc<auth::Tokens>,
    admin_token: String,
    kubeconfig: PathBuf,
    temp_dir: Option<PathBuf>,
    stop: Option<oneshot::Sender<()>>,
    /// Bumped to drop every open connection.
    conns: Arc<tokio::sync::watch::Sender<u64>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Sim {
    pub fn builder() -> SimBuilder {
        SimBuilder::default()
    }

    /// `https://127.0.0.1:PORT` (TLS) or `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the server speaks HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The cluster CA certificate (PEM) when serving HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.ca_pem.as_str())
    }

    /// Writes a kubeconfig for the bearer token `token` (same server and CA as
    /// [`Sim::kubeconfig_path`], namespace `default`), e.g. to run kubectl, helm or the operator as
    /// a ServiceAccount with a token from `kubectl create token`.
    pub fn kubeconfig_for_token(
        &self,
        token: &str,
        path: impl AsRef<Path>,
    ) -> Result<(), SimError> {
        self.kubeconfig_for_token_in(token, "default", path)
    }

    /// [`Sim::kubeconfig_for_token`] with the context's namespace `ns`.
    pub fn kubeconfig_for_token_in(
        &self,
        token: &str,
        ns: &str,
        path: impl AsRef<Path>,
    ) -> Result<(), SimError> {
        write_kubeconfig(
            path.as_ref(),
            &self.url,
            self.ca_pem(),
            ("kubesim-user", token),
            ns,
        )
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin bearer token (group system:masters).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// A client authenticated as the admin.
    pub fn client(&self) -> kube::Client {
        self.client_with_token(&self.admin_token)
    }

    /// The client configuration for `token` (the server's scheme and CA, bearer token, kube's
    /// default retries).
    pub fn client_config(&self, token: &str) -> kube::Config {
        let uri: axum::http::Uri = match self.url.parse() {
            Ok(u) => u,
            Err(_) => unreachable!("the server URL is always a valid URI"),
        };
        let mut cfg = kube::Config::new(uri);
        cfg.auth_info.token = Some(token.to_string().into());
        if let Some(t) = &self.tls {
            cfg.root_cert = Some(vec![t.ca_der.clone()]);
        }
        cfg
    }

    /// A client sending `token` as its bearer token.
    pub fn try_client_with_token(&self, token: &str) -> Result<kube::Client, SimError> {
        kube::Client::try_from(self.client_config(token)).map_err(|e| SimError::Client {
            message: e.to_string(),
        })
    }

    /// A client sending `token` as its bearer token (test convenience: panics when the TLS stack
    /// cannot be initialised, e.g. an invalid CA, which never happens with kubesim's own).
    pub fn client_with_token(&self, token: &str) -> kube::Client {
        match self.try_client_with_token(token) {
            Ok(c) => c,
            Err(e) => panic!("kubesim: {e}"),
        }
    }

    /// The kubeconfig file (admin user, namespace `default`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The server's API layer (store, registry, clock) for direct manipulation in tests.
    pub fn api(&self) -> &Arc<Api> {
        &self.api
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.api.store
    }

    /// Which permission each request of a non-privileged user used, and every 403 (RBAC on).
    pub fn access_log(&self) -> &access::AccessLog {
        &self.api.access
    }

    /// Token authenticator (add static users for RBAC tests).
    pub fn tokens(&self) -> &auth::Tokens {
        &self.tokens
    }

    /// Adds a static token for a user (RBAC tests).
    pub fn add_user(&self, token: &str, username: &str, groups: &[&str]) {
        self.tokens.add_static(
            token,
            auth::UserInfo {
                username: username.into(),
                uid: None,
                groups: groups.iter().map(|g| g.to_string()).collect(),
                extra: Default::default(),
            },
        );
    }

    pub fn controllers(&self) -> ControllerSet {
        self.driver.controllers()
    }

    pub fn set_controllers(&self, set: ControllerSet) {
        self.driver.set_controllers(set)
    }

    /// Advances the simulated clock (CronJobs, token expiry) and runs the controllers.
    pub async fn advance_time(&self, d: Duration) {
        self.api.clock.advance(d);
        self.driver.pass().await;
    }

    /// Runs the controllers until they have nothing left to do.
    pub async fn settle(&self) -> usize {
        self.driver.pass().await
    }

    /// Sets the log of `container` of pod `ns/pod` (what `kubectl logs` and `pods/log` answer;
    /// empty until set). Lines are stamped with the simulated clock.
    pub fn set_pod_log(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        text: &str,
    ) -> Result<(), logs::LogError> {
        self.api
            .logs
            .write(&self.api, ns, pod, container, text, logs::LogWrite::Set)
    }

    /// Appends to the log of `container` of pod `ns/pod` (`follow` streams appended lines).
    pub fn append_pod_log(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        text: &str,
    ) -> Result<(), logs::LogError> {
        self.api
            .logs
            .write(&self.api, ns, pod, container, text, logs::LogWrite::Append)
    }

    /// Sets the log of the previous (terminated) instance of `container` (`previous=true`).
    pub fn set_previous_pod_log(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        text: &str,
    ) -> Result<(), logs::LogError> {
        self.api.logs.write(
            &self.api,
            ns,
            pod,
            container,
            text,
            logs::LogWrite::SetPrevious,
        )
    }

    /// Changes the number of events kept for watch replay.
    pub fn set_history(&self, n: usize) {
        self.api.store.set_history(n);
    }

    /// A simulated apiserver restart: every open connection (and so every watch) is dropped and
    /// the history is compacted, so that clients must relist.
    pub fn restart(&self) {
        self.api.store.compact();
        self.conns.send_modify(|g| *g += 1);
    }

    /// Stops the server.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.api.store.close_watches(false);
        self.conns.send_modify(|g| *g += 1);
        for t in self.tasks.drain(..) {
            t.abort();
        }
        if let Some(d) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown();
    }
}
