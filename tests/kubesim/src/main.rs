//! `kubesim --listen 127.0.0.1:PORT --crds DIR [--crds DIR...] --kubeconfig FILE [--nodes N]
//! [--no-controllers] [--rbac] [--tls | --no-tls] [--history N] [--fault JSON...]`

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kubesim::{ControllerSet, FaultRule, Sim};

/// In-memory Kubernetes API server for cryptojack's tests and local runs.
#[derive(Parser, Debug)]
#[command(name = "kubesim", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// CRD file or directory to load at start (repeatable).
    #[arg(long = "crds")]
    crds: Vec<PathBuf>,
    /// Where to write the kubeconfig once the server accepts connections.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Number of Ready nodes to create.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Of those, how many have an nvidia.com/gpu.
    #[arg(long, default_value_t = 0)]
    gpu_nodes: usize,
    /// Do not run the simulated controllers.
    #[arg(long)]
    no_controllers: bool,
    /// Enforce authentication and RBAC.
    #[arg(long)]
    rbac: bool,
    /// Events kept for watch replay.
    #[arg(long, default_value_t = 10_000)]
    history: usize,
    /// Serve HTTPS (CA written into the kubeconfig). Default: HTTPS exactly when --rbac is given.
    #[arg(long, conflicts_with = "no_tls")]
    tls: bool,
    /// Serve plain HTTP even with --rbac (kubectl and helm then send no credentials).
    #[arg(long)]
    no_tls: bool,
    /// Admin bearer token written to the kubeconfig (default: random).
    #[arg(long)]
    admin_token: Option<String>,
    /// A fault rule active from the start, as the admin endpoint takes it (repeatable), e.g.
    /// '{"verb":"update","resource":"deployments/scale","name":"web","afterWrite":true,"dropConnection":true}'.
    #[arg(long = "fault", value_parser = parse_fault)]
    faults: Vec<FaultRule>,
}

fn parse_fault(s: &str) -> Result<FaultRule, String> {
    serde_json::from_str(s).map_err(|e| format!("invalid fault rule {s}: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut b = Sim::builder()
        .listen(args.listen)
        .kubeconfig(&args.kubeconfig)
        .nodes(args.nodes)
        .gpu_nodes(args.gpu_nodes)
        .rbac(args.rbac)
        .history(args.history)
        .bookmark_interval(std::time::Duration::from_secs(5))
        .controllers(if args.no_controllers {
            ControllerSet::none()
        } else {
            ControllerSet::all()
        });
    if args.tls || args.no_tls {
        b = b.tls(args.tls);
    }
    if let Some(t) = args.admin_token {
        b = b.admin_token(t);
    }
    for c in args.crds {
        b = b.crds_dir(c);
    }
    let sim = match b.start().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kubesim: {e}");
            return ExitCode::FAILURE;
        }
    };
    for f in args.faults {
        sim.faults().add(f);
    }
    tracing::info!(url = sim.url(), kubeconfig = %sim.kubeconfig_path().display(), "kubesim ready");
    let term = async {
        #[cfg(unix)]
        {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("kubesim stopping");
    sim.stop();
    ExitCode::SUCCESS
}
