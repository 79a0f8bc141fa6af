//! Second factors: TOTP enrolment and removal, the second step of a sign-in, and the step-up
//! (`POST /api/reauthenticate`) that refreshes a session's assurance. The decisions (codes,
//! backup codes, tickets, `amr` rules) live in `edgeauth_core::mfa` and `::assurance`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use edgeauth_core::assurance::{amr, Assurance, StepUpRule};
use edgeauth_core::mfa::{
    backup_code, backup_code_hash, ticket_hash, TotpCheck, TotpSecret, BACKUP_CODE_COUNT,
};
use edgeauth_core::redis_layout as layout;
use edgeauth_core::{ErrorCode, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::edge_trust::{Caller, CallerAccount, EdgeContext};
use crate::error::{AppError, AppResult};
use crate::extract::{user_agent, ApiJson};
use crate::guard::PasswordCheck;
use crate::now_secs;
use crate::openapi::ErrorResponse;
use crate::sessions::{self, random_bytes, ClientInfo, SignIn};
use crate::store::{TotpConfirmed, TotpUse, UserRecord};

/// How long an enrolment waits for its first code, seconds.
const ENROLMENT_SECS: u64 = 600;

/// The second factors a sign-in can finish with (`error.methods` of `mfa_required`).
pub const METHODS: [&str; 2] = ["totp", "backup_code"];

/// What a sign-in's ticket stands for (stored under the ticket's hash).
#[derive(Serialize, Deserialize)]
struct TicketRecord {
    uid: String,
    email: String,
    pwv: String,
}

/// Issues the ticket of a sign-in whose password was right, for an account with TOTP on.
pub async fn mfa_required(app: &AppState, record: &UserRecord) -> AppError {
    let mut methods = METHODS.to_vec();
    // An account with a passkey may finish with it (`POST /api/login/mfa/passkey`).
    match app.store.has_passkeys(&record.user.id).await {
        Ok(true) => methods.push("passkey"),
        Ok(false) => {}
        Err(error) => return error,
    }
    match issue_ticket(app, record).await {
        Ok(ticket) => AppError::MfaRequired { ticket, methods },
        Err(error) => error,
    }
}

async fn issue_ticket(app: &AppState, record: &UserRecord) -> AppResult<String> {
    let ticket = edgeauth_core::mfa::ticket(random_bytes()?);
    let hash = ticket_hash(&ticket).ok_or_else(|| AppError::internal("a fresh ticket"))?;
    let sign_in = serde_json::to_string(&TicketRecord {
        uid: record.user.id.clone(),
        email: record.user.email.clone(),
        pwv: record.password_version.clone(),
    })
    .map_err(AppError::internal)?;
    app.store
        .put_mfa_ticket(&hash, &sign_in, app.settings.mfa_ticket_secs)
        .await?;
    tracing::info!(audit = "mfa_required", user_id = %record.user.id);
    Ok(ticket)
}

fn wrong_code() -> AppError {
    AppError::api(
        ErrorCode::InvalidCredentials,
        "The code is not correct, or was already used.",
    )
}

/// Checks a TOTP code or a backup code for `record`; a wrong, replayed or already used one is
/// counted against the sign-in lockouts (`check`) and answers 401. Returns the `amr` method.
async fn second_factor(
    app: &AppState,
    record: &UserRecord,
    check: &PasswordCheck,
    code: Option<&str>,
    backup: Option<&str>,
) -> AppResult<&'static str> {
    let user_id = &record.user.id;
    let accepted = match (code, backup, record.totp.as_deref()) {
        (Some(code), None, Some(sealed)) => {
            let secret = app.settings.mfa_key.open(sealed, user_id).map_err(|e| {
                AppError::internal(format!("user {user_id}: {e} (EDGEAUTH_MFA_KEY changed?)"))
            })?;
            match secret.check(code, now_secs(), None) {
                TotpCheck::Valid { step } => {
                    app.store.use_totp_step(user_id, sealed, step).await? == TotpUse::Accepted
                }
                TotpCheck::Replayed | TotpCheck::Wrong => false,
            }
        }
        (None, Some(backup), Some(_)) => match backup_code_hash(backup) {
            Some(hash) => app.store.use_backup_code(user_id, &hash).await?,
            None => false,
        },
        _ => false,
    };
    if accepted {
        if backup.is_some() {
            tracing::info!(audit = "backup_code_used", user_id = %user_id);
        }
        Ok(amr::OTP)
    } else {
        check.failed(app, "second factor").await?;
        Err(wrong_code())
    }
}

/// Exactly one of the named fields, or 400 `validation_failed` naming them.
fn one_of(fields: &[(&str, bool)]) -> AppResult<()> {
    if fields.iter().filter(|(_, present)| *present).count() == 1 {
        return Ok(());
    }
    let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
    Err(AppError::fields(
        names
            .iter()
            .map(|name| FieldError::new(name, format!("give exactly one of {}", names.join(", "))))
            .collect(),
    ))
}

/// 403 `step_up_required` unless the caller's session authenticated recently enough (and with
/// a second factor, if `second_factor`), per `EDGEAUTH_RECENT_AUTH_SECS`.
pub async fn require_recent(app: &AppState, caller: &Caller, second_factor: bool) -> AppResult<()> {
    let assurance = app
        .store
        .session_assurance(&caller.user_id, &caller.session_id)
        .await?
        .ok_or_else(|| AppError::api(ErrorCode::InvalidToken, "Sign in first."))?;
    let rule = StepUpRule {
        mfa: second_factor,
        max_age: Some(app.settings.recent_auth_secs),
    };
    rule.check(&assurance, now_secs()).map_err(|needed| {
        tracing::info!(audit = "step_up_required", user_id = %caller.user_id, session_id = %caller.session_id, reason = %needed);
        AppError::api(
            ErrorCode::StepUpRequired,
            if second_factor {
                "Confirm it is you with your authenticator code or a backup code \
                 (POST /api/reauthenticate), then try again."
            } else {
                "Confirm it is you (POST /api/reauthenticate), then try again."
            },
        )
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginMfaRequest {
    /// `error.mfa_ticket` of the `mfa_required` answer.
    #[schema(min_length = 1, max_length = 64)]
    mfa_ticket: String,
    /// A 6-digit code from the authenticator app (or `backup_code`).
    #[schema(pattern = "^[0-9]{6}$", example = "123456")]
    code: Option<String>,
    /// One of the backup codes (or `code`); each works once.
    #[schema(example = "abcd-efgh-ijkl-mnop", max_length = 64)]
    backup_code: Option<String>,
    /// A passkey assertion for the ceremony of `POST /api/login/mfa/passkey` (or `code`).
    passkey: Option<crate::routes::passkeys::PasskeyAssertion>,
}

impl LoginMfaRequest {
    /// The same request from another form (the hosted sign-in page's code step).
    pub fn new(mfa_ticket: String, code: Option<String>, backup_code: Option<String>) -> Self {
        Self {
            mfa_ticket,
            code,
            backup_code,
            passkey: None,
        }
    }
}

/// The second step of a sign-in with a second factor: the ticket of `mfa_required` and a TOTP
/// code or a backup code. Wrong codes count toward the same lockouts as wrong passwords.
#[utoipa::path(
    post,
    path = "/api/login/mfa",
    tag = "mfa",
    request_body = LoginMfaRequest,
    responses(
        (status = 200, description = "Signed in (`amr` includes `otp`)", body = crate::sessions::TokenResponse, headers(("Set-Cookie" = String, description = "The refresh, access and device cookies, as at /api/login"))),
        (status = 400, description = "`bad_request`, `validation_failed`, or `invalid_or_expired_token` (the ticket is unknown, used or expired: sign in again)", body = ErrorResponse),
        (status = 401, description = "`invalid_credentials`: the code is wrong or was already used", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many failed sign-ins (the sign-in lockouts)", body = ErrorResponse, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn login_mfa(
    State(app): State<AppState>,
    ctx: EdgeContext,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginMfaRequest>,
) -> AppResult<Response> {
    one_of(&[
        ("code", req.code.is_some()),
        ("backup_code", req.backup_code.is_some()),
        ("passkey", req.passkey.is_some()),
    ])?;
    let expired = || {
        AppError::api(
            ErrorCode::InvalidOrExpiredToken,
            "This sign-in has expired or was already finished; sign in again.",
        )
    };
    let hash = ticket_hash(&req.mfa_ticket).ok_or_else(expired)?;
    let ticket: TicketRecord = app
        .store
        .mfa_ticket(&hash)
        .await?
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(expired)?;
    let check = PasswordCheck::new(&app, ticket.email.clone(), &ctx.client_ip, &headers);
    let record = check
        .admit(&app, true)
        .await?
        .filter(|r| r.user.id == ticket.uid && r.password_version == ticket.pwv)
        .ok_or_else(expired)?;
    let method = match req.passkey {
        Some(assertion) => {
            crate::routes::passkeys::second_factor_method(&app, &record.user.id, &hash, assertion)
                .await?
        }
        None => {
            second_factor(
                &app,
                &record,
                &check,
                req.code.as_deref(),
                req.backup_code.as_deref(),
            )
            .await?
        }
    };
    let client = ClientInfo {
        ip: ctx.client_ip,
        user_agent: user_agent(&headers),
    };
    let sign_in = SignIn {
        methods: &[amr::PWD, method],
        ticket_key: Some(layout::mfa_ticket(&hash)),
    };
    let Some(body) = sessions::start(&app, record, &client, &check, sign_in).await? else {
        return Err(expired());
    };
    sessions::sign_in_response(&app, &check, body)
}

/// A new TOTP secret to add to an authenticator app.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpEnrollment {
    /// The secret in base32, for typing into an app.
    pub secret: String,
    /// `otpauth://totp/…` (Key URI format), what the QR code holds.
    pub otpauth_uri: String,
    /// The `otpauth_uri` as a QR code, an SVG document.
    pub qr_svg: String,
}

/// Start turning TOTP on: a new secret, valid for 10 minutes until confirmed with a code.
/// Enrolling again replaces an unconfirmed secret. Needs a recent authentication
/// (`EDGEAUTH_RECENT_AUTH_SECS`).
#[utoipa::path(
    post,
    path = "/api/mfa/totp/enroll",
    tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The secret to add to an authenticator app", body = TotpEnrollment),
        (status = 401, description = "`invalid_token`", body = ErrorResponse),
        (status = 403, description = "`step_up_required`: the session's last authentication is older than `EDGEAUTH_RECENT_AUTH_SECS`; reauthenticate first", body = ErrorResponse),
        (status = 409, description = "`conflict`: TOTP is already on (turn it off first)", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 503, description = "`revocation_unavailable` or `service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn enroll(
    State(app): State<AppState>,
    caller: Caller,
    CallerAccount(account): CallerAccount,
) -> AppResult<Response> {
    let record = account
        .ok_or_else(|| AppError::api(ErrorCode::InvalidToken, "The account no longer exists."))?;
    // A stolen access token must not be able to put its thief's app between the owner and the
    // account: adding a factor needs a recent authentication, like the other sensitive actions.
    require_recent(&app, &caller, false).await?;
    if record.totp.is_some() {
        return Err(AppError::api(
            ErrorCode::Conflict,
            "Two-step verification is already on; turn it off first to use a new app.",
        ));
    }
    let secret = TotpSecret::from_random(random_bytes()?);
    let sealed = app
        .settings
        .mfa_key
        .seal(&secret, &caller.user_id, random_bytes()?)
        .map_err(AppError::internal)?;
    let otpauth_uri = secret
        .otpauth_uri(&record.user.email)
        .ok_or_else(|| AppError::internal("otpauth URI"))?;
    let qr_svg = qrcode::QrCode::new(otpauth_uri.as_bytes())
        .map_err(AppError::internal)?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    app.store
        .put_pending_totp(&caller.user_id, &sealed, ENROLMENT_SECS)
        .await?;
    tracing::info!(audit = "totp_enroll_started", user_id = %caller.user_id);
    Ok(Json(TotpEnrollment {
        secret: secret.base32(),
        otpauth_uri,
        qr_svg,
    })
    .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirmRequest {
    /// The current 6-digit code of the app the secret was added to.
    #[schema(pattern = "^[0-9]{6}$", example = "123456")]
    code: String,
}

/// The backup codes, shown once: each signs in once in place of a code.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupCodes {
    pub backup_codes: Vec<String>,
}

/// Finish turning TOTP on with a code from the app; answers the 10 single-use backup codes
/// (stored only as hashes: this is the only time they are shown).
#[utoipa::path(
    post,
    path = "/api/mfa/totp/confirm",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = TotpConfirmRequest,
    responses(
        (status = 200, description = "TOTP is on; the backup codes", body = BackupCodes),
        (status = 400, description = "`bad_request`, `validation_failed` (the code is not the app's current one), or `invalid_or_expired_token` (no enrolment in progress: enroll again)", body = ErrorResponse),
        (status = 401, description = "`invalid_token`", body = ErrorResponse),
        (status = 409, description = "`conflict`: TOTP is already on", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 503, description = "`revocation_unavailable` or `service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn confirm(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TotpConfirmRequest>,
) -> AppResult<Response> {
    let not_started = || {
        AppError::api(
            ErrorCode::InvalidOrExpiredToken,
            "No enrolment is waiting for a code; start again.",
        )
    };
    let sealed = app
        .store
        .pending_totp(&caller.user_id)
        .await?
        .ok_or_else(not_started)?;
    let secret = app
        .settings
        .mfa_key
        .open(&sealed, &caller.user_id)
        .map_err(|_| not_started())?;
    let TotpCheck::Valid { step } = secret.check(&req.code, now_secs(), None) else {
        return Err(AppError::fields(vec![FieldError::new(
            "code",
            "is not the current code of the app; check the device's clock and try again",
        )]));
    };
    let mut codes = Vec::with_capacity(BACKUP_CODE_COUNT);
    let mut hashes = Vec::with_capacity(BACKUP_CODE_COUNT);
    for _ in 0..BACKUP_CODE_COUNT {
        let code = backup_code(random_bytes()?);
        hashes.push(backup_code_hash(&code).ok_or_else(|| AppError::internal("backup code"))?);
        codes.push(code);
    }
    match app
        .store
        .confirm_totp(&caller.user_id, &sealed, step, &hashes)
        .await?
    {
        TotpConfirmed::Enabled => {}
        TotpConfirmed::Gone => return Err(not_started()),
        TotpConfirmed::AlreadyOn => {
            return Err(AppError::api(
                ErrorCode::Conflict,
                "Two-step verification is already on.",
            ))
        }
    }
    tracing::info!(audit = "totp_enabled", user_id = %caller.user_id);
    Ok(Json(BackupCodes {
        backup_codes: codes,
    })
    .into_response())
}

/// Turn TOTP off (the backup codes go with it). Needs a recent authentication with a second
/// factor (`POST /api/reauthenticate` with a code), within `EDGEAUTH_RECENT_AUTH_SECS`.
#[utoipa::path(
    delete,
    path = "/api/mfa/totp",
    tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "TOTP is off"),
        (status = 401, description = "`invalid_token`", body = ErrorResponse),
        (status = 403, description = "`step_up_required`: reauthenticate with a code or backup code first", body = ErrorResponse),
        (status = 404, description = "`not_found`: TOTP is not on", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 503, description = "`revocation_unavailable` or `service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn disable(State(app): State<AppState>, caller: Caller) -> AppResult<Response> {
    require_recent(&app, &caller, true).await?;
    if !app.store.disable_totp(&caller.user_id).await? {
        return Err(AppError::api(
            ErrorCode::NotFound,
            "Two-step verification is not on.",
        ));
    }
    tracing::info!(audit = "totp_disabled", user_id = %caller.user_id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthenticateRequest {
    /// The account's password (or `code`, or `backup_code`).
    #[schema(min_length = 1, max_length = 128)]
    password: Option<String>,
    /// A 6-digit code from the authenticator app.
    #[schema(pattern = "^[0-9]{6}$", example = "123456")]
    code: Option<String>,
    /// One of the backup codes; each works once.
    #[schema(example = "abcd-efgh-ijkl-mnop", max_length = 64)]
    backup_code: Option<String>,
    /// A passkey assertion for the ceremony of `POST /api/passkeys/reauthenticate/start`.
    passkey: Option<crate::routes::passkeys::PasskeyAssertion>,
}

/// Step up: prove a credential again to refresh this session's assurance. Answers a new token
/// pair for the same session with a fresh `auth_time` and its `amr` (a code on a password
/// session gives `pwd`, `otp`, `mfa`; a passkey adds `hwk` or `swk` and `mfa`; a password alone
/// gives `pwd`). The session's earlier
/// refresh tokens stop working. Wrong answers count toward the sign-in lockouts.
#[utoipa::path(
    post,
    path = "/api/reauthenticate",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = ReauthenticateRequest,
    responses(
        (status = 200, description = "A new token pair for this session", body = crate::sessions::TokenResponse, headers(("Set-Cookie" = String, description = "The new refresh and access cookies"))),
        (status = 400, description = "`bad_request` or `validation_failed` (give exactly one of password, code, backup_code, passkey), or `invalid_or_expired_token` (the passkey ceremony is unknown, used or expired)", body = ErrorResponse),
        (status = 401, description = "`invalid_token`, or `invalid_credentials` (wrong password or code, or the passkey does not verify)", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`: the sign-in lockouts", body = ErrorResponse, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`revocation_unavailable` or `service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn reauthenticate(
    State(app): State<AppState>,
    ctx: EdgeContext,
    caller: Caller,
    CallerAccount(account): CallerAccount,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ReauthenticateRequest>,
) -> AppResult<Response> {
    one_of(&[
        ("password", req.password.is_some()),
        ("code", req.code.is_some()),
        ("backup_code", req.backup_code.is_some()),
        ("passkey", req.passkey.is_some()),
    ])?;
    let record = account
        .ok_or_else(|| AppError::api(ErrorCode::InvalidToken, "The account no longer exists."))?;
    let check = PasswordCheck::new(&app, record.user.email.clone(), &ctx.client_ip, &headers);
    let gate = check
        .admit(&app, false)
        .await?
        .filter(|r| r.user.id == caller.user_id)
        .unwrap_or(record);
    let (method, record) = match (req.passkey, req.password) {
        (Some(assertion), _) => (
            crate::routes::passkeys::step_up_method(&app, &caller, assertion).await?,
            gate,
        ),
        (None, Some(password)) => match check.verify(&app, password, Some(gate)).await? {
            Some(record) => (amr::PWD, record),
            None => {
                return Err(AppError::api(
                    ErrorCode::InvalidCredentials,
                    "The password is not correct.",
                ))
            }
        },
        (None, None) => {
            let method = second_factor(
                &app,
                &gate,
                &check,
                req.code.as_deref(),
                req.backup_code.as_deref(),
            )
            .await?;
            (method, gate)
        }
    };
    let current = app
        .store
        .session_assurance(&caller.user_id, &caller.session_id)
        .await?
        .unwrap_or_else(Assurance::default);
    let now = now_secs();
    let assurance = current.after_step_up(method, now);
    let Some(body) =
        sessions::step_up(&app, record.user, &caller.session_id, &assurance, now).await?
    else {
        return Err(AppError::api(
            ErrorCode::InvalidToken,
            "This session has ended; sign in again.",
        ));
    };
    Ok(sessions::token_response(&app, StatusCode::OK, body))
}
