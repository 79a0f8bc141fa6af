//! Passkeys (WebAuthn): registration by a signed-in user, listing, renaming and removal, the
//! discoverable sign-in (no username typed: the browser offers the site's passkeys, also as
//! autofill), and the passkey step-up. The ceremonies run in `webauthn-rs`; their state waits
//! in Redis between start and finish for at most `CEREMONY_SECS`, and is taken once (GETDEL),
//! so a challenge never verifies twice. The pure rules live in `edgeauth_core::passkey`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_core::passkey;
use edgeauth_core::redis_layout as layout;
use edgeauth_core::{ErrorCode, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use webauthn_rs::prelude::{
    Credential, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Uuid,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use crate::app::AppState;
use crate::config::EmailVerification;
use crate::edge_trust::{Caller, CallerAccount, EdgeContext};
use crate::error::{AppError, AppResult};
use crate::extract::{user_agent, ApiJson};
use crate::guard::PasswordCheck;
use crate::now_secs;
use crate::openapi::ErrorResponse;
use crate::passkeys::CEREMONY_SECS;
use crate::routes::mfa::require_recent;
use crate::sessions::{self, random_id, ClientInfo, SignIn};
use crate::store::passkeys::PasskeyAdded;

/// Most passkeys one account may hold.
const MAX_PER_USER: usize = 20;

/// A stored passkey: the `webauthn-rs` credential (public key, sign counter, backup flags) and
/// what the account page shows.
#[derive(Serialize, Deserialize)]
struct PasskeyRecord {
    name: String,
    created_at: u64,
    last_used_at: Option<u64>,
    passkey: Passkey,
}

/// A passkey as the API shows it (never the public key).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyInfo {
    /// The credential id (base64url); `{id}` of PATCH/DELETE.
    pub id: String,
    pub name: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds of the last sign-in or step-up with it.
    pub last_used_at: Option<u64>,
    /// Whether the authenticator may sync it to other devices (a synced passkey: `amr` `swk`;
    /// otherwise device-bound: `hwk`).
    pub backup_eligible: bool,
    /// Whether it is currently backed up (synced).
    pub backed_up: bool,
}

impl PasskeyRecord {
    fn info(&self, id: &str) -> PasskeyInfo {
        let cred = Credential::from(self.passkey.clone());
        PasskeyInfo {
            id: id.to_owned(),
            name: self.name.clone(),
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            backup_eligible: cred.backup_eligible,
            backed_up: cred.backup_state,
        }
    }

    fn to_json(&self) -> AppResult<String> {
        serde_json::to_string(self).map_err(AppError::internal)
    }
}

fn parse_record(text: &str) -> AppResult<PasskeyRecord> {
    serde_json::from_str(text).map_err(|e| AppError::internal(format!("passkey record: {e}")))
}

fn expired() -> AppError {
    AppError::api(
        ErrorCode::InvalidOrExpiredToken,
        "This passkey request has expired or was already used; start again.",
    )
}

fn not_verified() -> AppError {
    AppError::api(
        ErrorCode::InvalidCredentials,
        "The passkey could not be verified.",
    )
}

fn not_found() -> AppError {
    AppError::api(ErrorCode::NotFound, "No such passkey.")
}

/// A browser's credential (the JSON of `PublicKeyCredential.toJSON()`), or 400 naming the field.
fn credential<T: for<'de> Deserialize<'de>>(value: serde_json::Value) -> AppResult<T> {
    serde_json::from_value(value).map_err(|e| {
        AppError::fields(vec![FieldError::new(
            "credential",
            format!("is not a WebAuthn credential of this ceremony: {e}"),
        )])
    })
}

fn user_uuid(user_id: &str) -> Uuid {
    Uuid::from_bytes(passkey::user_handle(user_id))
}

/// The options for `navigator.credentials.create()`/`.get()` (the `publicKey` member as
/// WebAuthn's JSON form: binary fields in base64url), under a ceremony id for the finish.
#[derive(Serialize, ToSchema)]
pub struct CeremonyOptions {
    /// Send it back with the finish.
    pub ceremony: String,
    /// `PublicKeyCredentialCreationOptionsJSON` or `PublicKeyCredentialRequestOptionsJSON`.
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    pub public_key: serde_json::Value,
}

/// Start registering a passkey for the signed-in user: the creation options for
/// `navigator.credentials.create({publicKey})`. The passkey is discoverable (resident) and
/// needs user verification; the user's existing passkeys are excluded.
#[utoipa::path(
    post,
    path = "/api/passkeys/register/start",
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Creation options", body = CeremonyOptions),
        (status = 401, description = "`invalid_token`", body = ErrorResponse),
        (status = 409, description = "`conflict`: the account has the most passkeys allowed", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 503, description = "`revocation_unavailable` or `service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn register_start(
    State(app): State<AppState>,
    caller: Caller,
    CallerAccount(account): CallerAccount,
) -> AppResult<Response> {
    let record = account
        .ok_or_else(|| AppError::api(ErrorCode::InvalidToken, "The account no longer exists."))?;
    let existing = app.store.passkeys(&caller.user_id).await?;
    if existing.len() >= MAX_PER_USER {
        return Err(AppError::api(
            ErrorCode::Conflict,
            format!("An account holds at most {MAX_PER_USER} passkeys; remove one first."),
        ));
    }
    let exclude = existing
        .iter()
        .filter_map(|(_, text)| serde_json::from_str::<PasskeyRecord>(text).ok())
        .map(|r| r.passkey.cred_id().clone())
        .collect::<Vec<_>>();
    let (mut options, state) = app
        .settings
        .passkeys
        .webauthn
        .start_passkey_registration(
            user_uuid(&caller.user_id),
            &record.user.email,
            &record.user.username,
            Some(exclude),
        )
        .map_err(AppError::internal)?;
    // Discoverable: sign-in finds the account from the passkey, without a username.
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Required);
        selection.require_resident_key = true;
    }
    let state = serde_json::to_string(&state).map_err(AppError::internal)?;
    app.store
        .put_passkey_state(
            &layout::passkey_registration(&caller.user_id),
            &state,
            CEREMONY_SECS,
        )
        .await?;
    let public_key = serde_json::to_value(&options.public_key).map_err(AppError::internal)?;
    Ok(Json(CeremonyOptions {
        ceremony: "registration".to_owned(),
        public_key,
    })
    .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterFinishRequest {
    /// What the account page calls it (default: "Passkey").
    #[schema(min_length = 1, max_length = 64, example = "Laptop")]
    name: Option<String>,
    /// The browser's `PublicKeyCredential` of `navigator.credentials.create()`, as JSON
    /// (`credential.toJSON()`).
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// Finish registering: verifies the new credential against the started ceremony (its state is
/// used up either way) and stores it.
#[utoipa::path(
    post,
    path = "/api/passkeys/register/finish",
    tag = "passkeys",
    security(("bearer" = [])),
    request_body = RegisterFinishRequest,
    responses(
        (status = 201, description = "The passkey is registered", body = PasskeyInfo),
        (status = 400, description = "`bad_request`, `validation_failed` (not a credential, or it does not verify), or `invalid_or_expired_token` (no registration in progress: start again)", body = ErrorResponse),
        (status = 401, description = "`invalid_token`", body = ErrorResponse),
        (status = 409, description = "`conflict`: this passkey is already registered", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 503, description = "`revocation_unavailable` or `service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn register_finish(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<RegisterFinishRequest>,
) -> AppResult<Response> {
    let name = match req.name.as_deref() {
        Some(name) => passkey::check_name(name)
            .map_err(|e| AppError::fields(vec![FieldError::new("name", e)]))?,
        None => "Passkey".to_owned(),
    };
    let credential: RegisterPublicKeyCredential = credential(req.credential)?;
    let state: PasskeyRegistration = app
        .store
        .take_passkey_state(&layout::passkey_registration(&caller.user_id))
        .await?
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(expired)?;
    let passkey = app
        .settings
        .passkeys
        .webauthn
        .finish_passkey_registration(&credential, &state)
        .map_err(|e| {
            tracing::info!(audit = "passkey_refused", user_id = %caller.user_id, reason = %e);
            AppError::fields(vec![FieldError::new(
                "credential",
                format!("does not verify: {e}"),
            )])
        })?;
    let id = B64.encode(passkey.cred_id());
    let record = PasskeyRecord {
        name,
        created_at: now_secs(),
        last_used_at: None,
        passkey,
    };
    match app
        .store
        .add_passkey(&caller.user_id, &id, &record.to_json()?)
        .await?
    {
        PasskeyAdded::Added => {}
        PasskeyAdded::Exists => {
            return Err(AppError::api(
                ErrorCode::Conflict,
                "This passkey is already registered.",
            ))
        }
        PasskeyAdded::Gone => {
            return Err(AppError::api(
                ErrorCode::InvalidToken,
                "The account no longer exists.",
            ))
        }
    }
    tracing::info!(audit = "passkey_added", user_id = %caller.user_id, passkey = %id);
    Ok((StatusCode::CREATED, Json(record.info(&id))).into_response())
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyList {
    pub passkeys: Vec<PasskeyInfo>,
}

/// The signed-in user's passkeys, oldest first.
#[utoipa::path(
    get,
    path = "/api/passkeys",
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The passkeys", body = PasskeyList),
        (status = 401, description = "`invalid_token`", body = ErrorResponse),
        (status = 503, description = "`revocation_unavailable` or `service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn list(State(app): State<AppState>, caller: Caller) -> AppResult<Response> {
    let mut passkeys = Vec::new();
    for (id, text) in app.store.passkeys(&caller.user_id).await? {
        passkeys.push(parse_record(&text)?.info(&id));
    }
    passkeys.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(Json(PasskeyList { passkeys }).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    #[schema(min_length = 1, max_length = 64, example = "Phone")]
    name: String,
}

/// Rename one of the signed-in user's passkeys.
#[utoipa::path(
    patch,
    path = "/api/passkeys/{id}",
    tag = "passkeys",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The passkey's id")),
    request_body = RenameRequest,
    responses(
        (status = 200, description = "Renamed", body = PasskeyInfo),
        (status = 400, description = "`bad_request` or `validation_failed`", body = ErrorResponse),
        (status = 401, description = "`invalid_token`", body = ErrorResponse),
        (status = 404, description = "`not_found`", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 503, description = "`revocation_unavailable` or `service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn rename(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RenameRequest>,
) -> AppResult<Response> {
    let name = passkey::check_name(&req.name)
        .map_err(|e| AppError::fields(vec![FieldError::new("name", e)]))?;
    let mut record = parse_record(
        &app.store
            .passkey(&caller.user_id, &id)
            .await?
            .ok_or_else(not_found)?,
    )?;
    record.name = name;
    if !app
        .store
        .update_passkey(&caller.user_id, &id, &record.to_json()?)
        .await?
    {
        return Err(not_found());
    }
    Ok(Json(record.info(&id)).into_response())
}

/// Remove one of the signed-in user's passkeys. Needs a recent authentication (within
/// `EDGEAUTH_RECENT_AUTH_SECS`; any method: `POST /api/reauthenticate`).
#[utoipa::path(
    delete,
    path = "/api/passkeys/{id}",
    tag = "passkeys",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The passkey's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "`invalid_token`", body = ErrorResponse),
        (status = 403, description = "`step_up_required`: reauthenticate first", body = ErrorResponse),
        (status = 404, description = "`not_found`", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 503, description = "`revocation_unavailable` or `service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn remove(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<Response> {
    require_recent(&app, &caller, false).await?;
    if !app.store.remove_passkey(&caller.user_id, &id).await? {
        return Err(not_found());
    }
    tracing::info!(audit = "passkey_removed", user_id = %caller.user_id, passkey = %id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// What a sign-in or step-up ceremony waits with.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum AuthState {
    SignIn {
        state: DiscoverableAuthentication,
    },
    StepUp {
        uid: String,
        sid: String,
        state: PasskeyAuthentication,
    },
    /// The second step of a password sign-in (`mfa_required`), under its ticket's hash.
    SecondFactor {
        uid: String,
        ticket: String,
        state: PasskeyAuthentication,
    },
}

async fn put_auth_state(app: &AppState, state: &AuthState) -> AppResult<String> {
    let ceremony = random_id()?;
    let text = serde_json::to_string(state).map_err(AppError::internal)?;
    app.store
        .put_passkey_state(
            &layout::passkey_authentication(&ceremony),
            &text,
            CEREMONY_SECS,
        )
        .await?;
    Ok(ceremony)
}

async fn take_auth_state(app: &AppState, ceremony: &str) -> AppResult<AuthState> {
    if ceremony.is_empty() || ceremony.len() > 64 {
        return Err(expired());
    }
    app.store
        .take_passkey_state(&layout::passkey_authentication(ceremony))
        .await?
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(expired)
}

/// Start a passkey sign-in: request options for `navigator.credentials.get({publicKey})`
/// without allowed credentials (the browser offers the site's discoverable passkeys; also as
/// autofill with `mediation: "conditional"`). Spends the address's refresh budget.
#[utoipa::path(
    post,
    path = "/api/passkeys/login/start",
    tag = "passkeys",
    responses(
        (status = 200, description = "Request options", body = CeremonyOptions),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`", body = ErrorResponse, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn login_start(State(app): State<AppState>, ctx: EdgeContext) -> AppResult<Response> {
    let s = &app.settings;
    let address = edgeauth_core::address::bucket(&ctx.client_ip, s.ipv6_prefix);
    let wait = app
        .store
        .spend("passkey", &address, s.refresh_budget)
        .await?;
    if wait > 0 {
        return Err(AppError::limited(
            wait,
            "Too many passkey sign-ins from this address; try again shortly.",
        ));
    }
    let (options, state) = s
        .passkeys
        .webauthn
        .start_discoverable_authentication()
        .map_err(AppError::internal)?;
    let ceremony = put_auth_state(&app, &AuthState::SignIn { state }).await?;
    let public_key = serde_json::to_value(&options.public_key).map_err(AppError::internal)?;
    Ok(Json(CeremonyOptions {
        ceremony,
        public_key,
    })
    .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyAssertion {
    /// `ceremony` of the start.
    #[schema(min_length = 1, max_length = 64)]
    ceremony: String,
    /// The browser's `PublicKeyCredential` of `navigator.credentials.get()`, as JSON
    /// (`credential.toJSON()`).
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// Checks an assertion against the passkey it names and records the use (sign counter,
/// backup state, last use). Returns the `amr` method it proved.
async fn verify_assertion(
    app: &AppState,
    user_id: &str,
    credential: &PublicKeyCredential,
    check: impl FnOnce(&Passkey) -> Result<webauthn_rs::prelude::AuthenticationResult, String>,
) -> AppResult<&'static str> {
    let id = B64.encode(credential.get_credential_id());
    let Some(text) = app.store.passkey(user_id, &id).await? else {
        tracing::info!(audit = "passkey_refused", user_id = %user_id, reason = "unknown credential");
        return Err(not_verified());
    };
    let mut record = parse_record(&text)?;
    let result = check(&record.passkey).map_err(|reason| {
        tracing::warn!(audit = "passkey_refused", user_id = %user_id, passkey = %id, reason = %reason);
        not_verified()
    })?;
    // The ceremony demanded user verification; webauthn-rs refuses an assertion without it.
    record.passkey.update_credential(&result);
    record.last_used_at = Some(now_secs());
    if !app
        .store
        .update_passkey(user_id, &id, &record.to_json()?)
        .await?
    {
        return Err(not_verified());
    }
    Ok(passkey::method(result.backup_eligible()))
}

/// Finish a passkey sign-in: the usual token response and cookies. The passkey names its
/// account (no username); the session's `amr` is `hwk` or `swk` with `mfa` (the passkey was
/// user-verified). The start's state is used up either way.
#[utoipa::path(
    post,
    path = "/api/passkeys/login/finish",
    tag = "passkeys",
    request_body = PasskeyAssertion,
    responses(
        (status = 200, description = "Signed in", body = crate::sessions::TokenResponse, headers(("Set-Cookie" = String, description = "The refresh, access and device cookies, as at /api/login"))),
        (status = 400, description = "`bad_request`, `validation_failed` (not a credential), or `invalid_or_expired_token` (the ceremony is unknown, used or expired: start again)", body = ErrorResponse),
        (status = 401, description = "`invalid_credentials`: the passkey is not registered here or does not verify", body = ErrorResponse),
        (status = 403, description = "`email_unverified`", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`: the sign-in budgets", body = ErrorResponse, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn login_finish(
    State(app): State<AppState>,
    ctx: EdgeContext,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PasskeyAssertion>,
) -> AppResult<Response> {
    let credential: PublicKeyCredential = credential(req.credential)?;
    let AuthState::SignIn { state } = take_auth_state(&app, &req.ceremony).await? else {
        return Err(expired());
    };
    let webauthn = &app.settings.passkeys.webauthn;
    let (handle, cred_id) = webauthn
        .identify_discoverable_authentication(&credential)
        .map_err(|_| not_verified())?;
    let owner = app
        .store
        .passkey_owner(&B64.encode(cred_id))
        .await?
        .filter(|uid| user_uuid(uid) == handle)
        .ok_or_else(|| {
            tracing::info!(audit = "passkey_refused", reason = "unknown credential");
            not_verified()
        })?;
    let method = verify_assertion(&app, &owner, &credential, |passkey| {
        webauthn
            .finish_discoverable_authentication_v2(&credential, state, passkey)
            .map_err(|e| e.to_string())
    })
    .await?;
    let record = app
        .store
        .user_record(&owner)
        .await?
        .ok_or_else(not_verified)?;
    // The sign-in budgets and lockouts apply as to a password sign-in.
    let check = PasswordCheck::new(&app, record.user.email.clone(), &ctx.client_ip, &headers);
    let record = check
        .admit(&app, true)
        .await?
        .filter(|r| r.user.id == owner)
        .ok_or_else(not_verified)?;
    if app.settings.mail.verification == EmailVerification::Required && !record.user.email_verified
    {
        return Err(AppError::api(
            ErrorCode::EmailUnverified,
            "Confirm your email address first: open the link we sent you, or ask for a new one.",
        ));
    }
    let client = ClientInfo {
        ip: ctx.client_ip,
        user_agent: user_agent(&headers),
    };
    let sign_in = SignIn {
        methods: &[method],
        ticket_key: None,
    };
    let Some(body) = sessions::start(&app, record, &client, &check, sign_in).await? else {
        return Err(not_verified());
    };
    sessions::sign_in_response(&app, &check, body)
}

/// Start a passkey step-up for this session: request options naming the user's passkeys. Finish
/// with `POST /api/reauthenticate {"passkey": {ceremony, credential}}`.
#[utoipa::path(
    post,
    path = "/api/passkeys/reauthenticate/start",
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Request options", body = CeremonyOptions),
        (status = 401, description = "`invalid_token`", body = ErrorResponse),
        (status = 404, description = "`not_found`: the account has no passkey", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 503, description = "`revocation_unavailable` or `service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn reauthenticate_start(
    State(app): State<AppState>,
    caller: Caller,
) -> AppResult<Response> {
    let (options, state) = user_challenge(&app, &caller.user_id).await?;
    let ceremony = put_auth_state(
        &app,
        &AuthState::StepUp {
            uid: caller.user_id.clone(),
            sid: caller.session_id.clone(),
            state,
        },
    )
    .await?;
    Ok(Json(CeremonyOptions {
        ceremony,
        public_key: options,
    })
    .into_response())
}

/// Request options naming the user's passkeys (404 when there are none), and their state.
async fn user_challenge(
    app: &AppState,
    user_id: &str,
) -> AppResult<(serde_json::Value, PasskeyAuthentication)> {
    let mut passkeys = Vec::new();
    for (_, text) in app.store.passkeys(user_id).await? {
        passkeys.push(parse_record(&text)?.passkey);
    }
    if passkeys.is_empty() {
        return Err(AppError::api(
            ErrorCode::NotFound,
            "This account has no passkey.",
        ));
    }
    let (options, state) = app
        .settings
        .passkeys
        .webauthn
        .start_passkey_authentication(&passkeys)
        .map_err(AppError::internal)?;
    let public_key = serde_json::to_value(&options.public_key).map_err(AppError::internal)?;
    Ok((public_key, state))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondFactorStartRequest {
    /// `error.mfa_ticket` of the `mfa_required` answer.
    #[schema(min_length = 1, max_length = 64)]
    mfa_ticket: String,
}

/// Start the passkey second step of a password sign-in that answered `mfa_required` with
/// `passkey` among `error.methods`: request options naming the account's passkeys. Finish with
/// `POST /api/login/mfa {"mfa_ticket", "passkey": {ceremony, credential}}`.
#[utoipa::path(
    post,
    path = "/api/login/mfa/passkey",
    tag = "passkeys",
    request_body = SecondFactorStartRequest,
    responses(
        (status = 200, description = "Request options", body = CeremonyOptions),
        (status = 400, description = "`bad_request`, or `invalid_or_expired_token` (the ticket is unknown, used or expired: sign in again)", body = ErrorResponse),
        (status = 404, description = "`not_found`: the account has no passkey", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 503, description = "`service_unavailable`", body = ErrorResponse),
    )
)]
pub async fn second_factor_start(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<SecondFactorStartRequest>,
) -> AppResult<Response> {
    let ticket_expired = || {
        AppError::api(
            ErrorCode::InvalidOrExpiredToken,
            "This sign-in has expired or was already finished; sign in again.",
        )
    };
    let hash = edgeauth_core::mfa::ticket_hash(&req.mfa_ticket).ok_or_else(ticket_expired)?;
    let uid = app
        .store
        .mfa_ticket(&hash)
        .await?
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v["uid"].as_str().map(str::to_owned))
        .ok_or_else(ticket_expired)?;
    let (options, state) = user_challenge(&app, &uid).await?;
    let ceremony = put_auth_state(
        &app,
        &AuthState::SecondFactor {
            uid,
            ticket: hash,
            state,
        },
    )
    .await?;
    Ok(Json(CeremonyOptions {
        ceremony,
        public_key: options,
    })
    .into_response())
}

/// The passkey part of `POST /api/login/mfa`: checks the assertion against the ceremony started
/// under the same ticket (hash `ticket_hash`) for `user_id`; returns the `amr` method it proved.
pub async fn second_factor_method(
    app: &AppState,
    user_id: &str,
    ticket_hash: &str,
    assertion: PasskeyAssertion,
) -> AppResult<&'static str> {
    let credential: PublicKeyCredential = credential(assertion.credential)?;
    let AuthState::SecondFactor { uid, ticket, state } =
        take_auth_state(app, &assertion.ceremony).await?
    else {
        return Err(expired());
    };
    if uid != user_id || ticket != ticket_hash {
        return Err(expired());
    }
    let webauthn = &app.settings.passkeys.webauthn;
    verify_assertion(app, user_id, &credential, |_| {
        webauthn
            .finish_passkey_authentication(&credential, &state)
            .map_err(|e| e.to_string())
    })
    .await
}

/// The passkey part of `POST /api/reauthenticate` (`{"passkey": {ceremony, credential}}`): checks
/// the assertion against the ceremony this session started at
/// `POST /api/passkeys/reauthenticate/start`; returns the `amr` method it proved.
pub async fn step_up_method(
    app: &AppState,
    caller: &Caller,
    assertion: PasskeyAssertion,
) -> AppResult<&'static str> {
    let credential: PublicKeyCredential = credential(assertion.credential)?;
    let AuthState::StepUp { uid, sid, state } = take_auth_state(app, &assertion.ceremony).await?
    else {
        return Err(expired());
    };
    if uid != caller.user_id || sid != caller.session_id {
        return Err(expired());
    }
    let webauthn = &app.settings.passkeys.webauthn;
    verify_assertion(app, &caller.user_id, &credential, |_| {
        webauthn
            .finish_passkey_authentication(&credential, &state)
            .map_err(|e| e.to_string())
    })
    .await
}
