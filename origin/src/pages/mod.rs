//! The hosted pages a browser signs in with, without JavaScript: `/auth/sign-in` (with its code
//! step for accounts with a second factor), `/auth/register`, `/auth/sign-out` and
//! `/auth/signed-out`. HTML forms in, HTML or a 303 out.
//!
//! The form POSTs run the JSON API's own handlers (`routes::auth::login`, `register`, `logout`):
//! the same budgets, lockouts, device credential and cookies, so a browser signed in here is
//! signed in exactly as the demo page's API client would be. Their errors are re-rendered as the
//! form with the message in plain words. These are not API routes, so they are not in
//! `/openapi.json`; like every route they sit behind the edge-signature layer, and the edge adds
//! the page CSP (`frame-ancestors 'none'`), `X-Frame-Options: DENY` and checks the form POSTs'
//! origin (docs/security.md, "Hosted pages").

mod render;

use axum::body::Bytes;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use edgeauth_core::next_path::NextPath;
use edgeauth_core::{ApiError, ErrorCode};

use serde::Deserialize;

use crate::app::AppState;
use crate::cookie;
use crate::edge_trust::EdgeContext;
use crate::error::AppError;
use crate::extract::ApiJson;
use crate::routes::auth::{self, LoginRequest, RegisterRequest};
use crate::routes::mfa::{self, LoginMfaRequest};

pub use render::Page;

pub const SIGN_IN: &str = "/auth/sign-in";
pub const REGISTER: &str = "/auth/register";
pub const SIGN_OUT: &str = "/auth/sign-out";
pub const SIGNED_OUT: &str = "/auth/signed-out";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(SIGN_IN, get(sign_in_page).post(sign_in))
        .route(REGISTER, get(register_page).post(register))
        .route(SIGN_OUT, post(sign_out))
        .route(SIGNED_OUT, get(signed_out))
        .route(PASSKEY_JS, get(passkey_js))
}

/// The sign-in page's passkey script (a file: the page CSP allows no inline script).
pub const PASSKEY_JS: &str = "/auth/passkey.js";

async fn passkey_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("assets/passkey.js"),
    )
        .into_response()
}

/// `?next=` of the GET pages; a query that does not parse is no `next`.
#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

fn next_of(query: Result<Query<NextQuery>, QueryRejection>) -> NextPath {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    NextPath::sanitize(query.next.as_deref())
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
    /// The code step: the ticket of the password step and the code (or a backup code).
    mfa_ticket: Option<String>,
    code: Option<String>,
}

#[derive(Deserialize)]
struct RegisterForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

async fn sign_in_page(query: Result<Query<NextQuery>, QueryRejection>) -> Response {
    Page::sign_in(&next_of(query)).into_response()
}

async fn register_page(query: Result<Query<NextQuery>, QueryRejection>) -> Response {
    Page::register(&next_of(query)).into_response()
}

async fn signed_out() -> Response {
    Page::signed_out().into_response()
}

/// `POST /auth/sign-in` (`email`, `password`, `next`): signed in and 303 to `next`, or the form
/// again with what went wrong.
async fn sign_in(
    State(app): State<AppState>,
    ctx: EdgeContext,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let Form(form) = match form {
        Ok(form) => form,
        Err(rejection) => return unreadable_form(&rejection, SIGN_IN),
    };
    let next = NextPath::sanitize(form.next.as_deref());
    if let Some(ticket) = form.mfa_ticket.filter(|t| !t.is_empty()) {
        return sign_in_code(
            app,
            ctx,
            headers,
            next,
            ticket,
            form.code.unwrap_or_default(),
        )
        .await;
    }
    let request = LoginRequest::new(form.email.clone(), form.password);
    match auth::login(State(app), ctx, headers, ApiJson(request)).await {
        Ok(signed_in) => see_other(next.as_str(), &signed_in),
        Err(AppError::MfaRequired { ticket, .. }) => {
            Page::sign_in_code(&next, &ticket).into_response()
        }
        Err(error) => Page::sign_in(&next)
            .with_email(&form.email)
            .with_error(&error)
            .into_response(),
    }
}

/// The code step of `POST /auth/sign-in` (`mfa_ticket`, `code`, `next`): six digits are a TOTP
/// code, anything else a backup code. A wrong code shows the step again (same ticket); an
/// expired or used ticket, the sign-in form.
async fn sign_in_code(
    app: AppState,
    ctx: EdgeContext,
    headers: HeaderMap,
    next: NextPath,
    ticket: String,
    code: String,
) -> Response {
    let code = code.trim().to_owned();
    let is_totp = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    let request = if is_totp {
        LoginMfaRequest::new(ticket.clone(), Some(code), None)
    } else {
        LoginMfaRequest::new(ticket.clone(), None, Some(code))
    };
    match mfa::login_mfa(State(app), ctx, headers, ApiJson(request)).await {
        Ok(signed_in) => see_other(next.as_str(), &signed_in),
        Err(AppError::Api(e)) if e.code == ErrorCode::InvalidOrExpiredToken => Page::sign_in(&next)
            .with_error(&AppError::Api(e))
            .into_response(),
        Err(error) => Page::sign_in_code(&next, &ticket)
            .with_error(&error)
            .into_response(),
    }
}

/// `POST /auth/register` (`username`, `email`, `password`, `next`): the account is created and
/// signed in (303 to `next`), as the demo page does; when the address must be confirmed first,
/// the sign-in page says so.
async fn register(
    State(app): State<AppState>,
    ctx: EdgeContext,
    headers: HeaderMap,
    form: Result<Form<RegisterForm>, FormRejection>,
) -> Response {
    let Form(form) = match form {
        Ok(form) => form,
        Err(rejection) => return unreadable_form(&rejection, REGISTER),
    };
    let next = NextPath::sanitize(form.next.as_deref());
    let request = RegisterRequest::new(
        form.username.clone(),
        form.email.clone(),
        form.password.clone(),
    );
    if let Err(error) = auth::register(State(app.clone()), ctx.clone(), ApiJson(request)).await {
        return Page::register(&next)
            .with_username(&form.username)
            .with_email(&form.email)
            .with_error(&error)
            .into_response();
    }
    let request = LoginRequest::new(form.email.clone(), form.password);
    match auth::login(State(app), ctx, headers, ApiJson(request)).await {
        Ok(signed_in) => see_other(next.as_str(), &signed_in),
        Err(error) => {
            let created = if matches!(&error, AppError::Api(e) if e.code == ErrorCode::EmailUnverified)
            {
                "Your account is created. Confirm your email address with the link we sent you, then sign in."
            } else {
                "Your account is created; sign in to continue."
            };
            Page::sign_in(&next)
                .with_email(&form.email)
                .with_notice(created)
                .into_response()
        }
    }
}

/// `POST /auth/sign-out`: revokes the session of the refresh cookie (the API's logout), clears
/// the cookies and 303 to `/auth/signed-out`. A browser without a session is signed out already,
/// so that ends on the same page; only a failure to revoke (Redis down, rate limit) shows an error.
async fn sign_out(State(app): State<AppState>, ctx: EdgeContext, headers: HeaderMap) -> Response {
    match auth::logout(State(app), ctx, headers, Bytes::new()).await {
        Ok(logged_out) => see_other(SIGNED_OUT, &logged_out),
        Err(AppError::Api(e)) if e.code == ErrorCode::InvalidToken => {
            let mut cleared = Response::default();
            for value in cookie::clear() {
                cleared.headers_mut().append(header::SET_COOKIE, value);
            }
            see_other(SIGNED_OUT, &cleared)
        }
        Err(error) => Page::problem(
            "Not signed out",
            &error.to_api(),
            ("/auth/signed-out", "Back"),
        )
        .into_response(),
    }
}

/// 303 to `location` with every cookie the API handler set (refresh, access and device cookies
/// on sign-in; their removal on sign-out).
fn see_other(location: &str, api_response: &Response) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    for cookie in api_response.headers().get_all(header::SET_COOKIE) {
        headers.append(header::SET_COOKIE, cookie.clone());
    }
    // `NextPath` holds printable ASCII only, so this cannot fail; `/` if it somehow did.
    let location = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
    headers.insert(header::LOCATION, location);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// 400 (or 413/415) page for a body that is not the form.
fn unreadable_form(rejection: &FormRejection, back: &'static str) -> Response {
    let status = rejection.status();
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (ErrorCode::PayloadTooLarge, "The form was too large."),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            ErrorCode::UnsupportedMediaType,
            "The form was not sent as a web form (application/x-www-form-urlencoded).",
        ),
        _ => (ErrorCode::BadRequest, "The form could not be read."),
    };
    Page::problem(
        "Something was wrong with the form",
        &ApiError::new(code, message),
        (back, "Back to the form"),
    )
    .into_response()
}
