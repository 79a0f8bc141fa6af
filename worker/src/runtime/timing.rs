//! Wall-clock time and bounded waiting, from the Workers runtime's timers.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use futures_util::future::{select, Either};
use worker::Delay;

/// Unix time in seconds (the Workers clock; it only advances across I/O, which is enough here).
pub fn now_secs() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

/// Runs `future` for at most `millis`; `None` if the timer won. The loser is dropped, which
/// clears the timer or abandons the pending I/O.
pub async fn within<F: Future>(millis: u32, future: F) -> Option<F::Output> {
    let delay = Delay::from(Duration::from_millis(u64::from(millis)));
    match select(pin!(future), pin!(delay)).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(((), _)) => None,
    }
}
