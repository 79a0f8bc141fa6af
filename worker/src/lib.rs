//! edgeauth's edge worker: verifies access tokens with public keys, confirms the session in
//! Redis (one Upstash REST round trip), and forwards signed requests to the origin.
//!
//! The modules at the top level are pure and unit-tested natively (`cargo test -p
//! edgeauth-worker`); [`runtime`] is the thin Workers adapter, compiled only for wasm32.

pub mod access_log;
pub mod auth;
pub mod bearer;
pub mod config;
pub mod cors;
pub mod csrf;
pub mod error;
pub mod forwarding;
pub mod health;
pub mod ids;
pub mod key_cache;
pub mod proxy;
pub mod security;

#[cfg(target_arch = "wasm32")]
pub mod runtime;
