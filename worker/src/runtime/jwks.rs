//! Keys for verifying a request's token: the isolate's cache, refreshed from the origin's JWKS when
//! `key_cache` says so.

use std::rc::Rc;

use edgeauth_core::keys::VerificationKeys;
use wasm_bindgen::JsCast;

use super::origin::{self, OriginRequest};
use super::state::Edge;
use super::webcrypto;
use crate::access_log;
use crate::key_cache::Plan;

/// The published key set's path at the origin.
const JWKS_PATH: &str = "/.well-known/jwks.json";
/// A JWKS fetch holds up one request: wait at most this long, whatever `ORIGIN_TIMEOUT_MS` says.
const FETCH_TIMEOUT_MS: u32 = 2000;

/// The keys to verify a token naming `kid` with. Call it only for a token that could be genuine:
/// it passed every check that needs no key (`edgeauth_core::token_split::decode_access_token`,
/// which the caller has already run, so the token is parsed once). Fetches the origin's JWKS
/// first only if `kid` is unknown or the cached set is stale — at most once per interval per
/// isolate.
pub async fn keys_for(edge: &Edge, kid: &str, request_id: &str) -> Rc<VerificationKeys> {
    let plan = edge.keys.borrow_mut().plan(kid, now_ms());
    if plan == Plan::Fetch {
        match fetch(edge, request_id).await {
            Ok(keys) => {
                let count = keys.len();
                let dropped = edge.keys.borrow_mut().fetched(keys, now_ms());
                worker::console_log!(
                    "{}",
                    access_log::event(
                        "info",
                        request_id,
                        &format!("fetched the origin's JWKS ({count} keys) for kid {kid:?}")
                    )
                );
                if !dropped.is_empty() {
                    worker::console_warn!(
                        "{}",
                        access_log::event(
                            "warn",
                            request_id,
                            &format!(
                                "pinned keys {dropped:?} are no longer published by the origin and \
                                 no longer trusted; remove them from EDGEAUTH_JWKS"
                            )
                        )
                    );
                }
            }
            Err(problem) => {
                edge.keys.borrow_mut().fetch_failed(now_ms());
                worker::console_error!(
                    "{}",
                    access_log::event(
                        "error",
                        request_id,
                        &format!("JWKS fetch failed, keeping the cached keys: {problem}")
                    )
                );
            }
        }
    }
    edge.keys.borrow().keys()
}

/// `GET /.well-known/jwks.json` at the origin, signed like every origin call.
async fn fetch(edge: &Edge, request_id: &str) -> Result<VerificationKeys, String> {
    let request = OriginRequest {
        method: "GET",
        path_and_query: JWKS_PATH,
        identity: None,
        request_id,
        client_ip: "unknown",
        body: &[],
        client_headers: Vec::new(),
    };
    let timeout = edge.config.origin_timeout_ms.min(FETCH_TIMEOUT_MS);
    let response = origin::send(edge, &request, timeout)
        .await
        .map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(format!("origin answered {}", response.status()));
    }
    let text = response
        .text()
        .map_err(|e| format!("reading the body: {e:?}"))?;
    // The request's timeout signal bounds the body too.
    let text = js_sys::futures::JsFuture::from(text)
        .await
        .map_err(|e| format!("reading the body: {e:?}"))?;
    let text = text
        .dyn_into::<js_sys::JsString>()
        .map(String::from)
        .map_err(|_| "the body is not text")?;
    let keys = VerificationKeys::from_json(&text).map_err(|e| format!("not a usable JWKS: {e}"))?;
    // The runtime checks the key material (a P-256 point on the curve) as it imports it.
    webcrypto::import_all(&keys)
        .await
        .map_err(|e| format!("not a usable JWKS: {e}"))?;
    Ok(keys)
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
