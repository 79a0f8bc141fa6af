//! Signature checks with the runtime's WebCrypto (`crypto.subtle.verify`), keys imported once.
//!
//! Native Ed25519 in workerd costs about a fifth of jwt-simple's pure-Rust verification in Wasm
//! (docs/performance.md). Everything else about a token is decided by
//! `edgeauth_core::token_split` first; only the signature over the signing input comes here.

use std::cell::RefCell;

use edgeauth_core::keys::{Algorithm, VerificationKey, VerificationKeys};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{CryptoKey, SubtleCrypto, WorkerGlobalScope};

use crate::error::EdgeError;

/// Keys already imported in this isolate, by their raw public key (a `kid` may be reused for a
/// different key after a rotation; the key material cannot).
struct Imported {
    raw: Vec<u8>,
    key: CryptoKey,
}

thread_local! {
    static KEYS: RefCell<Vec<Imported>> = const { RefCell::new(Vec::new()) };
    /// The `verify` algorithm parameters, built once.
    static ECDSA_SHA256: Object = ecdsa_params(&[("hash", "SHA-256")]);
}

/// Whether `signature` is `key`'s signature over `message`. Err only when the runtime fails
/// (no WebCrypto, an unimportable key): the caller answers 5xx, never accepts.
pub async fn verify(
    key: &VerificationKey,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, EdgeError> {
    let subtle = subtle()?;
    let crypto_key = imported(&subtle, key).await?;
    let promise = match key.algorithm() {
        Algorithm::EdDSA => subtle.verify_with_str_and_u8_array_and_u8_array(
            "Ed25519",
            &crypto_key,
            signature,
            message,
        ),
        Algorithm::ES256 => ECDSA_SHA256.with(|params| {
            subtle.verify_with_object_and_u8_array_and_u8_array(
                params,
                &crypto_key,
                signature,
                message,
            )
        }),
    }
    .map_err(failure("crypto.subtle.verify"))?;
    let verdict = js_sys::futures::JsFuture::from(promise)
        .await
        .map_err(failure("crypto.subtle.verify"))?;
    Ok(verdict.as_bool() == Some(true))
}

/// Imports every key of a set (those not imported yet), so a key the runtime refuses — a P-256
/// point off the curve — fails the set where it is loaded rather than the first token naming it.
pub async fn import_all(keys: &VerificationKeys) -> Result<(), EdgeError> {
    let subtle = subtle()?;
    for kid in keys.kids() {
        if let Some(key) = keys.get(kid) {
            imported(&subtle, key)
                .await
                .map_err(|_| EdgeError::Internal {
                    detail: format!("key {kid:?} is not importable"),
                })?;
        }
    }
    Ok(())
}

fn subtle() -> Result<SubtleCrypto, EdgeError> {
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    Ok(global.crypto().map_err(failure("crypto"))?.subtle())
}

/// The isolate's `CryptoKey` for `key`, importing it on first use.
async fn imported(subtle: &SubtleCrypto, key: &VerificationKey) -> Result<CryptoKey, EdgeError> {
    let raw = key.raw();
    let cached = KEYS.with(|keys| {
        keys.borrow()
            .iter()
            .find(|k| k.raw == raw)
            .map(|k| k.key.clone())
    });
    if let Some(key) = cached {
        return Ok(key);
    }
    let data: Object = Uint8Array::from(raw).into();
    let usages = Array::of1(&JsValue::from_str("verify"));
    let promise = match key.algorithm() {
        Algorithm::EdDSA => subtle.import_key_with_str("raw", &data, "Ed25519", false, &usages),
        Algorithm::ES256 => subtle.import_key_with_object(
            "raw",
            &data,
            &ecdsa_params(&[("namedCurve", "P-256")]),
            false,
            &usages,
        ),
    }
    .map_err(unusable)?;
    let crypto_key: CryptoKey = js_sys::futures::JsFuture::from(promise)
        .await
        .map_err(unusable)?
        .dyn_into()
        .map_err(unusable)?;
    KEYS.with(|keys| {
        keys.borrow_mut().push(Imported {
            raw: raw.to_vec(),
            key: crypto_key.clone(),
        })
    });
    Ok(crypto_key)
}

/// `{name: "ECDSA", <extra>...}`.
fn ecdsa_params(extra: &[(&str, &str)]) -> Object {
    let params = Object::new();
    for (name, value) in [("name", "ECDSA")].iter().chain(extra) {
        // Setting a string property on a fresh plain object cannot fail.
        let _ = Reflect::set(&params, &JsValue::from_str(name), &JsValue::from_str(value));
    }
    params
}

/// A key WebCrypto will not import (a pinned P-256 point off the curve): the configuration's
/// fault, answered 503 and logged with the runtime's reason.
fn unusable(e: JsValue) -> EdgeError {
    EdgeError::UnusableKey {
        detail: format!("crypto.subtle.importKey refused a verification key: {e:?}"),
    }
}

fn failure(what: &'static str) -> impl Fn(JsValue) -> EdgeError {
    move |e| EdgeError::Internal {
        detail: format!("{what} failed: {e:?}"),
    }
}
