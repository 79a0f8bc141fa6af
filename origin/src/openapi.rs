//! The OpenAPI 3.1 description of the public API (as clients see it through the edge), built
//! from the handlers' `#[utoipa::path]` annotations and the types they serialise.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// `{"error": {"code", "message", "fields"?}}` — every error of the API, from the edge or the
/// origin (`edgeauth_core::ApiError` serialises exactly this).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// Machine-readable; the HTTP status follows from it.
    #[schema(value_type = String, example = "invalid_token", pattern = "^[a-z_]+$")]
    pub code: String,
    /// For people; never contains secrets.
    pub message: String,
    /// Present on `validation_failed`: one entry per invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub fields: Option<Vec<FieldErrorDoc>>,
    /// Present on `mfa_required`: the ticket that finishes this sign-in at
    /// `POST /api/login/mfa` (single use, short-lived).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub mfa_ticket: Option<String>,
    /// Present on `mfa_required`: the second factors the account can finish with
    /// (`totp`, `backup_code`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub methods: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = FieldError)]
pub struct FieldErrorDoc {
    pub field: String,
    pub message: String,
}

/// The document's frame; `routes::router` adds every path as it registers the route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "edgeauth",
        description = "JWT authentication at the edge. Every path is served through the edge \
                       worker; errors share one JSON shape (`ErrorResponse`).",
        license(name = "MIT OR Apache-2.0")
    ),
    components(schemas(ErrorResponse)),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Sign up, sign in, refresh, sign out"),
        (name = "account", description = "The signed-in user's profile, sessions and password"),
        (name = "email", description = "Address verification, password reset and email change (links by mail)"),
        (name = "mfa", description = "Second factors (TOTP, backup codes), two-step sign-in and step-up"),
        (name = "passkeys", description = "Passkeys (WebAuthn): registration, management, sign-in without a username, step-up"),
        (name = "meta", description = "Keys, health and this document")
    )
)]
pub struct ApiDoc;

/// The security schemes: the access token (Bearer JWT) and the refresh-token cookie.
struct Security;

/// Name of the Bearer security scheme in the document.
pub const BEARER: &str = "bearer";
/// Name of the refresh-cookie security scheme in the document.
pub const REFRESH_COOKIE: &str = "refresh_cookie";

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "Access token (`typ: at+jwt`, EdDSA or ES256) from /api/login or /api/refresh.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            REFRESH_COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                edgeauth_core::headers::REFRESH_COOKIE,
                "The refresh token, set by /api/login and /api/refresh (HttpOnly, Secure, \
                 SameSite=Strict, Path=/). Accepted instead of a body `refresh_token`.",
            ))),
        );
    }
}

/// The document as JSON, built once.
pub fn document() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        crate::routes::router()
            .1
            .to_json()
            .unwrap_or_else(|e| format!(r#"{{"error":"openapi: {e}"}}"#))
    })
}

/// This OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object),
        (status = 503, description = "The origin is unreachable", body = ErrorResponse),
    )
)]
pub async fn openapi_json() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        document(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeauth_core::ErrorCode;
    use serde_json::Value;

    fn doc() -> Value {
        serde_json::from_str(document()).unwrap()
    }

    #[test]
    fn is_openapi_3_1_with_every_public_path() {
        let doc = doc();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        let mut documented: Vec<String> = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.push(format!("{} {path}", method.to_uppercase()));
            }
        }
        documented.sort();
        assert_eq!(
            documented,
            [
                "DELETE /api/mfa/totp",
                "DELETE /api/passkeys/{id}",
                "DELETE /api/sessions/{id}",
                "GET /.well-known/jwks.json",
                "GET /api/passkeys",
                "GET /api/profile",
                "GET /api/sessions",
                "GET /healthz",
                "GET /openapi.json",
                "PATCH /api/passkeys/{id}",
                "POST /api/email/change",
                "POST /api/email/change/confirm",
                "POST /api/email/verify",
                "POST /api/email/verify/resend",
                "POST /api/login",
                "POST /api/login/mfa",
                "POST /api/login/mfa/passkey",
                "POST /api/logout",
                "POST /api/logout-all",
                "POST /api/mfa/totp/confirm",
                "POST /api/mfa/totp/enroll",
                "POST /api/passkeys/login/finish",
                "POST /api/passkeys/login/start",
                "POST /api/passkeys/reauthenticate/start",
                "POST /api/passkeys/register/finish",
                "POST /api/passkeys/register/start",
                "POST /api/password",
                "POST /api/password/forgot",
                "POST /api/password/reset",
                "POST /api/reauthenticate",
                "POST /api/refresh",
                "POST /api/register",
            ]
        );
    }

    #[test]
    fn security_and_shared_shapes_are_described() {
        let doc = doc();
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes[BEARER]["scheme"], "bearer");
        assert_eq!(schemes[REFRESH_COOKIE]["in"], "cookie");
        assert_eq!(schemes[REFRESH_COOKIE]["name"], "__Host-edgeauth_rt");
        let schemas = &doc["components"]["schemas"];
        for name in ["ErrorResponse", "TokenResponse", "User", "SessionInfo"] {
            assert!(schemas.get(name).is_some(), "{name} missing");
        }
        let profile = &doc["paths"]["/api/profile"]["get"];
        assert_eq!(profile["security"][0][BEARER], serde_json::json!([]));
    }

    #[test]
    fn the_error_shape_matches_the_core() {
        // Compiles only while this list names every code the core knows.
        let _exhaustive = |code: ErrorCode| match code {
            ErrorCode::BadRequest
            | ErrorCode::ValidationFailed
            | ErrorCode::InvalidCredentials
            | ErrorCode::InvalidToken
            | ErrorCode::InvalidRefreshToken
            | ErrorCode::RefreshTokenReused
            | ErrorCode::InvalidSignature
            | ErrorCode::InvalidOrExpiredToken
            | ErrorCode::EmailUnverified
            | ErrorCode::MfaRequired
            | ErrorCode::StepUpRequired
            | ErrorCode::Forbidden
            | ErrorCode::NotFound
            | ErrorCode::MethodNotAllowed
            | ErrorCode::Conflict
            | ErrorCode::PayloadTooLarge
            | ErrorCode::UnsupportedMediaType
            | ErrorCode::RateLimited
            | ErrorCode::RevocationUnavailable
            | ErrorCode::ServiceUnavailable
            | ErrorCode::UpstreamUnavailable
            | ErrorCode::UpstreamTimeout
            | ErrorCode::InternalError => (),
        };
        let sample = edgeauth_core::ApiError::validation(vec![edgeauth_core::FieldError::new(
            "email", "bad",
        )]);
        let body: Value = serde_json::from_str(&sample.to_json()).unwrap();
        let mut keys: Vec<&String> = body["error"].as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["code", "fields", "message"]);
        let detail = &doc()["components"]["schemas"]["ErrorDetail"]["properties"];
        for key in keys {
            assert!(detail.get(key).is_some(), "{key} is not in ErrorDetail");
        }
    }
}
