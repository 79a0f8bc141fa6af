//! [`Verifier`]: one edge's keys plus this app's policy; verifies a token or a request's headers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName};

use crate::assertion::{inspect, verify_with_key, Identity, Policy, Rejection};
use crate::config::{ConfigError, VerifierConfig};
use crate::jwks::{CacheTiming, KeyCache};

/// Verifies assertions for one app (audience) from one edge (issuer, JWKS). Cheap to share:
/// put it in an `Arc` and hand it to [`AssertionLayer`](crate::AssertionLayer).
pub struct Verifier {
    policy: Policy,
    header_name: HeaderName,
    keys: KeyCache,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("policy", &self.policy)
            .field("header_name", &self.header_name)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Checks the configuration and builds the HTTP client. Fetches nothing yet: the first
    /// request fetches the JWKS.
    pub fn new(config: VerifierConfig) -> Result<Self, ConfigError> {
        let url = reqwest::Url::parse(&config.jwks_url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| ConfigError::JwksUrl(config.jwks_url.clone()))?;
        if config.issuer.is_empty() {
            return Err(ConfigError::Empty("issuer"));
        }
        if config.audience.is_empty() {
            return Err(ConfigError::Empty("audience"));
        }
        let header_name = HeaderName::try_from(config.header_name.as_str())
            .map_err(|_| ConfigError::HeaderName(config.header_name.clone()))?;
        let http = reqwest::Client::builder()
            .timeout(config.http_timeout)
            .connect_timeout(config.http_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let timing = CacheTiming {
            ttl: config.jwks_ttl,
            max_stale: config.jwks_max_stale,
            min_refetch_interval: config.jwks_min_refetch_interval,
        };
        Ok(Self {
            policy: Policy {
                issuer: config.issuer,
                audience: config.audience,
                leeway: config.leeway,
                max_lifetime: config.max_lifetime,
                max_bytes: config.max_assertion_bytes,
            },
            header_name,
            keys: KeyCache::new(http, url, timing),
        })
    }

    /// The header this verifier reads.
    pub fn header_name(&self) -> &HeaderName {
        &self.header_name
    }

    /// This app's audience.
    pub fn audience(&self) -> &str {
        &self.policy.audience
    }

    /// Verifies one assertion (the header's value) now.
    pub async fn verify(&self, token: &str) -> Result<Identity, Rejection> {
        let kid = inspect(token, &self.policy)?;
        let key = self.keys.key(&kid).await?;
        verify_with_key(&key, &kid, &self.policy, token, unix_now())
    }

    /// Verifies the assertion in `headers`: `Ok(None)` when there is none, an error when it is
    /// invalid or the header appears more than once.
    pub async fn verify_headers(&self, headers: &HeaderMap) -> Result<Option<Identity>, Rejection> {
        let mut values = headers.get_all(&self.header_name).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(Rejection::Duplicate);
        }
        if value.len() > self.policy.max_bytes {
            return Err(Rejection::Oversized(self.policy.max_bytes));
        }
        let token = value.to_str().map_err(|_| Rejection::Malformed)?;
        self.verify(token.trim()).await.map(Some)
    }
}

/// Seconds since the Unix epoch; 0 if the clock is before it (then every assertion looks
/// issued in the future and is refused).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}
