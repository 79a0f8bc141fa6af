//! Sessions and the token pairs they hand out: creation at login, rotation at refresh.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_core::address;
use edgeauth_core::assurance::Assurance;
use edgeauth_core::headers;
use edgeauth_core::refresh::{RefreshToken, RefreshTokenHash};
use edgeauth_core::token::{issue_access_token_with, AccessGrant};
use edgeauth_core::ErrorCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::guard::PasswordCheck;
use crate::store::{Checked, NewSession, Rotated, Rotation, User, UserRecord};
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
    /// The rotated pair, the session's roles (its hash's `roles` field, for the edge) and its
    /// assurance (for the edge's rule check after a silent refresh).
    Pair(Box<TokenResponse>, String, Assurance),
    Reused,
    Invalid,
    /// The edge request was a replay (its nonce was already claimed): nothing changed.
    Replayed,
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

/// How a sign-in proved the user, for the session it starts.
pub struct SignIn<'a> {
    /// `amr` of the session (`pwd`, or `pwd` + a second factor).
    pub methods: &'a [&'a str],
    /// The MFA ticket key the sign-in finishes (used up with the session).
    pub ticket_key: Option<String>,
}

impl SignIn<'_> {
    pub const PASSWORD: SignIn<'static> = SignIn {
        methods: &[edgeauth_core::assurance::amr::PWD],
        ticket_key: None,
    };
}

/// Starts a session for a user who just proved their password in `check`: within the user's
/// session cap, and only if the password is still the version that was checked (`None` if it
/// changed meanwhile: a sign-in racing a password change leaves no session behind, and a
/// ticket already used signs in no second time).
pub async fn start(
    app: &AppState,
    record: UserRecord,
    client: &ClientInfo,
    check: &PasswordCheck,
    sign_in: SignIn<'_>,
) -> AppResult<Option<TokenResponse>> {
    let s = &app.settings;
    let now_ms = now_millis();
    let now = now_ms / 1000;
    let session_id = random_id()?;
    let refresh = RefreshToken::first(&session_id, random_bytes()?);
    let absolute_expiry = now + s.session_absolute_secs;
    let user = record.user;
    let assurance = Assurance::new(sign_in.methods, now);
    let created = app
        .store
        .create_session(
            &NewSession {
                id: &session_id,
                user_id: &user.id,
                password_version: &record.password_version,
                cap: s.sessions_per_user,
                created_at: now,
                created_at_ms: now_ms,
                user_agent: &client.user_agent,
                ip: &client.ip,
                refresh_hash: &refresh.hash(),
                absolute_expiry,
                idle_secs: s.session_idle_secs,
                absolute_secs: s.session_absolute_secs,
                assurance: &assurance,
                ticket_key: sign_in.ticket_key,
            },
            &check.attempt(),
            &s.login_limits,
        )
        .await?;
    let evicted = match created {
        Checked::Done(evicted) => evicted,
        Checked::Stale => {
            tracing::warn!(audit = "login_refused", user_id = %user.id, reason = "password changed during sign-in");
            return Ok(None);
        }
    };
    tracing::info!(audit = "login_succeeded", user_id = %user.id, session_id = %session_id);
    if evicted > 0 {
        tracing::info!(audit = "session_revoked", reason = "session_cap", user_id = %user.id, revoked = evicted);
    }
    pair(app, user, &refresh, now, absolute_expiry, &assurance).map(Some)
}

/// After a step-up proven at `now`: the session's new assurance, a new refresh chain, and the
/// pair carrying both. `None` if the session ended meanwhile.
pub async fn step_up(
    app: &AppState,
    user: User,
    session_id: &str,
    assurance: &Assurance,
    now: u64,
) -> AppResult<Option<TokenResponse>> {
    let refresh = RefreshToken::first(session_id, random_bytes()?);
    let Some((absolute_expiry, _roles)) = app
        .store
        .step_up(&user.id, session_id, assurance, &refresh.hash(), now)
        .await?
    else {
        return Ok(None);
    };
    tracing::info!(audit = "stepped_up", user_id = %user.id, session_id = %session_id, amr = %assurance.amr_field());
    pair(app, user, &refresh, now, absolute_expiry, assurance).map(Some)
}

/// Whether `presented` is an ancestor of the session's current token, walked on a blocking
/// thread: proving it may take up to `MAX_CHAIN_WALK` HMAC steps.
async fn proves_ancestry(
    app: &AppState,
    presented: &RefreshToken,
    generation: u64,
    current: RefreshTokenHash,
) -> AppResult<bool> {
    let key = app.settings.refresh_secret.clone();
    let token = presented.clone();
    tokio::task::spawn_blocking(move || token.is_ancestor_of(&key, generation, &current))
        .await
        .map_err(AppError::internal)
}

/// Rotates a refresh token (see `edgeauth_core::refresh` for the chain and grace design).
/// `nonce`: the edge request's nonce and its lifetime when the signature check left the claim to
/// this rotation (claimed in the same Redis round trip, before anything else).
pub async fn refresh(
    app: &AppState,
    presented: &RefreshToken,
    client: &ClientInfo,
    nonce: Option<(&str, u64)>,
) -> AppResult<Refreshed> {
    let s = &app.settings;
    // The last generation has no successor: that session must sign in again.
    let Some(successor) = presented.successor(&s.refresh_secret) else {
        return Ok(Refreshed::Invalid);
    };
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
            address: &address::bucket(&client.ip, s.ipv6_prefix),
            budget: s.refresh_budget,
            recovery_ms: s.refresh_recovery_ms,
            nonce,
        })
        .await?;
    match outcome {
        Rotated::Ok {
            absolute_expiry,
            account,
            roles,
            assurance,
        } => {
            let Some(record) = account else {
                return Ok(Refreshed::Invalid);
            };
            let response = pair(
                app,
                record.user,
                &successor,
                now_secs(),
                absolute_expiry,
                &assurance,
            )?;
            Ok(Refreshed::Pair(Box::new(response), roles, assurance))
        }
        Rotated::Reused { user_id } => {
            tracing::warn!(audit = "refresh_token_reused", user_id = %user_id, session_id = presented.session_id(), "session revoked");
            Ok(Refreshed::Reused)
        }
        Rotated::Check {
            generation,
            current,
        } => {
            if proves_ancestry(app, presented, generation, current).await? {
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
        Rotated::Replayed => Ok(Refreshed::Replayed),
        Rotated::Limited { retry_after } => Err(refresh_limited(retry_after)),
    }
}

fn refresh_limited(retry_after: u64) -> AppError {
    AppError::limited(
        retry_after,
        "Too many refreshes from this address; try again shortly.",
    )
}

/// Revokes the session a refresh token belongs to, if the token is (or was) really one of its
/// tokens. Spends the refresh budget of the client's address like a refresh does. Returns
/// whether a session was revoked.
pub async fn revoke_by_refresh_token(
    app: &AppState,
    presented: &RefreshToken,
    client_ip: &str,
) -> AppResult<bool> {
    let s = &app.settings;
    let address = address::bucket(client_ip, s.ipv6_prefix);
    let state = match app
        .store
        .refresh_state(presented.session_id(), &address, s.refresh_budget)
        .await?
    {
        Ok(Some(state)) => state,
        Ok(None) => return Ok(false),
        Err(retry_after) => return Err(refresh_limited(retry_after)),
    };
    let genuine = (presented.generation() == state.generation && presented.hash() == state.current)
        || proves_ancestry(app, presented, state.generation, state.current.clone()).await?;
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
    assurance: &Assurance,
) -> AppResult<TokenResponse> {
    let token_id = random_id()?;
    let issued = issue_access_token_with(
        app.settings.keys.active(),
        &app.settings.policy,
        &AccessGrant {
            user_id: &user.id,
            session_id: refresh.session_id(),
            token_id: &token_id,
            now,
            session_expires_at: absolute_expiry,
        },
        assurance,
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

/// Renders a token response with both session cookies set: the refresh token for the session's
/// idle lifetime, the access token for its own (always together, so a browser holding one
/// holds the other).
pub fn token_response(
    app: &AppState,
    status: axum::http::StatusCode,
    body: TokenResponse,
) -> Response {
    let refresh = cookie::set(&body.refresh_token, app.settings.session_idle_secs);
    let access = cookie::set_access(&body.access_token, body.expires_in);
    let mut response = (status, Json(body)).into_response();
    // Appended, not inserted: an array of header pairs would keep only the last Set-Cookie.
    for value in [refresh, access] {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The answer to a finished sign-in (password, second step or passkey): the token response with
/// its session cookies, plus the device cookie the successful check earned.
pub fn sign_in_response(
    app: &AppState,
    check: &PasswordCheck,
    body: TokenResponse,
) -> AppResult<Response> {
    let mut response = token_response(app, axum::http::StatusCode::OK, body);
    response
        .headers_mut()
        .append(header::SET_COOKIE, check.device_cookie(app)?);
    Ok(response)
}

/// The rotated session's owner, id, roles and username as response headers for the edge (which
/// never passes `x-edgeauth-*` response headers on): a silent refresh at the edge continues the
/// browser's request with this identity instead of reading Redis again.
pub fn add_identity_headers(
    response: &mut Response,
    user_id: &str,
    session_id: &str,
    roles: &str,
    username: &str,
    assurance: &Assurance,
) {
    let out = response.headers_mut();
    let (amr, auth_time) = (assurance.amr_field(), assurance.auth_time.to_string());
    for (name, value) in [
        (headers::REFRESHED_USER, user_id),
        (headers::REFRESHED_SESSION, session_id),
        (headers::REFRESHED_ROLES, roles),
        (headers::REFRESHED_USERNAME, username),
        (headers::REFRESHED_AMR, amr.as_str()),
        (headers::REFRESHED_AUTH_TIME, auth_time.as_str()),
    ] {
        // Ids are URL-safe base64, role names `a-z 0-9 _ . : -`, usernames `A-Z a-z 0-9 _`,
        // methods `a-z 0-9 _ ,`, times digits: always valid values.
        if let Ok(value) = HeaderValue::from_str(value) {
            out.insert(name, value);
        }
    }
}

/// The refresh token of a request: the body's token (`RefreshBody::token`: never empty), else
/// the cookie.
pub fn presented_refresh_token(
    body_token: Option<&str>,
    headers: &HeaderMap,
) -> AppResult<RefreshToken> {
    let text = body_token
        .map(str::to_owned)
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
