//! Application state and the assembled router.

use std::sync::Arc;
use std::time::Duration;

use axum::middleware;
use axum::Router;
use edgeauth_core::ErrorCode;
use edgeauth_upstash::UpstashClient;

use crate::config::{ConfigError, ServeConfig, Settings};
use crate::edge_trust::require_edge_signature;
use crate::error::AppError;
use crate::passwords::PasswordHashing;
use crate::routes;
use crate::store::Store;
use crate::telemetry::observe;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub passwords: PasswordHashing,
    /// The public JWKS, serialised once.
    pub jwks: Arc<str>,
    /// Wakes the mail delivery loop.
    pub mailer: crate::mail::Mailer,
}

impl AppState {
    pub fn new(config: &ServeConfig) -> Result<Self, ConfigError> {
        let settings = config.settings()?;
        let redis = UpstashClient::builder(&settings.redis.url, &settings.redis.token)
            .timeout(Duration::from_millis(settings.redis.timeout_ms))
            .build()
            .map_err(|e| ConfigError::one("UPSTASH_REDIS_REST_URL", e))?;
        let passwords = PasswordHashing::new(
            settings.argon2.clone(),
            settings.hashing_concurrency,
            settings.hashing_queue,
            settings.hashing_per_ip,
        )
        .map_err(|reason| ConfigError::one("EDGEAUTH_ARGON2_MEMORY_KIB", reason))?;
        let jwks: Arc<str> = settings.keys.public_jwks().to_string().into();
        Ok(Self {
            settings: Arc::new(settings),
            store: Store::new(redis),
            passwords,
            jwks,
            mailer: crate::mail::Mailer::default(),
        })
    }
}

pub fn router(state: AppState) -> Router {
    routes::router()
        .0
        .merge(crate::pages::router())
        .fallback(|| async { AppError::api(ErrorCode::NotFound, "No such route.") })
        .method_not_allowed_fallback(|| async {
            AppError::api(
                ErrorCode::MethodNotAllowed,
                "Method not allowed on this route.",
            )
        })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_edge_signature,
        ))
        // Outside the signature check, so refused requests are logged and counted too.
        .layer(middleware::from_fn(observe))
        .with_state(state)
}
