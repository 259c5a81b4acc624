//! The operator's HTTP endpoint: `/metrics` (Prometheus text format), `/healthz`
//! (the process is alive and its loops are turning), `/readyz` (connected to the API
//! server, and, on the leader, the first sync done).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Metrics;

/// What the probes report.
#[derive(Default)]
pub struct Health {
    /// Set once the API server answered and the CRDs are there.
    pub ready: AtomicBool,
    /// Unix seconds of the last heartbeat of the leader-election loop.
    pub heartbeat: AtomicI64,
}

impl Health {
    pub fn beat(&self) {
        self.heartbeat.store(now_secs(), Ordering::Relaxed);
    }

    /// Alive unless the election loop has not turned for `stale_after` seconds.
    pub fn alive(&self, stale_after: i64) -> bool {
        let last = self.heartbeat.load(Ordering::Relaxed);
        last == 0 || now_secs() - last <= stale_after
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    stale_after: i64,
}

/// The router (exposed for tests).
pub fn router(metrics: Arc<Metrics>, health: Arc<Health>, stale_after: i64) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState {
            metrics,
            health,
            stale_after,
        })
}

/// OpenMetrics when the scraper asks for it (Prometheus does), else the classic text
/// format (curl, promtool).
async fn metrics_handler(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
) -> impl IntoResponse {
    let open = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    if open {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            s.metrics.encode(),
        )
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            s.metrics.encode_classic(),
        )
    }
}

async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    if s.health.alive(s.stale_after) {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "leader election loop stalled\n",
        )
    }
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    if s.health.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// Binds `addr` and serves until the process ends.
pub async fn serve(addr: SocketAddr, router: Router) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, router).await
}
