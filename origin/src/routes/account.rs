//! Routes for a signed-in caller: profile, sessions, logout-all, password change.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use edgeauth_core::validate::check_new_password;
use edgeauth_core::ErrorCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::edge_trust::{Caller, CallerAccount, EdgeContext};
use crate::error::{AppError, AppResult};
use crate::extract::ApiJson;
use crate::guard::PasswordCheck;
use crate::mail::{self, NewMail};
use crate::openapi::ErrorResponse;
use crate::routes::auth::no_content_clearing_cookie;
use crate::store::{Checked, SessionInfo, User};
use edgeauth_core::mail::MailKind;

/// The signed-in caller.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub user: User,
    /// The session the access token belongs to.
    pub session_id: String,
}

/// The caller's live sessions, oldest first.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
}

/// The caller's account.
#[utoipa::path(
    get,
    path = "/api/profile",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account and session", body = Profile),
        (status = 401, description = "`invalid_token`: missing, invalid or expired access token, or its session was revoked", body = ErrorResponse, headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"edgeauth\", error=\"invalid_token\"`"))),
        (status = 503, description = "`revocation_unavailable` (the edge cannot confirm the session) or `service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn profile(caller: Caller, CallerAccount(account): CallerAccount) -> AppResult<Response> {
    let record = account
        .ok_or_else(|| AppError::api(ErrorCode::InvalidToken, "The account no longer exists."))?;
    Ok(Json(Profile {
        user: record.user,
        session_id: caller.session_id,
    })
    .into_response())
}

/// Every live session of the caller (devices signed in), marking the current one.
#[utoipa::path(
    get,
    path = "/api/sessions",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's sessions", body = SessionList),
        (status = 401, description = "`invalid_token`: missing, invalid or expired access token, or its session was revoked", body = ErrorResponse, headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"edgeauth\", error=\"invalid_token\"`"))),
        (status = 503, description = "`revocation_unavailable` (the edge cannot confirm the session) or `service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn sessions(State(app): State<AppState>, caller: Caller) -> AppResult<Response> {
    let sessions = app
        .store
        .sessions(&caller.user_id, &caller.session_id)
        .await?;
    Ok(Json(SessionList { sessions }).into_response())
}

/// Revoke one of the caller's sessions (sign a device out).
#[utoipa::path(
    delete,
    path = "/api/sessions/{id}",
    tag = "account",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "A session id from GET /api/sessions", pattern = "^[A-Za-z0-9_-]{1,128}$")),
    responses(
        (status = 204, description = "The session is revoked; revoking the current one also clears the refresh cookie"),
        (status = 401, description = "`invalid_token`: missing, invalid or expired access token, or its session was revoked", body = ErrorResponse, headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"edgeauth\", error=\"invalid_token\"`"))),
        (status = 404, description = "`not_found`: no such session among the caller's", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 503, description = "`revocation_unavailable` (the edge cannot confirm the session) or `service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn delete_session(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<Response> {
    // Someone else's session and a session that does not exist look the same: 404.
    if !app.store.revoke_session(&caller.user_id, &id).await? {
        return Err(AppError::api(ErrorCode::NotFound, "No such session."));
    }
    tracing::info!(audit = "session_revoked", reason = "deleted", user_id = %caller.user_id, session_id = %id);
    if id == caller.session_id {
        return Ok(no_content_clearing_cookie());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Revoke every session of the caller, this one included.
#[utoipa::path(
    post,
    path = "/api/logout-all",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session is revoked; the refresh and access cookies are cleared", headers(("Set-Cookie" = String, description = "Clears the refresh and access cookies"))),
        (status = 401, description = "`invalid_token`: missing, invalid or expired access token, or its session was revoked", body = ErrorResponse, headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"edgeauth\", error=\"invalid_token\"`"))),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 503, description = "`revocation_unavailable` (the edge cannot confirm the session) or `service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn logout_all(State(app): State<AppState>, caller: Caller) -> AppResult<Response> {
    let revoked = app
        .store
        .revoke_user_sessions(&caller.user_id, None)
        .await?;
    tracing::info!(audit = "session_revoked", reason = "logout_all", user_id = %caller.user_id, revoked);
    Ok(no_content_clearing_cookie())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schema(min_length = 1, max_length = 128)]
    current_password: String,
    /// 8–128 characters; common and guessable passwords are refused.
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
}

/// Change the password. This session stays signed in; every other session is revoked, in the
/// same step as the new password is set. The current password is checked like a sign-in: wrong
/// guesses count toward the same lockouts.
#[utoipa::path(
    post,
    path = "/api/password",
    tag = "account",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; all other sessions are revoked"),
        (status = 400, description = "`bad_request` or `validation_failed` (the new password)", body = ErrorResponse),
        (status = 401, description = "`invalid_token`, or `invalid_credentials` (the current password is wrong, or the password was changed at the same time)", body = ErrorResponse),
        (status = 403, description = "`step_up_required`: the session's last authentication is older than `EDGEAUTH_RECENT_AUTH_SECS`; reauthenticate first", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many wrong passwords (the sign-in lockouts), or too many password checks at once from this address", body = ErrorResponse, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`revocation_unavailable` (the edge cannot confirm the session) or `service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn change_password(
    State(app): State<AppState>,
    ctx: EdgeContext,
    caller: Caller,
    CallerAccount(account): CallerAccount,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PasswordChange>,
) -> AppResult<Response> {
    let record = account
        .ok_or_else(|| AppError::api(ErrorCode::InvalidToken, "The account no longer exists."))?;
    crate::routes::mfa::require_recent(&app, &caller, false).await?;
    let user = &record.user;
    check_new_password(
        "new_password",
        &req.new_password,
        &[&user.username, &user.email],
    )
    .map_err(|e| AppError::fields(vec![e]))?;
    let notice = if app.settings.mail.enabled() {
        Some(NewMail::notice(
            MailKind::PasswordChanged,
            &user.email,
            &user.username,
            None,
        )?)
    } else {
        None
    };
    let check = PasswordCheck::new(&app, user.email.clone(), &ctx.client_ip, &headers);
    // The gate's record is the snapshot (hash and version) the change is applied against.
    let account = check
        .admit(&app, false)
        .await?
        .filter(|account| account.user.id == caller.user_id)
        .or(Some(record));
    let Some(current) = check.verify(&app, req.current_password, account).await? else {
        tracing::warn!(audit = "password_change_failed", user_id = %caller.user_id, reason = "wrong current password");
        return Err(AppError::api(
            ErrorCode::InvalidCredentials,
            "The current password is not correct.",
        ));
    };
    let hash = app.passwords.hash(req.new_password, &check.address).await?;
    let changed = app
        .store
        .change_password(
            &caller.user_id,
            &hash,
            &current.password_version,
            &caller.session_id,
            &check.attempt().lock_key(),
            notice.as_ref(),
        )
        .await?;
    let Checked::Done(revoked) = changed else {
        tracing::warn!(audit = "password_change_failed", user_id = %caller.user_id, reason = "changed concurrently");
        return Err(AppError::api(
            ErrorCode::InvalidCredentials,
            "The password was changed at the same time; sign in with the new password.",
        ));
    };
    if notice.is_some() {
        mail::queued(&app, MailKind::PasswordChanged);
    }
    tracing::info!(audit = "password_changed", user_id = %caller.user_id, other_sessions_revoked = revoked);
    Ok(StatusCode::NO_CONTENT.into_response())
}
