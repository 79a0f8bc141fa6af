//! Signed requests to the origin and the filtered passage of its responses back.

use edgeauth_core::edge_signature::SignedRequest;
use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{AbortSignal, RequestInit, RequestRedirect, Response, WorkerGlobalScope};

use super::http::{Body, Reply};
use super::state::Edge;
use super::timing::now_secs;
use crate::auth::Identity;
use crate::error::EdgeError;
use crate::forwarding::{edge_headers, method_has_body, RETURNED_RESPONSE_HEADERS, SET_COOKIE};
use crate::security::Surface;

/// One request to the origin, before signing.
pub struct OriginRequest<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub identity: Option<&'a Identity>,
    pub request_id: &'a str,
    pub client_ip: &'a str,
    pub body: &'a [u8],
    /// Client headers already filtered by `forwarding::forward_request_header`.
    pub client_headers: Vec<(String, String)>,
}

/// Signs and sends the request. `timeout_ms` bounds the whole exchange, body included: the
/// runtime aborts the fetch when `AbortSignal.timeout` fires (a native timer, cheaper than racing
/// a Rust future against `setTimeout`), so a stalled origin ends as a 503, never a hang.
pub async fn send(
    edge: &Edge,
    request: &OriginRequest<'_>,
    timeout_ms: u32,
) -> Result<Response, EdgeError> {
    let unavailable = |detail: String| EdgeError::OriginUnavailable { detail };
    let internal = |e: JsValue| EdgeError::Internal {
        detail: format!("building the origin request failed: {e:?}"),
    };
    let nonce = crate::ids::nonce().map_err(|e| EdgeError::Internal {
        detail: format!("no randomness for the nonce: {e}"),
    })?;
    let signed = SignedRequest {
        method: request.method,
        path_and_query: request.path_and_query,
        timestamp: now_secs(),
        nonce: &nonce,
        user_id: request.identity.map(|i| i.user_id.as_str()),
        session_id: request.identity.map(|i| i.session_id.as_str()),
        request_id: request.request_id,
        client_ip: request.client_ip,
        body: request.body,
    };

    // The client's headers never carry the edge's names (`forward_request_header`), so the
    // edge's own are simply added after them.
    let signature = edge_headers(&edge.config.edge_secret, &signed);
    let list: Vec<(&str, &str)> = request
        .client_headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .chain(
            signature
                .iter()
                .map(|(name, value)| (*name, value.as_str())),
        )
        .collect();
    let headers = super::headers::build(&list).map_err(internal)?;
    let init = RequestInit::new();
    init.set_method(request.method);
    init.set_headers(&headers);
    init.set_redirect(RequestRedirect::Manual);
    init.set_signal(Some(&AbortSignal::timeout_with_u32(timeout_ms)));
    if method_has_body(request.method) {
        init.set_body(&Uint8Array::from(request.body));
    }

    let url = format!("{}{}", edge.config.origin_url, request.path_and_query);
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    let pending = js_sys::futures::JsFuture::from(global.fetch_with_str_and_init(&url, &init));
    match pending.await {
        Err(e) if is_timeout(&e) => Err(unavailable(format!(
            "{} {url} did not answer within {timeout_ms} ms",
            request.method
        ))),
        Err(e) => Err(unavailable(format!("{} {url}: {e:?}", request.method))),
        Ok(response) => response.dyn_into::<Response>().map_err(|_| {
            unavailable(format!(
                "{} {url}: fetch returned no Response",
                request.method
            ))
        }),
    }
}

/// Whether a fetch failed because its `AbortSignal.timeout` fired (a `TimeoutError`).
fn is_timeout(error: &JsValue) -> bool {
    js_sys::Reflect::get(error, &JsValue::from_str("name"))
        .ok()
        .and_then(|name| name.as_string())
        .is_some_and(|name| name == "TimeoutError")
}

/// The origin's status and body with only the headers clients may see.
pub fn into_reply(response: Response) -> Reply {
    let source = response.headers();
    let mut headers = Vec::new();
    for name in RETURNED_RESPONSE_HEADERS {
        if let Ok(Some(value)) = source.get(name) {
            headers.push((*name, value));
        }
    }
    // `get` would join several Set-Cookie headers with ", ", which breaks cookies; the
    // runtime's getAll keeps them apart.
    headers.extend(
        super::headers::set_cookies(&source)
            .into_iter()
            .map(|c| (SET_COOKIE, c)),
    );
    let content_type = headers
        .iter()
        .find(|(name, _)| *name == "content-type")
        .map(|(_, value)| value.as_str());
    let surface = Surface::of_origin_response(content_type);
    Reply {
        status: response.status(),
        headers,
        body: Body::Stream(response.body()),
        surface,
    }
}
