//! The routes that prove the edge proxies like a gateway: Server-Sent Events, a WebSocket
//! echo, and request/response bodies streamed without buffering.

use std::convert::Infallible;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use edgeauth_verify::Identity;
use futures_util::{stream, Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::AppState;

/// The most events one stream sends.
pub const MAX_EVENTS: u32 = 20;
/// The longest pause between two events, milliseconds.
pub const MAX_EVENT_INTERVAL_MS: u64 = 5000;
/// The largest download, MiB.
pub const MAX_DOWNLOAD_MIB: u64 = 256;
/// The largest WebSocket message echoed.
pub const MAX_WS_MESSAGE_BYTES: usize = 1024 * 1024;

const MIB: u64 = 1024 * 1024;
const CHUNK: usize = 64 * 1024;
/// Downloads repeat this period: byte `i` of every download is `i % 251`.
const PATTERN_PERIOD: usize = 251;

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    count: Option<u32>,
    interval_ms: Option<u64>,
}

/// `GET /api/events[?count=3&interval_ms=300]`: `count` `tick` events, the first at once and
/// the next `interval_ms` apart, then the stream ends.
pub async fn events(
    identity: Identity,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(query) = query?;
    let count = query.count.unwrap_or(3);
    let interval_ms = query.interval_ms.unwrap_or(300);
    if !(1..=MAX_EVENTS).contains(&count) {
        return Err(ApiError::invalid_field(
            "count",
            format!("1 to {MAX_EVENTS}"),
        ));
    }
    if interval_ms > MAX_EVENT_INTERVAL_MS {
        return Err(ApiError::invalid_field(
            "interval_ms",
            format!("at most {MAX_EVENT_INTERVAL_MS}"),
        ));
    }
    let interval = Duration::from_millis(interval_ms);
    let ticks = stream::unfold(0u32, move |n| {
        let sub = identity.sub.clone();
        async move {
            if n >= count {
                return None;
            }
            if n > 0 {
                tokio::time::sleep(interval).await;
            }
            let sent_at_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            let data = json!({"n": n + 1, "of": count, "sub": sub, "sent_at_ms": sent_at_ms});
            let event = Event::default()
                .event("tick")
                .id((n + 1).to_string())
                .data(data.to_string());
            Some((Ok(event), n + 1))
        }
    });
    Ok(Sse::new(ticks))
}

/// `GET /ws`: a WebSocket that echoes text and binary messages. The assertion was checked on
/// the upgrade request, like the edge authenticates the upgrade.
pub async fn websocket(
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(upgrade) => upgrade
            .max_message_size(MAX_WS_MESSAGE_BYTES)
            .on_upgrade(echo)
            .into_response(),
        Err(rejection) => ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            rejection.body_text(),
        )
        .into_response(),
    }
}

async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => message,
            Message::Close(_) => break,
            // Pings are answered by the library; pongs need nothing.
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}

/// `POST /api/upload`: reads the body as it arrives, hashing it, and answers its size and
/// SHA-256. Never holds more than one chunk; over the limit → 413.
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = state.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::payload_too_large(limit));
    }
    let mut chunks = body.into_data_stream();
    let mut hasher = Sha256::new();
    let mut bytes: u64 = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "body_read_failed",
                format!("reading the body failed: {e}"),
            )
        })?;
        bytes += chunk.len() as u64;
        if bytes > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        hasher.update(&chunk);
    }
    let sha256 = format!("{:x}", hasher.finalize());
    Ok(Json(json!({ "bytes": bytes, "sha256": sha256 })))
}

#[derive(Debug, Deserialize)]
pub struct DownloadQuery {
    mb: Option<u64>,
}

/// One chunk's worth of the pattern plus a period, so any chunk is a slice of it.
static PATTERN: LazyLock<Bytes> = LazyLock::new(|| {
    (0..CHUNK + PATTERN_PERIOD)
        .map(|i| (i % PATTERN_PERIOD) as u8)
        .collect::<Vec<u8>>()
        .into()
});

/// `GET /api/download?mb=N` (0–256, default 1): N MiB of deterministic bytes (byte `i` is
/// `i % 251`), produced chunk by chunk as the client reads.
pub async fn download(
    query: Result<Query<DownloadQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let mib = query.mb.unwrap_or(1);
    if mib > MAX_DOWNLOAD_MIB {
        return Err(ApiError::invalid_field(
            "mb",
            format!("0 to {MAX_DOWNLOAD_MIB}"),
        ));
    }
    let total = mib * MIB;
    let chunks = total.div_ceil(CHUNK as u64);
    let body = stream::iter(0..chunks).map(move |k| {
        let offset = k * CHUNK as u64;
        let len = (total - offset).min(CHUNK as u64) as usize;
        let start = (offset % PATTERN_PERIOD as u64) as usize;
        Ok::<Bytes, Infallible>(PATTERN.slice(start..start + len))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, total.to_string()),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// Byte `i` of every download (for clients checking one).
pub fn download_byte(i: u64) -> u8 {
    (i % PATTERN_PERIOD as u64) as u8
}
