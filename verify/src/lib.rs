//! Verify the identity assertion edgeauth's edge adds to every authenticated request it
//! forwards to an app.
//!
//! The edge signs a short-lived JWT (`typ: edgeauth-assertion+jwt`, EdDSA) naming the user
//! (`sub`), the session (`sid`), the user's `roles` and the app it is meant for (`aud`), and
//! publishes its public keys at `/.well-known/edgeauth/assertion-jwks.json`. This crate fetches
//! and caches those keys and checks the assertion, so an axum app needs three lines:
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{routing::get, Json, Router};
//! use edgeauth_verify::{AssertionLayer, Identity, Verifier, VerifierConfig};
//!
//! async fn whoami(identity: Identity) -> Json<Identity> {
//!     Json(identity)
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = VerifierConfig::for_edge("https://auth.example.com", "notes");
//! let verifier = Arc::new(Verifier::new(config)?);
//! let app: Router = Router::new()
//!     .route("/notes/api/whoami", get(whoami))
//!     .route_layer(AssertionLayer::new(verifier));
//! # Ok(()) }
//! ```

mod assertion;
mod config;
mod extract;
mod jwks;
mod layer;
mod response;
mod verifier;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use assertion::{
    Forbidden, Identity, Rejection, ASSERTION_ALGORITHM, ASSERTION_TYPE, DEFAULT_HEADER_NAME,
    JWKS_PATH,
};
pub use config::{ConfigError, VerifierConfig};
pub use layer::{
    require_any_role, require_role, AssertionLayer, AssertionService, RequireRoleLayer,
    RequireRoleService,
};
pub use verifier::Verifier;
