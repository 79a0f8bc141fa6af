//! Liveness and the public key set.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::openapi::ErrorResponse;

/// Health as the edge reports it.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// `ok` or `unavailable`.
    #[schema(example = "ok")]
    pub status: String,
    /// Whether Redis answered (present when unavailable).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub redis: Option<bool>,
    /// Whether the origin answered (present when unavailable).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub origin: Option<bool>,
}

/// A JSON Web Key Set (RFC 7517) of public keys.
#[derive(Serialize, ToSchema)]
pub struct Jwks {
    /// Public JWKs with `kid`, `alg` (`EdDSA` or `ES256`) and `use: sig`.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}

/// Liveness of the whole path: the edge answers itself and probes Redis and the origin (whose
/// own answer, 200 when Redis answers and 503 otherwise, is this handler's).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    responses(
        (status = 200, description = "Redis and the origin answer", body = Health),
        (status = 503, description = "Redis or the origin does not answer", body = Health),
    )
)]
pub async fn healthz(State(app): State<AppState>) -> impl IntoResponse {
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ok" }))),
        Err(e) => {
            tracing::warn!(error = %e, "health check: redis unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "redis": false })),
            )
        }
    }
}

/// Every verification key (RFC 7517 JWK set): the signing key and the keys still published
/// after a rotation.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "meta",
    responses(
        (status = 200, description = "The public keys", body = Jwks),
        (status = 503, description = "`service_unavailable`: the origin is unavailable", body = ErrorResponse),
    )
)]
pub async fn jwks(State(app): State<AppState>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        app.jwks.to_string(),
    )
}
