//! Proxying to an app upstream: the client's request (headers filtered by `crate::proxy`,
//! the body streamed within the rule's limit) plus the signed assertion, and the app's
//! response streamed back (SSE included) or its WebSocket handed through.

use edgeauth_core::routes::{Rule, Upstream};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    AbortController, Headers, ReadableStream, Request, RequestInit, RequestRedirect, Response,
    ResponseInit, WorkerGlobalScope,
};

use super::assertion;
use super::headers;
use super::http::Answer;
use super::state::Edge;
use crate::auth::Identity;
use crate::error::EdgeError;
use crate::forwarding::{method_has_body, SET_COOKIE};
use crate::proxy::{
    app_request_headers, app_response_headers, app_set_cookies, check_declared_length,
    is_websocket_upgrade, Forwarded,
};

// The stream and timer glue in JavaScript: per chunk of a body, a call into Wasm and back would
// cost more than the counting itself, and a timer needs no Rust closure this way.
// `count_body`: the body through a `TransformStream` that counts bytes; once more than `limit`
// have passed it aborts the upstream fetch with the reason `over-limit` (the app sees a broken
// request, never a shorter body that looks whole) and errors the stream.
// `abort_after`: aborts the fetch with the reason `timeout` after `ms` unless `cancel`led.
#[wasm_bindgen(inline_js = "
export function count_body(stream, limit, controller) {
  let seen = 0;
  return stream.pipeThrough(new TransformStream({
    transform(chunk, sink) {
      seen += chunk.byteLength;
      if (seen > limit) {
        controller.abort('over-limit');
        sink.error(new Error('request body over the limit'));
        return;
      }
      sink.enqueue(chunk);
    },
  }));
}
export function abort_after(controller, ms) {
  return setTimeout(() => controller.abort('timeout'), ms);
}
export function cancel(timer) {
  clearTimeout(timer);
}
export function abort_reason(controller) {
  const reason = controller.signal.reason;
  return typeof reason === 'string' ? reason : '';
}
")]
extern "C" {
    fn count_body(
        stream: ReadableStream,
        limit: f64,
        controller: &AbortController,
    ) -> ReadableStream;
    fn abort_after(controller: &AbortController, ms: u32) -> JsValue;
    fn cancel(timer: &JsValue);
    fn abort_reason(controller: &AbortController) -> String;
}

const OVER_LIMIT: &str = "over-limit";
const TIMEOUT: &str = "timeout";

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
    let pairs = headers::pairs(&req.headers());
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
    let controller = AbortController::new().map_err(internal)?;
    let body = match req.body() {
        Some(stream) if method_has_body(&method) => Some(if declared {
            stream
        } else {
            // Limits are at most 1 GiB, exact as an f64.
            count_body(stream, limit as f64, &controller)
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
    // The timeout bounds the wait for the response headers only: a long SSE stream or
    // download keeps flowing after it.
    let timeout = request.upstream.timeout_ms;
    let timer = abort_after(&controller, timeout);
    let outcome =
        js_sys::futures::JsFuture::from(global.fetch_with_str_and_init(&url, &init)).await;
    cancel(&timer);
    let aborted = abort_reason(&controller);
    let response: Response = match outcome {
        // Checked on success too: the app must never act on a cut-off body as if it were whole.
        _ if aborted == OVER_LIMIT => {
            return Err(EdgeError::PayloadTooLarge {
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            })
        }
        Err(_) if aborted == TIMEOUT => {
            return Err(EdgeError::UpstreamTimeout {
                detail: format!(
                    "{method} {url} (upstream {}) sent no response within {timeout} ms",
                    request.upstream.id
                ),
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
    let upstream_headers = headers::pairs(&source)
        .into_iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case(SET_COOKIE));
    let out = Headers::new().map_err(internal)?;
    for (name, value) in
        app_response_headers(upstream_headers, request.request_id, request.cors.clone())
    {
        out.append(&name, &value).map_err(internal)?;
    }
    for cookie in app_set_cookies(headers::set_cookies(&source)) {
        out.append(SET_COOKIE, &cookie).map_err(internal)?;
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
