//! Register, login, refresh and logout: the routes that need no access token.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use edgeauth_core::address;
use edgeauth_core::refresh::RefreshBody;
use edgeauth_core::validate::{self, check_password_length, normalize_email};
use edgeauth_core::ErrorCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::config::EmailVerification;
use crate::cookie;
use crate::edge_trust::{self, EdgeContext, NonceClaim};
use crate::error::{AppError, AppResult};
use crate::extract::{user_agent, ApiJson};
use crate::guard::PasswordCheck;
use crate::mail::{self, NewMail};
use crate::now_secs;
use crate::openapi::ErrorResponse;
use crate::sessions::{self, random_id, ClientInfo, Refreshed, SignIn, TokenResponse};
use crate::store::mail::LinkMail;
use crate::store::{NewUser, Registered, User};
use edgeauth_core::mail::{MailKind, OutboxMail};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3–32 characters: letters, digits, underscore. Unique, compared case-insensitively.
    #[schema(pattern = "^[A-Za-z0-9_]{3,32}$", example = "ada_l")]
    username: String,
    /// Unique; stored and compared in canonical form (NFKC, case-folded, the domain in IDNA
    /// ASCII form). Invisible or control characters and invalid domains are refused.
    #[schema(format = "email", example = "ada@example.com")]
    email: String,
    /// 8–128 characters; common and guessable passwords are refused.
    #[schema(
        min_length = 8,
        max_length = 128,
        example = "correct horse battery staple"
    )]
    password: String,
}

impl RegisterRequest {
    /// The same request from another form (the hosted register page).
    pub fn new(username: String, email: String, password: String) -> Self {
        Self {
            username,
            email,
            password,
        }
    }
}

/// The new account.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisteredUser {
    pub user: User,
}

/// Create an account. Does not sign in.
#[utoipa::path(
    post,
    path = "/api/register",
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = RegisteredUser),
        (status = 400, description = "`bad_request` (malformed JSON, wrong types, unknown fields) or `validation_failed` (with `fields`)", body = ErrorResponse),
        (status = 409, description = "`conflict`: the email or username is taken", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`: body over 16 KiB", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON", body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many registrations from this address", body = ErrorResponse, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`service_unavailable`: Redis or the origin is unavailable, or too many sign-ins at once", body = ErrorResponse),
    )
)]
pub async fn register(
    State(app): State<AppState>,
    ctx: EdgeContext,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> AppResult<Response> {
    let valid = validate::validate_registration(&req.username, &req.email, &req.password)
        .map_err(AppError::fields)?;
    let address = address::bucket(&ctx.client_ip, app.settings.ipv6_prefix);
    // Spent before hashing, so a flood costs one Redis call each, not an argon2id run.
    let retry_after = app
        .store
        .spend("register", &address, app.settings.register_budget)
        .await?;
    if retry_after > 0 {
        return Err(AppError::limited(
            retry_after,
            "Too many registrations from this address; try again later.",
        ));
    }
    let password_hash = app.passwords.hash(valid.password, &address).await?;
    let id = random_id()?;
    let created_at = now_secs();
    let mail_settings = &app.settings.mail;
    let verification =
        if mail_settings.enabled() && mail_settings.verification != EmailVerification::Off {
            let ttl_secs = mail_settings.verify_ttl_secs;
            let (mail, token) = NewMail::new(
                &mail_settings.link_key,
                OutboxMail {
                    kind: MailKind::VerifyEmail,
                    to: valid.email.clone(),
                    username: valid.username.clone(),
                    other_email: None,
                    valid_minutes: Some(ttl_secs.div_ceil(60)),
                },
            )?;
            let token = token.ok_or_else(|| AppError::internal("a link mail without a token"))?;
            Some((mail, token, ttl_secs))
        } else {
            None
        };
    let outcome = app
        .store
        .register(&NewUser {
            id: &id,
            username: &valid.username,
            email: &valid.email,
            password_hash: &password_hash,
            created_at,
            verification: verification
                .as_ref()
                .map(|(mail, token, ttl_secs)| LinkMail {
                    mail,
                    token,
                    expires_at: created_at + ttl_secs,
                    ttl_secs: *ttl_secs,
                }),
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
    if verification.is_some() {
        mail::queued(&app, MailKind::VerifyEmail);
    }
    let user = User {
        id,
        username: valid.username,
        email: valid.email,
        email_verified: false,
        created_at,
    };
    Ok((StatusCode::CREATED, Json(RegisteredUser { user })).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(format = "email", example = "ada@example.com")]
    email: String,
    #[schema(
        min_length = 1,
        max_length = 128,
        example = "correct horse battery staple"
    )]
    password: String,
}

impl LoginRequest {
    /// The same request from another form (the hosted sign-in page).
    pub fn new(email: String, password: String) -> Self {
        Self { email, password }
    }
}

/// Sign in: a new session, an access token and a refresh token (also set as a cookie).
#[utoipa::path(
    post,
    path = "/api/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse, headers(("Set-Cookie" = String, description = "The refresh token as `__Host-edgeauth_rt`, and the device credential as `__Host-edgeauth_device` (both HttpOnly, Secure, SameSite=Strict, Path=/), and the access token as `__Host-edgeauth_at` (HttpOnly, Secure, SameSite=Lax, Path=/, Max-Age = `expires_in`: browser navigations to app rules that accept it). Send the device cookie back on later sign-ins: guessing attacks on the account then cannot lock this device out"))),
        (status = 400, description = "`bad_request` or `validation_failed`", body = ErrorResponse),
        (status = 401, description = "`invalid_credentials`: same answer for an unknown email and a wrong password; or `mfa_required`: the password is right and the account has a second factor — `error.mfa_ticket` (short-lived, single use) and `error.methods` finish the sign-in at `POST /api/login/mfa`", body = ErrorResponse),
        (status = 403, description = "`email_unverified`: the password is right, but EDGEAUTH_EMAIL_VERIFICATION is `required` and the address is not verified yet", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many failed sign-ins (per address, per account without a device credential, or this account from this address or device), too many sign-ins per address or account, or too many at once from this address", body = ErrorResponse, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`service_unavailable`", body = ErrorResponse),
    )
)]
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
    let check = PasswordCheck::new(&app, email, &ctx.client_ip, &headers);
    let account = check.admit(&app, true).await?;
    let refused = || {
        AppError::api(
            ErrorCode::InvalidCredentials,
            "The email or password is not correct.",
        )
    };
    let Some(record) = check.verify(&app, req.password, account).await? else {
        return Err(refused());
    };
    // Only after the password proved the caller, so the answer says nothing to anyone else.
    if app.settings.mail.verification == EmailVerification::Required && !record.user.email_verified
    {
        tracing::info!(audit = "login_refused", user_id = %record.user.id, reason = "email unverified");
        return Err(AppError::api(
            ErrorCode::EmailUnverified,
            "Confirm your email address first: open the link we sent you, or ask for a new one.",
        ));
    }
    // A second factor finishes the sign-in at `/api/login/mfa`, under a ticket.
    if record.totp.is_some() {
        return Err(crate::routes::mfa::mfa_required(&app, &record).await);
    }
    let client = ClientInfo {
        ip: ctx.client_ip,
        user_agent: user_agent(&headers),
    };
    // `None`: the password changed while it was being checked; the old one no longer signs in.
    let Some(body) = sessions::start(&app, record, &client, &check, SignIn::PASSWORD).await? else {
        return Err(refused());
    };
    sessions::sign_in_response(&app, &check, body)
}

/// The body of refresh and logout, as documented; `edgeauth_core::refresh::RefreshBody` parses it
/// (for the edge's CSRF rule and here alike).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RefreshRequest {
    /// The refresh token; when absent, `null` or empty, the `__Host-edgeauth_rt` cookie is used.
    #[schema(nullable = false)]
    refresh_token: Option<String>,
}

/// Rotate the refresh token: a new access token and a new refresh token for the same session.
/// Presenting an already-rotated token after the grace window revokes the session.
#[utoipa::path(
    post,
    path = "/api/refresh",
    tag = "auth",
    request_body(content = Option<RefreshRequest>, description = "Optional: the refresh token, unless the cookie carries it"),
    security((), ("refresh_cookie" = [])),
    responses(
        (status = 200, description = "A rotated token pair", body = TokenResponse, headers(("Set-Cookie" = String, description = "The rotated refresh token (`__Host-edgeauth_rt`) and the new access token (`__Host-edgeauth_at`)"))),
        (status = 400, description = "`bad_request`", body = ErrorResponse),
        (status = 401, description = "`invalid_refresh_token`, or `refresh_token_reused` (the session is now revoked)", body = ErrorResponse),
        (status = 403, description = "`forbidden`: a cookie-authenticated call from an origin that is not allowed (CSRF)", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many refreshes from this address", body = ErrorResponse, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn refresh(
    State(app): State<AppState>,
    ctx: EdgeContext,
    Extension(nonce): Extension<NonceClaim>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let req = refresh_body(&headers, &body)?;
    let from_cookie = req.token().is_none();
    let presented = sessions::presented_refresh_token(req.token(), &headers)?;
    let client = ClientInfo {
        ip: ctx.client_ip,
        user_agent: user_agent(&headers),
    };
    let deferred = nonce.deferred();
    let error = match sessions::refresh(&app, &presented, &client, deferred).await? {
        Refreshed::Pair(body, roles, assurance) => {
            let (user_id, username) = (body.user.id.clone(), body.user.username.clone());
            let mut response = sessions::token_response(&app, StatusCode::OK, *body);
            sessions::add_identity_headers(
                &mut response,
                &user_id,
                presented.session_id(),
                &roles,
                &username,
                &assurance,
            );
            return Ok(response);
        }
        Refreshed::Replayed => {
            return Ok(edge_trust::replayed(deferred.map_or("", |(n, _)| n)));
        }
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
#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "auth",
    request_body(content = Option<RefreshRequest>, description = "Optional: without an access token, the refresh token (or the cookie) names the session"),
    security(("bearer" = []), ("refresh_cookie" = []), ()),
    responses(
        (status = 204, description = "The session is revoked: its access and refresh tokens stop working at once; the cookies are cleared", headers(("Set-Cookie" = String, description = "Clears the refresh and access cookies"))),
        (status = 400, description = "`bad_request`", body = ErrorResponse),
        (status = 401, description = "`invalid_token` or `invalid_refresh_token`", body = ErrorResponse, headers(("WWW-Authenticate" = String))),
        (status = 403, description = "`forbidden`: a cookie-authenticated call from an origin that is not allowed (CSRF)", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`: a logout by refresh token spends the address's refresh budget", body = ErrorResponse, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`revocation_unavailable` or `service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn logout(
    State(app): State<AppState>,
    ctx: EdgeContext,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let req = refresh_body(&headers, &body)?;
    if let Some(caller) = ctx.caller {
        app.store
            .revoke_session(&caller.user_id, &caller.session_id)
            .await?;
        tracing::info!(audit = "session_revoked", reason = "logout", user_id = %caller.user_id, session_id = %caller.session_id);
        return Ok(no_content_clearing_cookie());
    }
    let presented = sessions::presented_refresh_token(req.token(), &headers)
        .map_err(|_| AppError::api(ErrorCode::InvalidToken, "Sign in first."))?;
    if !sessions::revoke_by_refresh_token(&app, &presented, &ctx.client_ip).await? {
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

/// 204 that also deletes the session cookies (refresh and access).
pub fn no_content_clearing_cookie() -> Response {
    with_cleared_cookie(StatusCode::NO_CONTENT.into_response(), true)
}

fn with_cleared_cookie(mut response: Response, clear: bool) -> Response {
    if clear {
        for value in cookie::clear() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The body of refresh and logout: absent (empty), or JSON that `RefreshBody` accepts.
fn refresh_body(headers: &HeaderMap, body: &Bytes) -> AppResult<RefreshBody> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(RefreshBody::default());
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
    // `null` means "no body" too, as the OpenAPI document allows it.
    RefreshBody::parse(body).map_err(|e| {
        let message = if e.is_data() {
            format!("The JSON body does not have the expected shape: {e}")
        } else {
            "The body is not valid JSON.".to_owned()
        };
        AppError::api(ErrorCode::BadRequest, message)
    })
}
