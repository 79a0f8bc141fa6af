//! The origin's HTTP routes. Every one sits behind the edge-signature layer.

pub mod account;
pub mod auth;
pub mod meta;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(meta::healthz))
        .route("/.well-known/jwks.json", get(meta::jwks))
        .route("/api/register", post(auth::register))
        .route("/api/login", post(auth::login))
        .route("/api/refresh", post(auth::refresh))
        .route("/api/logout", post(auth::logout))
        .route("/api/logout-all", post(account::logout_all))
        .route("/api/profile", get(account::profile))
        .route("/api/sessions", get(account::sessions))
        .route("/api/sessions/{id}", delete(account::delete_session))
        .route("/api/password", post(account::change_password))
}
