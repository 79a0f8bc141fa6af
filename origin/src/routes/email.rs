//! Mail-backed flows: verifying the address, resetting a forgotten password, changing the
//! address. Requests only queue mail (`crate::mail`); links carry single-use tokens whose hashes
//! alone are stored (`edgeauth_core::mail`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use edgeauth_core::address;
use edgeauth_core::mail::{LinkToken, MailKind, OutboxMail, Purpose};
use edgeauth_core::validate::{check_new_password, normalize_email};
use edgeauth_core::{ErrorCode, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::config::EmailVerification;
use crate::edge_trust::{Caller, EdgeContext};
use crate::error::{AppError, AppResult};
use crate::extract::ApiJson;
use crate::guard::PasswordCheck;
use crate::mail::{self, NewMail};
use crate::now_secs;
use crate::openapi::ErrorResponse;
use crate::store::mail::{ChangeRequest, EmailChange, LinkMail, LinkRequest};
use crate::store::Checked;

/// The one answer of every request that may send a mail: the same whether or not it did.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailAccepted {
    #[schema(example = "accepted")]
    pub status: &'static str,
    pub message: &'static str,
}

fn accepted(message: &'static str) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(MailAccepted {
            status: "accepted",
            message,
        }),
    )
        .into_response()
}

const IF_KNOWN: &str = "If an account uses this address, a message is on its way.";

fn invalid_token() -> AppError {
    AppError::api(
        ErrorCode::InvalidOrExpiredToken,
        "This link is not valid: it was already used, has expired, was replaced by a newer one, \
         or is incomplete. Ask for a new one.",
    )
}

fn parse_token(text: &str) -> AppResult<LinkToken> {
    LinkToken::parse(text).ok_or_else(invalid_token)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    #[schema(format = "email", example = "ada@example.com")]
    email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The token from the link's fragment (`#verify=…`, `#confirm-email=…`).
    #[schema(min_length = 1, max_length = 128)]
    token: String,
}

/// Queues a reset or verification link for `email` if an account has it; the same answer
/// either way (429 only when the client address used up its budget).
async fn request_link(
    app: &AppState,
    ctx: &EdgeContext,
    purpose: Purpose,
    email: &str,
) -> AppResult<()> {
    let email = normalize_email(email).map_err(|e| AppError::fields(vec![e]))?;
    let settings = &app.settings.mail;
    let (kind, ttl_secs) = match purpose {
        Purpose::Reset => (MailKind::PasswordReset, settings.reset_ttl_secs),
        Purpose::Verify => (MailKind::VerifyEmail, settings.verify_ttl_secs),
        Purpose::ChangeEmail => return Err(AppError::internal("request_link: change_email")),
    };
    let off = !settings.enabled()
        || (purpose == Purpose::Verify && settings.verification == EmailVerification::Off);
    if off {
        return Ok(());
    }
    let (mail, token) = NewMail::new(
        &settings.link_key,
        OutboxMail {
            kind,
            // Filled in by the script, which alone knows whether the account exists.
            to: String::new(),
            username: String::new(),
            other_email: None,
            valid_minutes: Some(ttl_secs.div_ceil(60)),
        },
    )?;
    let token = token.ok_or_else(|| AppError::internal("a link mail without a token"))?;
    let address = address::bucket(&ctx.client_ip, app.settings.ipv6_prefix);
    let outcome = app
        .store
        .request_link(
            purpose,
            &email,
            &address,
            settings.per_ip,
            settings.per_email,
            &mail,
            &token,
            ttl_secs,
            now_secs(),
        )
        .await?;
    match outcome {
        LinkRequest::Queued => {
            mail::queued(app, kind);
            tracing::info!(audit = "mail_link_requested", purpose = purpose.as_str(), mail_id = %mail.id);
        }
        LinkRequest::NotSent => {}
        LinkRequest::Limited { retry_after } => {
            return Err(AppError::limited(
                retry_after,
                "Too many requests for mail from this address; try again later.",
            ))
        }
    }
    Ok(())
}

/// Forgot password: mails a reset link if an account uses this address. Always the same 202,
/// so the answer never tells whether the address has an account; at most a few mails per
/// address per hour go out (beyond that the answer stays 202 and nothing is sent).
#[utoipa::path(
    post,
    path = "/api/password/forgot",
    tag = "email",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "Accepted; a reset link goes out if an account uses the address (and its hourly mail budget allows)", body = MailAccepted),
        (status = 400, description = "`bad_request` or `validation_failed` (not an email address)", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many mail requests from this client address", body = ErrorResponse, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn forgot_password(
    State(app): State<AppState>,
    ctx: EdgeContext,
    ApiJson(req): ApiJson<EmailRequest>,
) -> AppResult<Response> {
    request_link(&app, &ctx, Purpose::Reset, &req.email).await?;
    Ok(accepted(IF_KNOWN))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// The token from the reset link's fragment (`#reset=…`).
    #[schema(min_length = 1, max_length = 128)]
    token: String,
    /// 8–128 characters; common and guessable passwords are refused.
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
}

/// Sets a new password with a reset link's token. Every session of the account is revoked,
/// every other reset link stops working, and a notice is mailed.
#[utoipa::path(
    post,
    path = "/api/password/reset",
    tag = "email",
    request_body = ResetRequest,
    responses(
        (status = 204, description = "The password is set; every session is revoked"),
        (status = 400, description = "`invalid_or_expired_token` (unknown, used, expired or superseded: one answer for all), `validation_failed` (the new password) or `bad_request`", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many password hashes at once from this address", body = ErrorResponse, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn reset_password(
    State(app): State<AppState>,
    ctx: EdgeContext,
    ApiJson(req): ApiJson<ResetRequest>,
) -> AppResult<Response> {
    let token = parse_token(&req.token)?.hash();
    let now = now_secs();
    // Read first, so an invalid token costs no password hash.
    let record = app
        .store
        .link_record(&token, now)
        .await?
        .filter(|r| r.purpose == Purpose::Reset.as_str())
        .ok_or_else(invalid_token)?;
    let user = app
        .store
        .user_record(&record.user_id)
        .await?
        .ok_or_else(invalid_token)?
        .user;
    check_new_password(
        "new_password",
        &req.new_password,
        &[&user.username, &user.email],
    )
    .map_err(|e| AppError::fields(vec![e]))?;
    let address = address::bucket(&ctx.client_ip, app.settings.ipv6_prefix);
    let hash = app.passwords.hash(req.new_password, &address).await?;
    let notice = NewMail::notice(MailKind::PasswordChanged, &user.email, &user.username, None)?;
    match app
        .store
        .reset_password(&token, &user.id, &hash, &notice, now_secs())
        .await?
    {
        Checked::Done(revoked) => {
            mail::queued(&app, MailKind::PasswordChanged);
            tracing::info!(audit = "password_reset", user_id = %user.id, sessions_revoked = revoked);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Checked::Stale => Err(invalid_token()),
    }
}

/// Confirms the account's address with the token of a verification link.
#[utoipa::path(
    post,
    path = "/api/email/verify",
    tag = "email",
    request_body = TokenRequest,
    responses(
        (status = 204, description = "The address is verified"),
        (status = 400, description = "`invalid_or_expired_token` (unknown, used, expired or superseded, or the account's address changed since) or `bad_request`", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 503, description = "`service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn verify_email(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> AppResult<Response> {
    let token = parse_token(&req.token)?.hash();
    if !app.store.verify_email(&token, now_secs()).await? {
        return Err(invalid_token());
    }
    tracing::info!(audit = "email_verified");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Mails a new verification link if an unverified account uses this address. No sign-in
/// needed (with verification required, an unverified user cannot sign in). Always the same 202.
#[utoipa::path(
    post,
    path = "/api/email/verify/resend",
    tag = "email",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "Accepted; a link goes out if an unverified account uses the address (and its hourly mail budget allows)", body = MailAccepted),
        (status = 400, description = "`bad_request` or `validation_failed` (not an email address)", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many mail requests from this client address", body = ErrorResponse, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn resend_verification(
    State(app): State<AppState>,
    ctx: EdgeContext,
    ApiJson(req): ApiJson<EmailRequest>,
) -> AppResult<Response> {
    request_link(&app, &ctx, Purpose::Verify, &req.email).await?;
    Ok(accepted(IF_KNOWN))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChangeRequest {
    #[schema(format = "email", example = "ada@new.example")]
    new_email: String,
    #[schema(min_length = 1, max_length = 128)]
    current_password: String,
}

/// Starts changing the account's address: a confirmation link goes to the new address and a
/// notice to the current one. Nothing changes until the link is used.
#[utoipa::path(
    post,
    path = "/api/email/change",
    tag = "email",
    security(("bearer" = [])),
    request_body = EmailChangeRequest,
    responses(
        (status = 202, description = "The confirmation link and the notice are queued", body = MailAccepted),
        (status = 400, description = "`bad_request` or `validation_failed` (not an email address, or the current one)", body = ErrorResponse),
        (status = 401, description = "`invalid_token`, or `invalid_credentials` (the current password is wrong)", body = ErrorResponse),
        (status = 403, description = "`step_up_required`: the session's last authentication is older than `EDGEAUTH_RECENT_AUTH_SECS`; reauthenticate first", body = ErrorResponse),
        (status = 409, description = "`conflict`: another account uses the new address", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many wrong passwords (the sign-in lockouts)", body = ErrorResponse, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`service_unavailable` (also when this server sends no mail) or `revocation_unavailable`", body = ErrorResponse),
    )
)]
pub async fn change_email(
    State(app): State<AppState>,
    ctx: EdgeContext,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<EmailChangeRequest>,
) -> AppResult<Response> {
    let settings = &app.settings.mail;
    if !settings.enabled() {
        return Err(AppError::api(
            ErrorCode::ServiceUnavailable,
            "This server sends no mail, so the address cannot be changed.",
        ));
    }
    let new_email = normalize_email(&req.new_email)
        .map_err(|e| AppError::fields(vec![FieldError::new("new_email", e.message)]))?;
    let record = app
        .store
        .user_record(&caller.user_id)
        .await?
        .ok_or_else(|| AppError::api(ErrorCode::InvalidToken, "The account no longer exists."))?;
    crate::routes::mfa::require_recent(&app, &caller, false).await?;
    if new_email == record.user.email {
        return Err(AppError::fields(vec![FieldError::new(
            "new_email",
            "is already the account's address",
        )]));
    }
    let user = record.user.clone();
    let check = PasswordCheck::new(&app, user.email.clone(), &ctx.client_ip, &headers);
    let account = check
        .admit(&app, false)
        .await?
        .filter(|account| account.user.id == caller.user_id)
        .or(Some(record));
    if check
        .verify(&app, req.current_password, account)
        .await?
        .is_none()
    {
        return Err(AppError::api(
            ErrorCode::InvalidCredentials,
            "The current password is not correct.",
        ));
    }
    let ttl_secs = settings.change_ttl_secs;
    let (confirm, token) = NewMail::new(
        &settings.link_key,
        OutboxMail {
            kind: MailKind::ConfirmEmailChange,
            to: new_email.clone(),
            username: user.username.clone(),
            other_email: None,
            valid_minutes: Some(ttl_secs.div_ceil(60)),
        },
    )?;
    let token = token.ok_or_else(|| AppError::internal("a link mail without a token"))?;
    let notice = NewMail::notice(
        MailKind::EmailChangeRequested,
        &user.email,
        &user.username,
        Some(&new_email),
    )?;
    let link = LinkMail {
        mail: &confirm,
        token: &token,
        expires_at: now_secs() + ttl_secs,
        ttl_secs,
    };
    match app
        .store
        .request_email_change(&user.id, &user.email, &link, &notice)
        .await?
    {
        ChangeRequest::Queued => {}
        ChangeRequest::Taken => return Err(taken()),
        ChangeRequest::Stale => {
            return Err(AppError::api(
                ErrorCode::Conflict,
                "The account's address changed meanwhile; try again.",
            ))
        }
    }
    mail::queued(&app, MailKind::ConfirmEmailChange);
    mail::queued(&app, MailKind::EmailChangeRequested);
    tracing::info!(audit = "email_change_requested", user_id = %user.id);
    Ok(accepted(
        "A confirmation link is on its way to the new address; the change happens when it is used.",
    ))
}

fn taken() -> AppError {
    AppError::api(
        ErrorCode::Conflict,
        "An account with this email already exists.",
    )
}

/// Completes an email change with the token of the confirmation link sent to the new address.
/// Whether another account took the address meanwhile is checked again now.
#[utoipa::path(
    post,
    path = "/api/email/change/confirm",
    tag = "email",
    request_body = TokenRequest,
    responses(
        (status = 204, description = "The account now uses the new address (verified); a notice goes to the old one"),
        (status = 400, description = "`invalid_or_expired_token` or `bad_request`", body = ErrorResponse),
        (status = 409, description = "`conflict`: another account uses the new address by now", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 503, description = "`service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn confirm_email_change(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> AppResult<Response> {
    let token = parse_token(&req.token)?.hash();
    let now = now_secs();
    let record = app
        .store
        .link_record(&token, now)
        .await?
        .filter(|r| r.purpose == Purpose::ChangeEmail.as_str())
        .ok_or_else(invalid_token)?;
    let user = app
        .store
        .user_record(&record.user_id)
        .await?
        .ok_or_else(invalid_token)?
        .user;
    let notice = NewMail::notice(
        MailKind::EmailChanged,
        &user.email,
        &user.username,
        Some(&record.email),
    )?;
    match app
        .store
        .confirm_email_change(&token, &record, &user.email, &notice, now)
        .await?
    {
        EmailChange::Done => {
            mail::queued(&app, MailKind::EmailChanged);
            tracing::info!(audit = "email_changed", user_id = %user.id);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        EmailChange::Invalid => Err(invalid_token()),
        EmailChange::Taken => Err(taken()),
    }
}
