//! How a [`Verifier`](crate::Verifier) is configured: which edge to trust, which audience this
//! app is, and how keys are cached. Every field documents its default.

use std::time::Duration;

use crate::assertion::{DEFAULT_HEADER_NAME, JWKS_PATH};

/// The configuration of a [`Verifier`](crate::Verifier).
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// The edge's assertion JWKS, e.g.
    /// `https://auth.example.com/.well-known/edgeauth/assertion-jwks.json`. `http` or `https`;
    /// redirects are not followed.
    pub jwks_url: String,
    /// The `iss` every assertion must carry: the edge's issuer URL, exactly.
    pub issuer: String,
    /// This app's upstream id in the edge's route table; assertions for any other upstream
    /// are refused.
    pub audience: String,
    /// The request header holding the assertion. Default `Edgeauth-Assertion`.
    pub header_name: String,
    /// Clock skew tolerated on `iat` and `exp`. Default 5 s.
    pub leeway: Duration,
    /// The longest `exp - iat` accepted. Default 60 s (the edge issues at most that).
    pub max_lifetime: Duration,
    /// Longer assertions are refused before parsing. Default 8 KiB.
    pub max_assertion_bytes: usize,
    /// Fetched keys are used this long without asking the edge again. Default 5 min.
    pub jwks_ttl: Duration,
    /// While the edge cannot be reached, keys older than the TTL stay usable this much longer;
    /// after that every request is refused with 503 (fail closed). Default 10 min.
    pub jwks_max_stale: Duration,
    /// At most one JWKS fetch per interval, however many requests name an unknown `kid`, so a
    /// flood of forged `kid`s cannot hammer the edge. Default 10 s.
    pub jwks_min_refetch_interval: Duration,
    /// Timeout of one JWKS fetch (connect included). Default 5 s.
    pub http_timeout: Duration,
}

impl VerifierConfig {
    /// A configuration with the defaults above.
    pub fn new(
        jwks_url: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        Self {
            jwks_url: jwks_url.into(),
            issuer: issuer.into(),
            audience: audience.into(),
            header_name: DEFAULT_HEADER_NAME.to_owned(),
            leeway: Duration::from_secs(5),
            max_lifetime: Duration::from_secs(60),
            max_assertion_bytes: 8 * 1024,
            jwks_ttl: Duration::from_secs(300),
            jwks_max_stale: Duration::from_secs(600),
            jwks_min_refetch_interval: Duration::from_secs(10),
            http_timeout: Duration::from_secs(5),
        }
    }

    /// For an edge whose issuer is its own base URL (edgeauth's default): the JWKS is at
    /// `<edge_url>/.well-known/edgeauth/assertion-jwks.json`.
    pub fn for_edge(edge_url: &str, audience: impl Into<String>) -> Self {
        let base = edge_url.trim_end_matches('/');
        Self::new(format!("{base}{JWKS_PATH}"), edge_url, audience)
    }
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("jwks_url {0:?} is not an http(s) URL")]
    JwksUrl(String),
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("header_name {0:?} is not a valid HTTP header name")]
    HeaderName(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}
