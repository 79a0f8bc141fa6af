//! Proxying to an app upstream: the client's request (headers filtered by `crate::proxy`,
//! the body streamed within the rule's limit) plus the signed assertion, and the app's
//! response streamed back (SSE included) or its WebSocket handed through.

use edgeauth_core::routes::{Rule, Upstream};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{ReadableStream, Request, RequestInit, RequestRedirect, Response, ResponseInit};

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
// `fetch_app`: the upstream fetch with its own `AbortController`, aborted with the reason
// `timeout` after `ms` unless the response headers came first (a long SSE stream or download
// keeps flowing after them). With `limit >= 0` the body goes through a `TransformStream` that
// counts bytes; once more than `limit` have passed it aborts the fetch with the reason
// `over-limit` (the app sees a broken request, never a shorter body that looks whole) and errors
// the stream. Rejects with the abort reason (a string) when the edge aborted, with the runtime's
// error otherwise; an over-limit abort is reported even when the fetch resolved. One call out of
// Wasm per request instead of one per step.
#[wasm_bindgen(inline_js = "
export async function fetch_app(url, init, body, limit, ms) {
  const controller = new AbortController();
  init.signal = controller.signal;
  if (body !== undefined) {
    if (limit >= 0) {
      let seen = 0;
      body = body.pipeThrough(new TransformStream({
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
    init.body = body;
  }
  const timer = setTimeout(() => controller.abort('timeout'), ms);
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    const reason = controller.signal.reason;
    throw typeof reason === 'string' ? reason : error;
  } finally {
    clearTimeout(timer);
  }
  if (controller.signal.reason === 'over-limit') throw 'over-limit';
  return response;
}
")]
extern "C" {
    #[wasm_bindgen(catch)]
    async fn fetch_app(
        url: &str,
        init: &RequestInit,
        body: Option<ReadableStream>,
        limit: f64,
        ms: u32,
    ) -> Result<JsValue, JsValue>;
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
    /// Every client header (`ClientHeaders::all`).
    pub client_headers: &'a [(String, String)],
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
    let pairs = request.client_headers;
    let websocket = is_websocket_upgrade(pairs);
    let method = req.method();

    // The body: refused up front when its declared length is over the limit; counted on the
    // way (chunked uploads) otherwise. Never buffered.
    let content_length = pairs
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.as_str());
    let limit = request.rule.body_limit;
    let declared = check_declared_length(content_length, limit)?;
    let body = req.body().filter(|_| method_has_body(&method));
    // Limits are at most 1 GiB, exact as an f64; -1: the runtime enforces the declared length.
    let count_limit = if declared { -1.0 } else { limit as f64 };

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
    let mut outgoing = app_request_headers(pairs, request.upstream, &forwarded);
    if let Some(identity) = request.identity {
        let token =
            assertion::for_request(edge, request.upstream, identity, request.request_id).await?;
        // `app_request_headers` dropped any client header of this name.
        outgoing.push((request.upstream.assertion_header.clone(), token));
    }
    let headers = headers::build(&outgoing).map_err(internal)?;

    let init = RequestInit::new();
    init.set_method(&method);
    init.set_headers(&headers);
    init.set_redirect(RequestRedirect::Manual);
    let url = format!("{}{}", request.upstream.url, request.path_and_query);
    // The timeout bounds the wait for the response headers only.
    let timeout = request.upstream.timeout_ms;
    let outcome = fetch_app(&url, &init, body, count_limit, timeout).await;
    let response: Response = match outcome {
        Ok(value) => value
            .dyn_into()
            .map_err(|_| EdgeError::UpstreamUnavailable {
                detail: format!("{method} {url}: fetch returned no Response"),
            })?,
        // Checked on success too (`fetch_app`): the app must never act on a cut-off body as if
        // it were whole.
        Err(reason) if reason.as_string().as_deref() == Some(OVER_LIMIT) => {
            return Err(EdgeError::PayloadTooLarge {
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            })
        }
        Err(reason) if reason.as_string().as_deref() == Some(TIMEOUT) => {
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
    let mut out = app_response_headers(upstream_headers, request.request_id, request.cors.clone());
    // Only when the app set any: one more call out of Wasm otherwise.
    if source.has(SET_COOKIE).unwrap_or(false) {
        for cookie in app_set_cookies(headers::set_cookies(&source)) {
            out.push((SET_COOKIE.to_owned(), cookie));
        }
    }
    out.extend(
        request
            .set_cookies
            .iter()
            .map(|cookie| (SET_COOKIE.to_owned(), cookie.clone())),
    );
    let out = headers::build(&out).map_err(internal)?;
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(&out);
    let body = response.body();
    let response =
        Response::new_with_opt_readable_stream_and_init(body.as_ref(), &init).map_err(internal)?;
    Ok(Answer::Proxied { status, response })
}
