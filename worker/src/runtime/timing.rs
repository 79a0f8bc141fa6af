//! Wall-clock time from the Workers runtime.
//!
//! Waiting is bounded where the I/O starts instead: the origin fetch carries an
//! `AbortSignal.timeout`, and the Upstash client a reqwest timeout.

/// Unix time in seconds (the Workers clock; it only advances across I/O, which is enough here).
pub fn now_secs() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}
