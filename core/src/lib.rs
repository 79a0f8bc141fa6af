//! edgeauth's shared, I/O-free logic. The edge worker and the origin are thin adapters around it.
//!
//! Nothing in this crate reads a clock, the network or the environment: callers pass `now`
//! (Unix seconds or milliseconds, as named) and any randomness in.

pub mod address;
pub mod assertion;
pub mod assurance;
pub mod cookies;
pub mod device;
pub mod edge_signature;
pub mod email;
pub mod error;
pub mod headers;
pub mod keys;
pub mod mail;
#[cfg(feature = "mfa")]
pub mod mfa;
pub mod navigation;
pub mod next_path;
pub mod passkey;
pub mod rate_limit;
pub mod redis_layout;
pub mod refresh;
pub mod roles;
pub mod routes;
pub mod secret;
pub mod token;
pub mod token_split;
pub mod validate;

pub use error::{ApiError, ErrorCode, FieldError};
