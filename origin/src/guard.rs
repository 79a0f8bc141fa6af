//! The guards around every password check — a sign-in, and the current password of a password
//! change (a stolen access token must not buy unlimited guesses): who is trying (account,
//! address bucket, known device), the gate before hashing, the failure count after, and the
//! device credential a success earns.

use axum::http::{HeaderMap, HeaderValue};
use edgeauth_core::device::{self, KnownDevice};
use edgeauth_core::{address, redis_layout as layout};

use crate::app::AppState;
use crate::cookie;
use crate::error::{AppError, AppResult};
use crate::now_secs;
use crate::sessions::random_bytes;
use crate::store::{Attempt, UserRecord};

/// One password check about to happen.
pub struct PasswordCheck {
    /// The canonical email of the account the password is checked for.
    pub email: String,
    account_tag: String,
    /// The client's budget bucket (`edgeauth_core::address`).
    pub address: String,
    /// The client address as the edge reported it (for the audit log).
    client_ip: String,
    device: Option<KnownDevice>,
    device_cookie: Option<String>,
    now: u64,
}

impl PasswordCheck {
    pub fn new(app: &AppState, email: String, client_ip: &str, headers: &HeaderMap) -> Self {
        let s = &app.settings;
        let now = now_secs();
        let account_tag = layout::account_tag(&email);
        let device_cookie = cookie::read_device(headers);
        let device = device::known_device(
            &s.device_key,
            device_cookie.as_deref(),
            &account_tag,
            now,
            s.device_trust_secs,
        );
        Self {
            email,
            account_tag,
            address: address::bucket(client_ip, s.ipv6_prefix),
            client_ip: client_ip.to_owned(),
            device,
            device_cookie,
            now,
        }
    }

    pub fn attempt(&self) -> Attempt<'_> {
        Attempt {
            account_tag: &self.account_tag,
            address: &self.address,
            device: self.device.as_ref().map(|d| d.id.as_str()),
        }
    }

    /// 429 while a lock or budget applies; otherwise the account's stored record, if the email
    /// has an account. The success budgets apply to sign-ins only (`sign_in`), never to the
    /// current password of a password change.
    pub async fn admit(&self, app: &AppState, sign_in: bool) -> AppResult<Option<UserRecord>> {
        let mut limits = app.settings.login_limits.clone();
        if !sign_in {
            limits.ip_successes = u32::MAX;
            limits.account_successes = u32::MAX;
        }
        let gate = app
            .store
            .login_gate(&self.email, &self.attempt(), &limits, self.now)
            .await?;
        if gate.retry_after > 0 {
            tracing::warn!(audit = "login_blocked", client_ip = %self.client_ip, known_device = self.device.is_some(), retry_after = gate.retry_after);
            return Err(AppError::limited(
                gate.retry_after,
                "Too many sign-in attempts; try again later.",
            ));
        }
        Ok(gate.account)
    }

    /// Checks `password` against the account (against a dummy hash when there is none, so both
    /// cost the same). A mismatch is counted against the guards and answers `None`.
    pub async fn verify(
        &self,
        app: &AppState,
        password: String,
        account: Option<UserRecord>,
    ) -> AppResult<Option<UserRecord>> {
        let stored = account.as_ref().map(|r| r.password_hash.clone());
        if app
            .passwords
            .verify(password, stored, &self.address)
            .await?
        {
            return Ok(account);
        }
        self.failed(app, "password").await?;
        Ok(None)
    }

    /// Counts a failed check (a wrong password, or a wrong or replayed second-factor code)
    /// against the same guards and lockouts.
    pub async fn failed(&self, app: &AppState, factor: &'static str) -> AppResult<()> {
        let locked_for = app
            .store
            .login_failed(&self.attempt(), &app.settings.login_limits, self.now)
            .await?;
        tracing::info!(audit = "login_failed", factor, client_ip = %self.client_ip, known_device = self.device.is_some());
        if locked_for > 0 {
            tracing::warn!(audit = "lockout", client_ip = %self.client_ip, known_device = self.device.is_some(), locked_for);
        }
        Ok(())
    }

    /// The device cookie a successful check earns: a fresh credential for this account, beside
    /// the other accounts' credentials the request carried.
    pub fn device_cookie(&self, app: &AppState) -> AppResult<HeaderValue> {
        let s = &app.settings;
        let value = device::after_sign_in(
            &s.device_key,
            self.device_cookie.as_deref(),
            &self.account_tag,
            self.now,
            s.device_trust_secs,
            random_bytes()?,
        );
        Ok(cookie::set_device(&value, s.device_trust_secs))
    }
}
