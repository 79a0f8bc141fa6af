//! Sessions and the token pairs they hand out: creation at login, rotation at refresh.

use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_core::refresh::RefreshToken;
use edgeauth_core::token::{issue_access_token, AccessGrant};
use edgeauth_core::ErrorCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::store::{NewSession, Rotated, Rotation, User};
use crate::{cookie, now_millis, now_secs};

/// RFC 6749 §5.1 token response, plus the user.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenResponse {
    /// JWT access token (`typ: at+jwt`) for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(value_type = String, pattern = "^Bearer$", example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque; rotates on every use. Also set as the `__Host-edgeauth_rt` cookie.
    pub refresh_token: String,
    pub user: User,
}

/// The outcome of a refresh, for the route to render.
pub enum Refreshed {
    Pair(Box<TokenResponse>),
    Reused,
    Invalid,
}

/// Where a request came from, as stored on its session.
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: String,
}

/// Fresh random bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> AppResult<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| AppError::internal(format!("getrandom: {e}")))?;
    Ok(bytes)
}

/// A random URL-safe identifier with 128 bits of entropy.
pub fn random_id() -> AppResult<String> {
    Ok(B64.encode(random_bytes::<16>()?))
}

/// Starts a session for a user who just proved their password; `clear` is the login-lock key
/// of the (account, address) pair, deleted in the same round trip.
pub async fn start(
    app: &AppState,
    user: User,
    client: &ClientInfo,
    clear: &str,
) -> AppResult<TokenResponse> {
    let s = &app.settings;
    let now = now_secs();
    let session_id = random_id()?;
    let refresh = RefreshToken::first(&session_id, random_bytes()?);
    let absolute_expiry = now + s.session_absolute_secs;
    app.store
        .create_session(
            &NewSession {
                id: &session_id,
                user_id: &user.id,
                created_at: now,
                user_agent: &client.user_agent,
                ip: &client.ip,
                refresh_hash: &refresh.hash(),
                absolute_expiry,
                idle_secs: s.session_idle_secs,
                absolute_secs: s.session_absolute_secs,
            },
            clear,
        )
        .await?;
    tracing::info!(audit = "login_succeeded", user_id = %user.id, session_id = %session_id);
    pair(app, user, &refresh, now, absolute_expiry)
}

/// Rotates a refresh token (see `edgeauth_core::refresh` for the chain and grace design).
pub async fn refresh(
    app: &AppState,
    presented: &RefreshToken,
    client: &ClientInfo,
) -> AppResult<Refreshed> {
    let s = &app.settings;
    let successor = presented.successor(&s.refresh_secret);
    let outcome = app
        .store
        .rotate_refresh(&Rotation {
            session_id: presented.session_id(),
            presented_generation: presented.generation(),
            presented: &presented.hash(),
            successor: &successor.hash(),
            now_ms: now_millis(),
            grace_ms: s.refresh_grace_ms,
            idle_secs: s.session_idle_secs,
            user_agent: &client.user_agent,
            ip: &client.ip,
            budget: s.refresh_budget,
        })
        .await?;
    match outcome {
        Rotated::Ok {
            user_id,
            absolute_expiry,
        } => {
            let Some(record) = app.store.user_record(&user_id).await? else {
                return Ok(Refreshed::Invalid);
            };
            let response = pair(app, record.user, &successor, now_secs(), absolute_expiry)?;
            Ok(Refreshed::Pair(Box::new(response)))
        }
        Rotated::Reused { user_id } => {
            tracing::warn!(audit = "refresh_token_reused", user_id = %user_id, session_id = presented.session_id(), "session revoked");
            Ok(Refreshed::Reused)
        }
        Rotated::Check {
            generation,
            current,
        } => {
            if presented.is_ancestor_of(&s.refresh_secret, generation, &current) {
                app.store.delete_session(presented.session_id()).await?;
                tracing::warn!(
                    audit = "refresh_token_reused",
                    session_id = presented.session_id(),
                    generation = presented.generation(),
                    "session revoked"
                );
                Ok(Refreshed::Reused)
            } else {
                Ok(Refreshed::Invalid)
            }
        }
        Rotated::Invalid => Ok(Refreshed::Invalid),
        Rotated::Limited { retry_after } => Err(AppError::limited(
            retry_after,
            "Too many refreshes from this address; try again shortly.",
        )),
    }
}

/// Revokes the session a refresh token belongs to, if the token is (or was) really one of its
/// tokens. Returns whether a session was revoked.
pub async fn revoke_by_refresh_token(app: &AppState, presented: &RefreshToken) -> AppResult<bool> {
    let Some(state) = app.store.refresh_state(presented.session_id()).await? else {
        return Ok(false);
    };
    let genuine = (presented.generation() == state.generation && presented.hash() == state.current)
        || presented.is_ancestor_of(
            &app.settings.refresh_secret,
            state.generation,
            &state.current,
        );
    if !genuine {
        return Ok(false);
    }
    app.store
        .revoke_session(&state.user_id, presented.session_id())
        .await
}

fn pair(
    app: &AppState,
    user: User,
    refresh: &RefreshToken,
    now: u64,
    absolute_expiry: u64,
) -> AppResult<TokenResponse> {
    let token_id = random_id()?;
    let issued = issue_access_token(
        app.settings.keys.active(),
        &app.settings.policy,
        &AccessGrant {
            user_id: &user.id,
            session_id: refresh.session_id(),
            token_id: &token_id,
            now,
            session_expires_at: absolute_expiry,
        },
    )
    .map_err(AppError::internal)?;
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        refresh_token: refresh.to_string(),
        user,
    })
}

/// Renders a token response with the refresh cookie set.
pub fn token_response(
    app: &AppState,
    status: axum::http::StatusCode,
    body: TokenResponse,
) -> Response {
    let cookie = cookie::set(&body.refresh_token, app.settings.session_idle_secs);
    (status, [(header::SET_COOKIE, cookie)], Json(body)).into_response()
}

/// The refresh token of a request: the JSON body's `refresh_token`, else the cookie.
pub fn presented_refresh_token(
    body_token: Option<String>,
    headers: &HeaderMap,
) -> AppResult<RefreshToken> {
    let text = body_token
        .filter(|t| !t.is_empty())
        .or_else(|| cookie::read(headers))
        .ok_or_else(|| {
            AppError::api(
                ErrorCode::InvalidRefreshToken,
                "No refresh token was presented.",
            )
        })?;
    RefreshToken::parse(&text).map_err(|_| {
        AppError::api(
            ErrorCode::InvalidRefreshToken,
            "The refresh token is not valid.",
        )
    })
}
