//! The edge's Redis traffic: one `HGET` per authenticated request, and `PING` for `/healthz`.

use edgeauth_core::redis_layout::{session, SESSION_USER_FIELD};
use edgeauth_upstash::{cmd, UpstashClient, Value};

use crate::error::EdgeError;

/// The user id the session hash names, `None` if the session no longer exists. Exactly one
/// HTTP round trip, bounded by the client's timeout (`REDIS_TIMEOUT_MS`, set in `state.rs`);
/// any failure is `revocation_unavailable`.
pub async fn session_owner(
    redis: &UpstashClient,
    session_id: &str,
) -> Result<Option<String>, EdgeError> {
    let command = cmd("HGET").arg(session(session_id)).arg(SESSION_USER_FIELD);
    let unavailable = |e: &dyn std::fmt::Display| EdgeError::RevocationUnavailable {
        detail: format!("HGET {}: {e}", session(session_id)),
    };
    match redis.execute(&command).await {
        Err(e) => Err(unavailable(&e)),
        Ok(Value::Nil) => Ok(None),
        Ok(reply) => reply.into_string().map(Some).map_err(|e| unavailable(&e)),
    }
}

/// Whether Redis answers `PING` (within the client's timeout).
pub async fn ping(redis: &UpstashClient) -> Result<(), String> {
    redis.ping().await.map_err(|e| format!("PING: {e}"))
}
