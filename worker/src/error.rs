//! The edge's one error type and how each case maps to the API's JSON error shape.

use std::fmt;

use edgeauth_core::{ApiError, ErrorCode};

/// `WWW-Authenticate` on every 401 the edge produces (RFC 6750 §3).
pub const WWW_AUTHENTICATE: &str = r#"Bearer realm="edgeauth", error="invalid_token""#;

/// Everything that stops the edge from forwarding a request. `detail` strings are for logs only;
/// clients get the generic message of the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeError {
    /// The edge's own configuration is missing or invalid (logged separately, once per request).
    Misconfigured,
    /// No usable access token, or its session is gone.
    InvalidToken {
        detail: String,
    },
    /// Redis could not confirm the session in time: fail closed.
    RevocationUnavailable {
        detail: String,
    },
    /// The origin did not answer in time or could not be reached.
    OriginUnavailable {
        detail: String,
    },
    PayloadTooLarge {
        limit: usize,
    },
    BadRequest {
        detail: String,
    },
    NotFound,
    MethodNotAllowed {
        allow: String,
    },
    /// Authenticated, but without a role the rule requires.
    Forbidden {
        detail: String,
    },
    /// Authenticated, but the rule wants a second factor or a more recent authentication.
    StepUpRequired {
        detail: String,
    },
    /// An app upstream could not be reached (refused, reset, DNS).
    UpstreamUnavailable {
        detail: String,
    },
    /// An app upstream sent no response headers within its timeout.
    UpstreamTimeout {
        detail: String,
    },
    /// A CORS preflight from an origin that is not on the allow-list.
    CorsForbidden,
    /// A cookie-authenticated request from a page that may not use the cookie (CSRF).
    CrossSiteRequest {
        detail: String,
    },
    /// A verification key the runtime refuses to import (a bad pinned key): the operator's
    /// configuration, so 503 like a bad route table, never 500.
    UnusableKey {
        detail: String,
    },
    Internal {
        detail: String,
    },
}

impl EdgeError {
    pub fn invalid_token(detail: impl Into<String>) -> Self {
        Self::InvalidToken {
            detail: detail.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Misconfigured | Self::UnusableKey { .. } | Self::OriginUnavailable { .. } => {
                ErrorCode::ServiceUnavailable
            }
            Self::InvalidToken { .. } => ErrorCode::InvalidToken,
            Self::RevocationUnavailable { .. } => ErrorCode::RevocationUnavailable,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::BadRequest { .. } => ErrorCode::BadRequest,
            Self::NotFound => ErrorCode::NotFound,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::CorsForbidden | Self::CrossSiteRequest { .. } | Self::Forbidden { .. } => {
                ErrorCode::Forbidden
            }
            Self::StepUpRequired { .. } => ErrorCode::StepUpRequired,
            Self::UpstreamUnavailable { .. } => ErrorCode::UpstreamUnavailable,
            Self::UpstreamTimeout { .. } => ErrorCode::UpstreamTimeout,
            Self::Internal { .. } => ErrorCode::InternalError,
        }
    }

    pub fn status(&self) -> u16 {
        self.code().status()
    }

    /// The body the client sees.
    pub fn to_api_error(&self) -> ApiError {
        let message = match self {
            Self::Misconfigured | Self::UnusableKey { .. } => {
                "The service is not available right now.".to_owned()
            }
            Self::InvalidToken { .. } => {
                "The access token is missing, invalid, expired or revoked.".to_owned()
            }
            Self::RevocationUnavailable { .. } => {
                "The session could not be checked right now; try again shortly.".to_owned()
            }
            Self::OriginUnavailable { .. } => {
                "The service is not available right now; try again shortly.".to_owned()
            }
            Self::PayloadTooLarge { limit } => {
                format!("The request body is larger than {limit} bytes.")
            }
            Self::BadRequest { .. } => "The request could not be read.".to_owned(),
            Self::NotFound => "No such endpoint.".to_owned(),
            Self::MethodNotAllowed { allow } => format!("This endpoint only accepts {allow}."),
            Self::CorsForbidden => "This origin may not call the API.".to_owned(),
            Self::CrossSiteRequest { .. } => {
                "This request carries the sign-in cookie but does not come from a page allowed \
                 to use it."
                    .to_owned()
            }
            Self::Forbidden { .. } => "You lack a role this endpoint requires.".to_owned(),
            Self::StepUpRequired { .. } => {
                "This endpoint needs a second factor or a recent sign-in: reauthenticate \
                 (POST /api/reauthenticate), then try again."
                    .to_owned()
            }
            Self::UpstreamUnavailable { .. } => {
                "The application behind this path is not reachable right now.".to_owned()
            }
            Self::UpstreamTimeout { .. } => {
                "The application behind this path did not answer in time.".to_owned()
            }
            Self::Internal { .. } => "Internal error.".to_owned(),
        };
        ApiError::new(self.code(), message)
    }

    /// Extra response headers this error requires.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::InvalidToken { .. } => vec![("www-authenticate", WWW_AUTHENTICATE.to_owned())],
            Self::MethodNotAllowed { allow } => vec![("allow", allow.clone())],
            Self::RevocationUnavailable { .. }
            | Self::OriginUnavailable { .. }
            | Self::UpstreamUnavailable { .. } => vec![("retry-after", "1".to_owned())],
            _ => Vec::new(),
        }
    }

    /// Whether operators should see this in the logs (server-side trouble, not client mistakes).
    pub fn is_server_fault(&self) -> bool {
        matches!(
            self,
            Self::RevocationUnavailable { .. }
                | Self::OriginUnavailable { .. }
                | Self::UpstreamUnavailable { .. }
                | Self::UpstreamTimeout { .. }
                | Self::UnusableKey { .. }
                | Self::Internal { .. }
        )
    }
}

impl fmt::Display for EdgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code().as_str();
        match self {
            Self::InvalidToken { detail }
            | Self::RevocationUnavailable { detail }
            | Self::OriginUnavailable { detail }
            | Self::BadRequest { detail }
            | Self::CrossSiteRequest { detail }
            | Self::Forbidden { detail }
            | Self::StepUpRequired { detail }
            | Self::UpstreamUnavailable { detail }
            | Self::UpstreamTimeout { detail }
            | Self::UnusableKey { detail }
            | Self::Internal { detail } => write!(f, "{code}: {detail}"),
            _ => f.write_str(code),
        }
    }
}

impl std::error::Error for EdgeError {}

impl From<crate::csrf::CsrfRejection> for EdgeError {
    fn from(rejection: crate::csrf::CsrfRejection) -> Self {
        Self::CrossSiteRequest {
            detail: rejection.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes_follow_the_contract() {
        let cases = [
            (EdgeError::Misconfigured, 503, "service_unavailable"),
            (
                EdgeError::UnusableKey { detail: "x".into() },
                503,
                "service_unavailable",
            ),
            (EdgeError::invalid_token("x"), 401, "invalid_token"),
            (
                EdgeError::RevocationUnavailable { detail: "t".into() },
                503,
                "revocation_unavailable",
            ),
            (
                EdgeError::OriginUnavailable { detail: "t".into() },
                503,
                "service_unavailable",
            ),
            (
                EdgeError::PayloadTooLarge { limit: 16 },
                413,
                "payload_too_large",
            ),
            (EdgeError::NotFound, 404, "not_found"),
            (
                EdgeError::MethodNotAllowed {
                    allow: "GET".into(),
                },
                405,
                "method_not_allowed",
            ),
            (
                EdgeError::Forbidden { detail: "x".into() },
                403,
                "forbidden",
            ),
            (
                EdgeError::StepUpRequired { detail: "x".into() },
                403,
                "step_up_required",
            ),
            (
                EdgeError::UpstreamUnavailable { detail: "x".into() },
                502,
                "upstream_unavailable",
            ),
            (
                EdgeError::UpstreamTimeout { detail: "x".into() },
                504,
                "upstream_timeout",
            ),
            (EdgeError::CorsForbidden, 403, "forbidden"),
            (
                EdgeError::CrossSiteRequest { detail: "x".into() },
                403,
                "forbidden",
            ),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status(), status, "{err}");
            let body: serde_json::Value =
                serde_json::from_str(&err.to_api_error().to_json()).unwrap();
            assert_eq!(body["error"]["code"], code);
            assert!(body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()));
        }
    }

    #[test]
    fn details_never_reach_the_client() {
        let err = EdgeError::RevocationUnavailable {
            detail: "http://10.0.0.1:8079 refused".into(),
        };
        assert!(!err.to_api_error().to_json().contains("10.0.0.1"));
        assert!(err.to_string().contains("10.0.0.1"));
    }

    #[test]
    fn every_401_carries_www_authenticate() {
        let h = EdgeError::invalid_token("expired").headers();
        assert_eq!(h, vec![("www-authenticate", WWW_AUTHENTICATE.to_owned())]);
        assert_eq!(
            EdgeError::MethodNotAllowed {
                allow: "POST".into()
            }
            .headers(),
            vec![("allow", "POST".to_owned())]
        );
    }
}
