//! Proxying to an app upstream: the client's request (headers filtered by `crate::proxy`,
//! the body streamed within the rule's limit) plus the signed assertion, and the app's
//! response streamed back (SSE included) or its WebSocket handed through.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use edgeauth_core::routes::{Rule, Upstream};
use futures_util::future::{select, Either};
use js_sys::{Function, Object, Reflect, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    AbortController, Headers, ReadableStream, Request, RequestInit, RequestRedirect, Response,
    ResponseInit, WorkerGlobalScope,
};

use super::assertion;
use super::http::Answer;
use super::state::Edge;
use crate::auth::Identity;
use crate::error::EdgeError;
use crate::forwarding::{method_has_body, SET_COOKIE};
use crate::proxy::{
    app_request_headers, app_response_headers, app_set_cookies, check_declared_length,
    is_websocket_upgrade, Forwarded,
};

/// One request for an app, as the pipeline matched and authenticated it.
pub struct AppRequest<'a> {
    pub rule: &'a Rule,
    pub upstream: &'a Upstream,
    pub identity: Option<&'a Identity>,
    pub request_id: &'a str,
    pub url: &'a str,
    pub path_and_query: &'a str,
    pub host: &'a str,
    pub client_ip: &'a str,
    pub cors: Vec<(&'static str, String)>,
    /// The edge's own cookies for the response (a silent refresh's new session cookies).
    pub set_cookies: &'a [String],
}

pub async fn forward(
    edge: &Edge,
    req: &Request,
    request: &AppRequest<'_>,
) -> Result<Answer, EdgeError> {
    let internal = |e: JsValue| EdgeError::Internal {
        detail: format!("building the app request failed: {e:?}"),
    };
    let pairs = header_pairs(&req.headers());
    let websocket = is_websocket_upgrade(&pairs);
    let method = req.method();

    // The body: refused up front when its declared length is over the limit; counted on the
    // way (chunked uploads) otherwise. Never buffered.
    let content_length = pairs
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.as_str());
    let limit = request.rule.body_limit;
    let declared = check_declared_length(content_length, limit)?;
    let over_limit = Rc::new(Cell::new(false));
    let controller = AbortController::new().map_err(internal)?;
    let body = match req.body() {
        Some(stream) if method_has_body(&method) => Some(if declared {
            stream
        } else {
            counted(stream, limit, over_limit.clone(), controller.clone()).map_err(internal)?
        }),
        _ => None,
    };

    let scheme = request.url.split("://").next().unwrap_or("https");
    let authority = request
        .url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', '?']).next())
        .unwrap_or(request.host);
    let forwarded = Forwarded {
        client_ip: request.client_ip,
        host: authority,
        proto: scheme,
    };
    let headers = Headers::new().map_err(internal)?;
    for (name, value) in app_request_headers(&pairs, request.upstream, &forwarded) {
        headers.append(&name, &value).map_err(internal)?;
    }
    if let Some(identity) = request.identity {
        let token =
            assertion::for_request(edge, request.upstream, identity, request.request_id).await?;
        headers
            .set(&request.upstream.assertion_header, &token)
            .map_err(internal)?;
    }

    let init = RequestInit::new();
    init.set_method(&method);
    init.set_headers(&headers);
    init.set_redirect(RequestRedirect::Manual);
    init.set_signal(Some(&controller.signal()));
    if let Some(body) = &body {
        init.set_body(body);
    }
    let url = format!("{}{}", request.upstream.url, request.path_and_query);
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    let pending = js_sys::futures::JsFuture::from(global.fetch_with_str_and_init(&url, &init));
    // The timeout bounds the wait for the response headers only: a long SSE stream or
    // download keeps flowing after it.
    let timeout = request.upstream.timeout_ms;
    let delay = worker::Delay::from(Duration::from_millis(u64::from(timeout)));
    let outcome = match select(pending, delay).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(_) => {
            controller.abort();
            return Err(EdgeError::UpstreamTimeout {
                detail: format!(
                    "{method} {url} (upstream {}) sent no response within {timeout} ms",
                    request.upstream.id
                ),
            });
        }
    };
    let response: Response = match outcome {
        // Checked on success too: the app must never act on a cut-off body as if it were whole.
        _ if over_limit.get() => {
            return Err(EdgeError::PayloadTooLarge {
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            })
        }
        Err(e) => {
            return Err(EdgeError::UpstreamUnavailable {
                detail: format!("{method} {url} (upstream {}): {e:?}", request.upstream.id),
            })
        }
        Ok(value) => value
            .dyn_into()
            .map_err(|_| EdgeError::UpstreamUnavailable {
                detail: format!("{method} {url}: fetch returned no Response"),
            })?,
    };

    let status = response.status();
    if websocket && status == 101 {
        // The upstream's socket goes to the client as it is: the runtime relays the frames.
        return Ok(Answer::Proxied { status, response });
    }
    let source = response.headers();
    let upstream_headers = header_pairs(&source)
        .into_iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case(SET_COOKIE));
    let out = Headers::new().map_err(internal)?;
    for (name, value) in
        app_response_headers(upstream_headers, request.request_id, request.cors.clone())
    {
        out.append(&name, &value).map_err(internal)?;
    }
    // `get` would join several Set-Cookie headers with ", ", which breaks cookies.
    if let Ok(cookies) = worker::Headers(source).get_all(SET_COOKIE) {
        for cookie in app_set_cookies(cookies) {
            out.append(SET_COOKIE, &cookie).map_err(internal)?;
        }
    }
    for cookie in request.set_cookies {
        out.append(SET_COOKIE, cookie).map_err(internal)?;
    }
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(&out);
    let body = response.body();
    let response =
        Response::new_with_opt_readable_stream_and_init(body.as_ref(), &init).map_err(internal)?;
    Ok(Answer::Proxied { status, response })
}

/// Every header of a request or response, in the runtime's order (names lowercase).
fn header_pairs(headers: &Headers) -> Vec<(String, String)> {
    js_sys::try_iter(headers)
        .ok()
        .flatten()
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let pair: js_sys::Array = entry.ok()?.into();
            Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
        })
        .collect()
}

/// The body through a `TransformStream` that counts bytes; once more than `limit` have passed
/// it aborts the upstream fetch (the app sees a broken request, never a shorter body that looks
/// whole) and errors the stream; `over` tells the caller why the fetch failed.
fn counted(
    stream: ReadableStream,
    limit: u64,
    over: Rc<Cell<bool>>,
    fetch: AbortController,
) -> Result<ReadableStream, JsValue> {
    let seen = Cell::new(0u64);
    let transform = Closure::<dyn FnMut(JsValue, JsValue) -> Result<(), JsValue>>::new(
        move |chunk: JsValue, controller: JsValue| {
            let length = chunk
                .dyn_ref::<Uint8Array>()
                .map_or(0, |bytes| u64::from(bytes.length()));
            seen.set(seen.get() + length);
            if seen.get() > limit {
                over.set(true);
                fetch.abort();
                let error: Function = Reflect::get(&controller, &"error".into())?.dyn_into()?;
                error.call1(
                    &controller,
                    &JsValue::from_str("request body over the limit"),
                )?;
                return Ok(());
            }
            let enqueue: Function = Reflect::get(&controller, &"enqueue".into())?.dyn_into()?;
            enqueue.call1(&controller, &chunk)?;
            Ok(())
        },
    );
    let transformer = Object::new();
    // The closure lives as long as the stream: JS owns it from here.
    Reflect::set(
        &transformer,
        &"transform".into(),
        &transform.into_js_value(),
    )?;
    let constructor: Function =
        Reflect::get(&js_sys::global(), &"TransformStream".into())?.dyn_into()?;
    let pipe = Reflect::construct(&constructor, &js_sys::Array::of1(&transformer))?;
    let pipe_through: Function = Reflect::get(&stream, &"pipeThrough".into())?.dyn_into()?;
    pipe_through.call1(&stream, &pipe)?.dyn_into()
}
