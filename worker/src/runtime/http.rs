//! Request bodies in, responses out: the web_sys plumbing shared by every handler.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{ReadableStream, ReadableStreamDefaultReader, Response, ResponseInit};

use crate::error::EdgeError;
use crate::security::{finalize_headers, Surface};

/// What a handler produced: a reply the edge finishes (security headers, CORS), or an app's
/// response already finished by `app::forward` (headers decided by `crate::proxy`).
pub enum Answer {
    Reply(Reply),
    Proxied { status: u16, response: Response },
}

/// A response before the edge adds its own headers.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
    /// API data or a page file: decides the CSP and caching headers.
    pub surface: Surface,
}

pub enum Body {
    Empty,
    Text(String),
    /// The origin's body, streamed through unread.
    Stream(Option<ReadableStream>),
}

impl Reply {
    pub fn json(status: u16, body: String) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".to_owned())],
            body: Body::Text(body),
            surface: Surface::Api,
        }
    }

    pub fn error(error: &EdgeError) -> Self {
        let mut reply = Self::json(error.status(), error.to_api_error().to_json());
        reply
            .headers
            .extend(error.headers().into_iter().map(|(n, v)| (n, v.to_owned())));
        reply
    }

    /// The final response with security headers, `x-request-id` and CORS headers.
    pub fn into_response(
        self,
        request_id: &str,
        cors: Vec<(&'static str, String)>,
    ) -> Result<Response, JsValue> {
        let headers = super::headers::build(&finalize_headers(
            self.surface,
            self.headers,
            request_id,
            cors,
        ))?;
        let init = ResponseInit::new();
        init.set_status(self.status);
        init.set_headers(&headers);
        match self.body {
            Body::Empty => Response::new_with_opt_str_and_init(None, &init),
            Body::Text(text) => Response::new_with_opt_str_and_init(Some(&text), &init),
            Body::Stream(stream) => {
                Response::new_with_opt_readable_stream_and_init(stream.as_ref(), &init)
            }
        }
    }
}

/// Reads a request body completely, refusing (without buffering the rest) anything over `limit`
/// bytes. A declared `Content-Length` over the limit is refused before reading at all.
pub async fn read_body(request: &web_sys::Request, limit: usize) -> Result<Vec<u8>, EdgeError> {
    let too_large = EdgeError::PayloadTooLarge { limit };
    let declared = request
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .map(|v| v.trim().parse::<u64>());
    match declared {
        Some(Ok(length)) if length > limit as u64 => return Err(too_large),
        Some(Err(_)) => {
            return Err(EdgeError::BadRequest {
                detail: "Content-Length is not a number".into(),
            })
        }
        _ => {}
    }
    let Some(stream) = request.body() else {
        return Ok(Vec::new());
    };
    let unreadable = |e: JsValue| EdgeError::BadRequest {
        detail: format!("reading the request body failed: {e:?}"),
    };
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut body = Vec::new();
    loop {
        let chunk = js_sys::futures::JsFuture::from(reader.read())
            .await
            .map_err(unreadable)?;
        if Reflect::get(&chunk, &JsValue::from_str("done"))
            .map_err(unreadable)?
            .is_truthy()
        {
            return Ok(body);
        }
        let bytes: Uint8Array = Reflect::get(&chunk, &JsValue::from_str("value"))
            .map_err(unreadable)?
            .dyn_into()
            .map_err(unreadable)?;
        let start = body.len();
        let end = start + bytes.length() as usize;
        if end > limit {
            // Tell the client side we are done; the rest of the upload is discarded.
            let _cancelled = reader.cancel();
            return Err(too_large);
        }
        body.resize(end, 0);
        bytes.copy_to(&mut body[start..]);
    }
}
