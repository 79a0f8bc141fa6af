//! Request extractors that answer with the API's error shape instead of axum's plain text.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use edgeauth_core::ErrorCode;
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::edge_trust::{Caller, CallerAccount, EdgeContext};
use crate::error::AppError;

/// A JSON body; bad JSON, wrong types and wrong content types become 400/415 API errors.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

pub fn json_rejection(rejection: JsonRejection) -> AppError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => AppError::api(
            ErrorCode::UnsupportedMediaType,
            "Send the body as JSON with Content-Type: application/json.",
        ),
        JsonRejection::JsonSyntaxError(_) => {
            AppError::api(ErrorCode::BadRequest, "The body is not valid JSON.")
        }
        JsonRejection::JsonDataError(e) => AppError::api(
            ErrorCode::BadRequest,
            format!(
                "The JSON body does not have the expected shape: {}",
                e.body_text()
            ),
        ),
        JsonRejection::BytesRejection(_) => {
            AppError::api(ErrorCode::PayloadTooLarge, "The body exceeds 16 KiB.")
        }
        other => AppError::api(ErrorCode::BadRequest, other.body_text()),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for EdgeContext {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<EdgeContext>()
            .cloned()
            .ok_or_else(|| AppError::internal("route mounted without the edge-signature layer"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        EdgeContext::from_request_parts(parts, state)
            .await?
            .caller
            .ok_or_else(|| AppError::api(ErrorCode::InvalidToken, "Sign in first."))
    }
}

/// The caller's account: the one the edge-signature layer read with the nonce claim, or (if
/// the layer did not read it) read now.
impl FromRequestParts<AppState> for CallerAccount {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(account) = parts.extensions.remove::<CallerAccount>() {
            return Ok(account);
        }
        let caller = Caller::from_request_parts(parts, state).await?;
        Ok(Self(state.store.user_record(&caller.user_id).await?))
    }
}

/// The client's user agent, truncated for storage.
pub fn user_agent(headers: &HeaderMap) -> String {
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ua.chars().take(256).collect()
}
