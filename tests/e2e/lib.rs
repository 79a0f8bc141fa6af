//! The real edgeauth stack for end-to-end tests and benchmarks: redis-server, the Upstash REST
//! bridge, the origin and the worker in `wrangler dev` (or plain `workerd serve`), each on its own
//! free port with freshly generated keys and secrets, started once and stopped at the end.

pub mod client;
pub mod mailbox;
pub mod observe;
pub mod signed;
pub mod stack;
pub mod upstream;
pub mod workerd;

pub use client::Api;
pub use stack::{EdgeRuntime, Stack, StackOptions};
