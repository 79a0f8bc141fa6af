//! The Workers adapter (wasm32 only): the fetch entry point and its I/O around the pure modules.

mod abort;
mod app;
mod assertion;
mod assets;
mod browser;
mod handlers;
mod headers;
mod http;
mod jwks;
mod microtasks;
mod origin;
mod redis;
mod state;
mod timing;
mod webcrypto;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{console_error, console_log, Env};

use crate::access_log::{self, RequestLine};
use crate::error::EdgeError;
use crate::forwarding::ClientHeaders;
use http::{Answer, Reply};

/// Every request enters here. Whatever happens, the client gets the JSON error shape and the
/// security headers; the only exception is a failure of the runtime to build a response at all,
/// which reaches the runtime as an exception (it answers 500).
///
/// The `fetch` export the bundle's shim calls, written out instead of workers-rs's
/// `#[event(fetch)]`: that glue's fallback for an `Err` formats a `worker::Error` (every variant
/// of it, from every binding the crate supports) into a `worker::Response`, about 10 KB of the
/// Wasm for a path this handler never takes (docs/performance.md, "Bundle size").
#[wasm_bindgen]
pub async fn fetch(
    req: web_sys::Request,
    env: Env,
    _ctx: worker::worker_sys::Context,
) -> Result<JsValue, JsValue> {
    microtasks::install();
    abort::install();
    let started = js_sys::Date::now();
    let request_id = crate::ids::request_id().unwrap_or_else(|_| "unavailable".to_owned());
    let headers = client_headers(&req);
    let request_origin = headers.origin.clone();
    let mut refused = None;
    let edge = state::edge(&env);

    let answer = match &edge {
        Ok(edge) => handlers::handle(edge, &env, &req, headers, &request_id).await,
        Err(config_error) => {
            let text = config_error.to_string();
            console_error!("{}", access_log::event("error", &request_id, &text));
            Err(EdgeError::Misconfigured)
        }
    }
    .unwrap_or_else(|error| {
        if error.is_server_fault() {
            let text = error.to_string();
            console_error!("{}", access_log::event("error", &request_id, &text));
        }
        refused = Some(error.code().as_str());
        Answer::Reply(Reply::error(&error))
    });

    let (status, response) = match answer {
        Answer::Reply(reply) => {
            let cors = match &edge {
                Ok(edge) => edge.config.cors.response_headers(request_origin.as_deref()),
                Err(_) => Vec::new(),
            };
            let status = reply.status;
            let response = reply.into_response(&request_id, cors).inspect_err(|e| {
                console_error!(
                    "{}",
                    access_log::event(
                        "error",
                        &request_id,
                        &format!("building the response failed: {e:?}")
                    )
                );
            })?;
            (status, response)
        }
        Answer::Proxied { status, response } => (status, response),
    };
    // The matched rule's pattern only: neither the path nor the query reaches the log.
    let url = req.url();
    let path_and_query = crate::forwarding::path_and_query(&url);
    let path = crate::forwarding::path_of(&path_and_query);
    let route = edge.as_ref().ok().and_then(|edge| {
        edge.config
            .routes
            .pattern_of(&crate::forwarding::host_of(&url), path)
    });
    console_log!(
        "{}",
        access_log::request_line(&RequestLine {
            request_id: &request_id,
            method: &req.method(),
            route,
            status,
            duration_ms: js_sys::Date::now() - started,
            error: refused,
        })
    );
    Ok(response.into())
}

/// The request's headers in one pass: one iteration instead of a `Headers.get` per name.
fn client_headers(req: &web_sys::Request) -> ClientHeaders {
    ClientHeaders::collect(headers::pairs(&req.headers()))
}
