//! Admission of requests from the edge: every request must carry a fresh, unreplayed edge
//! signature; the identity headers it covers become the request's [`EdgeContext`].

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use edgeauth_core::edge_signature::{self, SignedRequest};
use edgeauth_core::headers;
use edgeauth_core::ErrorCode;

use crate::app::AppState;
use crate::error::AppError;
use crate::now_secs;
use crate::store::UserRecord;

/// The largest body accepted (SPEC: 16 KiB); the edge enforces it too.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A caller the edge authenticated (verified access token and live session).
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub session_id: String,
}

/// The caller's account as read together with the nonce claim (`None`: the account no longer
/// exists). Handlers take it with the [`CallerAccount`] extractor instead of reading it again.
#[derive(Clone)]
pub struct CallerAccount(pub Option<UserRecord>);

/// Whether the signature check claimed the request's nonce (remembered it, so a replay is
/// refused), or left the claim to the handler, to be made in the handler's own Redis round trip.
#[derive(Debug, Clone)]
pub enum NonceClaim {
    Claimed,
    /// Not claimed yet (only for [`DEFERRED_NONCE_ROUTES`]): the handler must claim `nonce` for
    /// `ttl_secs` before it reads or changes anything, and answer [`replayed`] if it was taken.
    Deferred {
        nonce: String,
        ttl_secs: u64,
    },
}

impl NonceClaim {
    /// The nonce and its lifetime, if the handler has to claim it.
    pub fn deferred(&self) -> Option<(&str, u64)> {
        match self {
            NonceClaim::Claimed => None,
            NonceClaim::Deferred { nonce, ttl_secs } => Some((nonce, *ttl_secs)),
        }
    }
}

/// Routes whose handler claims the nonce itself, as the first step of the one Redis call it
/// makes anyway (`POST /api/refresh`: the rotation script), when no caller is named: one
/// Redis round trip fewer per refresh. Everything else is claimed here.
const DEFERRED_NONCE_ROUTES: &[(&str, &str)] = &[("POST", "/api/refresh")];

/// What the edge vouches for about this request.
#[derive(Debug, Clone)]
pub struct EdgeContext {
    pub request_id: String,
    pub client_ip: String,
    pub caller: Option<Caller>,
}

pub async fn require_edge_signature(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let body = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return AppError::api(ErrorCode::PayloadTooLarge, "The body exceeds 16 KiB.")
                .into_response()
        }
    };
    let h = &parts.headers;
    let text = |name: &str| header_text(h, name);
    let (user_id, session_id) = (text(headers::USER_ID), text(headers::SESSION_ID));
    let signed = SignedRequest {
        method: parts.method.as_str(),
        path_and_query: parts.uri.path_and_query().map_or("/", |pq| pq.as_str()),
        timestamp: text(headers::TIMESTAMP)
            .and_then(|t| t.parse().ok())
            .unwrap_or(0),
        nonce: text(headers::NONCE).unwrap_or(""),
        user_id,
        session_id,
        request_id: text(headers::REQUEST_ID).unwrap_or(""),
        client_ip: text(headers::CLIENT_IP).unwrap_or(""),
        body: &body,
    };
    let settings = &app.settings;
    let signature = text(headers::SIGNATURE).unwrap_or("");
    if let Err(reason) = edge_signature::verify(
        &settings.edge_secrets,
        &signed,
        signature,
        now_secs(),
        settings.signature_window_secs,
    ) {
        tracing::warn!(%reason, path = %signed.path_and_query, "refused a request without a valid edge signature");
        return refuse("The request was not signed by the edge.");
    }
    let caller = match (user_id, session_id) {
        (Some(user_id), Some(session_id)) => Some(Caller {
            user_id: user_id.to_owned(),
            session_id: session_id.to_owned(),
        }),
        _ => None,
    };
    // Nonces are remembered for twice the window, which covers the whole ±window span. For a
    // caller, the same round trip reads their account (most routes for a caller need it): one
    // Redis round trip per authenticated request instead of two.
    let ttl = settings.signature_window_secs * 2;
    let deferred = caller.is_none()
        && DEFERRED_NONCE_ROUTES
            .iter()
            .any(|(method, path)| parts.method == *method && parts.uri.path() == *path);
    let claimed = match &caller {
        None if deferred => Ok(Some(None)),
        Some(caller) => app
            .store
            .claim_nonce_reading_user(signed.nonce, ttl, &caller.user_id)
            .await
            .map(|account| account.map(|record| Some(CallerAccount(record)))),
        None => app
            .store
            .claim_nonce(signed.nonce, ttl)
            .await
            .map(|claimed| claimed.then_some(None)),
    };
    match claimed {
        Ok(Some(account)) => {
            if let Some(account) = account {
                parts.extensions.insert(account);
            }
        }
        Ok(None) => return replayed(signed.nonce),
        Err(e) => return e.into_response(),
    }
    parts.extensions.insert(if deferred {
        NonceClaim::Deferred {
            nonce: signed.nonce.to_owned(),
            ttl_secs: ttl,
        }
    } else {
        NonceClaim::Claimed
    });
    let context = EdgeContext {
        request_id: signed.request_id.to_owned(),
        client_ip: signed.client_ip.to_owned(),
        caller,
    };
    parts.extensions.insert(context);
    next.run(Request::from_parts(parts, Body::from(body))).await
}

/// The answer to a request whose nonce was already claimed.
pub fn replayed(nonce: &str) -> Response {
    tracing::warn!(nonce, "refused a replayed edge signature");
    refuse("The request was already received once.")
}

fn refuse(message: &str) -> Response {
    AppError::api(ErrorCode::InvalidSignature, message).into_response()
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}
