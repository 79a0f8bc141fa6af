//! The JSON errors this crate answers with, in edgeauth's shape
//! `{"error": {"code": "...", "message": "..."}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::assertion::{Forbidden, Rejection};

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    (status, Json(body)).into_response()
}

impl Rejection {
    /// 503 when the keys are unavailable, 401 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::KeysUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The JSON error code: `missing_assertion`, `assertion_keys_unavailable` or
    /// `invalid_assertion`.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Missing => "missing_assertion",
            Rejection::KeysUnavailable(_) => "assertion_keys_unavailable",
            _ => "invalid_assertion",
        }
    }
}

/// The client learns only the category; the reason is logged where the rejection is made.
impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let message = match self {
            Rejection::Missing => {
                "this route needs a request that came through the edge, signed in"
            }
            Rejection::KeysUnavailable(_) => {
                "the app cannot fetch the edge's keys; try again shortly"
            }
            _ => "the request's identity assertion is not valid",
        };
        error(self.status(), self.code(), message)
    }
}

impl IntoResponse for Forbidden {
    fn into_response(self) -> Response {
        let message = format!("this needs one of the roles: {}", self.needed.join(", "));
        error(StatusCode::FORBIDDEN, "forbidden", &message)
    }
}
