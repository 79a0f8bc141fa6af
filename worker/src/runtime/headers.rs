//! Reading a runtime `Headers` object into Rust: every pair in one pass, and `Set-Cookie`
//! headers one by one.

use js_sys::Array;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Headers;

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

/// Every header, in the runtime's order (names lowercase): one iteration instead of a
/// `Headers.get` call out of Wasm per name.
pub fn pairs(headers: &Headers) -> Vec<(String, String)> {
    js_sys::try_iter(headers)
        .ok()
        .flatten()
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let pair: Array = entry.ok()?.into();
            Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
        })
        .collect()
}

/// The `Set-Cookie` headers, each whole.
pub fn set_cookies(headers: &Headers) -> Vec<String> {
    headers
        .unchecked_ref::<RuntimeHeaders>()
        .get_all("set-cookie")
        .map(|all| all.iter().filter_map(|c| c.as_string()).collect())
        .unwrap_or_default()
}
