//! Test helpers (feature `testing`): sign assertions the way the edge does and serve their JWKS
//! from a real local HTTP server, so an app's tests exercise the real verification path.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::{
    Audiences, Ed25519KeyPair, EdDSAKeyPairLike, HeaderOptions, JWTClaims, UnixTimeStamp,
};
use serde_json::{json, Value};

use crate::assertion::{AssertionClaims, ASSERTION_TYPE};

pub use crate::verifier::unix_now;

/// The claims (and `typ`) of an assertion to sign; [`TestAssertion::new`] makes a valid one.
#[derive(Debug, Clone)]
pub struct TestAssertion {
    pub typ: String,
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sid: String,
    pub roles: Vec<String>,
    pub username: Option<String>,
    pub iat: u64,
    pub exp: u64,
}

impl TestAssertion {
    /// Issued now, valid 30 s, session `sid-<sub>`, no roles.
    pub fn new(iss: &str, aud: &str, sub: &str) -> Self {
        let now = unix_now();
        Self {
            typ: ASSERTION_TYPE.to_owned(),
            iss: iss.to_owned(),
            aud: aud.to_owned(),
            sub: sub.to_owned(),
            sid: format!("sid-{sub}"),
            roles: Vec::new(),
            username: None,
            iat: now,
            exp: now + 30,
        }
    }

    /// The same assertion with this username (`preferred_username`).
    pub fn with_username(mut self, username: &str) -> Self {
        self.username = Some(username.to_owned());
        self
    }

    /// The same assertion with these roles.
    pub fn with_roles(mut self, roles: &[&str]) -> Self {
        self.roles = roles.iter().map(|r| (*r).to_owned()).collect();
        self
    }
}

/// Signs `claims` with `key` (its key id becomes the header's `kid`).
pub fn sign_with(key: &Ed25519KeyPair, claims: &TestAssertion) -> String {
    let jwt = JWTClaims {
        issued_at: Some(UnixTimeStamp::from_secs(claims.iat)),
        expires_at: Some(UnixTimeStamp::from_secs(claims.exp)),
        invalid_before: None,
        issuer: Some(claims.iss.clone()),
        subject: Some(claims.sub.clone()),
        audiences: Some(Audiences::AsString(claims.aud.clone())),
        jwt_id: None,
        nonce: None,
        custom: AssertionClaims {
            sid: claims.sid.clone(),
            roles: claims.roles.clone(),
            preferred_username: claims.username.clone(),
        },
    };
    let header = HeaderOptions {
        signature_type: Some(claims.typ.clone()),
        content_type: None,
    };
    key.sign_with_options(jwt, &header)
        .expect("signing with a generated Ed25519 key cannot fail")
}

/// The public JWK of `key` as the edge publishes it.
pub fn public_jwk(key: &Ed25519KeyPair) -> Value {
    json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(key.public_key().to_bytes()),
        "kid": key.key_id().clone().unwrap_or_default(),
        "alg": "EdDSA",
        "use": "sig",
    })
}

#[cfg(feature = "testing")]
pub use server::TestEdge;

#[cfg(feature = "testing")]
mod server {
    use super::*;

    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use axum::{Json, Router};
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use crate::assertion::JWKS_PATH;
    use crate::config::VerifierConfig;

    #[derive(Default)]
    struct Published {
        jwks: RwLock<Value>,
        requests: AtomicUsize,
        failing: AtomicBool,
        delay_ms: AtomicU64,
    }

    /// A stand-in for the edge's assertion side: an Ed25519 signing key and a real HTTP
    /// server on 127.0.0.1 publishing its JWKS at the edge's path.
    pub struct TestEdge {
        /// The issuer URL (`http://127.0.0.1:<port>`), also the JWKS server's base URL.
        pub issuer: String,
        key: Ed25519KeyPair,
        generation: usize,
        published: Arc<Published>,
        stop: Option<oneshot::Sender<()>>,
        server: Option<JoinHandle<()>>,
    }

    impl TestEdge {
        /// Binds a free port and publishes a fresh key (`kid` `test-1`).
        pub async fn start() -> std::io::Result<Self> {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let issuer = format!("http://{}", listener.local_addr()?);
            let key = Ed25519KeyPair::generate().with_key_id("test-1");
            let published = Arc::new(Published::default());
            *published
                .jwks
                .write()
                .unwrap_or_else(PoisonError::into_inner) = json!({"keys": [public_jwk(&key)]});
            let router = Router::new()
                .route(JWKS_PATH, get(serve_jwks))
                .with_state(published.clone());
            let (stop, stopped) = oneshot::channel::<()>();
            let server = tokio::spawn(async move {
                let shutdown = async {
                    let _ = stopped.await;
                };
                if let Err(err) = axum::serve(listener, router)
                    .with_graceful_shutdown(shutdown)
                    .await
                {
                    tracing::warn!(error = %err, "test JWKS server failed");
                }
            });
            Ok(Self {
                issuer,
                key,
                generation: 1,
                published,
                stop: Some(stop),
                server: Some(server),
            })
        }

        /// The JWKS URL.
        pub fn jwks_url(&self) -> String {
            format!("{}{JWKS_PATH}", self.issuer)
        }

        /// A verifier configuration for `audience` trusting this edge, with the crate's
        /// defaults.
        pub fn config(&self, audience: &str) -> VerifierConfig {
            VerifierConfig::new(self.jwks_url(), self.issuer.clone(), audience)
        }

        /// A valid assertion for `audience` and `sub`.
        pub fn assertion(&self, audience: &str, sub: &str, roles: &[&str]) -> String {
            self.sign(&TestAssertion::new(&self.issuer, audience, sub).with_roles(roles))
        }

        /// Signs with the current key.
        pub fn sign(&self, claims: &TestAssertion) -> String {
            sign_with(&self.key, claims)
        }

        /// The current signing key.
        pub fn key(&self) -> &Ed25519KeyPair {
            &self.key
        }

        /// Makes a new key (`test-<n>`) the signing key. With `keep_old`, the JWKS lists both
        /// (the documented rotation); without, only the new one.
        pub fn rotate(&mut self, keep_old: bool) {
            self.generation += 1;
            let key = Ed25519KeyPair::generate().with_key_id(&format!("test-{}", self.generation));
            let mut keys = vec![public_jwk(&key)];
            if keep_old {
                keys.push(public_jwk(&self.key));
            }
            *self
                .published
                .jwks
                .write()
                .unwrap_or_else(PoisonError::into_inner) = json!({"keys": keys});
            self.key = key;
        }

        /// How many JWKS requests the server has answered.
        pub fn jwks_requests(&self) -> usize {
            self.published.requests.load(Ordering::SeqCst)
        }

        /// While set, the JWKS endpoint answers 503.
        pub fn set_failing(&self, failing: bool) {
            self.published.failing.store(failing, Ordering::SeqCst);
        }

        /// Makes every JWKS answer wait this long first (a slow edge).
        pub fn set_delay(&self, delay: std::time::Duration) {
            let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
            self.published.delay_ms.store(ms, Ordering::SeqCst);
        }

        /// Stops the server: the port refuses connections afterwards.
        pub async fn stop(&mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            if let Some(server) = self.server.take() {
                let _ = server.await;
            }
        }
    }

    impl Drop for TestEdge {
        fn drop(&mut self) {
            if let Some(server) = self.server.take() {
                server.abort();
            }
        }
    }

    async fn serve_jwks(State(published): State<Arc<Published>>) -> Response {
        published.requests.fetch_add(1, Ordering::SeqCst);
        let delay = published.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        if published.failing.load(Ordering::SeqCst) {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        let jwks = published
            .jwks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Json(jwks).into_response()
    }
}
