//! The origin's configuration: every setting, its environment variable and its default.
//!
//! `edgeauth-origin serve --help` prints this reference; docs/configuration.md mirrors it.

use std::net::SocketAddr;

use clap::Args;
use edgeauth_core::keys::SigningKeyRing;
use edgeauth_core::rate_limit::{Budget, LoginLimits};
use edgeauth_core::secret::Secret;
use edgeauth_core::token::TokenPolicy;

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on. Keep it on loopback (or a private interface) — only the edge may
    /// reach the origin.
    #[arg(long, env = "EDGEAUTH_LISTEN", default_value = "127.0.0.1:8788")]
    pub listen: SocketAddr,

    /// Upstash REST endpoint of the Redis database (locally: the bridge).
    #[arg(long, env = "UPSTASH_REDIS_REST_URL")]
    pub redis_url: String,

    /// Upstash REST bearer token.
    #[arg(long, env = "UPSTASH_REDIS_REST_TOKEN", hide_env_values = true)]
    pub redis_token: String,

    /// Time limit for one Redis call, milliseconds; past it the request fails with 503.
    #[arg(long, env = "EDGEAUTH_REDIS_TIMEOUT_MS", default_value_t = 2000)]
    pub redis_timeout_ms: u64,

    /// Private JWK set (`{"keys": [...]}`) of signing keys; the first one signs, all are
    /// published. Generate with `edgeauth-origin keys generate`.
    #[arg(long, env = "EDGEAUTH_SIGNING_KEYS", hide_env_values = true)]
    pub signing_keys: String,

    /// Shared secret with the edge (base64, ≥ 32 bytes) for request signatures.
    #[arg(long, env = "EDGEAUTH_EDGE_SECRET", hide_env_values = true)]
    pub edge_secret: String,

    /// The previous edge secret, accepted too while a rotation is rolled out.
    #[arg(long, env = "EDGEAUTH_EDGE_SECRET_PREVIOUS", hide_env_values = true)]
    pub edge_secret_previous: Option<String>,

    /// Secret (base64, ≥ 32 bytes) from which successive refresh tokens are derived.
    #[arg(long, env = "EDGEAUTH_REFRESH_SECRET", hide_env_values = true)]
    pub refresh_secret: String,

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

    /// Failed logins allowed from one client address per window, across accounts.
    #[arg(long, env = "EDGEAUTH_LOGIN_IP_FAILURES", default_value_t = 50)]
    pub login_ip_failures: u32,

    /// Window of EDGEAUTH_LOGIN_IP_FAILURES, seconds.
    #[arg(long, env = "EDGEAUTH_LOGIN_IP_WINDOW_SECS", default_value_t = 900)]
    pub login_ip_window_secs: u64,

    /// Failed logins allowed on one account per window, from all addresses; beyond it the
    /// account refuses logins until the window ends (never longer).
    #[arg(long, env = "EDGEAUTH_LOGIN_ACCOUNT_FAILURES", default_value_t = 100)]
    pub login_account_failures: u32,

    /// Window of EDGEAUTH_LOGIN_ACCOUNT_FAILURES, seconds.
    #[arg(
        long,
        env = "EDGEAUTH_LOGIN_ACCOUNT_WINDOW_SECS",
        default_value_t = 3600
    )]
    pub login_account_window_secs: u64,

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
}

/// Settings parsed into the types the server uses. Built once at start-up; every error names
/// the setting at fault.
pub struct Settings {
    pub listen: SocketAddr,
    pub keys: SigningKeyRing,
    pub edge_secrets: Vec<Secret>,
    pub refresh_secret: Secret,
    pub policy: TokenPolicy,
    pub session_idle_secs: u64,
    pub session_absolute_secs: u64,
    pub refresh_grace_ms: u64,
    pub signature_window_secs: u64,
    pub argon2: argon2::Params,
    pub hashing_concurrency: usize,
    pub hashing_queue: usize,
    pub login_limits: LoginLimits,
    pub register_budget: Budget,
    pub refresh_budget: Budget,
}

#[derive(Debug, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub reason: String,
}

fn bad(setting: &'static str, reason: impl ToString) -> ConfigError {
    ConfigError {
        setting,
        reason: reason.to_string(),
    }
}

impl ServeConfig {
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let keys = SigningKeyRing::from_json(&self.signing_keys)
            .map_err(|e| bad("EDGEAUTH_SIGNING_KEYS", e))?;
        let mut edge_secrets =
            vec![Secret::from_base64(&self.edge_secret)
                .map_err(|e| bad("EDGEAUTH_EDGE_SECRET", e))?];
        if let Some(previous) = self
            .edge_secret_previous
            .as_deref()
            .filter(|s| !s.is_empty())
        {
            edge_secrets.push(
                Secret::from_base64(previous)
                    .map_err(|e| bad("EDGEAUTH_EDGE_SECRET_PREVIOUS", e))?,
            );
        }
        let refresh_secret = Secret::from_base64(&self.refresh_secret)
            .map_err(|e| bad("EDGEAUTH_REFRESH_SECRET", e))?;
        for (setting, value) in [
            ("EDGEAUTH_ACCESS_TTL_SECS", self.access_ttl_secs),
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
        ] {
            if value == 0 {
                return Err(bad(setting, "must be greater than 0"));
            }
        }
        // A session must outlive the access tokens it issues, or revocation-by-deletion
        // would be undone by the key expiring first.
        if self.session_idle_secs < self.access_ttl_secs {
            return Err(bad(
                "EDGEAUTH_SESSION_IDLE_SECS",
                "must be at least EDGEAUTH_ACCESS_TTL_SECS",
            ));
        }
        if self.session_absolute_secs < self.session_idle_secs {
            return Err(bad(
                "EDGEAUTH_SESSION_ABSOLUTE_SECS",
                "must be at least EDGEAUTH_SESSION_IDLE_SECS",
            ));
        }
        if self.argon2_memory_kib < 19_456 || self.argon2_iterations < 2 {
            return Err(bad(
                "EDGEAUTH_ARGON2_MEMORY_KIB/EDGEAUTH_ARGON2_ITERATIONS",
                "below the OWASP minimum (19456 KiB, 2 iterations)",
            ));
        }
        let argon2 = argon2::Params::new(
            self.argon2_memory_kib,
            self.argon2_iterations,
            self.argon2_parallelism,
            None,
        )
        .map_err(|e| bad("EDGEAUTH_ARGON2_PARALLELISM", e))?;
        let hashing_concurrency = match self.hashing_concurrency {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let mut policy = TokenPolicy::new(&self.issuer, &self.audience);
        policy.access_ttl_secs = self.access_ttl_secs;
        Ok(Settings {
            listen: self.listen,
            keys,
            edge_secrets,
            refresh_secret,
            policy,
            session_idle_secs: self.session_idle_secs,
            session_absolute_secs: self.session_absolute_secs,
            refresh_grace_ms: self.refresh_grace_ms,
            signature_window_secs: self.signature_window_secs,
            argon2,
            hashing_concurrency,
            hashing_queue: self.hashing_queue,
            login_limits: LoginLimits {
                threshold: self.lockout_threshold,
                base_lock_secs: self.lockout_base_secs,
                max_lock_secs: self.lockout_max_secs,
                forget_after_secs: self.lockout_forget_secs,
                ip_failures: self.login_ip_failures,
                ip_window_secs: self.login_ip_window_secs,
                account_failures: self.login_account_failures,
                account_window_secs: self.login_account_window_secs,
            },
            register_budget: Budget {
                max: self.register_per_ip,
                window_secs: self.register_window_secs,
            },
            refresh_budget: Budget {
                max: self.refresh_per_ip,
                window_secs: self.refresh_window_secs,
            },
        })
    }
}
