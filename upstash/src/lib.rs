//! A Redis client that speaks the Upstash REST protocol over `reqwest`, natively and on wasm32.
//!
//! ```no_run
//! # async fn demo() -> Result<(), edgeauth_upstash::Error> {
//! use edgeauth_upstash::{cmd, Script, UpstashClient};
//!
//! let redis = UpstashClient::new("http://127.0.0.1:8079", "dev-token")?;
//! redis.execute(&cmd("SET").arg("greeting").arg("hi").arg("EX").arg(100)).await?;
//! let greeting = redis.execute(&cmd("GET").arg("greeting")).await?.into_string()?;
//!
//! let incr = Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
//! let n = redis.eval_script(&incr, ["counter"], [5]).await?.into_i64()?;
//! # let _ = (greeting, n); Ok(()) }
//! ```
//!
//! Every request is a single HTTP POST: `/` for one command, `/pipeline` for a
//! non-atomic batch and `/multi-exec` for a transaction.

mod client;
mod command;
mod error;
mod script;
mod value;

pub use client::{UpstashClient, UpstashClientBuilder, DEFAULT_TIMEOUT};
pub use command::{cmd, Arg, Command};
pub use error::{Error, RedisError, ValueError};
pub use script::Script;
pub use value::Value;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
