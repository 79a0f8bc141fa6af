//! Register, login, refresh and logout: the routes that need no access token.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use edgeauth_core::redis_layout as layout;
use edgeauth_core::validate::{self, check_password_length, normalize_email};
use edgeauth_core::ErrorCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::cookie;
use crate::edge_trust::EdgeContext;
use crate::error::{AppError, AppResult};
use crate::extract::{json_rejection, user_agent, ApiJson};
use crate::now_secs;
use crate::sessions::{self, random_id, ClientInfo, Refreshed};
use crate::store::{NewUser, Registered};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    username: String,
    email: String,
    password: String,
}

pub async fn register(
    State(app): State<AppState>,
    ctx: EdgeContext,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> AppResult<Response> {
    let valid = validate::validate_registration(&req.username, &req.email, &req.password)
        .map_err(AppError::fields)?;
    // Spent before hashing, so a flood costs one Redis call each, not an argon2id run.
    let retry_after = app
        .store
        .spend("register", &ctx.client_ip, app.settings.register_budget)
        .await?;
    if retry_after > 0 {
        return Err(AppError::limited(
            retry_after,
            "Too many registrations from this address; try again later.",
        ));
    }
    let password_hash = app.passwords.hash(valid.password).await?;
    let id = random_id()?;
    let created_at = now_secs();
    let outcome = app
        .store
        .register(&NewUser {
            id: &id,
            username: &valid.username,
            email: &valid.email,
            password_hash: &password_hash,
            created_at,
        })
        .await?;
    match outcome {
        Registered::Created => {}
        Registered::EmailTaken => {
            return Err(AppError::api(
                ErrorCode::Conflict,
                "An account with this email already exists.",
            ))
        }
        Registered::UsernameTaken => {
            return Err(AppError::api(
                ErrorCode::Conflict,
                "This username is taken.",
            ))
        }
    }
    tracing::info!(audit = "user_registered", user_id = %id);
    let user = json!({
        "id": id, "username": valid.username, "email": valid.email, "created_at": created_at
    });
    Ok((StatusCode::CREATED, Json(json!({ "user": user }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    email: String,
    password: String,
}

pub async fn login(
    State(app): State<AppState>,
    ctx: EdgeContext,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> AppResult<Response> {
    let mut fields = Vec::new();
    let email = normalize_email(&req.email).map_err(|e| fields.push(e)).ok();
    // Length only: a login never reveals the strength policy, but absurd sizes are refused.
    if let Err(e) = check_password_length("password", &req.password) {
        if req.password.is_empty() || req.password.chars().count() > validate::PASSWORD_MAX {
            fields.push(e);
        }
    }
    let Some(email) = email.filter(|_| fields.is_empty()) else {
        return Err(AppError::fields(fields));
    };
    let limits = &app.settings.login_limits;
    let now = now_secs();
    let gate = app
        .store
        .login_gate(&email, &ctx.client_ip, limits, now)
        .await?;
    if gate.retry_after > 0 {
        tracing::warn!(audit = "login_blocked", client_ip = %ctx.client_ip, retry_after = gate.retry_after);
        return Err(AppError::limited(
            gate.retry_after,
            "Too many failed sign-in attempts; try again later.",
        ));
    }
    let record = match gate.user_id {
        Some(id) => app.store.user_record(&id).await?,
        None => None,
    };
    let stored_hash = record.as_ref().map(|r| r.password_hash.clone());
    let valid = app.passwords.verify(req.password, stored_hash).await?;
    let Some(record) = record.filter(|_| valid) else {
        let locked_for = app
            .store
            .login_failed(&email, &ctx.client_ip, limits, now)
            .await?;
        tracing::info!(audit = "login_failed", client_ip = %ctx.client_ip);
        if locked_for > 0 {
            tracing::warn!(audit = "lockout", client_ip = %ctx.client_ip, locked_for);
        }
        return Err(AppError::api(
            ErrorCode::InvalidCredentials,
            "The email or password is not correct.",
        ));
    };
    let client = ClientInfo {
        ip: ctx.client_ip,
        user_agent: user_agent(&headers),
    };
    let lock_key = layout::login_pair_lock(&layout::account_tag(&email), &client.ip);
    let body = sessions::start(&app, record.user, &client, &lock_key).await?;
    Ok(sessions::token_response(&app, StatusCode::OK, body))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[serde(default)]
    refresh_token: Option<String>,
}

pub async fn refresh(
    State(app): State<AppState>,
    ctx: EdgeContext,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let req: RefreshRequest = optional_json(&headers, body)?.unwrap_or_default();
    let from_cookie = req.refresh_token.is_none();
    let presented = sessions::presented_refresh_token(req.refresh_token, &headers)?;
    let client = ClientInfo {
        ip: ctx.client_ip,
        user_agent: user_agent(&headers),
    };
    let error = match sessions::refresh(&app, &presented, &client).await? {
        Refreshed::Pair(body) => return Ok(sessions::token_response(&app, StatusCode::OK, *body)),
        Refreshed::Reused => AppError::api(
            ErrorCode::RefreshTokenReused,
            "This refresh token was already used; the session has been signed out for safety.",
        ),
        Refreshed::Invalid => AppError::api(
            ErrorCode::InvalidRefreshToken,
            "The refresh token is not valid or has expired.",
        ),
    };
    Ok(with_cleared_cookie(error.into_response(), from_cookie))
}

/// Logout. With an access token (the edge vouches for the caller) the current session ends;
/// without one, a refresh token in the body or cookie identifies the session, so a user whose
/// access token expired can still sign out.
pub async fn logout(
    State(app): State<AppState>,
    ctx: EdgeContext,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let req: RefreshRequest = optional_json(&headers, body)?.unwrap_or_default();
    if let Some(caller) = ctx.caller {
        app.store
            .revoke_session(&caller.user_id, &caller.session_id)
            .await?;
        tracing::info!(audit = "session_revoked", reason = "logout", user_id = %caller.user_id, session_id = %caller.session_id);
        return Ok(no_content_clearing_cookie());
    }
    let presented = sessions::presented_refresh_token(req.refresh_token, &headers)
        .map_err(|_| AppError::api(ErrorCode::InvalidToken, "Sign in first."))?;
    if !sessions::revoke_by_refresh_token(&app, &presented).await? {
        let error = AppError::api(
            ErrorCode::InvalidRefreshToken,
            "The refresh token is not valid or has expired.",
        );
        return Ok(with_cleared_cookie(error.into_response(), true));
    }
    tracing::info!(
        audit = "session_revoked",
        reason = "logout",
        session_id = presented.session_id()
    );
    Ok(no_content_clearing_cookie())
}

/// 204 that also deletes the refresh cookie.
pub fn no_content_clearing_cookie() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, cookie::clear())],
    )
        .into_response()
}

fn with_cleared_cookie(mut response: Response, clear: bool) -> Response {
    if clear {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookie::clear());
    }
    response
}

/// A JSON body that may be absent (empty). A present body must be JSON.
fn optional_json<T: DeserializeOwned>(headers: &HeaderMap, body: Bytes) -> AppResult<Option<T>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        });
    if !is_json {
        return Err(AppError::api(
            ErrorCode::UnsupportedMediaType,
            "Send the body as JSON with Content-Type: application/json.",
        ));
    }
    match axum::Json::<T>::from_bytes(&body) {
        Ok(axum::Json(value)) => Ok(Some(value)),
        Err(rejection) => Err(json_rejection(rejection)),
    }
}
