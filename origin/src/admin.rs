//! The admin listener (`EDGEAUTH_ADMIN_LISTEN`): Prometheus `/metrics`, liveness `/healthz` and
//! readiness `/readyz`. Unsigned by design, so it must stay on loopback or a private network.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::app::AppState;
use crate::telemetry::ARGON2_QUEUED;

#[derive(Clone)]
struct Admin {
    app: AppState,
    metrics: PrometheusHandle,
}

pub fn router(app: AppState, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(live))
        .route("/readyz", get(ready))
        .with_state(Admin { app, metrics })
}

/// Prometheus text format. Gauges that are cheaper to read than to track are read here.
async fn scrape(State(admin): State<Admin>) -> impl IntoResponse {
    metrics::gauge!(ARGON2_QUEUED).set(admin.app.passwords.queued() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        admin.metrics.render(),
    )
}

/// Liveness: the process serves requests. Deliberately independent of Redis, so a Redis outage
/// does not make a supervisor restart every healthy origin.
async fn live() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Readiness: this origin can do its job, i.e. Redis answers `PING` in time.
async fn ready(State(admin): State<Admin>) -> impl IntoResponse {
    match admin.app.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "redis": true })),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: redis unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "redis": false })),
            )
        }
    }
}
