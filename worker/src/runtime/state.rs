//! Per-isolate state: the parsed configuration, the Redis client and the key cache, built on first use.

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use edgeauth_upstash::UpstashClient;
use wasm_bindgen::JsValue;
use worker::Env;

use crate::config::{self, Config, ConfigError, SettingError};
use crate::key_cache::{KeyCache, RefetchPolicy};

/// What every request needs, parsed once (public keys are not re-parsed per request).
pub struct Edge {
    pub config: Config,
    pub redis: UpstashClient,
    /// Verification keys; the isolate is single-threaded, and no borrow is held across I/O.
    pub keys: RefCell<KeyCache>,
}

thread_local! {
    /// An isolate's bindings never change (new secrets mean a new isolate), so a bad
    /// configuration is cached too and reported on every request.
    static EDGE: OnceCell<Result<Rc<Edge>, Rc<ConfigError>>> = const { OnceCell::new() };
}

pub fn edge(env: &Env) -> Result<Rc<Edge>, Rc<ConfigError>> {
    EDGE.with(|cell| {
        cell.get_or_init(|| build(env).map(Rc::new).map_err(Rc::new))
            .clone()
    })
}

fn build(env: &Env) -> Result<Edge, ConfigError> {
    let config = Config::from_lookup(|name| binding(env, name))?;
    // reqwest bounds each Redis call, body included: a stalled Redis fails closed in time.
    let redis = UpstashClient::builder(&config.redis_url, &config.redis_token)
        .timeout(Duration::from_millis(u64::from(config.redis_timeout_ms)))
        .base64(false)
        .build()
        .map_err(|e| {
            let setting = if e.to_string().contains("token") {
                config::REDIS_TOKEN
            } else {
                config::REDIS_URL
            };
            ConfigError(vec![SettingError {
                setting,
                problem: format!("is unusable: {e}"),
            }])
        })?;
    let source = &config.keys;
    let keys = RefCell::new(KeyCache::new(
        source.pinned.clone(),
        RefetchPolicy {
            from_origin: source.from_origin,
            ttl_ms: source.ttl_secs * 1000,
            min_interval_ms: source.min_refetch_secs * 1000,
        },
    ));
    Ok(Edge {
        config,
        redis,
        keys,
    })
}

/// A text binding (`[vars]` or secret). Unquoted numbers in `[vars]` arrive as JS numbers, so
/// whole numbers are accepted too and turned back into text (anything else fails validation).
fn binding(env: &Env, name: &str) -> Option<String> {
    let value = js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?;
    value.as_string().or_else(|| {
        let n = value.as_f64()?;
        // Formatting integers avoids linking float formatting into the Wasm.
        Some(if n.fract() == 0.0 && n.abs() < 1e15 {
            (n as i64).to_string()
        } else {
            "(not a whole number)".to_owned()
        })
    })
}
