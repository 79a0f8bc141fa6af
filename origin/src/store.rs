//! Users, sessions and nonces in Redis, through the Upstash REST client. The only module of
//! the origin that knows key names (from the core's layout) or talks to Redis.

pub mod mail;
pub mod passkeys;

use std::collections::HashMap;

use edgeauth_core::assurance::Assurance;
use edgeauth_core::mail::Purpose;
use edgeauth_core::rate_limit::{Budget, LoginLimits};
use edgeauth_core::redis_layout::{self as layout, scripts, LockSubject};
use edgeauth_core::refresh::RefreshTokenHash;
use edgeauth_upstash::{cmd, Script, UpstashClient, Value};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{AppError, AppResult};
use crate::redis_client::MeteredRedis;

/// A user as the API shows it (never with the password hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: String,
    pub username: String,
    /// Canonical form: NFKC, case-folded, the domain in IDNA ASCII form (docs/security.md).
    pub email: String,
    /// Whether the address was confirmed through a link sent to it.
    pub email_verified: bool,
    /// Unix seconds.
    pub created_at: u64,
}

/// A user with the stored password hash and its version, for authentication only.
#[derive(Clone)]
pub struct UserRecord {
    pub user: User,
    pub password_hash: String,
    /// Bumped by every password change; a session is only created (and a change only applied)
    /// while it is still the version the password was checked against.
    pub password_version: String,
    /// The TOTP secret, sealed (`edgeauth_core::mfa::MfaKey`), when TOTP is on.
    pub totp: Option<String>,
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub created_at: u64,
    /// The verification mail to queue with the account, if any.
    pub verification: Option<mail::LinkMail<'a>>,
}

pub enum Registered {
    Created,
    EmailTaken,
    UsernameTaken,
}

pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    /// The password version the sign-in was checked against.
    pub password_version: &'a str,
    /// Live sessions the user may have; the oldest beyond it are revoked.
    pub cap: u32,
    pub created_at: u64,
    /// Orders the user's sessions for the cap (milliseconds).
    pub created_at_ms: u64,
    pub user_agent: &'a str,
    pub ip: &'a str,
    pub refresh_hash: &'a RefreshTokenHash,
    pub absolute_expiry: u64,
    pub idle_secs: u64,
    pub absolute_secs: u64,
    /// How the sign-in authenticated (stored with the session, carried by every token pair).
    pub assurance: &'a Assurance,
    /// The MFA ticket key this sign-in finishes: used up with the session's creation.
    pub ticket_key: Option<String>,
}

pub struct Rotation<'a> {
    pub session_id: &'a str,
    pub presented_generation: u64,
    pub presented: &'a RefreshTokenHash,
    pub successor: &'a RefreshTokenHash,
    pub now_ms: u64,
    pub grace_ms: u64,
    pub idle_secs: u64,
    pub user_agent: &'a str,
    pub ip: &'a str,
    /// The client's budget bucket (`edgeauth_core::address`).
    pub address: &'a str,
    pub budget: Budget,
    pub recovery_ms: u64,
    /// The edge request's nonce and how long to remember it, when the signature check left the
    /// claim to this rotation ([`crate::edge_trust::NonceClaim::Deferred`]): the script claims
    /// it first, in the same round trip, and refuses a replay before reading or changing anything.
    pub nonce: Option<(&'a str, u64)>,
}

/// What the rotation script decided.
pub enum Rotated {
    /// The presented token was current (`Fresh`) or rotated within the grace window
    /// (`Grace`); the successor is now the session's token. The user's record was read in the
    /// same script (`None`: the account no longer exists).
    Ok {
        absolute_expiry: u64,
        account: Option<UserRecord>,
        /// The session hash's roles field (space-separated; empty: none).
        roles: String,
        /// The session's `amr` and `auth_time`, for the new access token.
        assurance: Assurance,
    },
    /// The edge request's nonce was already claimed: a replay, refused before anything changed.
    Replayed,
    /// A rotated token came back after the grace window; the session is already revoked.
    Reused {
        user_id: String,
    },
    /// An older generation: prove ancestry against this state before revoking.
    Check {
        generation: u64,
        current: RefreshTokenHash,
    },
    Invalid,
    /// The client address used up its refresh budget; nothing was changed.
    Limited {
        retry_after: u64,
    },
}

/// A session as listed to its owner.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionInfo {
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds of the last sign-in or refresh.
    pub last_used_at: u64,
    pub user_agent: String,
    /// The client address as the edge saw it.
    pub ip: String,
    /// Whether this is the session of the access token used for the request.
    pub current: bool,
}

/// Who attempts a password check, as the login guards count it.
pub struct Attempt<'a> {
    /// `layout::account_tag` of the canonical email.
    pub account_tag: &'a str,
    /// The client's budget bucket.
    pub address: &'a str,
    /// The known device's credential id, if the request carried a valid one for the account.
    pub device: Option<&'a str>,
}

impl Attempt<'_> {
    /// The lock this attempt meets: its device's if known, else its address's.
    pub fn lock_key(&self) -> String {
        let subject = match self.device {
            Some(id) => LockSubject::Device(id),
            None => LockSubject::Address(self.address),
        };
        layout::login_lock(self.account_tag, subject)
    }

    fn known_device_flag(&self) -> &'static str {
        if self.device.is_some() {
            "1"
        } else {
            "0"
        }
    }
}

/// Whether a password-checked write (a session, a password change) went through.
pub enum Checked<T> {
    Done(T),
    /// The password changed after it was checked; nothing was written.
    Stale,
}

/// The refresh state of a session, for logout by refresh token.
pub struct RefreshState {
    pub user_id: String,
    pub generation: u64,
    pub current: RefreshTokenHash,
}

#[derive(Clone)]
pub struct Store {
    redis: MeteredRedis,
    register_user: Script,
    create_session: Script,
    rotate_refresh: Script,
    revoke_session: Script,
    revoke_user_sessions: Script,
    change_password: Script,
    list_sessions: Script,
    login_gate: Script,
    login_failed: Script,
    rate_limit: Script,
    totp_use: Script,
    confirm_totp: Script,
    disable_totp: Script,
    step_up: Script,
    mail: mail::MailScripts,
}

/// What using a TOTP time step found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpUse {
    Accepted,
    /// This step (or a later one) was already used.
    Replayed,
    /// TOTP was turned off or replaced since the code was checked.
    Gone,
}

/// What confirming a TOTP enrolment found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpConfirmed {
    Enabled,
    /// No such pending enrolment (expired, replaced, or the account is gone).
    Gone,
    /// TOTP is already on.
    AlreadyOn,
}

/// What the login gate found: how long to wait, and the account if the email is known.
pub struct Gate {
    pub retry_after: u64,
    pub account: Option<UserRecord>,
}

impl Store {
    pub fn new(redis: UpstashClient) -> Self {
        let register_user = Script::new(scripts::REGISTER_USER);
        let create_session = Script::new(scripts::CREATE_SESSION);
        let rotate_refresh = Script::new(scripts::ROTATE_REFRESH);
        let revoke_session = Script::new(scripts::REVOKE_SESSION);
        let revoke_user_sessions = Script::new(scripts::REVOKE_USER_SESSIONS);
        let change_password = Script::new(scripts::CHANGE_PASSWORD);
        let list_sessions = Script::new(scripts::LIST_SESSIONS);
        let login_gate = Script::new(scripts::LOGIN_GATE);
        let login_failed = Script::new(scripts::LOGIN_FAILED);
        let rate_limit = Script::new(scripts::RATE_LIMIT);
        let totp_use = Script::new(scripts::TOTP_USE);
        let confirm_totp = Script::new(scripts::CONFIRM_TOTP);
        let disable_totp = Script::new(scripts::DISABLE_TOTP);
        let step_up = Script::new(scripts::STEP_UP);
        let mail = mail::MailScripts::new();
        let mut names = mail.names();
        names.extend([
            ("register_user", &register_user),
            ("create_session", &create_session),
            ("rotate_refresh", &rotate_refresh),
            ("revoke_session", &revoke_session),
            ("revoke_user_sessions", &revoke_user_sessions),
            ("change_password", &change_password),
            ("list_sessions", &list_sessions),
            ("login_gate", &login_gate),
            ("login_failed", &login_failed),
            ("rate_limit", &rate_limit),
            ("totp_use", &totp_use),
            ("confirm_totp", &confirm_totp),
            ("disable_totp", &disable_totp),
            ("step_up", &step_up),
        ]);
        let redis = MeteredRedis::new(redis, &names);
        Self {
            redis,
            register_user,
            create_session,
            rotate_refresh,
            revoke_session,
            revoke_user_sessions,
            change_password,
            list_sessions,
            login_gate,
            login_failed,
            rate_limit,
            totp_use,
            confirm_totp,
            disable_totp,
            step_up,
            mail,
        }
    }

    pub async fn ping(&self) -> AppResult<()> {
        Ok(self.redis.ping().await?)
    }

    /// The server's `maxmemory-policy`, if the server lets us read it (Upstash may not).
    pub async fn eviction_policy(&self) -> Option<String> {
        let reply = self
            .redis
            .execute(&cmd("CONFIG").arg("GET").arg("maxmemory-policy"))
            .await
            .ok()?;
        reply.as_array()?.get(1)?.as_str().map(str::to_owned)
    }

    pub async fn register(&self, user: &NewUser<'_>) -> AppResult<Registered> {
        let reply = self
            .redis
            .eval_script(
                &self.register_user,
                [
                    layout::user_by_email(user.email),
                    layout::user_by_name(user.username),
                    layout::user(user.id),
                    layout::newest_link(Purpose::Verify, user.id),
                ],
                [
                    user.id.to_owned(),
                    user.username.to_owned(),
                    user.email.to_owned(),
                    user.password_hash.to_owned(),
                    user.created_at.to_string(),
                ]
                .into_iter()
                .chain(match &user.verification {
                    Some(link) => {
                        let mut args = vec!["1".to_owned()];
                        args.extend(link.args());
                        args
                    }
                    None => vec!["0".to_owned()],
                }),
            )
            .await?;
        match reply.as_str() {
            Some("ok") => Ok(Registered::Created),
            Some("email_taken") => Ok(Registered::EmailTaken),
            Some("username_taken") => Ok(Registered::UsernameTaken),
            _ => Err(unexpected("register_user", &reply)),
        }
    }

    pub async fn user_record(&self, user_id: &str) -> AppResult<Option<UserRecord>> {
        let reply = self
            .redis
            .execute(&cmd("HGETALL").arg(layout::user(user_id)))
            .await?;
        Ok(user_record_from(&reply))
    }

    /// Creates a session (revoking the user's oldest beyond the cap), clears the lock of the
    /// attempt that just proved the password and counts the success, in one step, unless the
    /// password changed since it was checked. Returns how many sessions the cap revoked.
    pub async fn create_session(
        &self,
        s: &NewSession<'_>,
        attempt: &Attempt<'_>,
        limits: &LoginLimits,
    ) -> AppResult<Checked<u64>> {
        let keys = [
            layout::session(s.id),
            layout::user_sessions(s.user_id),
            layout::user(s.user_id),
            attempt.lock_key(),
            layout::login_successes_by_ip(attempt.address),
            layout::login_successes_by_account(attempt.account_tag),
        ]
        .into_iter()
        .chain(s.ticket_key.clone());
        let reply = self
            .redis
            .eval_script(
                &self.create_session,
                keys,
                [
                    s.user_id.to_owned(),
                    s.id.to_owned(),
                    s.created_at.to_string(),
                    s.user_agent.to_owned(),
                    s.ip.to_owned(),
                    s.refresh_hash.0.clone(),
                    s.absolute_expiry.to_string(),
                    s.idle_secs.min(s.absolute_secs).to_string(),
                    s.absolute_secs.to_string(),
                    s.password_version.to_owned(),
                    s.cap.to_string(),
                    layout::SESSION_PREFIX.to_owned(),
                    s.created_at_ms.to_string(),
                    limits.ip_success_window_secs.to_string(),
                    limits.account_success_window_secs.to_string(),
                    s.assurance.amr_field(),
                    s.assurance.auth_time.to_string(),
                ],
            )
            .await?;
        checked("create_session", &reply)
    }

    /// Sets a new password hash, bumps the password version and revokes every session of the
    /// user but `keep`, in one step, unless the version moved on since `expected_version` was
    /// read. `clear` is the lock of the attempt that proved the current password.
    pub async fn change_password(
        &self,
        user_id: &str,
        new_hash: &str,
        expected_version: &str,
        keep: &str,
        clear: &str,
        notice: Option<&crate::mail::NewMail>,
    ) -> AppResult<Checked<u64>> {
        let reply = self
            .redis
            .eval_script(
                &self.change_password,
                [
                    layout::user(user_id),
                    layout::user_sessions(user_id),
                    clear.to_owned(),
                ],
                [new_hash, expected_version, keep, layout::SESSION_PREFIX]
                    .map(str::to_owned)
                    .into_iter()
                    .chain(notice.map(mail::mail_args).unwrap_or_default()),
            )
            .await?;
        checked("change_password", &reply)
    }

    pub async fn rotate_refresh(&self, r: &Rotation<'_>) -> AppResult<Rotated> {
        let mut keys = vec![
            layout::session(r.session_id),
            layout::action_budget("refresh", r.address),
        ];
        let nonce_ttl = match r.nonce {
            Some((nonce, ttl)) => {
                keys.push(layout::nonce(nonce));
                ttl
            }
            None => 0,
        };
        let reply = self
            .redis
            .eval_script(
                &self.rotate_refresh,
                keys,
                [
                    r.presented_generation.to_string(),
                    r.presented.0.clone(),
                    r.successor.0.clone(),
                    r.now_ms.to_string(),
                    r.grace_ms.to_string(),
                    r.idle_secs.to_string(),
                    r.user_agent.to_owned(),
                    r.ip.to_owned(),
                    r.budget.max.to_string(),
                    r.budget.window_secs.to_string(),
                    r.recovery_ms.to_string(),
                    layout::USER_PREFIX.to_owned(),
                    nonce_ttl.to_string(),
                ],
            )
            .await?;
        let items = reply.as_array().unwrap_or_default();
        if let [status, _uid, abs, roles, amr, auth_time, account @ ..] = items {
            if matches!(status.as_str(), Some("rotated" | "grace")) {
                let Some(abs) = abs.as_str().and_then(|a| a.parse().ok()) else {
                    // Not `unexpected`: the reply carries the account, password hash included.
                    return Err(AppError::internal(
                        "unexpected reply from rotate_refresh: no absolute expiry",
                    ));
                };
                let Some(roles) = roles.as_str() else {
                    return Err(AppError::internal(
                        "unexpected reply from rotate_refresh: roles is not text",
                    ));
                };
                return Ok(Rotated::Ok {
                    absolute_expiry: abs,
                    roles: roles.to_owned(),
                    assurance: Assurance::from_fields(amr.as_str(), auth_time.as_str()),
                    account: user_record_from(&Value::Array(account.to_vec())),
                });
            }
        }
        let parts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
        match parts.as_slice() {
            ["replayed"] => Ok(Rotated::Replayed),
            ["reused", uid] => Ok(Rotated::Reused {
                user_id: (*uid).to_owned(),
            }),
            ["check", generation, current] => Ok(Rotated::Check {
                generation: generation
                    .parse()
                    .map_err(|_| unexpected("rotate", &reply))?,
                current: RefreshTokenHash((*current).to_owned()),
            }),
            ["invalid"] => Ok(Rotated::Invalid),
            ["limited", retry_after] => Ok(Rotated::Limited {
                retry_after: retry_after.parse().unwrap_or(1),
            }),
            _ => Err(unexpected("rotate_refresh", &reply)),
        }
    }

    /// The refresh state of a session for a logout by refresh token, after spending one unit of
    /// the address's refresh budget (both in one round trip). `Err(retry_after)` when the
    /// budget is used up.
    pub async fn refresh_state(
        &self,
        session_id: &str,
        address: &str,
        budget: Budget,
    ) -> AppResult<Result<Option<RefreshState>, u64>> {
        let spend = self.rate_limit.invoke(
            [layout::action_budget("refresh", address)],
            [u64::from(budget.max), budget.window_secs],
        );
        let state = cmd("HMGET")
            .arg(layout::session(session_id))
            .arg(layout::SESSION_USER_FIELD)
            .arg("gen")
            .arg("rt");
        let mut replies = self.redis.pipeline(&[spend, state]).await?.into_iter();
        let (Some(spent), Some(state)) = (replies.next(), replies.next()) else {
            return Err(AppError::internal(
                "refresh_state: missing pipeline replies",
            ));
        };
        let retry_after = spent
            .map_err(|e| AppError::internal(format!("refresh budget: {e}")))?
            .as_i64()
            .unwrap_or(0);
        if retry_after > 0 {
            return Ok(Err(retry_after as u64));
        }
        let reply = state.map_err(|e| AppError::internal(format!("HMGET session: {e}")))?;
        let items = reply.as_array().unwrap_or_default();
        let text = |i: usize| items.get(i).and_then(Value::as_str);
        Ok(Ok(
            match (text(0), text(1).and_then(|g| g.parse().ok()), text(2)) {
                (Some(uid), Some(generation), Some(rt)) => Some(RefreshState {
                    user_id: uid.to_owned(),
                    generation,
                    current: RefreshTokenHash(rt.to_owned()),
                }),
                _ => None,
            },
        ))
    }

    /// Deletes a session outright (reuse detected: no ownership question to ask).
    pub async fn delete_session(&self, session_id: &str) -> AppResult<()> {
        self.redis
            .execute(&cmd("DEL").arg(layout::session(session_id)))
            .await?;
        Ok(())
    }

    /// Revokes one of the user's sessions; false if it is not theirs or does not exist.
    pub async fn revoke_session(&self, user_id: &str, session_id: &str) -> AppResult<bool> {
        let reply = self
            .redis
            .eval_script(
                &self.revoke_session,
                [layout::session(session_id), layout::user_sessions(user_id)],
                [user_id, session_id, layout::SESSION_PREFIX],
            )
            .await?;
        Ok(reply.as_i64() == Some(1))
    }

    /// Revokes every session of the user but `keep`; returns how many were revoked.
    pub async fn revoke_user_sessions(&self, user_id: &str, keep: Option<&str>) -> AppResult<i64> {
        let reply = self
            .redis
            .eval_script(
                &self.revoke_user_sessions,
                [layout::user_sessions(user_id)],
                [layout::SESSION_PREFIX, keep.unwrap_or("")],
            )
            .await?;
        reply
            .as_i64()
            .ok_or_else(|| unexpected("revoke_user_sessions", &reply))
    }

    /// The user's live sessions, oldest first, in one script (at most the session cap of them).
    /// Index entries of expired sessions are pruned.
    pub async fn sessions(&self, user_id: &str, current: &str) -> AppResult<Vec<SessionInfo>> {
        let reply = self
            .redis
            .eval_script(
                &self.list_sessions,
                [layout::user_sessions(user_id)],
                [user_id, layout::SESSION_PREFIX],
            )
            .await?;
        let rows = reply
            .as_array()
            .ok_or_else(|| unexpected("list_sessions", &reply))?;
        let mut sessions = Vec::with_capacity(rows.len());
        for row in rows {
            let items = row.as_array().unwrap_or_default();
            let text = |i: usize| items.get(i).and_then(Value::as_str).unwrap_or_default();
            sessions.push(SessionInfo {
                current: text(0) == current,
                created_at: text(1).parse().unwrap_or_default(),
                last_used_at: text(2).parse().unwrap_or_default(),
                user_agent: text(3).to_owned(),
                ip: text(4).to_owned(),
                id: text(0).to_owned(),
            });
        }
        sessions.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(sessions)
    }

    /// Checks the login guards for an attempt and reads the account's stored record (the same
    /// Redis work whether or not the email is registered).
    pub async fn login_gate(
        &self,
        email: &str,
        attempt: &Attempt<'_>,
        limits: &LoginLimits,
        now: u64,
    ) -> AppResult<Gate> {
        let reply = self
            .redis
            .eval_script(
                &self.login_gate,
                [
                    attempt.lock_key(),
                    layout::login_failures_by_ip(attempt.address),
                    layout::login_failures_by_account(attempt.account_tag),
                    layout::login_successes_by_ip(attempt.address),
                    layout::login_successes_by_account(attempt.account_tag),
                    layout::user_by_email(email),
                ],
                [
                    now.to_string(),
                    limits.ip_failures.to_string(),
                    limits.account_failures.to_string(),
                    limits.ip_successes.to_string(),
                    limits.account_successes.to_string(),
                    attempt.known_device_flag().to_owned(),
                    layout::USER_PREFIX.to_owned(),
                ],
            )
            .await?;
        let items = reply.as_array().unwrap_or_default();
        let text = |i: usize| items.get(i).and_then(Value::as_str);
        let Some(retry_after) = items.first().and_then(Value::as_i64) else {
            return Err(unexpected("login_gate", &reply));
        };
        let account = match (text(1).filter(|id| !id.is_empty()), text(2)) {
            (Some(id), Some(pw)) => Some(UserRecord {
                user: User {
                    id: id.to_owned(),
                    username: text(4).unwrap_or_default().to_owned(),
                    email: text(5).unwrap_or_default().to_owned(),
                    email_verified: text(7) == Some("1"),
                    created_at: text(6).and_then(|t| t.parse().ok()).unwrap_or_default(),
                },
                password_hash: pw.to_owned(),
                password_version: text(3).unwrap_or("0").to_owned(),
                totp: text(8).filter(|t| !t.is_empty()).map(str::to_owned),
            }),
            _ => None,
        };
        Ok(Gate {
            retry_after: retry_after.max(0) as u64,
            account,
        })
    }

    /// Records a failed password check; returns how long the attempt's lock now lasts (s).
    pub async fn login_failed(
        &self,
        attempt: &Attempt<'_>,
        limits: &LoginLimits,
        now: u64,
    ) -> AppResult<u64> {
        let reply = self
            .redis
            .eval_script(
                &self.login_failed,
                [
                    attempt.lock_key(),
                    layout::login_failures_by_ip(attempt.address),
                    layout::login_failures_by_account(attempt.account_tag),
                ],
                [
                    now.to_string(),
                    limits.threshold.to_string(),
                    limits.base_lock_secs.to_string(),
                    limits.max_lock_secs.to_string(),
                    limits.forget_after_secs.to_string(),
                    limits.ip_window_secs.to_string(),
                    limits.account_window_secs.to_string(),
                    attempt.known_device_flag().to_owned(),
                ],
            )
            .await?;
        Ok(reply.as_i64().unwrap_or(0).max(0) as u64)
    }

    /// Spends one unit of an address's budget for `action`; returns seconds to wait, or 0.
    pub async fn spend(&self, action: &str, ip: &str, budget: Budget) -> AppResult<u64> {
        let reply = self
            .redis
            .eval_script(
                &self.rate_limit,
                [layout::action_budget(action, ip)],
                [u64::from(budget.max), budget.window_secs],
            )
            .await?;
        Ok(reply.as_i64().unwrap_or(0).max(0) as u64)
    }

    /// Records a nonce for `ttl_secs`; false if it was already seen (a replay).
    pub async fn claim_nonce(&self, nonce: &str, ttl_secs: u64) -> AppResult<bool> {
        let reply = self
            .redis
            .execute(&claim_nonce_command(nonce, ttl_secs))
            .await?;
        Ok(!reply.is_nil())
    }

    /// Remembers a sign-in waiting for its second factor for `ttl_secs`.
    pub async fn put_mfa_ticket(
        &self,
        ticket_hash: &str,
        sign_in: &str,
        ttl_secs: u64,
    ) -> AppResult<()> {
        self.redis
            .execute(
                &cmd("SET")
                    .arg(layout::mfa_ticket(ticket_hash))
                    .arg(sign_in)
                    .arg("EX")
                    .arg(ttl_secs),
            )
            .await?;
        Ok(())
    }

    /// The sign-in a ticket stands for, while it lasts and has not been used.
    pub async fn mfa_ticket(&self, ticket_hash: &str) -> AppResult<Option<String>> {
        let reply = self
            .redis
            .execute(&cmd("GET").arg(layout::mfa_ticket(ticket_hash)))
            .await?;
        Ok(reply.as_str().map(str::to_owned))
    }

    /// Uses a TOTP time step of the account's secret `sealed`, at most once.
    pub async fn use_totp_step(
        &self,
        user_id: &str,
        sealed: &str,
        step: u64,
    ) -> AppResult<TotpUse> {
        let reply = self
            .redis
            .eval_script(
                &self.totp_use,
                [layout::user(user_id)],
                [sealed.to_owned(), step.to_string()],
            )
            .await?;
        match reply.as_str() {
            Some("ok") => Ok(TotpUse::Accepted),
            Some("replayed") => Ok(TotpUse::Replayed),
            Some("gone") => Ok(TotpUse::Gone),
            _ => Err(unexpected("totp_use", &reply)),
        }
    }

    /// Uses a backup code (by hash): true if it was one of the user's unused codes.
    pub async fn use_backup_code(&self, user_id: &str, code_hash: &str) -> AppResult<bool> {
        let reply = self
            .redis
            .execute(
                &cmd("SREM")
                    .arg(layout::backup_codes(user_id))
                    .arg(code_hash),
            )
            .await?;
        Ok(reply.as_i64() == Some(1))
    }

    /// Keeps an enrolment's sealed secret for `ttl_secs` (a newer enrolment replaces it).
    pub async fn put_pending_totp(
        &self,
        user_id: &str,
        sealed: &str,
        ttl_secs: u64,
    ) -> AppResult<()> {
        self.redis
            .execute(
                &cmd("SET")
                    .arg(layout::pending_totp(user_id))
                    .arg(sealed)
                    .arg("EX")
                    .arg(ttl_secs),
            )
            .await?;
        Ok(())
    }

    pub async fn pending_totp(&self, user_id: &str) -> AppResult<Option<String>> {
        let reply = self
            .redis
            .execute(&cmd("GET").arg(layout::pending_totp(user_id)))
            .await?;
        Ok(reply.as_str().map(str::to_owned))
    }

    /// Turns TOTP on with the pending secret `sealed` (its first code at `step`) and these
    /// backup code hashes.
    pub async fn confirm_totp(
        &self,
        user_id: &str,
        sealed: &str,
        step: u64,
        backup_hashes: &[String],
    ) -> AppResult<TotpConfirmed> {
        let reply = self
            .redis
            .eval_script(
                &self.confirm_totp,
                [
                    layout::user(user_id),
                    layout::pending_totp(user_id),
                    layout::backup_codes(user_id),
                ],
                [sealed.to_owned(), step.to_string()]
                    .into_iter()
                    .chain(backup_hashes.iter().cloned()),
            )
            .await?;
        match reply.as_str() {
            Some("ok") => Ok(TotpConfirmed::Enabled),
            Some("gone") => Ok(TotpConfirmed::Gone),
            Some("exists") => Ok(TotpConfirmed::AlreadyOn),
            _ => Err(unexpected("confirm_totp", &reply)),
        }
    }

    /// Turns TOTP off; false if it was not on.
    pub async fn disable_totp(&self, user_id: &str) -> AppResult<bool> {
        let reply = self
            .redis
            .eval_script(
                &self.disable_totp,
                [layout::user(user_id), layout::backup_codes(user_id)],
                Vec::<String>::new(),
            )
            .await?;
        Ok(reply.as_i64() == Some(1))
    }

    /// The session's assurance, if the session exists and is the user's.
    pub async fn session_assurance(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> AppResult<Option<Assurance>> {
        let reply = self
            .redis
            .execute(
                &cmd("HMGET")
                    .arg(layout::session(session_id))
                    .arg(layout::SESSION_USER_FIELD)
                    .arg("amr")
                    .arg("auth_time"),
            )
            .await?;
        let items = reply.as_array().unwrap_or_default();
        let text = |i: usize| items.get(i).and_then(Value::as_str);
        Ok((text(0) == Some(user_id)).then(|| Assurance::from_fields(text(1), text(2))))
    }

    /// Records a step-up on the session and restarts its refresh chain at `refresh_hash`.
    /// Returns the session's absolute end and roles, or `None` if the session is gone.
    pub async fn step_up(
        &self,
        user_id: &str,
        session_id: &str,
        assurance: &Assurance,
        refresh_hash: &RefreshTokenHash,
        now: u64,
    ) -> AppResult<Option<(u64, String)>> {
        let reply = self
            .redis
            .eval_script(
                &self.step_up,
                [layout::session(session_id)],
                [
                    user_id.to_owned(),
                    assurance.amr_field(),
                    assurance.auth_time.to_string(),
                    refresh_hash.0.clone(),
                    now.to_string(),
                ],
            )
            .await?;
        let items = reply.as_array().unwrap_or_default();
        let parts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
        match parts.as_slice() {
            ["ok", abs, roles] => Ok(Some((
                abs.parse().map_err(|_| unexpected("step_up", &reply))?,
                (*roles).to_owned(),
            ))),
            ["gone"] => Ok(None),
            _ => Err(unexpected("step_up", &reply)),
        }
    }

    /// [`Store::claim_nonce`] and the caller's account ([`Store::user_record`]) in one round
    /// trip: a pipeline of the nonce's `SET NX` and the user's `HGETALL`, in that order. The
    /// account is only returned when the nonce was claimed (`Ok(None)` is a replay): the claim
    /// decides exactly as [`Store::claim_nonce`] does, and a replayed request learns nothing.
    pub async fn claim_nonce_reading_user(
        &self,
        nonce: &str,
        ttl_secs: u64,
        user_id: &str,
    ) -> AppResult<Option<Option<UserRecord>>> {
        let claim = claim_nonce_command(nonce, ttl_secs);
        let read = cmd("HGETALL").arg(layout::user(user_id));
        let mut replies = self.redis.pipeline(&[claim, read]).await?.into_iter();
        let (Some(claimed), Some(user)) = (replies.next(), replies.next()) else {
            return Err(AppError::internal(
                "claim_nonce_reading_user: missing pipeline replies",
            ));
        };
        let claimed = claimed.map_err(|e| AppError::internal(format!("SET nonce: {e}")))?;
        if claimed.is_nil() {
            return Ok(None);
        }
        let user = user.map_err(|e| AppError::internal(format!("HGETALL user: {e}")))?;
        Ok(Some(user_record_from(&user)))
    }
}

/// `SET <nonce key> 1 NX EX ttl`: nil when the nonce was already claimed.
fn claim_nonce_command(nonce: &str, ttl_secs: u64) -> edgeauth_upstash::Command {
    cmd("SET")
        .arg(layout::nonce(nonce))
        .arg("1")
        .arg("NX")
        .arg("EX")
        .arg(ttl_secs)
}

/// A user hash's `HGETALL` reply as a record; `None` when the hash does not exist.
fn user_record_from(reply: &Value) -> Option<UserRecord> {
    let mut fields = hash_fields(reply);
    if fields.is_empty() {
        return None;
    }
    let password_hash = fields.remove("pw").unwrap_or_default();
    let password_version = fields.remove("pwv").unwrap_or_else(|| "0".to_owned());
    let totp = fields.remove("totp").filter(|t| !t.is_empty());
    Some(UserRecord {
        user: user_from_fields(fields),
        password_hash,
        password_version,
        totp,
    })
}

pub(crate) fn hash_fields(reply: &Value) -> HashMap<String, String> {
    let items = reply.as_array().unwrap_or_default();
    items
        .chunks_exact(2)
        .filter_map(|pair| Some((pair[0].as_str()?.to_owned(), pair[1].as_str()?.to_owned())))
        .collect()
}

fn user_from_fields(mut fields: HashMap<String, String>) -> User {
    let mut take = |name: &str| fields.remove(name).unwrap_or_default();
    User {
        id: take("id"),
        username: take("username"),
        email: take("email"),
        email_verified: take("ev") == "1",
        created_at: take("created_at").parse().unwrap_or_default(),
    }
}

/// Reads `{'ok', count}` / `{'stale'}` replies.
pub(crate) fn checked(what: &str, reply: &Value) -> AppResult<Checked<u64>> {
    let items = reply.as_array().unwrap_or_default();
    match (items.first().and_then(Value::as_str), items.get(1)) {
        (Some("ok"), Some(count)) => Ok(Checked::Done(count.as_i64().unwrap_or(0).max(0) as u64)),
        (Some("stale"), None) => Ok(Checked::Stale),
        _ => Err(unexpected(what, reply)),
    }
}

pub(crate) fn unexpected(what: &str, reply: &Value) -> AppError {
    AppError::internal(format!("unexpected reply from {what}: {reply:?}"))
}
