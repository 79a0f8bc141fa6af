//! The origin's configuration: every setting, its environment variable and its default.
//!
//! `edgeauth-origin serve --help` prints this reference; docs/configuration.md holds the same
//! table (rendered by `config_reference`), and a unit test fails when the two drift apart.

use std::net::{SocketAddr, ToSocketAddrs};

use clap::Args;
use edgeauth_core::address::DEFAULT_IPV6_PREFIX;
use edgeauth_core::device::DeviceKey;
use edgeauth_core::keys::SigningKeyRing;
use edgeauth_core::rate_limit::{Budget, LoginLimits};
use edgeauth_core::secret::Secret;
use edgeauth_core::token::TokenPolicy;

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on, `host:port`; a host name is resolved and the first of its addresses
    /// that binds is used (IPv4 first); port 0 picks a free port (the log names the one bound).
    /// Keep it on loopback (or a private interface) — only the edge may reach the origin.
    #[arg(long, env = "EDGEAUTH_LISTEN", default_value = "127.0.0.1:8788")]
    pub listen: String,

    /// Address of the admin listener (Prometheus `/metrics`, `/healthz`, `/readyz`), `host:port`
    /// like EDGEAUTH_LISTEN; `off` disables it. No edge signature is required there: keep it on
    /// loopback or a private network.
    #[arg(long, env = "EDGEAUTH_ADMIN_LISTEN", default_value = "127.0.0.1:9788")]
    pub admin_listen: String,

    /// Upstash REST endpoint of the Redis database, `https://…` (locally the bridge, `http://`).
    #[arg(long, env = "UPSTASH_REDIS_REST_URL")]
    pub redis_url: Option<String>,

    /// Upstash REST bearer token.
    #[arg(long, env = "UPSTASH_REDIS_REST_TOKEN", hide_env_values = true)]
    pub redis_token: Option<String>,

    /// Time limit for one Redis call, milliseconds; past it the request fails with 503.
    #[arg(long, env = "EDGEAUTH_REDIS_TIMEOUT_MS", default_value_t = 2000)]
    pub redis_timeout_ms: u64,

    /// Private JWK set (`{"keys": [...]}`) of signing keys; the first one signs, all are
    /// published. Generate with `edgeauth-origin keys generate`.
    #[arg(long, env = "EDGEAUTH_SIGNING_KEYS", hide_env_values = true)]
    pub signing_keys: Option<String>,

    /// Shared secret with the edge (base64, ≥ 32 bytes) for request signatures.
    #[arg(long, env = "EDGEAUTH_EDGE_SECRET", hide_env_values = true)]
    pub edge_secret: Option<String>,

    /// The previous edge secret, accepted too while a rotation is rolled out.
    #[arg(long, env = "EDGEAUTH_EDGE_SECRET_PREVIOUS", hide_env_values = true)]
    pub edge_secret_previous: Option<String>,

    /// Secret (base64, ≥ 32 bytes) from which successive refresh tokens are derived.
    #[arg(long, env = "EDGEAUTH_REFRESH_SECRET", hide_env_values = true)]
    pub refresh_secret: Option<String>,

    /// Secret (base64, ≥ 32 bytes) that encrypts TOTP secrets at rest (AES-256-GCM with a key
    /// derived from it). Changing it turns every enrolled TOTP into one that no longer opens.
    #[arg(long, env = "EDGEAUTH_MFA_KEY", hide_env_values = true)]
    pub mfa_key: Option<String>,

    /// How recent (seconds) the session's authentication must be for sensitive account actions:
    /// password and email change, turning TOTP off. Older: 403 `step_up_required`.
    #[arg(long, env = "EDGEAUTH_RECENT_AUTH_SECS", default_value_t = 600)]
    pub recent_auth_secs: u64,

    /// Passkeys: the WebAuthn relying-party id, the site's domain (`localhost` in development;
    /// never an IP address, which browsers refuse). Passkeys are bound to it for good.
    #[arg(long, env = "EDGEAUTH_WEBAUTHN_RP_ID", default_value = "localhost")]
    pub webauthn_rp_id: String,

    /// Passkeys: the origins (comma-separated `https://host[:port]`, or `http://localhost:port`)
    /// pages may run passkey ceremonies from; each on EDGEAUTH_WEBAUTHN_RP_ID or a subdomain.
    #[arg(
        long,
        env = "EDGEAUTH_WEBAUTHN_ORIGINS",
        default_value = "http://localhost:8787"
    )]
    pub webauthn_origins: String,

    /// How long an MFA ticket (a sign-in between its password and its second factor) lasts,
    /// seconds.
    #[arg(long, env = "EDGEAUTH_MFA_TICKET_SECS", default_value_t = 300)]
    pub mfa_ticket_secs: u64,

    /// `iss` of issued access tokens; the edge must be configured with the same value.
    #[arg(long, env = "EDGEAUTH_ISSUER", default_value = "http://127.0.0.1:8787")]
    pub issuer: String,

    /// `aud` of issued access tokens; the edge must be configured with the same value.
    #[arg(long, env = "EDGEAUTH_AUDIENCE", default_value = "edgeauth")]
    pub audience: String,

    /// Access-token lifetime, seconds.
    #[arg(long, env = "EDGEAUTH_ACCESS_TTL_SECS", default_value_t = 900)]
    pub access_ttl_secs: u64,

    /// Sliding idle lifetime of a session, seconds (each refresh extends it).
    #[arg(long, env = "EDGEAUTH_SESSION_IDLE_SECS", default_value_t = 7 * 24 * 3600)]
    pub session_idle_secs: u64,

    /// Absolute lifetime of a session, seconds, however often it is refreshed.
    #[arg(long, env = "EDGEAUTH_SESSION_ABSOLUTE_SECS", default_value_t = 30 * 24 * 3600)]
    pub session_absolute_secs: u64,

    /// Window in which an already-rotated refresh token still yields the current pair
    /// (racing browser tabs), milliseconds; 0 disables.
    #[arg(long, env = "EDGEAUTH_REFRESH_GRACE_MS", default_value_t = 10_000)]
    pub refresh_grace_ms: u64,

    /// How long after a rotation a client that lost the response may present the previous
    /// refresh token again and receive the same successor, milliseconds, as long as that
    /// successor has not been used; after it, or once the successor was used, the old token is
    /// reuse and revokes the session. 0 leaves only the grace window.
    #[arg(long, env = "EDGEAUTH_REFRESH_RECOVERY_MS", default_value_t = 300_000)]
    pub refresh_recovery_ms: u64,

    /// Live sessions one user may have; signing in beyond it revokes the user's oldest session.
    /// Bounds the work of listing sessions, logout-all and password changes.
    #[arg(long, env = "EDGEAUTH_SESSIONS_PER_USER", default_value_t = 50)]
    pub sessions_per_user: u32,

    /// Maximum age (and future skew) of an edge signature, seconds.
    #[arg(long, env = "EDGEAUTH_SIGNATURE_WINDOW_SECS", default_value_t = 30)]
    pub signature_window_secs: u64,

    /// argon2id memory cost, KiB (OWASP minimum 19456).
    #[arg(long, env = "EDGEAUTH_ARGON2_MEMORY_KIB", default_value_t = 19_456)]
    pub argon2_memory_kib: u32,

    /// argon2id iterations (OWASP minimum 2 at 19 MiB).
    #[arg(long, env = "EDGEAUTH_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,

    /// argon2id lanes.
    #[arg(long, env = "EDGEAUTH_ARGON2_PARALLELISM", default_value_t = 1)]
    pub argon2_parallelism: u32,

    /// Password hashes computed at once (each holds the argon2 memory); 0 = number of CPUs.
    #[arg(long, env = "EDGEAUTH_HASHING_CONCURRENCY", default_value_t = 0)]
    pub hashing_concurrency: usize,

    /// Threads serving requests and their Redis calls; 0 = number of CPUs. Password hashing runs
    /// on threads of its own (`EDGEAUTH_HASHING_CONCURRENCY`). 1 costs about 15 % less CPU per
    /// authenticated request, but sign-ins queue behind one thread: about 13 % fewer logins/s
    /// on 2 cores (docs/performance.md).
    #[arg(long, env = "EDGEAUTH_SERVE_THREADS", default_value_t = 0)]
    pub serve_threads: usize,

    /// Password hashes one client address may have running or queued at once (per origin);
    /// beyond it its sign-ins get 429 at once, so one client cannot fill the hashing queue.
    #[arg(long, env = "EDGEAUTH_HASHING_PER_IP", default_value_t = 8)]
    pub hashing_per_ip: usize,

    /// Prefix length by which IPv6 client addresses share per-address budgets (one subscriber
    /// holds at least a /64). IPv4-mapped IPv6 addresses count as their IPv4 address.
    #[arg(long, env = "EDGEAUTH_IPV6_PREFIX", default_value_t = DEFAULT_IPV6_PREFIX)]
    pub ipv6_prefix: u8,

    /// Consecutive failed logins of one account from one address before that pair is locked.
    #[arg(long, env = "EDGEAUTH_LOCKOUT_THRESHOLD", default_value_t = 5)]
    pub lockout_threshold: u32,

    /// First lock of an (account, address) pair, seconds; doubles with each further failure.
    #[arg(long, env = "EDGEAUTH_LOCKOUT_BASE_SECS", default_value_t = 30)]
    pub lockout_base_secs: u64,

    /// Longest lock of an (account, address) pair, seconds.
    #[arg(long, env = "EDGEAUTH_LOCKOUT_MAX_SECS", default_value_t = 900)]
    pub lockout_max_secs: u64,

    /// Failures are forgotten after this many seconds without another one.
    #[arg(long, env = "EDGEAUTH_LOCKOUT_FORGET_SECS", default_value_t = 86_400)]
    pub lockout_forget_secs: u64,

    /// Failed logins allowed from one client address per window, across accounts (unknown
    /// devices; a known device's failures lock only that device).
    #[arg(long, env = "EDGEAUTH_LOGIN_IP_FAILURES", default_value_t = 50)]
    pub login_ip_failures: u32,

    /// Window of EDGEAUTH_LOGIN_IP_FAILURES, seconds.
    #[arg(long, env = "EDGEAUTH_LOGIN_IP_WINDOW_SECS", default_value_t = 900)]
    pub login_ip_window_secs: u64,

    /// Failed logins allowed on one account per window, from all addresses; beyond it the
    /// account refuses logins from unknown devices until the window ends (never longer).
    /// Devices that signed in to the account before (device cookie) are exempt.
    #[arg(long, env = "EDGEAUTH_LOGIN_ACCOUNT_FAILURES", default_value_t = 100)]
    pub login_account_failures: u32,

    /// Window of EDGEAUTH_LOGIN_ACCOUNT_FAILURES, seconds.
    #[arg(
        long,
        env = "EDGEAUTH_LOGIN_ACCOUNT_WINDOW_SECS",
        default_value_t = 3600
    )]
    pub login_account_window_secs: u64,

    /// How long a device credential (cookie `__Host-edgeauth_device`, set at every successful
    /// sign-in) marks its browser as a known device of the account, seconds. Known devices are
    /// exempt from the address and account failure limits and meet only their own lock.
    #[arg(long, env = "EDGEAUTH_DEVICE_TRUST_SECS", default_value_t = 180 * 86_400)]
    pub device_trust_secs: u64,

    /// Successful sign-ins allowed from one client address per window (generous: offices and
    /// carrier NAT put many people behind one address).
    #[arg(long, env = "EDGEAUTH_LOGIN_IP_SUCCESSES", default_value_t = 200)]
    pub login_ip_successes: u32,

    /// Window of EDGEAUTH_LOGIN_IP_SUCCESSES, seconds.
    #[arg(
        long,
        env = "EDGEAUTH_LOGIN_IP_SUCCESS_WINDOW_SECS",
        default_value_t = 900
    )]
    pub login_ip_success_window_secs: u64,

    /// Successful sign-ins allowed on one account per window (a person signs in a few times a
    /// day; clients should refresh, not sign in again).
    #[arg(long, env = "EDGEAUTH_LOGIN_ACCOUNT_SUCCESSES", default_value_t = 30)]
    pub login_account_successes: u32,

    /// Window of EDGEAUTH_LOGIN_ACCOUNT_SUCCESSES, seconds.
    #[arg(
        long,
        env = "EDGEAUTH_LOGIN_ACCOUNT_SUCCESS_WINDOW_SECS",
        default_value_t = 3600
    )]
    pub login_account_success_window_secs: u64,

    /// Registrations allowed from one client address per window.
    #[arg(long, env = "EDGEAUTH_REGISTER_PER_IP", default_value_t = 20)]
    pub register_per_ip: u32,

    /// Window of EDGEAUTH_REGISTER_PER_IP, seconds.
    #[arg(long, env = "EDGEAUTH_REGISTER_WINDOW_SECS", default_value_t = 3600)]
    pub register_window_secs: u64,

    /// Refreshes allowed from one client address per window (generous: offices share
    /// addresses; each refresh is cheap).
    #[arg(long, env = "EDGEAUTH_REFRESH_PER_IP", default_value_t = 600)]
    pub refresh_per_ip: u32,

    /// Window of EDGEAUTH_REFRESH_PER_IP, seconds.
    #[arg(long, env = "EDGEAUTH_REFRESH_WINDOW_SECS", default_value_t = 60)]
    pub refresh_window_secs: u64,

    /// Password hashes allowed to wait for a slot; beyond it requests get 503 at once, so a
    /// login flood queues in bounded memory.
    #[arg(long, env = "EDGEAUTH_HASHING_QUEUE", default_value_t = 256)]
    pub hashing_queue: usize,

    /// SMTP server for outgoing mail: `smtps://host:465` (TLS from the first byte),
    /// `smtp://host:587?tls=required` (STARTTLS) or plain `smtp://host:port` (local relays and
    /// maildev only), with optional `user:password@` (percent-encoded). Unset: no mail is sent (verification, reset
    /// and email-change mails are not queued; EDGEAUTH_EMAIL_VERIFICATION cannot be `required`).
    /// `make dev` points it at maildev (`smtp://127.0.0.1:1025`).
    #[arg(long, env = "EDGEAUTH_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// SMTP user name, if not in EDGEAUTH_SMTP_URL (wins over the URL's).
    #[arg(long, env = "EDGEAUTH_SMTP_USERNAME")]
    pub smtp_username: Option<String>,

    /// SMTP password, if not in EDGEAUTH_SMTP_URL (wins over the URL's).
    #[arg(long, env = "EDGEAUTH_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,

    /// Time limit for one SMTP delivery (connect, TLS, send), seconds.
    #[arg(long, env = "EDGEAUTH_SMTP_TIMEOUT_SECS", default_value_t = 10)]
    pub smtp_timeout_secs: u64,

    /// Sender of every mail, `Name <address>` or `address`; required with EDGEAUTH_SMTP_URL.
    #[arg(long, env = "EDGEAUTH_MAIL_FROM")]
    pub mail_from: Option<String>,

    /// Base URL of every link in mails (the demo page or your app, e.g. `https://auth.example`);
    /// unset: EDGEAUTH_ISSUER. Links are `{base}/#reset=…`, `#verify=…`, `#confirm-email=…`:
    /// the token rides in the fragment, which never reaches a server log or a Referer.
    #[arg(long, env = "EDGEAUTH_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// `off` (no verification mails), `optional` (registration sends a verification link;
    /// unverified accounts sign in as before) or `required` (unverified accounts cannot sign in:
    /// 403 `email_unverified`).
    #[arg(long, env = "EDGEAUTH_EMAIL_VERIFICATION", default_value = "optional")]
    pub email_verification: String,

    /// Lifetime of a verification link, seconds.
    #[arg(long, env = "EDGEAUTH_EMAIL_VERIFY_TTL_SECS", default_value_t = 86_400)]
    pub email_verify_ttl_secs: u64,

    /// Lifetime of a password-reset link, seconds; only the newest link of an account works.
    #[arg(long, env = "EDGEAUTH_PASSWORD_RESET_TTL_SECS", default_value_t = 1800)]
    pub password_reset_ttl_secs: u64,

    /// Lifetime of an email-change confirmation link, seconds.
    #[arg(long, env = "EDGEAUTH_EMAIL_CHANGE_TTL_SECS", default_value_t = 3600)]
    pub email_change_ttl_secs: u64,

    /// Reset and verification mails one client address may ask for per window (beyond it: 429).
    #[arg(long, env = "EDGEAUTH_MAIL_REQUESTS_PER_IP", default_value_t = 10)]
    pub mail_requests_per_ip: u32,

    /// Reset or verification mails sent to one email per window; beyond it requests still get
    /// 202 but no mail goes out, so the limit reveals nothing about the account.
    #[arg(long, env = "EDGEAUTH_MAIL_PER_EMAIL", default_value_t = 3)]
    pub mail_per_email: u32,

    /// Window of EDGEAUTH_MAIL_REQUESTS_PER_IP and EDGEAUTH_MAIL_PER_EMAIL, seconds.
    #[arg(long, env = "EDGEAUTH_MAIL_WINDOW_SECS", default_value_t = 3600)]
    pub mail_window_secs: u64,

    /// Wait before the first retry of a failed delivery, milliseconds; doubles per failure.
    #[arg(long, env = "EDGEAUTH_MAIL_RETRY_BASE_MS", default_value_t = 2000)]
    pub mail_retry_base_ms: u64,

    /// Longest wait between two delivery attempts, milliseconds.
    #[arg(long, env = "EDGEAUTH_MAIL_RETRY_MAX_MS", default_value_t = 300_000)]
    pub mail_retry_max_ms: u64,

    /// Delivery attempts before a mail is given up (moved to `ea:outbox:dead`); with the
    /// defaults about a day and a half of retries.
    #[arg(long, env = "EDGEAUTH_MAIL_MAX_ATTEMPTS", default_value_t = 30)]
    pub mail_max_attempts: u32,

    /// How often an idle delivery loop looks for mails queued by other origins or left behind
    /// by a stopped one, seconds (one Redis command each time). Mails this origin queues are
    /// sent at once, and retries at their due time, regardless.
    #[arg(long, env = "EDGEAUTH_MAIL_SWEEP_SECS", default_value_t = 30)]
    pub mail_sweep_secs: u64,
}

/// Settings without a default: the origin refuses to start until each one is set.
pub const REQUIRED: &[&str] = &[
    "UPSTASH_REDIS_REST_URL",
    "UPSTASH_REDIS_REST_TOKEN",
    "EDGEAUTH_SIGNING_KEYS",
    "EDGEAUTH_EDGE_SECRET",
    "EDGEAUTH_REFRESH_SECRET",
    "EDGEAUTH_MFA_KEY",
];

/// Settings parsed into the types the server uses. Built once at start-up; every error names
/// the setting at fault.
pub struct Settings {
    /// The addresses `EDGEAUTH_LISTEN` resolved to, IPv4 first; the first that binds is used.
    pub listen: Vec<SocketAddr>,
    /// The same for `EDGEAUTH_ADMIN_LISTEN`; `None` when the admin listener is off.
    pub admin_listen: Option<Vec<SocketAddr>>,
    pub redis: RedisSettings,
    pub keys: SigningKeyRing,
    pub edge_secrets: Vec<Secret>,
    pub refresh_secret: Secret,
    pub mfa_key: edgeauth_core::mfa::MfaKey,
    pub recent_auth_secs: u64,
    pub mfa_ticket_secs: u64,
    /// The WebAuthn relying party (`crate::passkeys`).
    pub passkeys: crate::passkeys::RelyingParty,
    pub policy: TokenPolicy,
    pub session_idle_secs: u64,
    pub session_absolute_secs: u64,
    pub refresh_grace_ms: u64,
    pub refresh_recovery_ms: u64,
    pub sessions_per_user: u32,
    pub signature_window_secs: u64,
    pub argon2: argon2::Params,
    pub hashing_concurrency: usize,
    pub hashing_queue: usize,
    pub hashing_per_ip: usize,
    pub ipv6_prefix: u8,
    pub device_key: DeviceKey,
    pub device_trust_secs: u64,
    pub login_limits: LoginLimits,
    pub register_budget: Budget,
    pub refresh_budget: Budget,
    pub mail: MailSettings,
}

/// Whether verification mails are sent and required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailVerification {
    Off,
    Optional,
    Required,
}

/// Outgoing mail: the SMTP server (if any), links, token lifetimes, limits and retries.
pub struct MailSettings {
    /// `None`: mail is off.
    pub smtp: Option<crate::mail::SmtpSettings>,
    pub public_url: String,
    pub verification: EmailVerification,
    pub link_key: edgeauth_core::mail::LinkKey,
    pub verify_ttl_secs: u64,
    pub reset_ttl_secs: u64,
    pub change_ttl_secs: u64,
    pub per_ip: Budget,
    pub per_email: Budget,
    pub retry: edgeauth_core::mail::RetryPolicy,
    pub sweep_secs: u64,
}

impl MailSettings {
    /// Whether mails are queued at all.
    pub fn enabled(&self) -> bool {
        self.smtp.is_some()
    }
}

/// Where Redis is and how long to wait for it.
pub struct RedisSettings {
    pub url: String,
    pub token: String,
    pub timeout_ms: u64,
}

/// One unusable setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub setting: &'static str,
    pub reason: String,
}

/// Every unusable setting at once, so an operator fixes them in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<Problem>);

impl ConfigError {
    pub fn one(setting: &'static str, reason: impl ToString) -> Self {
        Self(vec![Problem {
            setting,
            reason: reason.to_string(),
        }])
    }

    /// The settings at fault, in the order they were found.
    pub fn settings(&self) -> Vec<&'static str> {
        self.0.iter().map(|p| p.setting).collect()
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            let separator = if i == 0 { "" } else { "; " };
            write!(f, "{separator}{}: {}", p.setting, p.reason)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Collects problems while parsing, so one bad setting does not hide the next.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn note<T, E: ToString>(&mut self, setting: &'static str, result: Result<T, E>) -> Option<T> {
        result
            .map_err(|e| {
                self.0.push(Problem {
                    setting,
                    reason: e.to_string(),
                })
            })
            .ok()
    }

    fn required<'a>(
        &mut self,
        setting: &'static str,
        value: &'a Option<String>,
    ) -> Option<&'a str> {
        let value = value.as_deref().map(str::trim).filter(|v| !v.is_empty());
        self.note(setting, value.ok_or("is not set (required)"))
    }

    fn check(&mut self, setting: &'static str, ok: bool, reason: &str) {
        if !ok {
            self.0.push(Problem {
                setting,
                reason: reason.to_owned(),
            });
        }
    }
}

impl ServeConfig {
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let mut p = Problems::default();
        let listen = p.note("EDGEAUTH_LISTEN", resolve_listen(&self.listen));
        let admin_listen = p.note(
            "EDGEAUTH_ADMIN_LISTEN",
            parse_admin_listen(&self.admin_listen),
        );
        let redis_url = p
            .required("UPSTASH_REDIS_REST_URL", &self.redis_url)
            .and_then(|url| p.note("UPSTASH_REDIS_REST_URL", redis_url(url)));
        let redis_token = p.required("UPSTASH_REDIS_REST_TOKEN", &self.redis_token);
        let keys = p
            .required("EDGEAUTH_SIGNING_KEYS", &self.signing_keys)
            .and_then(|text| p.note("EDGEAUTH_SIGNING_KEYS", SigningKeyRing::from_json(text)));
        let edge_secret = p
            .required("EDGEAUTH_EDGE_SECRET", &self.edge_secret)
            .and_then(|text| p.note("EDGEAUTH_EDGE_SECRET", Secret::from_base64(text)));
        let previous = self
            .edge_secret_previous
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|text| p.note("EDGEAUTH_EDGE_SECRET_PREVIOUS", Secret::from_base64(text)));
        let refresh_secret = p
            .required("EDGEAUTH_REFRESH_SECRET", &self.refresh_secret)
            .and_then(|text| p.note("EDGEAUTH_REFRESH_SECRET", Secret::from_base64(text)));
        let mfa_key = p
            .required("EDGEAUTH_MFA_KEY", &self.mfa_key)
            .and_then(|text| p.note("EDGEAUTH_MFA_KEY", Secret::from_base64(text)));
        if let Some(mfa) = &mfa_key {
            for (setting, other) in [
                ("EDGEAUTH_EDGE_SECRET", edge_secret.as_ref()),
                ("EDGEAUTH_REFRESH_SECRET", refresh_secret.as_ref()),
            ] {
                p.check(
                    "EDGEAUTH_MFA_KEY",
                    !other.is_some_and(|other| other.same_key_as(mfa)),
                    &format!("must differ from {setting}: each secret has one job"),
                );
            }
        }
        let rp_id = self.webauthn_rp_id.trim();
        let passkeys = p
            .note(
                "EDGEAUTH_WEBAUTHN_RP_ID",
                edgeauth_core::passkey::check_rp_id(rp_id),
            )
            .and_then(|()| {
                let origins = edgeauth_core::passkey::parse_origins(&self.webauthn_origins, rp_id);
                p.note("EDGEAUTH_WEBAUTHN_ORIGINS", origins)
            })
            .and_then(|origins| {
                let relying_party = crate::passkeys::RelyingParty::new(rp_id, &origins);
                p.note("EDGEAUTH_WEBAUTHN_ORIGINS", relying_party)
            });
        // The edge holds the edge secrets; the refresh secret must be the origin's alone.
        if let Some(refresh) = &refresh_secret {
            for (setting, edge) in [
                ("EDGEAUTH_EDGE_SECRET", edge_secret.as_ref()),
                (
                    "EDGEAUTH_EDGE_SECRET_PREVIOUS",
                    previous.as_ref().and_then(Option::as_ref),
                ),
            ] {
                p.check(
                    "EDGEAUTH_REFRESH_SECRET",
                    !edge.is_some_and(|edge| edge.same_key_as(refresh)),
                    &format!("must differ from {setting}: the edge holds that one, the refresh secret must stay on the origin"),
                );
            }
        }
        p.check(
            "EDGEAUTH_ISSUER",
            !self.issuer.trim().is_empty(),
            "must not be empty",
        );
        p.check(
            "EDGEAUTH_AUDIENCE",
            !self.audience.trim().is_empty(),
            "must not be empty",
        );
        for (setting, value) in [
            ("EDGEAUTH_ACCESS_TTL_SECS", self.access_ttl_secs),
            ("EDGEAUTH_RECENT_AUTH_SECS", self.recent_auth_secs),
            ("EDGEAUTH_MFA_TICKET_SECS", self.mfa_ticket_secs),
            ("EDGEAUTH_SESSION_IDLE_SECS", self.session_idle_secs),
            ("EDGEAUTH_SESSION_ABSOLUTE_SECS", self.session_absolute_secs),
            ("EDGEAUTH_SIGNATURE_WINDOW_SECS", self.signature_window_secs),
            ("EDGEAUTH_REDIS_TIMEOUT_MS", self.redis_timeout_ms),
            ("EDGEAUTH_LOCKOUT_THRESHOLD", self.lockout_threshold.into()),
            ("EDGEAUTH_LOCKOUT_BASE_SECS", self.lockout_base_secs),
            ("EDGEAUTH_LOCKOUT_MAX_SECS", self.lockout_max_secs),
            ("EDGEAUTH_LOCKOUT_FORGET_SECS", self.lockout_forget_secs),
            ("EDGEAUTH_LOGIN_IP_FAILURES", self.login_ip_failures.into()),
            ("EDGEAUTH_LOGIN_IP_WINDOW_SECS", self.login_ip_window_secs),
            (
                "EDGEAUTH_LOGIN_ACCOUNT_FAILURES",
                self.login_account_failures.into(),
            ),
            (
                "EDGEAUTH_LOGIN_ACCOUNT_WINDOW_SECS",
                self.login_account_window_secs,
            ),
            ("EDGEAUTH_REGISTER_PER_IP", self.register_per_ip.into()),
            ("EDGEAUTH_REGISTER_WINDOW_SECS", self.register_window_secs),
            ("EDGEAUTH_REFRESH_PER_IP", self.refresh_per_ip.into()),
            ("EDGEAUTH_REFRESH_WINDOW_SECS", self.refresh_window_secs),
            ("EDGEAUTH_SESSIONS_PER_USER", self.sessions_per_user.into()),
            ("EDGEAUTH_HASHING_PER_IP", self.hashing_per_ip as u64),
            ("EDGEAUTH_DEVICE_TRUST_SECS", self.device_trust_secs),
            (
                "EDGEAUTH_LOGIN_IP_SUCCESSES",
                self.login_ip_successes.into(),
            ),
            (
                "EDGEAUTH_LOGIN_IP_SUCCESS_WINDOW_SECS",
                self.login_ip_success_window_secs,
            ),
            (
                "EDGEAUTH_LOGIN_ACCOUNT_SUCCESSES",
                self.login_account_successes.into(),
            ),
            (
                "EDGEAUTH_LOGIN_ACCOUNT_SUCCESS_WINDOW_SECS",
                self.login_account_success_window_secs,
            ),
        ] {
            p.check(setting, value > 0, "must be greater than 0");
        }
        // A session must outlive the access tokens it issues, or revocation-by-deletion
        // would be undone by the key expiring first.
        p.check(
            "EDGEAUTH_SESSION_IDLE_SECS",
            self.session_idle_secs >= self.access_ttl_secs,
            "must be at least EDGEAUTH_ACCESS_TTL_SECS",
        );
        p.check(
            "EDGEAUTH_SESSION_ABSOLUTE_SECS",
            self.session_absolute_secs >= self.session_idle_secs,
            "must be at least EDGEAUTH_SESSION_IDLE_SECS",
        );
        p.check(
            "EDGEAUTH_LOCKOUT_MAX_SECS",
            self.lockout_max_secs >= self.lockout_base_secs,
            "must be at least EDGEAUTH_LOCKOUT_BASE_SECS",
        );
        p.check(
            "EDGEAUTH_IPV6_PREFIX",
            (1..=128).contains(&self.ipv6_prefix),
            "must be a prefix length from 1 to 128",
        );
        p.check(
            "EDGEAUTH_ARGON2_MEMORY_KIB",
            self.argon2_memory_kib >= 19_456,
            "below the OWASP minimum of 19456 KiB",
        );
        p.check(
            "EDGEAUTH_ARGON2_ITERATIONS",
            self.argon2_iterations >= 2,
            "below the OWASP minimum of 2 iterations",
        );
        for (setting, value) in [
            ("EDGEAUTH_SMTP_TIMEOUT_SECS", self.smtp_timeout_secs),
            ("EDGEAUTH_EMAIL_VERIFY_TTL_SECS", self.email_verify_ttl_secs),
            (
                "EDGEAUTH_PASSWORD_RESET_TTL_SECS",
                self.password_reset_ttl_secs,
            ),
            ("EDGEAUTH_EMAIL_CHANGE_TTL_SECS", self.email_change_ttl_secs),
            (
                "EDGEAUTH_MAIL_REQUESTS_PER_IP",
                self.mail_requests_per_ip.into(),
            ),
            ("EDGEAUTH_MAIL_PER_EMAIL", self.mail_per_email.into()),
            ("EDGEAUTH_MAIL_WINDOW_SECS", self.mail_window_secs),
            ("EDGEAUTH_MAIL_RETRY_BASE_MS", self.mail_retry_base_ms),
            ("EDGEAUTH_MAIL_MAX_ATTEMPTS", self.mail_max_attempts.into()),
            ("EDGEAUTH_MAIL_SWEEP_SECS", self.mail_sweep_secs),
        ] {
            p.check(setting, value > 0, "must be greater than 0");
        }
        p.check(
            "EDGEAUTH_MAIL_RETRY_MAX_MS",
            self.mail_retry_max_ms >= self.mail_retry_base_ms,
            "must be at least EDGEAUTH_MAIL_RETRY_BASE_MS",
        );
        let verification = p.note(
            "EDGEAUTH_EMAIL_VERIFICATION",
            match self.email_verification.trim() {
                "off" => Ok(EmailVerification::Off),
                "optional" => Ok(EmailVerification::Optional),
                "required" => Ok(EmailVerification::Required),
                other => Err(format!("must be off, optional or required, got {other:?}")),
            },
        );
        let smtp = match self
            .smtp_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            None => Some(None),
            Some(url) => {
                let smtp = p.note(
                    "EDGEAUTH_SMTP_URL",
                    crate::mail::SmtpSettings::parse(
                        url,
                        self.smtp_username.as_deref(),
                        self.smtp_password.as_deref(),
                        self.smtp_timeout_secs,
                    ),
                );
                let from = p
                    .required("EDGEAUTH_MAIL_FROM", &self.mail_from)
                    .and_then(|from| p.note("EDGEAUTH_MAIL_FROM", crate::mail::parse_from(from)));
                match (smtp, from) {
                    (Some(mut smtp), Some(from)) => {
                        smtp.from = from;
                        Some(Some(smtp))
                    }
                    _ => None,
                }
            }
        };
        if matches!(smtp, Some(None)) {
            p.check(
                "EDGEAUTH_EMAIL_VERIFICATION",
                verification != Some(EmailVerification::Required),
                "cannot be required without EDGEAUTH_SMTP_URL (nobody could verify an address)",
            );
        }
        let mail_on = matches!(smtp, Some(Some(_)));
        let public_url = match self.public_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => p.note("EDGEAUTH_PUBLIC_URL", public_url(url)),
            // Unset: the issuer, which is the edge's URL unless configured otherwise.
            _ => match public_url(&self.issuer) {
                Ok(url) => Some(url),
                Err(_) if !mail_on => Some(self.issuer.trim().to_owned()),
                Err(_) => p.note(
                    "EDGEAUTH_PUBLIC_URL",
                    Err::<String, _>(
                        "is required when EDGEAUTH_ISSUER is not an http(s) URL (links in mails need a base)",
                    ),
                ),
            },
        };
        let argon2 = p.note(
            "EDGEAUTH_ARGON2_PARALLELISM",
            argon2::Params::new(
                self.argon2_memory_kib,
                self.argon2_iterations,
                self.argon2_parallelism,
                None,
            ),
        );
        let (
            Some(listen),
            Some(admin_listen),
            Some(redis_url),
            Some(redis_token),
            Some(keys),
            Some(edge_secret),
            Some(refresh_secret),
            Some(mfa_key),
            Some(argon2),
            Some(smtp),
            Some(verification),
            Some(public_url),
            Some(passkeys),
            true,
        ) = (
            listen,
            admin_listen,
            redis_url,
            redis_token,
            keys,
            edge_secret,
            refresh_secret,
            mfa_key,
            argon2,
            smtp,
            verification,
            public_url,
            passkeys,
            p.0.is_empty(),
        )
        else {
            return Err(ConfigError(p.0));
        };
        let mut edge_secrets = vec![edge_secret];
        edge_secrets.extend(previous.flatten());
        let hashing_concurrency = match self.hashing_concurrency {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let device_key = DeviceKey::derive(&refresh_secret);
        let link_key = edgeauth_core::mail::LinkKey::derive(&refresh_secret);
        let mut policy = TokenPolicy::new(&self.issuer, &self.audience);
        policy.access_ttl_secs = self.access_ttl_secs;
        Ok(Settings {
            listen,
            admin_listen,
            redis: RedisSettings {
                url: redis_url,
                token: redis_token.to_owned(),
                timeout_ms: self.redis_timeout_ms,
            },
            keys,
            edge_secrets,
            refresh_secret,
            mfa_key: edgeauth_core::mfa::MfaKey::from_secret(&mfa_key),
            recent_auth_secs: self.recent_auth_secs,
            mfa_ticket_secs: self.mfa_ticket_secs,
            passkeys,
            policy,
            session_idle_secs: self.session_idle_secs,
            session_absolute_secs: self.session_absolute_secs,
            refresh_grace_ms: self.refresh_grace_ms,
            refresh_recovery_ms: self.refresh_recovery_ms,
            sessions_per_user: self.sessions_per_user,
            signature_window_secs: self.signature_window_secs,
            argon2,
            hashing_concurrency,
            hashing_queue: self.hashing_queue,
            hashing_per_ip: self.hashing_per_ip,
            ipv6_prefix: self.ipv6_prefix,
            device_key,
            device_trust_secs: self.device_trust_secs,
            login_limits: LoginLimits {
                threshold: self.lockout_threshold,
                base_lock_secs: self.lockout_base_secs,
                max_lock_secs: self.lockout_max_secs,
                forget_after_secs: self.lockout_forget_secs,
                ip_failures: self.login_ip_failures,
                ip_window_secs: self.login_ip_window_secs,
                account_failures: self.login_account_failures,
                account_window_secs: self.login_account_window_secs,
                ip_successes: self.login_ip_successes,
                ip_success_window_secs: self.login_ip_success_window_secs,
                account_successes: self.login_account_successes,
                account_success_window_secs: self.login_account_success_window_secs,
            },
            register_budget: Budget {
                max: self.register_per_ip,
                window_secs: self.register_window_secs,
            },
            refresh_budget: Budget {
                max: self.refresh_per_ip,
                window_secs: self.refresh_window_secs,
            },
            mail: MailSettings {
                smtp,
                public_url,
                verification,
                link_key,
                verify_ttl_secs: self.email_verify_ttl_secs,
                reset_ttl_secs: self.password_reset_ttl_secs,
                change_ttl_secs: self.email_change_ttl_secs,
                per_ip: Budget {
                    max: self.mail_requests_per_ip,
                    window_secs: self.mail_window_secs,
                },
                per_email: Budget {
                    max: self.mail_per_email,
                    window_secs: self.mail_window_secs,
                },
                retry: edgeauth_core::mail::RetryPolicy {
                    base_ms: self.mail_retry_base_ms,
                    max_ms: self.mail_retry_max_ms,
                    max_attempts: self.mail_max_attempts,
                },
                sweep_secs: self.mail_sweep_secs,
            },
        })
    }
}

fn parse_admin_listen(text: &str) -> Result<Option<Vec<SocketAddr>>, String> {
    match text.trim() {
        "off" => Ok(None),
        addr => resolve_listen(addr)
            .map(Some)
            .map_err(|e| format!("{e} (or off)")),
    }
}

/// `host:port` → its addresses, IPv4 first (the edge, the docs and `make dev` all say
/// `127.0.0.1`, so `localhost` should mean that where it can).
fn resolve_listen(text: &str) -> Result<Vec<SocketAddr>, String> {
    let text = text.trim();
    let mut addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| format!("must be host:port (e.g. 127.0.0.1:8788), got {text:?}: {e}"))?
        .collect();
    addrs.sort_by_key(SocketAddr::is_ipv6);
    addrs.dedup();
    if addrs.is_empty() {
        return Err(format!("{text:?} resolves to no address"));
    }
    Ok(addrs)
}

/// The base of links in mails: `http(s)://host[:port][/path]`, no query or fragment; the
/// trailing slash is dropped.
fn public_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(|| format!("must be an http(s):// URL, got {text:?}"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || text.contains(['?', '#', ' ']) || host.contains('@') {
        return Err(format!(
            "must be http(s)://host[:port][/path] without user, query or fragment, got {text:?}"
        ));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// `http(s)://…`; the trailing slash is dropped.
fn redis_url(text: &str) -> Result<String, String> {
    if text.starts_with("https://") || text.starts_with("http://") {
        Ok(text.trim_end_matches('/').to_owned())
    } else {
        Err(format!(
            "must be the database's REST URL (https://…), got {text:?}"
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: ServeConfig,
    }

    /// Random fixtures (a configured secret must look random), one per role.
    pub const SECRET: &str = "jM2tV32u8zkm_gnJaYE5WSRYtka2576I7ZkJv_zrB-w";
    pub const REFRESH_SECRET: &str = "Q99_1QO4A7YPAIlGE4hETHj4EuK4cJvCKDyZ59Qp-PU";
    pub const MFA_KEY: &str = "Iy8QUIJUZ9D6MP_j3FXldQ600UGpQ_q6njK4tARcLbc";

    /// A valid configuration from flags only (the environment is not consulted when a flag is
    /// given, and none of these tests set the environment).
    pub fn config(extra: &[&str]) -> Result<ServeConfig, clap::Error> {
        let keys = edgeauth_core::keys::SigningKeyRing::new(vec![
            edgeauth_core::keys::SigningKey::ed25519(
                "k1",
                jwt_simple::prelude::Ed25519KeyPair::generate(),
            ),
        ])
        .map_err(|e| clap::Error::raw(clap::error::ErrorKind::InvalidValue, e))?
        .to_private_json();
        let base = [
            "--redis-url=http://127.0.0.1:8079".to_owned(),
            "--redis-token=t".to_owned(),
            format!("--signing-keys={keys}"),
            format!("--edge-secret={SECRET}"),
            format!("--refresh-secret={REFRESH_SECRET}"),
            format!("--mfa-key={MFA_KEY}"),
        ];
        let flag = |arg: &str| arg.split('=').next().unwrap_or("").to_owned();
        let overridden: Vec<String> = extra.iter().map(|e| flag(e)).collect();
        let args = std::iter::once("serve".to_owned())
            .chain(base.into_iter().filter(|b| !overridden.contains(&flag(b))))
            .chain(extra.iter().map(|s| (*s).to_owned()));
        Cli::try_parse_from(args).map(|cli| cli.config)
    }

    fn problems(extra: &[&str]) -> Vec<&'static str> {
        match config(extra).unwrap().settings() {
            Ok(_) => Vec::new(),
            Err(e) => e.settings(),
        }
    }

    #[test]
    fn a_complete_configuration_parses() {
        let settings = config(&[]).unwrap().settings().unwrap();
        assert_eq!(settings.listen, ["127.0.0.1:8788".parse().unwrap()]);
        assert_eq!(
            settings.admin_listen,
            Some(vec!["127.0.0.1:9788".parse().unwrap()])
        );
        assert_eq!(settings.policy.access_ttl_secs, 900);
        assert_eq!(settings.edge_secrets.len(), 1);
        let off = config(&[
            "--admin-listen=off",
            &format!("--edge-secret-previous={SECRET}"),
        ])
        .unwrap()
        .settings()
        .unwrap();
        assert_eq!(off.admin_listen, None);
        assert_eq!(off.edge_secrets.len(), 2);
    }

    #[test]
    fn each_bad_setting_is_named() {
        let cases: &[(&str, &str)] = &[
            ("--access-ttl-secs=0", "EDGEAUTH_ACCESS_TTL_SECS"),
            ("--edge-secret=c2hvcnQ", "EDGEAUTH_EDGE_SECRET"),
            (
                "--edge-secret-previous=c2hvcnQ",
                "EDGEAUTH_EDGE_SECRET_PREVIOUS",
            ),
            ("--refresh-secret=!!", "EDGEAUTH_REFRESH_SECRET"),
            ("--signing-keys={}", "EDGEAUTH_SIGNING_KEYS"),
            ("--redis-url=redis://x", "UPSTASH_REDIS_REST_URL"),
            ("--redis-token=  ", "UPSTASH_REDIS_REST_TOKEN"),
            ("--admin-listen=nowhere", "EDGEAUTH_ADMIN_LISTEN"),
            ("--listen=127.0.0.1", "EDGEAUTH_LISTEN"),
            ("--listen=localhost:http-alt", "EDGEAUTH_LISTEN"),
            ("--argon2-memory-kib=1024", "EDGEAUTH_ARGON2_MEMORY_KIB"),
            ("--argon2-parallelism=0", "EDGEAUTH_ARGON2_PARALLELISM"),
            ("--issuer=", "EDGEAUTH_ISSUER"),
            ("--lockout-max-secs=10", "EDGEAUTH_LOCKOUT_MAX_SECS"),
            ("--session-idle-secs=60", "EDGEAUTH_SESSION_IDLE_SECS"),
            ("--sessions-per-user=0", "EDGEAUTH_SESSIONS_PER_USER"),
            ("--hashing-per-ip=0", "EDGEAUTH_HASHING_PER_IP"),
            ("--ipv6-prefix=0", "EDGEAUTH_IPV6_PREFIX"),
            ("--ipv6-prefix=129", "EDGEAUTH_IPV6_PREFIX"),
            (
                "--login-account-successes=0",
                "EDGEAUTH_LOGIN_ACCOUNT_SUCCESSES",
            ),
            ("--email-verification=maybe", "EDGEAUTH_EMAIL_VERIFICATION"),
            (
                "--email-verification=required",
                "EDGEAUTH_EMAIL_VERIFICATION",
            ),
            ("--public-url=ftp://x", "EDGEAUTH_PUBLIC_URL"),
            ("--webauthn-rp-id=127.0.0.1", "EDGEAUTH_WEBAUTHN_RP_ID"),
            (
                "--webauthn-origins=https://elsewhere.example",
                "EDGEAUTH_WEBAUTHN_ORIGINS",
            ),
            ("--public-url=https://x/#a", "EDGEAUTH_PUBLIC_URL"),
            ("--smtp-url=smtp://127.0.0.1:1025", "EDGEAUTH_MAIL_FROM"),
            (
                "--password-reset-ttl-secs=0",
                "EDGEAUTH_PASSWORD_RESET_TTL_SECS",
            ),
            ("--mail-retry-max-ms=1", "EDGEAUTH_MAIL_RETRY_MAX_MS"),
        ];
        for (flag, setting) in cases {
            assert_eq!(problems(&[flag]), vec![*setting], "{flag}");
        }
    }

    #[test]
    fn mail_is_off_without_smtp_and_validated_with_it() {
        let off = config(&[]).unwrap().settings().unwrap();
        assert!(!off.mail.enabled());
        assert_eq!(off.mail.verification, EmailVerification::Optional);
        assert_eq!(off.mail.public_url, "http://127.0.0.1:8787");
        let on = config(&[
            "--smtp-url=smtps://user:p%40ss@mail.example:465",
            "--mail-from=edgeauth <no-reply@example.com>",
            "--public-url=https://auth.example/",
            "--email-verification=required",
        ])
        .unwrap()
        .settings()
        .unwrap();
        assert!(on.mail.enabled());
        assert_eq!(on.mail.public_url, "https://auth.example");
        assert_eq!(on.mail.verification, EmailVerification::Required);
        let bad_from = config(&[
            "--smtp-url=smtp://127.0.0.1:1025",
            "--mail-from=not an address",
        ])
        .unwrap()
        .settings()
        .err()
        .unwrap();
        assert_eq!(bad_from.settings(), vec!["EDGEAUTH_MAIL_FROM"]);
        let bad_url = config(&["--smtp-url=http://mail:25", "--mail-from=a@example.com"])
            .unwrap()
            .settings()
            .err()
            .unwrap();
        assert_eq!(bad_url.settings(), vec!["EDGEAUTH_SMTP_URL"]);
        // The URL may carry a password: a refusal never repeats it.
        let secret = config(&[
            "--smtp-url=smtp://u:hunter2@:0:bad",
            "--mail-from=a@example.com",
        ])
        .unwrap()
        .settings()
        .err()
        .unwrap();
        assert!(!secret.to_string().contains("hunter2"), "{secret}");
    }

    #[test]
    fn secrets_must_look_random_and_keep_to_their_role() {
        let zeros = format!("--edge-secret={}", "A".repeat(43));
        assert_eq!(problems(&[&zeros]), vec!["EDGEAUTH_EDGE_SECRET"]);
        let shared = format!("--refresh-secret={SECRET}");
        assert_eq!(problems(&[&shared]), vec!["EDGEAUTH_REFRESH_SECRET"]);
        let previous = format!("--edge-secret-previous={REFRESH_SECRET}");
        assert_eq!(problems(&[&previous]), vec!["EDGEAUTH_REFRESH_SECRET"]);
        let err = config(&[&shared]).unwrap().settings().err().unwrap();
        assert!(
            err.to_string()
                .contains("must differ from EDGEAUTH_EDGE_SECRET"),
            "{err}"
        );
    }

    #[test]
    fn host_names_resolve_ipv4_first() {
        let settings = config(&["--listen=localhost:8788", "--admin-listen=localhost:0"])
            .unwrap()
            .settings()
            .unwrap();
        let first = settings.listen[0];
        assert_eq!(first, "127.0.0.1:8788".parse().unwrap());
        let admin = settings.admin_listen.unwrap();
        assert!(admin[0].ip().is_loopback() && admin[0].port() == 0);
        assert!(admin.windows(2).all(|w| w[0].is_ipv4() || w[1].is_ipv6()));
    }

    #[test]
    fn all_problems_are_reported_together() {
        let err = config(&["--access-ttl-secs=0", "--edge-secret=c2hvcnQ"])
            .unwrap()
            .settings()
            .err()
            .unwrap();
        assert_eq!(
            err.settings(),
            vec!["EDGEAUTH_EDGE_SECRET", "EDGEAUTH_ACCESS_TTL_SECS"]
        );
        assert!(
            err.to_string().starts_with("EDGEAUTH_EDGE_SECRET: "),
            "{err}"
        );
    }
}
