//! The edgeauth origin: users, argon2id passwords, sessions and token issuance. It trusts only
//! requests signed by the edge, and keeps all state in Redis through the Upstash REST protocol.

pub mod admin;
pub mod app;
pub mod config;
pub mod config_reference;
pub mod cookie;
pub mod edge_check;
pub mod edge_config;
pub mod edge_trust;
pub mod error;
pub mod extract;
pub mod guard;
pub mod key_admin;
pub mod mail;
pub mod openapi;
pub mod pages;
pub mod passkeys;
pub mod passwords;
pub mod redis_client;
pub mod routes;
pub mod sessions;
pub mod store;
pub mod telemetry;
pub mod user_admin;

use std::time::{SystemTime, UNIX_EPOCH};

/// Current Unix time, seconds. The one clock of the origin; the core takes `now` from here.
pub fn now_secs() -> u64 {
    now_millis() / 1000
}

/// Current Unix time, milliseconds.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
