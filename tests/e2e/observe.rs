//! What tests read from Redis to wait for an event instead of a fixed time, and to check what
//! the store holds: session fields, the server's clock, every key.

use std::time::{Duration, Instant};

use edgeauth_core::redis_layout as layout;
use serde_json::Value;

use crate::stack::{BoxError, Stack};

/// The session id inside a refresh token (`rt1.<session id>.<generation>.<secret>`).
pub fn session_of(refresh_token: &str) -> Result<String, BoxError> {
    match refresh_token.split('.').collect::<Vec<_>>()[..] {
        ["rt1", sid, _, _] if !sid.is_empty() => Ok(sid.to_owned()),
        _ => Err(format!("not a refresh token: {refresh_token:?}").into()),
    }
}

/// One field of a session hash (`None` when the session or the field is gone).
pub async fn session_field(
    stack: &Stack,
    session_id: &str,
    field: &str,
) -> Result<Option<String>, BoxError> {
    let value = stack
        .redis(&["HGET", &layout::session(session_id), field])
        .await?;
    Ok(value.as_str().map(str::to_owned))
}

/// Redis's clock (`TIME`), milliseconds: the machine clock the origin also stamps sessions with.
pub async fn server_now_ms(stack: &Stack) -> Result<u64, BoxError> {
    let time = stack.redis(&["TIME"]).await?;
    let part = |i: usize| -> Result<u64, BoxError> {
        time.get(i)
            .and_then(Value::as_str)
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| format!("TIME answered {time}").into())
    };
    Ok(part(0)? * 1000 + part(1)? / 1000)
}

/// Returns once the grace window of the session's latest rotation is over, as the origin will
/// judge it: its stored rotation time plus the grace, on the server's clock.
pub async fn wait_for_grace_end(stack: &Stack, session_id: &str) -> Result<(), BoxError> {
    wait_after_rotation(stack, session_id, stack.options.refresh_grace_ms).await
}

/// Returns once the rotated token of the session's latest rotation is reuse for any caller:
/// past the grace window and the lost-answer recovery window, on the server's clock.
pub async fn wait_for_recovery_end(stack: &Stack, session_id: &str) -> Result<(), BoxError> {
    let window = stack
        .options
        .refresh_grace_ms
        .max(stack.options.refresh_recovery_ms);
    wait_after_rotation(stack, session_id, window).await
}

async fn wait_after_rotation(
    stack: &Stack,
    session_id: &str,
    window_ms: u64,
) -> Result<(), BoxError> {
    let rotated_at: u64 = session_field(stack, session_id, "rotated_at_ms")
        .await?
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| format!("session {session_id} has no rotation time"))?;
    let end = rotated_at + window_ms;
    loop {
        let now = server_now_ms(stack).await?;
        if now > end {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(end + 1 - now)).await;
    }
}

/// Polls `condition` every 50 ms until it holds; an error names `what` after `limit`.
pub async fn wait_until<F, Fut>(
    what: &str,
    limit: Duration,
    mut condition: F,
) -> Result<(), BoxError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, BoxError>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if condition().await? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("{what}: not within {limit:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every key in Redis with its type and content (strings as text, hashes as objects, sets and
/// lists as arrays), read page by page through the bridge's pipeline endpoint. Keys that expire
/// while the scan runs are left out.
pub async fn every_key(stack: &Stack) -> Result<Vec<(String, Value)>, BoxError> {
    let mut out = Vec::new();
    let mut cursor = "0".to_owned();
    loop {
        let page = stack.redis(&["SCAN", &cursor, "COUNT", "1000"]).await?;
        cursor = page[0].as_str().ok_or("SCAN: no cursor")?.to_owned();
        let keys: Vec<String> = page[1]
            .as_array()
            .ok_or("SCAN: no keys")?
            .iter()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect();
        let types = pipeline(
            stack,
            keys.iter().map(|k| vec!["TYPE".to_owned(), k.clone()]),
        )
        .await?;
        let reads: Vec<(String, Vec<String>)> = keys
            .iter()
            .zip(&types)
            .filter_map(|(key, kind)| {
                let read = match kind.as_str()? {
                    "string" => "GET",
                    "hash" => "HGETALL",
                    "set" => "SMEMBERS",
                    "list" => "LRANGE",
                    "zset" => "ZRANGE",
                    _ => return None,
                };
                let mut command = vec![read.to_owned(), key.clone()];
                if matches!(read, "LRANGE" | "ZRANGE") {
                    command.extend(["0".to_owned(), "-1".to_owned()]);
                }
                Some((key.clone(), command))
            })
            .collect();
        let values = pipeline(stack, reads.iter().map(|(_, c)| c.clone())).await?;
        for ((key, command), value) in reads.into_iter().zip(values) {
            let value = if command[0] == "HGETALL" {
                hash_object(&value)
            } else {
                value
            };
            if !value.is_null() {
                out.push((key, value));
            }
        }
        if cursor == "0" {
            return Ok(out);
        }
    }
}

/// `HGETALL`'s flat `[field, value, ...]` reply as a JSON object.
fn hash_object(flat: &Value) -> Value {
    let mut object = serde_json::Map::new();
    if let Some(items) = flat.as_array() {
        for pair in items.chunks(2) {
            if let [Value::String(field), value] = pair {
                object.insert(field.clone(), value.clone());
            }
        }
    }
    Value::Object(object)
}

/// Runs commands in one round trip (`POST /pipeline`); each reply's `result` (null on error).
async fn pipeline(
    stack: &Stack,
    commands: impl Iterator<Item = Vec<String>>,
) -> Result<Vec<Value>, BoxError> {
    let commands: Vec<Vec<String>> = commands.collect();
    if commands.is_empty() {
        return Ok(Vec::new());
    }
    let replies: Vec<Value> = reqwest::Client::new()
        .post(format!("{}/pipeline", stack.bridge))
        .bearer_auth(&stack.bridge_token)
        .json(&commands)
        .send()
        .await?
        .json()
        .await?;
    if replies.len() != commands.len() {
        return Err(format!(
            "pipeline of {} commands answered {} replies",
            commands.len(),
            replies.len()
        )
        .into());
    }
    Ok(replies
        .into_iter()
        .map(|r| r.get("result").cloned().unwrap_or(Value::Null))
        .collect())
}
