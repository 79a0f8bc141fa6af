//! The one error vocabulary of the public API: codes, HTTP statuses and the JSON body shape.

use serde::{Deserialize, Serialize};

/// Every error code the API can answer with. Serialised as `snake_case`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    ValidationFailed,
    InvalidCredentials,
    InvalidToken,
    InvalidRefreshToken,
    RefreshTokenReused,
    InvalidSignature,
    /// An email link token that is unknown, used, expired or superseded (one answer for all).
    InvalidOrExpiredToken,
    /// `EDGEAUTH_EMAIL_VERIFICATION=required` and the account's address is not verified yet.
    EmailUnverified,
    /// The password was right and the account has a second factor: finish the sign-in at
    /// `POST /api/login/mfa` with the error's `mfa_ticket`.
    MfaRequired,
    /// The route or action needs a second factor or a more recent authentication than the
    /// session's: step up with `POST /api/reauthenticate`.
    StepUpRequired,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    RevocationUnavailable,
    ServiceUnavailable,
    /// An app upstream behind the edge could not be reached.
    UpstreamUnavailable,
    /// An app upstream did not answer within its configured timeout.
    UpstreamTimeout,
    InternalError,
}

impl ErrorCode {
    /// The HTTP status this code is always answered with.
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest | Self::ValidationFailed | Self::InvalidOrExpiredToken => 400,
            Self::InvalidCredentials
            | Self::InvalidToken
            | Self::InvalidRefreshToken
            | Self::RefreshTokenReused
            | Self::InvalidSignature
            | Self::MfaRequired => 401,
            Self::Forbidden | Self::EmailUnverified | Self::StepUpRequired => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited => 429,
            Self::InternalError => 500,
            Self::UpstreamUnavailable => 502,
            Self::RevocationUnavailable | Self::ServiceUnavailable => 503,
            Self::UpstreamTimeout => 504,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::ValidationFailed => "validation_failed",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidToken => "invalid_token",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::InvalidSignature => "invalid_signature",
            Self::InvalidOrExpiredToken => "invalid_or_expired_token",
            Self::EmailUnverified => "email_unverified",
            Self::MfaRequired => "mfa_required",
            Self::StepUpRequired => "step_up_required",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::RevocationUnavailable => "revocation_unavailable",
            Self::ServiceUnavailable => "service_unavailable",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::InternalError => "internal_error",
        }
    }
}

/// One invalid input field, for `validation_failed` responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// An error as the client sees it: `{"error": {"code", "message", "fields"?}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub fields: Vec<FieldError>,
}

#[derive(Serialize, Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    error: Inner<'a>,
}

#[derive(Serialize, Deserialize)]
struct Inner<'a> {
    code: ErrorCode,
    message: std::borrow::Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fields: Vec<FieldError>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn validation(fields: Vec<FieldError>) -> Self {
        Self {
            code: ErrorCode::ValidationFailed,
            message: "The request has invalid fields.".into(),
            fields,
        }
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The JSON body. Serialising plain strings and enums cannot fail.
    pub fn to_json(&self) -> String {
        let envelope = Envelope {
            error: Inner {
                code: self.code,
                message: self.message.as_str().into(),
                fields: self.fields.clone(),
            },
        };
        serde_json::to_string(&envelope).unwrap_or_else(|_| {
            r#"{"error":{"code":"internal_error","message":"internal error"}}"#.to_owned()
        })
    }

    /// Parses an error body produced by [`ApiError::to_json`] (used by tests and the edge).
    pub fn from_json(body: &str) -> Option<Self> {
        let envelope: Envelope<'_> = serde_json::from_str(body).ok()?;
        Some(Self {
            code: envelope.error.code,
            message: envelope.error.message.into_owned(),
            fields: envelope.error.fields,
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_spec_shape() {
        let e = ApiError::validation(vec![FieldError::new("email", "not an email")]);
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["error"]["code"], "validation_failed");
        assert_eq!(v["error"]["fields"][0]["field"], "email");
        let plain = ApiError::new(ErrorCode::RateLimited, "slow down").to_json();
        assert!(!plain.contains("fields"));
        assert_eq!(
            ApiError::from_json(&plain).unwrap().code,
            ErrorCode::RateLimited
        );
    }

    #[test]
    fn codes_serialise_as_their_names() {
        for code in [
            ErrorCode::RefreshTokenReused,
            ErrorCode::RevocationUnavailable,
            ErrorCode::MfaRequired,
            ErrorCode::StepUpRequired,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
