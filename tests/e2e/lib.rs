//! The real edgeauth stack for end-to-end tests and benchmarks: redis-server, the Upstash REST
//! bridge, the origin and the worker in `wrangler dev`, each on its own free port with freshly
//! generated keys and secrets, started once and stopped at the end.

pub mod client;
pub mod stack;

pub use client::Api;
pub use stack::{Stack, StackOptions};
