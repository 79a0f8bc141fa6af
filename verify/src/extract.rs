//! The axum extractor: handlers take [`Identity`] (or `Option<Identity>`) as an argument.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;

use crate::assertion::{Identity, Rejection};

/// The identity [`AssertionLayer`](crate::AssertionLayer) verified. Without the layer in front
/// of the route there is none, and the request is refused (fail closed).
impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Identity>().cloned().ok_or_else(|| {
            tracing::debug!(path = %parts.uri.path(), "no verified identity on this request (is the AssertionLayer in front of this route?)");
            Rejection::Missing
        })
    }
}

/// `Option<Identity>`: the identity when the (optional) layer verified one.
impl<S: Send + Sync> OptionalFromRequestParts<S> for Identity {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Identity>().cloned())
    }
}
