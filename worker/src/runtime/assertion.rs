//! Signing identity assertions for apps with WebCrypto Ed25519, reusing one per session,
//! upstream and roles while `edgeauth_core::assertion::AssertionCache` allows.

use std::cell::{OnceCell, RefCell};

use edgeauth_core::assertion::{compact, signing_input, AssertionCache, AssertionKey, Subject};
use edgeauth_core::routes::Upstream;
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{CryptoKey, SubtleCrypto, WorkerGlobalScope};

use super::state::Edge;
use super::timing::now_secs;
use crate::access_log::{self, SIGNED_EVENT};
use crate::auth::Identity;
use crate::error::EdgeError;

thread_local! {
    static CACHE: RefCell<AssertionCache> = RefCell::new(AssertionCache::default());
    /// The signing key, imported once per isolate (secrets never change within one).
    static SIGNER: OnceCell<CryptoKey> = const { OnceCell::new() };
}

/// The assertion for this caller and upstream: a cached one if still fresh enough, else a
/// newly signed one.
pub async fn for_request(
    edge: &Edge,
    upstream: &Upstream,
    identity: &Identity,
    request_id: &str,
) -> Result<String, EdgeError> {
    let keys = edge
        .config
        .assertion_keys
        .as_ref()
        .ok_or_else(|| EdgeError::Internal {
            detail: "an app rule matched but EDGEAUTH_ASSERTION_KEYS is not set".into(),
        })?;
    let key = keys.current();
    let subject = Subject {
        issuer: &edge.config.policy.issuer,
        audience: &upstream.id,
        user_id: &identity.user_id,
        session_id: &identity.session_id,
        roles: &identity.roles,
        username: identity.username.as_deref(),
    };
    let now = now_secs();
    if let Some(token) = CACHE.with(|c| c.borrow().get(&key.kid, &subject, now).map(str::to_owned))
    {
        return Ok(token);
    }
    let input = signing_input(&key.kid, &subject, now);
    let signature = sign(key, input.as_bytes()).await?;
    let token = compact(&input, &signature);
    CACHE.with(|c| c.borrow_mut().put(&key.kid, &subject, now, token.clone()));
    // Rare (once per session, upstream and roles per 30 s): an audit trail of minted
    // identities, and what the benchmark counts signatures by.
    worker::console_log!(
        "{}",
        access_log::event(
            "info",
            request_id,
            &format!(
                "{SIGNED_EVENT} for upstream {} (session {}, kid {})",
                upstream.id, identity.session_id, key.kid
            )
        )
    );
    Ok(token)
}

async fn sign(key: &AssertionKey, message: &[u8]) -> Result<Vec<u8>, EdgeError> {
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    let subtle: SubtleCrypto = global.crypto().map_err(failure("crypto"))?.subtle();
    let crypto_key = match SIGNER.with(|s| s.get().cloned()) {
        Some(k) => k,
        None => {
            let imported = import(&subtle, key).await?;
            SIGNER.with(|s| {
                let _ = s.set(imported.clone());
            });
            imported
        }
    };
    let promise = subtle
        .sign_with_str_and_u8_array("Ed25519", &crypto_key, message)
        .map_err(failure("crypto.subtle.sign"))?;
    let signature = js_sys::futures::JsFuture::from(promise)
        .await
        .map_err(failure("crypto.subtle.sign"))?;
    Ok(Uint8Array::new(&signature).to_vec())
}

async fn import(subtle: &SubtleCrypto, key: &AssertionKey) -> Result<CryptoKey, EdgeError> {
    let jwk = Object::new();
    for (name, value) in [
        ("kty", "OKP"),
        ("crv", "Ed25519"),
        ("d", key.d.as_str()),
        ("x", key.x.as_str()),
    ] {
        Reflect::set(&jwk, &JsValue::from_str(name), &JsValue::from_str(value))
            .map_err(failure("building the JWK"))?;
    }
    let usages = Array::of1(&JsValue::from_str("sign"));
    let promise = subtle
        .import_key_with_str("jwk", &jwk, "Ed25519", false, &usages)
        .map_err(failure("crypto.subtle.importKey"))?;
    js_sys::futures::JsFuture::from(promise)
        .await
        .map_err(failure("crypto.subtle.importKey (EDGEAUTH_ASSERTION_KEYS)"))?
        .dyn_into()
        .map_err(failure("crypto.subtle.importKey"))
}

fn failure(what: &'static str) -> impl Fn(JsValue) -> EdgeError {
    move |e| EdgeError::Internal {
        detail: format!("{what} failed: {e:?}"),
    }
}
