//! `cryptojack run`: the operator.
//!
//! One process per replica; replicas elect a leader on a Lease in the operator's
//! namespace, and only the leader watches and writes. The leader runs:
//! - the namespace cache (labels for namespace selectors, terminating namespaces),
//! - the policy watch (`policies`): compile, status, the set of Ready policies,
//! - the pod watch (`pods`): detection, incidents recorded, and a sweep over every pod
//!   when the policies change,
//! - the incident reconciler (`incidents`): plan, execute, restore, copies.

pub mod context;
pub mod credentials;
pub mod discovery;
pub mod error;
pub mod incidents;
pub mod leader;
pub mod owners;
pub mod pods;
pub mod policies;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::Client;
use kube::api::{Api, ListParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::events::Recorder;
use kube::runtime::reflector;
use kube::runtime::watcher;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::api::{CryptojackIncident, CryptojackPolicy};
use crate::http::Health;
use crate::metrics::Metrics;
use crate::respond::Executor;
use crate::telemetry::LogFormat;
use context::{Context, Hooks, RateLimiter};
use error::is_not_found;

/// The operator's namespace when neither `--namespace` nor `POD_NAMESPACE` says.
pub const DEFAULT_NAMESPACE: &str = "cryptojack-system";

#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// The operator's own namespace: its Lease and the incident copies live there, and it
    /// never acts on it. Default: $POD_NAMESPACE, else cryptojack-system (never the
    /// kubeconfig's namespace).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Address of the /metrics, /healthz and /readyz endpoint.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Decide and record incidents and their plans; change nothing else in the cluster.
    #[arg(long)]
    pub dry_run: bool,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Lease duration of the leader election, in seconds (renew deadline 2/3 of it).
    #[arg(long, default_value_t = 15)]
    pub lease_duration_seconds: u64,
    /// This replica's identity in the Lease (default: $POD_NAME, else the host name, with
    /// a random suffix).
    #[arg(long)]
    pub identity: Option<String>,
    /// Test hook: exit (as kill -9 would) right after this many changes to the cluster.
    #[arg(long, hide = true)]
    pub crash_after_mutations: Option<u32>,
}

/// Entry point of `cryptojack run`.
pub fn run(args: RunArgs) -> ExitCode {
    crate::telemetry::init(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(main(args))
}

fn identity(args: &RunArgs) -> String {
    let base = args
        .identity
        .clone()
        .or_else(|| std::env::var("POD_NAME").ok())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "cryptojack".into());
    if args.identity.is_some() {
        base
    } else {
        format!("{base}_{:08x}", rand::random::<u32>())
    }
}

async fn check_crds(client: &Client) -> Result<(), String> {
    let lp = ListParams::default().limit(1);
    let hint = "the cryptojack CRDs are not installed in this cluster: install them with `kubectl apply -f crds/` (or `helm install cryptojack charts/cryptojack`)";
    let policies: Api<CryptojackPolicy> = Api::all(client.clone());
    match policies.list_metadata(&lp).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Err(hint.into()),
        Err(e) => {
            return Err(format!(
                "cannot reach the API server: {}",
                error::describe(&e)
            ));
        }
    }
    let incidents: Api<CryptojackIncident> = Api::all(client.clone());
    match incidents.list_metadata(&lp).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Err(hint.into()),
        Err(e) => Err(format!(
            "cannot reach the API server: {}",
            error::describe(&e)
        )),
    }
}

/// How the operator runs (from the command line, or from a test).
#[derive(Clone, Debug)]
pub struct Options {
    pub namespace: String,
    /// None: no HTTP endpoint (tests).
    pub metrics_addr: Option<SocketAddr>,
    pub dry_run: bool,
    pub timing: leader::Timing,
    pub identity: String,
    pub crash_after_mutations: Option<u32>,
}

/// Why the operator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("building the Kubernetes client: {0}")]
    Client(kube::Error),
    #[error("{0}")]
    MissingCrds(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("binding the metrics address {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl StartError {
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::Unreachable(_) => 1,
            _ => 2,
        }
    }
}

async fn main(args: RunArgs) -> ExitCode {
    let namespace = args
        .namespace
        .clone()
        .or_else(|| {
            std::env::var("POD_NAMESPACE")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    let config = match kube::Config::infer().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "error: no Kubernetes configuration (KUBECONFIG, ~/.kube/config or in-cluster): {e}"
            );
            return ExitCode::from(2);
        }
    };
    let shutdown = CancellationToken::new();
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down");
            shutdown.cancel();
        });
    }
    let options = Options {
        namespace,
        metrics_addr: Some(args.metrics_addr),
        dry_run: args.dry_run,
        timing: leader::Timing::from_lease_seconds(args.lease_duration_seconds),
        identity: identity(&args),
        crash_after_mutations: args.crash_after_mutations,
    };
    match operate(config, options, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs the operator until `shutdown` is cancelled.
pub async fn operate(
    config: kube::Config,
    options: Options,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    let client = Client::try_from(config.clone()).map_err(StartError::Client)?;
    let mut no_retry = config.clone();
    no_retry.default_retry = false;
    let evict_client = Client::try_from(no_retry).map_err(StartError::Client)?;
    // The API server may still be starting: try for a while, but a missing CRD is final.
    let started = Instant::now();
    loop {
        match check_crds(&client).await {
            Ok(()) => break,
            Err(e) if e.starts_with("the cryptojack CRDs") => {
                return Err(StartError::MissingCrds(e));
            }
            Err(e) if started.elapsed() > Duration::from_secs(30) => {
                return Err(StartError::Unreachable(e));
            }
            Err(e) => {
                tracing::warn!(error = %e, "waiting for the API server");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let timing = options.timing;
    if let Some(addr) = options.metrics_addr {
        let router = crate::http::router(
            metrics.clone(),
            health.clone(),
            (timing.lease_duration.as_secs() * 4) as i64,
        );
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "the metrics endpoint stopped");
            }
        });
    }
    health.ready.store(true, Ordering::Relaxed);
    health.beat();
    let identity = options.identity.clone();
    tracing::info!(namespace = %options.namespace, identity = %identity, dry_run = options.dry_run, "cryptojack operator starting");
    let mut elector = leader::Elector::new(client.clone(), &options.namespace, &identity, timing);
    let settings = Settings {
        client,
        evict_client,
        metrics: metrics.clone(),
        namespace: options.namespace.clone(),
        identity: identity.clone(),
        dry_run: options.dry_run,
        crash_after_mutations: options.crash_after_mutations,
    };
    let mut leading = false;
    while !shutdown.is_cancelled() {
        health.beat();
        match elector.try_acquire_or_renew().await {
            Ok(true) => {
                leading = true;
                tracing::info!(identity = %identity, "became the leader");
                lead(&settings, &mut elector, &health, &shutdown).await;
                tracing::info!(identity = %identity, "stopped leading");
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %error::describe(&e), "leader election"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(timing.retry_period) => {}
        }
    }
    if leading {
        elector.release().await;
    }
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// What a leadership term needs.
struct Settings {
    client: Client,
    evict_client: Client,
    metrics: Arc<Metrics>,
    namespace: String,
    identity: String,
    dry_run: bool,
    crash_after_mutations: Option<u32>,
}

/// Leads until the Lease is lost or the process shuts down.
async fn lead(
    s: &Settings,
    elector: &mut leader::Elector,
    health: &Health,
    shutdown: &CancellationToken,
) {
    s.metrics.leader.set(1);
    let token = shutdown.child_token();
    let controllers = tokio::spawn(controllers(
        Settings {
            client: s.client.clone(),
            evict_client: s.evict_client.clone(),
            metrics: s.metrics.clone(),
            namespace: s.namespace.clone(),
            identity: s.identity.clone(),
            dry_run: s.dry_run,
            crash_after_mutations: s.crash_after_mutations,
        },
        token.clone(),
    ));
    let timing = elector.timing();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(timing.retry_period) => {}
        }
        health.beat();
        let deadline = Instant::now() + timing.renew_deadline;
        let mut renewed = false;
        while Instant::now() < deadline && !shutdown.is_cancelled() {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, elector.try_acquire_or_renew()).await {
                Ok(Ok(true)) => {
                    renewed = true;
                    break;
                }
                Ok(Ok(false)) => break,
                Ok(Err(e)) => {
                    tracing::warn!(error = %error::describe(&e), "renewing the Lease");
                    tokio::time::sleep(Duration::from_millis(300).min(left)).await;
                }
                Err(_) => break,
            }
        }
        if !renewed && !shutdown.is_cancelled() {
            tracing::warn!("lost the Lease");
            break;
        }
    }
    token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), controllers).await;
    s.metrics.leader.set(0);
}

/// The controllers of one leadership term.
async fn controllers(s: Settings, token: CancellationToken) {
    let (ns_reader, ns_writer) = reflector::store::<kube::core::PartialObjectMeta<Namespace>>();
    let ns_api: Api<kube::core::PartialObjectMeta<Namespace>> = Api::all(s.client.clone());
    let ns_stream = reflector::reflector(
        ns_writer,
        watcher::watcher(ns_api, watcher::Config::default().any_semantic()),
    )
    .default_backoff()
    .for_each(|_| futures::future::ready(()));
    let ns_token = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = ns_token.cancelled() => {}
            _ = ns_stream => {}
        }
    });
    // node labels (node signals): metadata-only requests (nodes are large objects)
    let (node_reader, node_writer) = reflector::store::<kube::core::PartialObjectMeta<Node>>();
    let node_api: Api<kube::core::PartialObjectMeta<Node>> = Api::all(s.client.clone());
    let node_stream = reflector::reflector(
        node_writer,
        watcher::watcher(node_api, watcher::Config::default().any_semantic()),
    )
    .default_backoff()
    .for_each(|_| futures::future::ready(()));
    let node_token = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = node_token.cancelled() => {}
            _ = node_stream => {}
        }
    });
    tokio::select! {
        _ = token.cancelled() => return,
        r = ns_reader.wait_until_ready() => if r.is_err() { return },
    }
    // Node signals are context, not a reason to hold detection back: wait a little for the
    // nodes, then go on (a pod on a node not yet known is judged on its spec alone).
    match tokio::time::timeout(Duration::from_secs(10), node_reader.wait_until_ready()).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return,
        Err(_) => tracing::warn!("the node list is not in yet; node labels are used once it is"),
    }
    let ctx = Arc::new(Context {
        client: s.client.clone(),
        executor: Executor {
            client: s.client.clone(),
            evict_client: s.evict_client.clone(),
        },
        metrics: s.metrics.clone(),
        recorder: Recorder::new(s.client.clone(), context::reporter(&s.identity)),
        operator_namespace: s.namespace.clone(),
        dry_run: s.dry_run,
        policies: RwLock::new(Default::default()),
        namespaces: ns_reader,
        nodes: node_reader,
        rate: Mutex::new(RateLimiter::default()),
        hooks: Hooks {
            crash_after_mutations: s.crash_after_mutations,
            ..Default::default()
        },
        backoff: Mutex::new(Default::default()),
        served: RwLock::new(discovery::network_apis(&s.client).await),
        dra: RwLock::new(discovery::dra_version(&s.client).await),
    });
    {
        // CRDs come and go: look again every minute
        let (ctx, token) = (ctx.clone(), token.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                }
                let served = discovery::network_apis(&ctx.client).await;
                if let Ok(mut s) = ctx.served.write() {
                    *s = served;
                }
                let dra = discovery::dra_version(&ctx.client).await;
                if let Ok(mut d) = ctx.dra.write() {
                    *d = dra;
                }
            }
        });
    }
    loop {
        match policies::initial(&ctx).await {
            Ok(n) => {
                tracing::info!(ready_policies = n, "policies compiled");
                break;
            }
            Err(e) => {
                tracing::warn!(error = %error::describe(&e), "listing policies");
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
    let changed = Arc::new(Notify::new());
    let recorded = Arc::new(pods::Recorded::default());
    let (replan_tx, replan_rx) = futures::channel::mpsc::unbounded::<()>();
    tokio::spawn(pods::run(ctx.clone(), recorded.clone(), token.clone()));
    tokio::spawn(policies::run(ctx.clone(), changed.clone(), token.clone()));
    {
        let (ctx, recorded, token) = (ctx.clone(), recorded.clone(), token.clone());
        tokio::spawn(async move {
            // the first notification is the watch's initial list: already covered by the
            // pod watch's own initial list
            let mut first = true;
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = changed.notified() => {}
                }
                if std::mem::take(&mut first) {
                    continue;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                // existing incidents are planned again under the new policies
                let _ = replan_tx.unbounded_send(());
                recorded.clear();
                match pods::sweep(&ctx, &recorded, &token).await {
                    Ok(n) => {
                        tracing::info!(pods = n, "policies changed: every pod evaluated again")
                    }
                    Err(e) => tracing::warn!(error = %e, "sweep after a policy change"),
                }
            }
        });
    }
    incidents::run(ctx, replan_rx, token).await;
}
