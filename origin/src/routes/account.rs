//! Routes for a signed-in caller: profile, sessions, logout-all, password change.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use edgeauth_core::validate::check_new_password;
use edgeauth_core::ErrorCode;
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::edge_trust::Caller;
use crate::error::{AppError, AppResult};
use crate::extract::ApiJson;
use crate::routes::auth::no_content_clearing_cookie;

pub async fn profile(State(app): State<AppState>, caller: Caller) -> AppResult<Response> {
    let record = app
        .store
        .user_record(&caller.user_id)
        .await?
        .ok_or_else(|| AppError::api(ErrorCode::InvalidToken, "The account no longer exists."))?;
    Ok(Json(json!({ "user": record.user, "session_id": caller.session_id })).into_response())
}

pub async fn sessions(State(app): State<AppState>, caller: Caller) -> AppResult<Response> {
    let sessions = app
        .store
        .sessions(&caller.user_id, &caller.session_id)
        .await?;
    Ok(Json(json!({ "sessions": sessions })).into_response())
}

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

pub async fn logout_all(State(app): State<AppState>, caller: Caller) -> AppResult<Response> {
    let revoked = app
        .store
        .revoke_user_sessions(&caller.user_id, None)
        .await?;
    tracing::info!(audit = "session_revoked", reason = "logout_all", user_id = %caller.user_id, revoked);
    Ok(no_content_clearing_cookie())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

pub async fn change_password(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PasswordChange>,
) -> AppResult<Response> {
    let record = app
        .store
        .user_record(&caller.user_id)
        .await?
        .ok_or_else(|| AppError::api(ErrorCode::InvalidToken, "The account no longer exists."))?;
    let user = &record.user;
    check_new_password(
        "new_password",
        &req.new_password,
        &[&user.username, &user.email],
    )
    .map_err(|e| AppError::fields(vec![e]))?;
    let current_ok = app
        .passwords
        .verify(req.current_password, Some(record.password_hash.clone()))
        .await?;
    if !current_ok {
        return Err(AppError::api(
            ErrorCode::InvalidCredentials,
            "The current password is not correct.",
        ));
    }
    let hash = app.passwords.hash(req.new_password).await?;
    app.store.set_password_hash(&caller.user_id, &hash).await?;
    let revoked = app
        .store
        .revoke_user_sessions(&caller.user_id, Some(&caller.session_id))
        .await?;
    tracing::info!(audit = "password_changed", user_id = %caller.user_id, other_sessions_revoked = revoked);
    Ok(StatusCode::NO_CONTENT.into_response())
}
