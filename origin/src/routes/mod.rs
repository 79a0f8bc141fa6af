//! The origin's HTTP routes. Every one sits behind the edge-signature layer.
//!
//! Routes are registered together with their OpenAPI description (`utoipa_axum::routes!`), so
//! a route cannot exist without being documented in `/openapi.json`.

pub mod account;
pub mod auth;
pub mod email;
pub mod meta;
pub mod mfa;
pub mod passkeys;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::openapi::{self, ApiDoc};

/// The routes and the OpenAPI document describing exactly them.
pub fn router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(meta::healthz))
        .routes(routes!(meta::jwks))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(account::logout_all))
        .routes(routes!(account::profile))
        .routes(routes!(account::sessions))
        .routes(routes!(account::delete_session))
        .routes(routes!(account::change_password))
        .routes(routes!(email::forgot_password))
        .routes(routes!(email::reset_password))
        .routes(routes!(email::verify_email))
        .routes(routes!(email::resend_verification))
        .routes(routes!(email::change_email))
        .routes(routes!(email::confirm_email_change))
        .routes(routes!(mfa::login_mfa))
        .routes(routes!(mfa::enroll))
        .routes(routes!(mfa::confirm))
        .routes(routes!(mfa::disable))
        .routes(routes!(mfa::reauthenticate))
        .routes(routes!(passkeys::register_start))
        .routes(routes!(passkeys::register_finish))
        .routes(routes!(passkeys::list))
        .routes(routes!(passkeys::rename, passkeys::remove))
        .routes(routes!(passkeys::login_start))
        .routes(routes!(passkeys::login_finish))
        .routes(routes!(passkeys::reauthenticate_start))
        .routes(routes!(passkeys::second_factor_start))
        .split_for_parts()
}
