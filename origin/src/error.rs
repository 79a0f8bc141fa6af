//! The origin's one error type and its mapping to the JSON error shape.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use edgeauth_core::{ApiError, ErrorCode, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An error the client caused or may see as is.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A budget is used up; retry after this many seconds.
    #[error("rate limited for {retry_after} s")]
    Limited { retry_after: u64, message: String },
    /// The password was right; the sign-in goes on with a second factor under this ticket.
    #[error("mfa required")]
    MfaRequired {
        ticket: String,
        methods: Vec<&'static str>,
    },
    /// Redis could not be reached or answered with an error.
    #[error("redis: {0}")]
    Redis(#[from] edgeauth_upstash::Error),
    /// Anything else; logged with context, reported to the client generically.
    #[error("internal: {0}")]
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn api(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Api(ApiError::new(code, message))
    }

    pub fn fields(fields: Vec<FieldError>) -> Self {
        Self::Api(ApiError::validation(fields))
    }

    pub fn internal(context: impl std::fmt::Display) -> Self {
        Self::Internal(context.to_string())
    }

    pub fn limited(retry_after: u64, message: impl Into<String>) -> Self {
        Self::Limited {
            retry_after,
            message: message.into(),
        }
    }

    /// What the client is told (internal and Redis errors are logged here, told generically).
    pub fn to_api(&self) -> ApiError {
        match self {
            Self::Api(e) => e.clone(),
            Self::Limited { message, .. } => ApiError::new(ErrorCode::RateLimited, message.clone()),
            Self::MfaRequired { .. } => ApiError::new(
                ErrorCode::MfaRequired,
                "Enter the code from your authenticator app, or one of your backup codes.",
            ),
            Self::Redis(e) => {
                tracing::error!(error = %e, "redis call failed");
                ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    "The session store is unavailable; try again shortly.",
                )
            }
            Self::Internal(context) => {
                tracing::error!(error = %context, "internal error");
                ApiError::new(
                    ErrorCode::InternalError,
                    "Something went wrong on our side.",
                )
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let Self::MfaRequired { ticket, methods } = &self {
            let api = self.to_api();
            let body = serde_json::json!({"error": {
                "code": api.code.as_str(),
                "message": api.message,
                "mfa_ticket": ticket,
                "methods": methods,
            }});
            return (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response();
        }
        let mut response = api_error_response(&self.to_api());
        if let Self::Limited { retry_after, .. } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
        }
        response
    }
}

/// Renders an [`ApiError`] as a response with the right status and headers.
pub fn api_error_response(error: &ApiError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        error.to_json(),
    )
        .into_response();
    if error.code == ErrorCode::InvalidToken {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"edgeauth\", error=\"invalid_token\""),
        );
    }
    response
}
