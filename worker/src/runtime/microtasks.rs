//! How Rust futures get polled: microtasks through a promise instead of workerd's `queueMicrotask`.
//!
//! wasm-bindgen's executor (`js_sys::futures`) schedules every wake-up with the global
//! `queueMicrotask` when there is one — about five per authenticated request. workerd implements
//! `queueMicrotask` by wrapping the callback in a new native function on every call
//! (`wrapSimpleFunction` → `v8::Function::New`), and V8 allocates each of those straight in the
//! old generation: a function template, its shared info, a function and a prototype with a
//! dictionary map, about 2.9 KB per request that only a full collection frees. Without it full
//! collections come about a quarter less often and the edge spends about 0.05 ms less CPU per
//! request; each collection then has more requests' objects to destroy, so the p99 they cause
//! stays where it was (docs/performance.md, "Where the latency tail came from").
//!
//! The replacement queues the same callback as a reaction to one resolved promise: a microtask
//! in the same queue, run in the same order, with nothing native allocated. A callback that
//! throws becomes an unhandled rejection, which workerd logs just as it reports an exception
//! from `queueMicrotask`. The isolate runs only this worker, so replacing the global affects
//! nothing else.

use std::cell::Cell;

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen(inline_js = "
const resolved = Promise.resolve();
const enqueue = (callback) => { resolved.then(callback); };
export function queue_microtasks_through_promise() {
  globalThis.queueMicrotask = enqueue;
}
")]
extern "C" {
    fn queue_microtasks_through_promise();
}

thread_local! {
    static INSTALLED: Cell<bool> = const { Cell::new(false) };
}

/// Replaces `queueMicrotask` once per isolate. The executor looks the global up on every
/// wake-up, so installing it during the first request covers every later one.
pub fn install() {
    INSTALLED.with(|installed| {
        if !installed.replace(true) {
            queue_microtasks_through_promise();
        }
    });
}
