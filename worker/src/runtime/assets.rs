//! The demo page's files, fetched from the Workers static-assets binding (`[assets]` in wrangler.toml).

use js_sys::futures::JsFuture;
use js_sys::Promise;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Request, Response};
use worker::Env;

use super::http::{Body, Reply};
use crate::error::EdgeError;
use crate::security::Surface;

/// The `[assets] binding` name in wrangler.toml.
const ASSETS_BINDING: &str = "ASSETS";

/// Asset response headers passed to the client; the edge adds its own security headers.
const RETURNED_HEADERS: &[&str] = &["content-type", "etag", "last-modified"];

#[wasm_bindgen]
extern "C" {
    /// The assets binding: a Fetcher whose `fetch` answers with files from `web/`. Declared
    /// here rather than through `worker::Fetcher`, which would link the crate's whole
    /// Request/Response wrapper layer into the Wasm for this one call.
    type AssetsBinding;

    #[wasm_bindgen(method, catch)]
    fn fetch(this: &AssetsBinding, request: &Request) -> Result<Promise, JsValue>;
}

/// Fetches the request's file from the assets binding. The client's request goes through as
/// it is (GET, its conditional headers), so `If-None-Match` revalidation gets a 304. Without
/// the binding (plain `workerd serve` has none) or the file, the answer is the JSON 404.
pub async fn serve(env: &Env, req: &Request) -> Result<Reply, EdgeError> {
    let binding = js_sys::Reflect::get(env, &JsValue::from_str(ASSETS_BINDING))
        .ok()
        .filter(|value| value.is_object())
        .ok_or(EdgeError::NotFound)?;
    let failed = |e: JsValue| EdgeError::Internal {
        detail: format!("the assets binding failed: {e:?}"),
    };
    let pending = binding
        .unchecked_into::<AssetsBinding>()
        .fetch(req)
        .map_err(failed)?;
    let response: Response = JsFuture::from(pending)
        .await
        .map_err(failed)?
        .dyn_into()
        .map_err(failed)?;
    match response.status() {
        200 | 304 => {}
        404 => return Err(EdgeError::NotFound),
        status => {
            return Err(EdgeError::Internal {
                detail: format!("the assets binding answered {status} for {}", req.url()),
            })
        }
    }
    let source = response.headers();
    let headers = RETURNED_HEADERS
        .iter()
        .filter_map(|name| Some((*name, source.get(name).ok().flatten()?)))
        .collect();
    Ok(Reply {
        status: response.status(),
        headers,
        body: Body::Stream(response.body()),
        surface: Surface::Page,
    })
}
