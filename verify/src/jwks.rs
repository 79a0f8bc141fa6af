//! The edge's assertion keys: parsing a JWKS (pure) and a cache that fetches it over HTTP,
//! refreshes it after a TTL, refetches on an unknown `kid` at most once per interval, and fails
//! closed when the keys are too old to trust.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::Ed25519PublicKey;
use serde::Deserialize;

use crate::assertion::Rejection;

/// A JWKS larger than this is refused (a handful of keys is a few hundred bytes).
pub(crate) const MAX_JWKS_BYTES: usize = 64 * 1024;

/// Verification keys by `kid`.
pub(crate) type KeySet = HashMap<String, Ed25519PublicKey>;

#[derive(Debug, thiserror::Error)]
pub(crate) enum JwksError {
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("answered HTTP {0}")]
    Status(reqwest::StatusCode),
    #[error("larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("not a JWKS: {0}")]
    Json(#[from] serde_json::Error),
    #[error("holds no usable Ed25519 signing key")]
    NoUsableKeys,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

/// Only the members this crate reads; anything else in a key is ignored.
#[derive(Deserialize)]
struct Jwk {
    kty: Option<String>,
    crv: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    x: Option<String>,
}

impl Jwk {
    /// The key, if it is an Ed25519 signature key with a `kid`; other keys (a future algorithm,
    /// an encryption key) are skipped, not fatal.
    fn ed25519(&self) -> Option<(String, Ed25519PublicKey)> {
        let usable = self.kty.as_deref() == Some("OKP")
            && self.crv.as_deref() == Some("Ed25519")
            && matches!(self.alg.as_deref(), None | Some("EdDSA" | "Ed25519"))
            && matches!(self.use_.as_deref(), None | Some("sig"));
        let kid = self
            .kid
            .as_deref()
            .filter(|kid| usable && !kid.is_empty())?;
        let x = URL_SAFE_NO_PAD.decode(self.x.as_deref()?).ok()?;
        let key = Ed25519PublicKey::from_bytes(&x).ok()?.with_key_id(kid);
        Some((kid.to_owned(), key))
    }
}

/// Parses the edge's assertion JWKS (`{"keys": [...]}`) into its Ed25519 keys.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<KeySet, JwksError> {
    let jwks: Jwks = serde_json::from_slice(body)?;
    let mut keys = KeySet::new();
    for (kid, key) in jwks.keys.iter().filter_map(Jwk::ed25519) {
        if keys.contains_key(&kid) {
            tracing::warn!(%kid, "the assertion JWKS lists a kid twice; keeping the first");
            continue;
        }
        keys.insert(kid, key);
    }
    if keys.is_empty() {
        return Err(JwksError::NoUsableKeys);
    }
    Ok(keys)
}

/// How the cache ages and refreshes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheTiming {
    /// Keys younger than this are used without asking the edge.
    pub ttl: Duration,
    /// After the TTL, keys stay usable this much longer while the edge cannot be reached.
    pub max_stale: Duration,
    /// At most one fetch per interval, whatever the requests say (unknown `kid`s included).
    pub min_refetch_interval: Duration,
}

#[derive(Default)]
struct CacheState {
    keys: Arc<KeySet>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

impl CacheState {
    fn is_younger_than(&self, max_age: Duration, now: Instant) -> bool {
        self.fetched_at
            .is_some_and(|at| now.saturating_duration_since(at) < max_age)
    }
}

/// The assertion JWKS of one edge, fetched lazily and cached.
pub(crate) struct KeyCache {
    http: reqwest::Client,
    url: reqwest::Url,
    timing: CacheTiming,
    state: RwLock<CacheState>,
    /// One fetch at a time: concurrent requests wait for it instead of fetching again.
    fetching: tokio::sync::Mutex<()>,
}

impl KeyCache {
    pub(crate) fn new(http: reqwest::Client, url: reqwest::Url, timing: CacheTiming) -> Self {
        Self {
            http,
            url,
            timing,
            state: RwLock::new(CacheState::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The key for `kid`, fetching the JWKS first when the cache is older than its TTL or does
    /// not know `kid` (at most once per `min_refetch_interval`).
    pub(crate) async fn key(&self, kid: &str) -> Result<Ed25519PublicKey, Rejection> {
        let ttl = self.timing.ttl;
        let usable_for = ttl + self.timing.max_stale;
        if let Some(key) = self.cached(kid, Instant::now(), ttl) {
            return Ok(key);
        }
        let _one_fetch = match self.fetching.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                // Another request is fetching: a key within the grace period serves meanwhile
                // rather than making this request wait for the edge.
                if let Some(key) = self.cached(kid, Instant::now(), usable_for) {
                    return Ok(key);
                }
                self.fetching.lock().await
            }
        };
        let now = Instant::now();
        // Another request may have fetched while this one waited.
        if let Some(key) = self.cached(kid, now, ttl) {
            return Ok(key);
        }
        if self.may_fetch(now) {
            self.update_state(|state| state.last_attempt = Some(now));
            match self.fetch().await {
                Ok(keys) => {
                    tracing::debug!(url = %self.url, kids = ?keys.keys().collect::<Vec<_>>(), "fetched the assertion JWKS");
                    self.update_state(|state| {
                        state.keys = Arc::new(keys);
                        state.fetched_at = Some(Instant::now());
                    });
                }
                Err(err) => {
                    tracing::warn!(url = %self.url, error = %err, "cannot fetch the assertion JWKS");
                }
            }
        }
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        if !state.is_younger_than(usable_for, now) {
            return Err(Rejection::KeysUnavailable(format!(
                "no assertion keys fetched from {} within the last {usable_for:?}",
                self.url
            )));
        }
        state
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| Rejection::UnknownKey(kid.to_owned()))
    }

    /// The cached key for `kid` if the cache was fetched less than `max_age` ago.
    fn cached(&self, kid: &str, now: Instant, max_age: Duration) -> Option<Ed25519PublicKey> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        if state.is_younger_than(max_age, now) {
            state.keys.get(kid).cloned()
        } else {
            None
        }
    }

    fn may_fetch(&self, now: Instant) -> bool {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state
            .last_attempt
            .is_none_or(|at| now.saturating_duration_since(at) >= self.timing.min_refetch_interval)
    }

    fn update_state(&self, change: impl FnOnce(&mut CacheState)) {
        change(&mut self.state.write().unwrap_or_else(PoisonError::into_inner));
    }

    async fn fetch(&self) -> Result<KeySet, JwksError> {
        let mut response = self
            .http
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(JwksError::Status(response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(JwksError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        parse_jwks(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwt_simple::prelude::Ed25519KeyPair;

    fn jwk(key: &Ed25519KeyPair, kid: &str) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(key.public_key().to_bytes()),
        })
    }

    #[test]
    fn ed25519_keys_are_read_and_others_skipped() {
        let (a, b) = (Ed25519KeyPair::generate(), Ed25519KeyPair::generate());
        let body = serde_json::json!({"keys": [
            jwk(&a, "a"),
            {"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AA", "y": "AA"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "enc", "use": "enc", "x": URL_SAFE_NO_PAD.encode(b.public_key().to_bytes())},
            {"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(b.public_key().to_bytes())},
            {"kty": "OKP", "crv": "Ed25519", "kid": "short", "x": "AAAA"},
            jwk(&b, "b"),
            jwk(&a, "b"),
        ]});
        let keys = parse_jwks(body.to_string().as_bytes()).expect("parses");
        let mut kids: Vec<_> = keys.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["a", "b"]);
        assert_eq!(
            keys["b"].to_bytes(),
            b.public_key().to_bytes(),
            "the first of two equal kids wins"
        );
    }

    #[test]
    fn documents_without_usable_keys_are_errors() {
        for body in [
            r#"{"keys": []}"#,
            r#"{"nope": 1}"#,
            "[]",
            "not json",
            r#"{"keys": [{"kty": "oct", "k": "AA"}]}"#,
        ] {
            assert!(parse_jwks(body.as_bytes()).is_err(), "{body}");
        }
    }
}
