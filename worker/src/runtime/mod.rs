//! The Workers adapter (wasm32 only): the fetch entry point and its I/O around the pure modules.

mod handlers;
mod http;
mod origin;
mod redis;
mod state;
mod timing;

use worker::{console_error, event, Context, Env};

use crate::error::EdgeError;
use http::Reply;

/// Every request enters here. Whatever happens, the client gets the JSON error shape and the
/// security headers; the only exception is a failure of the runtime to build a response at all.
#[event(fetch)]
async fn fetch(
    req: web_sys::Request,
    env: Env,
    _ctx: Context,
) -> worker::Result<web_sys::Response> {
    let request_id = crate::ids::request_id().unwrap_or_else(|_| "unavailable".to_owned());
    let request_origin = req.headers().get("origin").ok().flatten();
    let edge = state::edge(&env);

    let reply = match &edge {
        Ok(edge) => handlers::handle(edge, &req, &request_id).await,
        Err(config_error) => {
            console_error!("[{request_id}] {config_error}");
            Err(EdgeError::Misconfigured)
        }
    }
    .unwrap_or_else(|error| {
        if error.is_server_fault() {
            console_error!("[{request_id}] {error}");
        }
        Reply::error(&error)
    });

    let cors = match &edge {
        Ok(edge) => edge.config.cors.response_headers(request_origin.as_deref()),
        Err(_) => Vec::new(),
    };
    Ok(reply.into_response(&request_id, cors)?)
}
