//! The edge's Redis traffic: one `HGET` per authenticated request, and `PING` for `/healthz`.

use edgeauth_core::redis_layout::{session, SESSION_USER_FIELD};
use edgeauth_upstash::{cmd, UpstashClient, Value};

use super::timing::within;
use crate::error::EdgeError;

/// The user id the session hash names, `None` if the session no longer exists. Exactly one
/// HTTP round trip, bounded by `timeout_ms`; any failure is `revocation_unavailable`.
pub async fn session_owner(
    redis: &UpstashClient,
    session_id: &str,
    timeout_ms: u32,
) -> Result<Option<String>, EdgeError> {
    let command = cmd("HGET").arg(session(session_id)).arg(SESSION_USER_FIELD);
    let unavailable = |detail: String| EdgeError::RevocationUnavailable { detail };
    match within(timeout_ms, redis.execute(&command)).await {
        None => Err(unavailable(format!(
            "HGET {} did not answer within {timeout_ms} ms",
            session(session_id)
        ))),
        Some(Err(e)) => Err(unavailable(format!("HGET {}: {e}", session(session_id)))),
        Some(Ok(Value::Nil)) => Ok(None),
        Some(Ok(reply)) => reply
            .into_string()
            .map(Some)
            .map_err(|e| unavailable(format!("HGET {}: {e}", session(session_id)))),
    }
}

/// Whether Redis answers `PING` within `timeout_ms`.
pub async fn ping(redis: &UpstashClient, timeout_ms: u32) -> Result<(), String> {
    match within(timeout_ms, redis.ping()).await {
        None => Err(format!("PING did not answer within {timeout_ms} ms")),
        Some(result) => result.map_err(|e| format!("PING: {e}")),
    }
}
