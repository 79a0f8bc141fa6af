//! One shared abort reason for `AbortController.abort()` called without one.
//!
//! reqwest's wasm client gives every request an `AbortController` and aborts it when the response
//! is dropped, finished or not — once per Redis call at the edge, after the reply was read. An
//! `abort()` without a reason makes the runtime build a new `DOMException` ("AbortError") for
//! `signal.reason`, whose stack capture walks the Wasm frames of the request's future: about 4 %
//! of the edge's CPU per authenticated request (docs/performance.md). The specification's reason
//! is such an exception; this hands every reason-less `abort()` the same one, built once per
//! isolate. A fetch still in flight is aborted exactly as before (same error name, same
//! message); only the exception's identity and stack are shared. The isolate runs only this
//! worker, so replacing the method affects nothing else; aborts with a reason (the origin
//! fetch's `AbortSignal.timeout`, reqwest's timeout) pass theirs through unchanged.

use std::cell::Cell;

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen(inline_js = "
export function share_abort_reason() {
  const abort = AbortController.prototype.abort;
  let reason;
  AbortController.prototype.abort = function (why) {
    if (why === undefined) {
      reason ??= new DOMException('The operation was aborted.', 'AbortError');
      why = reason;
    }
    return abort.call(this, why);
  };
}
")]
extern "C" {
    fn share_abort_reason();
}

thread_local! {
    static INSTALLED: Cell<bool> = const { Cell::new(false) };
}

/// Replaces `AbortController.prototype.abort` once per isolate.
pub fn install() {
    INSTALLED.with(|installed| {
        if !installed.replace(true) {
            share_abort_reason();
        }
    });
}
