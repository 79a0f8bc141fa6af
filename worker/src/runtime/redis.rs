//! The edge's Redis traffic: one `HMGET` per authenticated request, and `PING` for `/healthz`.

use edgeauth_core::redis_layout::{
    session, ROLES_FIELD, SESSION_USERNAME_FIELD, SESSION_USER_FIELD,
};
use edgeauth_upstash::{cmd, UpstashClient, Value};

use crate::auth::SessionFields;
use crate::error::EdgeError;

/// The session hash's user id, roles and username (`owner: None` if the session no longer
/// exists).
/// Exactly one HTTP round trip, bounded by the client's timeout (`REDIS_TIMEOUT_MS`, set in
/// `state.rs`); any failure is `revocation_unavailable`.
pub async fn session_fields(
    redis: &UpstashClient,
    session_id: &str,
) -> Result<SessionFields, EdgeError> {
    let command = cmd("HMGET")
        .arg(session(session_id))
        .arg(SESSION_USER_FIELD)
        .arg(ROLES_FIELD)
        .arg(SESSION_USERNAME_FIELD);
    let unavailable = |e: &dyn std::fmt::Display| EdgeError::RevocationUnavailable {
        detail: format!("HMGET {}: {e}", session(session_id)),
    };
    let reply = redis.execute(&command).await.map_err(|e| unavailable(&e))?;
    let text = |value: &Value| -> Result<Option<String>, EdgeError> {
        match value {
            Value::Nil => Ok(None),
            other => other
                .as_str()
                .map(|s| Some(s.to_owned()))
                .ok_or_else(|| unavailable(&format!("unexpected {} in the reply", other.kind()))),
        }
    };
    match reply.as_array() {
        Some([owner, roles, username]) => Ok(SessionFields {
            owner: text(owner)?,
            roles: text(roles)?,
            username: text(username)?,
        }),
        _ => Err(unavailable(&format!("unexpected {} reply", reply.kind()))),
    }
}

/// Whether Redis answers `PING` (within the client's timeout).
pub async fn ping(redis: &UpstashClient) -> Result<(), String> {
    redis.ping().await.map_err(|e| format!("PING: {e}"))
}
