//! Per-isolate state: the parsed configuration and the Redis client, built on first use.

use std::cell::OnceCell;
use std::rc::Rc;

use edgeauth_upstash::UpstashClient;
use wasm_bindgen::JsValue;
use worker::Env;

use crate::config::{self, Config, ConfigError, SettingError};

/// What every request needs, parsed once (public keys are not re-parsed per request).
pub struct Edge {
    pub config: Config,
    pub redis: UpstashClient,
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
    // The edge bounds each Redis call itself (`timing::within`), racing a timer it controls.
    let redis = UpstashClient::builder(&config.redis_url, &config.redis_token)
        .no_timeout()
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
    Ok(Edge { config, redis })
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
