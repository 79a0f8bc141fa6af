//! Tower layers for axum: [`AssertionLayer`] verifies the assertion header on every request and
//! stores the [`Identity`] for the extractor; [`RequireRoleLayer`] guards a group of routes by
//! role.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::assertion::{Identity, Rejection};
use crate::verifier::Verifier;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Verifies the assertion header of every request before the inner service sees it.
/// Missing or invalid → 401 JSON (`missing_assertion` / `invalid_assertion`); keys that cannot
/// be fetched → 503 `assertion_keys_unavailable`. Never panics.
#[derive(Debug, Clone)]
pub struct AssertionLayer {
    verifier: Arc<Verifier>,
    required: bool,
}

impl AssertionLayer {
    /// Every request must carry a valid assertion.
    pub fn new(verifier: Arc<Verifier>) -> Self {
        Self {
            verifier,
            required: true,
        }
    }

    /// Requests without an assertion pass with no identity (`Option<Identity>` is `None`); one
    /// that is present must still be valid. For routes whose edge policy is `optional`.
    pub fn optional(verifier: Arc<Verifier>) -> Self {
        Self {
            verifier,
            required: false,
        }
    }
}

impl<S> Layer<S> for AssertionLayer {
    type Service = AssertionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AssertionService {
            inner,
            verifier: self.verifier.clone(),
            required: self.required,
        }
    }
}

/// The service [`AssertionLayer`] wraps around an axum service.
#[derive(Debug, Clone)]
pub struct AssertionService<S> {
    inner: S,
    verifier: Arc<Verifier>,
    required: bool,
}

impl<S> Service<Request> for AssertionService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // The clone that was polled ready serves this request (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        let required = self.required;
        Box::pin(async move {
            match verifier.verify_headers(request.headers()).await {
                Ok(Some(identity)) => {
                    request.extensions_mut().insert(identity);
                }
                Ok(None) if !required => {}
                Ok(None) => return Ok(Rejection::Missing.into_response()),
                Err(rejection) => {
                    if let Rejection::KeysUnavailable(_) = rejection {
                        tracing::warn!(reason = %rejection, "refusing a request: no assertion keys");
                    } else {
                        tracing::info!(reason = %rejection, path = %request.uri().path(), "refusing an invalid assertion");
                    }
                    return Ok(rejection.into_response());
                }
            }
            inner.call(request).await
        })
    }
}

/// Lets a request through only if its verified identity has at least one of the roles:
/// 403 `forbidden` otherwise, 401 when there is no identity. Put it inside an
/// [`AssertionLayer`].
#[derive(Debug, Clone)]
pub struct RequireRoleLayer {
    roles: Arc<[String]>,
}

/// A [`RequireRoleLayer`] for one role.
pub fn require_role(role: &str) -> RequireRoleLayer {
    require_any_role(&[role])
}

/// A [`RequireRoleLayer`] for any of several roles.
pub fn require_any_role(roles: &[&str]) -> RequireRoleLayer {
    RequireRoleLayer {
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    }
}

impl<S> Layer<S> for RequireRoleLayer {
    type Service = RequireRoleService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireRoleService {
            inner,
            roles: self.roles.clone(),
        }
    }
}

/// The service [`RequireRoleLayer`] wraps around an axum service.
#[derive(Debug, Clone)]
pub struct RequireRoleService<S> {
    inner: S,
    roles: Arc<[String]>,
}

impl<S> Service<Request> for RequireRoleService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let verdict = match request.extensions().get::<Identity>() {
            None => Err(Rejection::Missing.into_response()),
            Some(identity) => {
                let roles: Vec<&str> = self.roles.iter().map(String::as_str).collect();
                identity
                    .require_any_role(&roles)
                    .map_err(IntoResponse::into_response)
            }
        };
        match verdict {
            Ok(()) => {
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(async move { inner.call(request).await })
            }
            Err(response) => Box::pin(async move { Ok(response) }),
        }
    }
}
