//! The HTTP surface: Upstash REST endpoints, bearer-token auth and JSON error bodies.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use redis::Value;
use serde_json::{json, Value as JsonValue};

use crate::backend::{server_error_text, Backend, BackendError};
use crate::reply::{self, Encoding};

/// What the read-only token may run: exactly the commands the edge sends. One list, in the core
/// beside the Redis layout; extend it there when the edge learns a command.
pub const READ_ONLY_COMMANDS: &[&str] = edgeauth_core::redis_layout::EDGE_COMMANDS;

#[derive(Clone)]
struct AppState {
    backend: Backend,
    token: Arc<[u8]>,
    readonly_token: Option<Arc<[u8]>>,
}

/// What the presented token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    Full,
    /// Only [`READ_ONLY_COMMANDS`].
    ReadOnly,
}

impl Access {
    /// Refuses, like Upstash's read-only token, a command this token may not run.
    fn permit(self, args: &[Vec<u8>]) -> Result<(), ApiError> {
        let name = args
            .first()
            .map(|n| String::from_utf8_lossy(n).to_ascii_uppercase())
            .unwrap_or_default();
        if self == Access::ReadOnly && !READ_ONLY_COMMANDS.contains(&name.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "NOPERM this token is read-only and has no permissions to run the '{}' command",
                name.to_ascii_lowercase()
            )));
        }
        Ok(())
    }
}

/// The bridge's routes. Everything but `GET /healthz` needs a bearer token: the full one, or the
/// read-only one (if configured), which may run only [`READ_ONLY_COMMANDS`].
pub fn router(
    backend: Backend,
    token: &str,
    readonly_token: Option<&str>,
    max_body_bytes: usize,
) -> Router {
    let state = AppState {
        backend,
        token: token.as_bytes().into(),
        readonly_token: readonly_token.map(|t| t.as_bytes().into()),
    };
    Router::new()
        .route("/", post(single))
        .route("/pipeline", post(pipeline))
        .route("/multi-exec", post(multi_exec))
        .route("/{*command}", get(path_command).post(path_command))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// Every failure, answered as `{"error": "…"}` like Upstash.
#[derive(Debug)]
enum ApiError {
    /// 400: the request is not a valid command, or Redis rejected it.
    BadRequest(String),
    /// 401: missing or wrong token.
    Unauthorized,
    /// 413 or another status chosen by axum's body extractor.
    Body(StatusCode, String),
    /// 503: redis is down or slow.
    Unavailable(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "Unauthorized".to_owned()),
            ApiError::Body(status, message) => (status, message),
            ApiError::Unavailable(message) => (StatusCode::SERVICE_UNAVAILABLE, message),
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

impl From<BackendError> for ApiError {
    fn from(err: BackendError) -> Self {
        match err {
            BackendError::Rejected(message) => ApiError::BadRequest(message),
            unavailable => {
                tracing::warn!(error = %unavailable, "redis call failed");
                ApiError::Unavailable(format!("ERR {unavailable}"))
            }
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        ApiError::Body(rejection.status(), format!("ERR {}", rejection.body_text()))
    }
}

type Args = Vec<Vec<u8>>;

async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default()
        .as_bytes();
    let read_only = state
        .readonly_token
        .as_deref()
        .is_some_and(|t| constant_time_eq(presented, t));
    let access = if constant_time_eq(presented, &state.token) {
        Access::Full
    } else if read_only {
        Access::ReadOnly
    } else {
        return ApiError::Unauthorized.into_response();
    };
    request.extensions_mut().insert(access);
    next.run(request).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn single(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<JsonValue>, ApiError> {
    let args = command_args(&parse_json(&body?)?)?;
    access.permit(&args)?;
    run_single(&state, args, encoding(&headers)).await
}

/// Every command of a batch must be permitted, or none runs.
fn permit_all(access: Access, commands: &[Args]) -> Result<(), ApiError> {
    commands.iter().try_for_each(|args| access.permit(args))
}

async fn pipeline(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<JsonValue>, ApiError> {
    let commands = batch_args(&parse_json(&body?)?)?;
    permit_all(access, &commands)?;
    let replies = state.backend.pipeline(&commands).await?;
    batch_reply(replies, commands.len(), encoding(&headers))
}

async fn multi_exec(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<JsonValue>, ApiError> {
    let commands = batch_args(&parse_json(&body?)?)?;
    permit_all(access, &commands)?;
    let replies = state.backend.transaction(&commands).await?;
    batch_reply(replies, commands.len(), encoding(&headers))
}

/// `GET|POST /set/key/value?EX=100`: path segments, then query pairs, then a POST body.
async fn path_command(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<JsonValue>, ApiError> {
    let body = body?;
    let mut args = uri
        .path()
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(percent_decode)
        .collect::<Result<Args, _>>()?;
    for pair in uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair
            .split_once('=')
            .map_or((pair, None), |(k, v)| (k, Some(v)));
        args.push(percent_decode(key)?);
        if let Some(value) = value {
            args.push(percent_decode(value)?);
        }
    }
    if !body.is_empty() {
        args.push(body.to_vec());
    }
    check_allowed(&args)?;
    access.permit(&args)?;
    run_single(&state, args, encoding(&headers)).await
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.backend.command(&[b"PING".to_vec()]).await {
        Ok(Value::ServerError(err)) => unhealthy(server_error_text(&err)),
        Ok(_) => (StatusCode::OK, Json(json!({ "status": "ok" }))).into_response(),
        Err(err) => unhealthy(err.to_string()),
    }
}

fn unhealthy(error: String) -> Response {
    let body = json!({ "status": "unavailable", "error": error });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

async fn run_single(
    state: &AppState,
    args: Args,
    encoding: Encoding,
) -> Result<Json<JsonValue>, ApiError> {
    match state.backend.command(&args).await? {
        Value::ServerError(err) => Err(ApiError::BadRequest(server_error_text(&err))),
        value => Ok(Json(reply::entry(value, encoding))),
    }
}

fn batch_reply(
    replies: Vec<Value>,
    expected: usize,
    encoding: Encoding,
) -> Result<Json<JsonValue>, ApiError> {
    if replies.len() != expected {
        return Err(ApiError::Unavailable(format!(
            "ERR redis sent {} replies for {expected} commands",
            replies.len()
        )));
    }
    let entries = replies
        .into_iter()
        .map(|value| reply::entry(value, encoding))
        .collect();
    Ok(Json(JsonValue::Array(entries)))
}

fn encoding(headers: &HeaderMap) -> Encoding {
    let base64 = headers
        .get("upstash-encoding")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("base64"));
    if base64 {
        Encoding::Base64
    } else {
        Encoding::Plain
    }
}

fn parse_json(body: &[u8]) -> Result<JsonValue, ApiError> {
    serde_json::from_slice(body).map_err(|err| {
        ApiError::BadRequest(format!("ERR failed to parse request body as JSON: {err}"))
    })
}

/// `["SET","k","v","EX",100]` → arguments. Numbers and booleans are sent as their JSON text.
fn command_args(json: &JsonValue) -> Result<Args, ApiError> {
    let items = match json {
        JsonValue::Array(items) if !items.is_empty() => items,
        _ => {
            return Err(ApiError::BadRequest(
                "ERR a command must be a non-empty JSON array, e.g. [\"GET\",\"key\"]".into(),
            ))
        }
    };
    let args = items
        .iter()
        .map(|item| match item {
            JsonValue::String(text) => Ok(text.as_bytes().to_vec()),
            JsonValue::Number(n) => Ok(n.to_string().into_bytes()),
            JsonValue::Bool(b) => Ok(b.to_string().into_bytes()),
            _ => Err(ApiError::BadRequest(
                "ERR command arguments must be strings, numbers or booleans".into(),
            )),
        })
        .collect::<Result<Args, _>>()?;
    check_allowed(&args)?;
    Ok(args)
}

fn batch_args(json: &JsonValue) -> Result<Vec<Args>, ApiError> {
    match json {
        JsonValue::Array(commands) if !commands.is_empty() => {
            commands.iter().map(command_args).collect()
        }
        _ => Err(ApiError::BadRequest(
            "ERR expected a non-empty JSON array of commands, e.g. [[\"GET\",\"key\"]]".into(),
        )),
    }
}

/// Commands that would block, take over or desynchronise the shared connection.
const DENIED: &[&str] = &[
    "AUTH",
    "BLMOVE",
    "BLMPOP",
    "BLPOP",
    "BRPOP",
    "BRPOPLPUSH",
    "BZMPOP",
    "BZPOPMAX",
    "BZPOPMIN",
    "CLIENT",
    "DEBUG",
    "DISCARD",
    "EXEC",
    "HELLO",
    "MONITOR",
    "MULTI",
    "PSUBSCRIBE",
    "PSYNC",
    "PUNSUBSCRIBE",
    "QUIT",
    "REPLCONF",
    "RESET",
    "SELECT",
    "SHUTDOWN",
    "SSUBSCRIBE",
    "SUBSCRIBE",
    "SUNSUBSCRIBE",
    "SWAPDB",
    "SYNC",
    "UNSUBSCRIBE",
    "UNWATCH",
    "WAIT",
    "WAITAOF",
    "WATCH",
];

fn check_allowed(args: &[Vec<u8>]) -> Result<(), ApiError> {
    let Some(name) = args.first() else {
        return Err(ApiError::BadRequest("ERR empty command".into()));
    };
    let name = String::from_utf8_lossy(name).to_ascii_uppercase();
    let blocking_read = matches!(name.as_str(), "XREAD" | "XREADGROUP")
        && args.iter().any(|arg| arg.eq_ignore_ascii_case(b"BLOCK"));
    if DENIED.contains(&name.as_str()) || blocking_read {
        return Err(ApiError::BadRequest(format!(
            "ERR Command is not available over REST: {name}"
        )));
    }
    Ok(())
}

fn percent_decode(segment: &str) -> Result<Vec<u8>, ApiError> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte != b'%' {
            out.push(byte);
            i += 1;
            continue;
        }
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .ok_or_else(|| {
                ApiError::BadRequest(format!("ERR bad percent-encoding in {segment:?}"))
            })?;
        out.push(hex);
        i += 3;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_args_accepts_scalars_only() {
        let args = command_args(&json!(["SET", "k", 1.5, 100, true])).unwrap();
        assert_eq!(
            args,
            vec![
                b"SET".to_vec(),
                b"k".to_vec(),
                b"1.5".to_vec(),
                b"100".to_vec(),
                b"true".to_vec()
            ]
        );
        assert!(command_args(&json!([])).is_err());
        assert!(command_args(&json!({"cmd": "GET"})).is_err());
        assert!(command_args(&json!(["SET", "k", null])).is_err());
        assert!(command_args(&json!(["SET", ["nested"]])).is_err());
    }

    #[test]
    fn denies_connection_hijacking_commands() {
        assert!(command_args(&json!(["subscribe", "c"])).is_err());
        assert!(command_args(&json!(["BLPOP", "q", 0])).is_err());
        assert!(command_args(&json!(["XREAD", "block", 0, "STREAMS", "s", "$"])).is_err());
        assert!(command_args(&json!(["XREAD", "STREAMS", "s", "0"])).is_ok());
    }

    #[test]
    fn batch_args_requires_array_of_commands() {
        assert_eq!(
            batch_args(&json!([["PING"], ["GET", "k"]])).unwrap().len(),
            2
        );
        assert!(batch_args(&json!([])).is_err());
        assert!(batch_args(&json!(["PING"])).is_err());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2Fc").unwrap(), b"a b/c");
        assert_eq!(percent_decode("%e2%82%ac").unwrap(), "€".as_bytes());
        assert!(percent_decode("bad%2").is_err());
        assert!(percent_decode("bad%+1").is_err());
    }

    #[test]
    fn the_read_only_token_runs_exactly_the_edge_commands() {
        let args = |cmd: &[&str]| cmd.iter().map(|a| a.as_bytes().to_vec()).collect::<Args>();
        for allowed in [
            &["HMGET", "k", "f", "g"][..],
            &["hmget", "k", "f"],
            &["PING"],
        ] {
            assert!(
                Access::ReadOnly.permit(&args(allowed)).is_ok(),
                "{allowed:?}"
            );
        }
        for denied in [
            &["SET", "k", "v"][..],
            &["DEL", "k"],
            &["EVAL", "return 1", "0"],
            &["EVALSHA", "abc", "0"],
            &["HSET", "k", "f", "v"],
            &["GET", "k"],
            &["HGET", "k", "f"],
            &["FLUSHALL"],
            &[],
        ] {
            let refused = Access::ReadOnly.permit(&args(denied));
            assert!(
                matches!(&refused, Err(ApiError::BadRequest(m)) if m.starts_with("NOPERM")),
                "{denied:?}: {refused:?}"
            );
            assert!(Access::Full.permit(&args(denied)).is_ok());
        }
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokem"));
        assert!(!constant_time_eq(b"token", b"token2"));
    }
}
