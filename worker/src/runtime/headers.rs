//! Moving header lists between the runtime's `Headers` objects and Rust: each list crosses the
//! Wasm boundary once, as one string of `name:value` lines, and `Set-Cookie` headers one by one.
//!
//! A header name never contains `:` or a line break and a header value never contains a line
//! break (the Fetch standard refuses both), so the lines split back into exactly the pairs they
//! came from. Per pair, a call into or out of Wasm with its string conversions cost more than
//! the header itself (docs/performance.md, "The gateway").

use js_sys::Array;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Headers;

#[wasm_bindgen(inline_js = "
export function header_lines(headers) {
  let text = '';
  for (const [name, value] of headers) text += name + ':' + value + '\\n';
  return text;
}
export function headers_from_lines(text) {
  const headers = new Headers();
  let start = 0;
  while (start < text.length) {
    const end = text.indexOf('\\n', start);
    const colon = text.indexOf(':', start);
    headers.append(text.slice(start, colon), text.slice(colon + 1, end));
    start = end + 1;
  }
  return headers;
}
")]
extern "C" {
    fn header_lines(headers: &Headers) -> String;
    #[wasm_bindgen(catch)]
    fn headers_from_lines(text: &str) -> Result<Headers, JsValue>;
}

#[wasm_bindgen]
extern "C" {
    /// A `Headers` object with workerd's extensions.
    #[wasm_bindgen(extends = js_sys::Object)]
    type RuntimeHeaders;

    /// workerd's `Headers.getAll`, which only `Set-Cookie` supports: each header apart, where
    /// `get` would join them with ", " and break cookies.
    #[wasm_bindgen(method, catch, js_name = getAll)]
    fn get_all(this: &RuntimeHeaders, name: &str) -> Result<Array, JsValue>;
}

/// Every header, in the runtime's order (names lowercase, repeated headers joined as the Fetch
/// standard's iterator joins them): one call out of Wasm for the whole list.
pub fn pairs(headers: &Headers) -> Vec<(String, String)> {
    crate::forwarding::split_header_lines(&header_lines(headers))
}

/// A `Headers` object holding `pairs` in order (appended, so repeated names stay apart): one
/// call out of Wasm for the whole list. Refuses what the runtime's `append` would refuse
/// anyway, and a line break or a `:` in a name, which would not survive the trip.
pub fn build<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> Result<Headers, JsValue> {
    let text = crate::forwarding::join_header_lines(pairs)
        .ok_or_else(|| JsValue::from_str("a header name or value contains a line break"))?;
    headers_from_lines(&text)
}

/// The `Set-Cookie` headers, each whole.
pub fn set_cookies(headers: &Headers) -> Vec<String> {
    headers
        .unchecked_ref::<RuntimeHeaders>()
        .get_all("set-cookie")
        .map(|all| all.iter().filter_map(|c| c.as_string()).collect())
        .unwrap_or_default()
}
