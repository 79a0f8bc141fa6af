//! What the origin tells operators: JSON logs carrying the edge's request id, and Prometheus metrics.
//!
//! Every request runs inside a `request` span whose fields (`request_id`, `method`, `route`)
//! appear on each log line written while it is handled, so one id ties the edge's log line to
//! every origin line of the same request. Nothing here ever sees a body, a token or a header
//! other than the request id.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use edgeauth_core::headers;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

/// Requests handled, by method, route and status.
pub const HTTP_REQUESTS: &str = "edgeauth_http_requests_total";
/// Time to produce the response, by method, route and status.
pub const HTTP_SECONDS: &str = "edgeauth_http_request_duration_seconds";
/// One Redis HTTP round trip, by operation (command or script name).
pub const REDIS_CALL_SECONDS: &str = "edgeauth_redis_call_duration_seconds";
/// Failed Redis calls (unreachable, timed out or a Redis error), by operation.
pub const REDIS_ERRORS: &str = "edgeauth_redis_errors_total";
/// Password hashes waiting for a hashing slot.
pub const ARGON2_QUEUED: &str = "edgeauth_argon2_queue_depth";

/// Latency buckets (seconds): Redis calls take milliseconds, an argon2id login ~50–500 ms.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// JSON lines on stdout; `RUST_LOG` filters (default `info`).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(true)
        .with_span_list(false)
        .init();
}

/// Installs the process-wide metrics recorder and keeps it trimmed. Call once, inside the
/// runtime.
pub fn install_metrics() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())?;
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "Requests handled, by method, route and status."
    );
    metrics::describe_histogram!(
        HTTP_SECONDS,
        metrics::Unit::Seconds,
        "Time to produce the response, by method, route and status."
    );
    metrics::describe_histogram!(
        REDIS_CALL_SECONDS,
        metrics::Unit::Seconds,
        "Redis (Upstash REST) round trips, by operation."
    );
    metrics::describe_counter!(REDIS_ERRORS, "Failed Redis calls, by operation.");
    metrics::describe_gauge!(ARGON2_QUEUED, "Password hashes waiting for a hashing slot.");
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// Middleware around every public route: opens the request span, counts and times the
/// request, and logs one line when the response is ready.
pub async fn observe(request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let request_id = request
        .headers()
        .get(headers::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map_or("none", loggable_request_id)
        .to_owned();
    let span = tracing::info_span!("request", %request_id, %method, %route);
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let labels = [
        ("method", method),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_SECONDS, &labels).record(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    response
}

/// The request id as it may appear in logs. It is read before the edge signature is checked
/// (so refused requests are traceable too), hence untrusted: anything that does not look like
/// an id is replaced rather than copied into the logs.
fn loggable_request_id(value: &str) -> &str {
    let plain = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        value
    } else {
        "invalid"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_request_ids_are_logged() {
        let uuid = "3f2b8c1e-9d4a-4f6b-8e2a-1c5d7e9f0a3b";
        assert_eq!(loggable_request_id(uuid), uuid);
        for bad in ["", "a b", "x\ny", "\"}", &"a".repeat(65)] {
            assert_eq!(loggable_request_id(bad), "invalid", "{bad:?}");
        }
    }
}
