//! The hosted pages' HTML: one minijinja template per page around a shared layout that uses the
//! demo page's stylesheet (`/app.css`, served by the edge). Everything interpolated is
//! auto-escaped (templates named `.html`); passwords are never echoed back.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use edgeauth_core::next_path::NextPath;
use edgeauth_core::ApiError;
use minijinja::{context, Environment};

use super::{REGISTER, SIGN_IN};
use crate::error::AppError;

const PRODUCT: &str = "edgeauth";

const SOURCES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("field.html", include_str!("templates/field.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    (
        "sign_in_code.html",
        include_str!("templates/sign_in_code.html"),
    ),
    ("register.html", include_str!("templates/register.html")),
    ("signed_out.html", include_str!("templates/signed_out.html")),
    ("problem.html", include_str!("templates/problem.html")),
];

/// The templates, parsed once. They are compiled in, so an error is a bug the unit tests catch;
/// a page that cannot render answers a plain 500 (logged) rather than panicking.
static TEMPLATES: LazyLock<Result<Environment<'static>, String>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in SOURCES {
        env.add_template(name, source)
            .map_err(|e| format!("{name}: {e:#}"))?;
    }
    Ok(env)
});

/// One page about to be rendered.
pub struct Page {
    template: &'static str,
    status: StatusCode,
    title: String,
    next: NextPath,
    notice: Option<String>,
    problem: Option<String>,
    errors: BTreeMap<String, String>,
    email: String,
    username: String,
    /// The MFA ticket the code step carries (hidden field).
    ticket: String,
    back: (&'static str, &'static str),
    retry_after: Option<HeaderValue>,
}

impl Page {
    fn new(template: &'static str, title: &str, next: &NextPath) -> Self {
        Self {
            template,
            status: StatusCode::OK,
            title: title.to_owned(),
            next: next.clone(),
            notice: None,
            problem: None,
            errors: BTreeMap::new(),
            email: String::new(),
            username: String::new(),
            ticket: String::new(),
            back: ("/", "Home"),
            retry_after: None,
        }
    }

    pub fn sign_in(next: &NextPath) -> Self {
        Self::new("sign_in.html", "Sign in", next)
    }

    /// The sign-in's second step: the code (or a backup code), the ticket in a hidden field.
    pub fn sign_in_code(next: &NextPath, ticket: &str) -> Self {
        let mut page = Self::new("sign_in_code.html", "Two-step verification", next);
        page.ticket = ticket.to_owned();
        page
    }

    pub fn register(next: &NextPath) -> Self {
        Self::new("register.html", "Create an account", next)
    }

    pub fn signed_out() -> Self {
        Self::new("signed_out.html", "Signed out", &NextPath::home())
    }

    /// An error page with a way back, answered with the error's status.
    pub fn problem(title: &str, error: &ApiError, back: (&'static str, &'static str)) -> Self {
        let mut page = Self::new("problem.html", title, &NextPath::home());
        page.back = back;
        page.show(error);
        page
    }

    pub fn with_email(mut self, email: &str) -> Self {
        self.email = email.to_owned();
        self
    }

    pub fn with_username(mut self, username: &str) -> Self {
        self.username = username.to_owned();
        self
    }

    pub fn with_notice(mut self, notice: &str) -> Self {
        self.notice = Some(notice.to_owned());
        self
    }

    /// The form again, with the API's error in its words, its status, and its field errors
    /// beside their fields.
    pub fn with_error(mut self, error: &AppError) -> Self {
        if let AppError::Limited { retry_after, .. } = error {
            self.retry_after = Some(HeaderValue::from((*retry_after).max(1)));
        }
        self.show(&error.to_api());
        self
    }

    fn show(&mut self, error: &ApiError) {
        self.status =
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        self.problem = Some(if error.fields.is_empty() {
            error.message.clone()
        } else {
            "Please correct the marked fields.".to_owned()
        });
        for field in &error.fields {
            self.errors
                .entry(field.field.clone())
                .or_insert_with(|| sentence(&field.message));
        }
    }

    fn render(&self) -> Result<String, String> {
        let env = TEMPLATES.as_ref().map_err(Clone::clone)?;
        let ctx = context! {
            product => PRODUCT,
            title => &self.title,
            next => self.next.as_str(),
            notice => &self.notice,
            problem => &self.problem,
            errors => &self.errors,
            email => &self.email,
            username => &self.username,
            ticket => &self.ticket,
            register_href => self.next.page_url(REGISTER),
            sign_in_href => self.next.page_url(SIGN_IN),
            back_href => self.back.0,
            back_label => self.back.1,
        };
        env.get_template(self.template)
            .and_then(|t| t.render(ctx))
            .map_err(|e| format!("{}: {e:#}", self.template))
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let html = match self.render() {
            Ok(html) => html,
            Err(e) => {
                tracing::error!(error = %e, "a hosted page did not render");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "Something went wrong on our side.",
                )
                    .into_response();
            }
        };
        let mut response = (
            self.status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response();
        if let Some(retry_after) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after);
        }
        response
    }
}

/// A field message as a sentence: capitalised, ending with a full stop.
fn sentence(message: &str) -> String {
    let mut chars = message.trim().chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeauth_core::{ErrorCode, FieldError};

    fn html(page: Page) -> String {
        page.render().unwrap()
    }

    #[test]
    fn every_page_renders_with_lang_title_and_one_h1() {
        let next = NextPath::sanitize(Some("/notes/"));
        let error = ApiError::new(ErrorCode::InvalidCredentials, "Nope.");
        for page in [
            Page::sign_in(&next),
            Page::sign_in_code(&next, "t"),
            Page::register(&next),
            Page::signed_out(),
            Page::problem("Oops", &error, ("/", "Home")),
        ] {
            let text = html(page);
            assert!(text.starts_with("<!doctype html>"), "{text}");
            assert!(text.contains(r#"<html lang="en">"#));
            assert!(text.contains("<title>"));
            assert_eq!(text.matches("<h1").count(), 1, "{text}");
            assert!(text.contains(r#"href="/app.css""#));
            // The sign-in page's one script is the same-origin passkey file, which only adds a
            // passkey button: every form works without JavaScript.
            assert!(
                !text
                    .replace(r#"<script src="/auth/passkey.js" defer></script>"#, "")
                    .contains("<script"),
                "no inline or other script: works without JavaScript"
            );
        }
    }

    #[test]
    fn forms_post_to_themselves_and_carry_next() {
        let next = NextPath::sanitize(Some("/notes/?a=1&b=2"));
        let sign_in = html(Page::sign_in(&next));
        assert!(sign_in.contains(r#"<form method="post" action="/auth/sign-in">"#));
        // minijinja escapes `/` too (`&#x2f;`); browsers read it back as `/`.
        assert!(
            sign_in.contains(r#"name="next" value="&#x2f;notes&#x2f;?a=1&amp;b=2""#),
            "{sign_in}"
        );
        assert!(
            sign_in.contains(r#"href="&#x2f;auth&#x2f;register?next=%2Fnotes%2F%3Fa%3D1%26b%3D2""#)
        );
        for field in ["email", "password"] {
            assert!(sign_in.contains(&format!(r#"<label for="{field}">"#)));
            assert!(sign_in.contains(&format!(r#"id="{field}" name="{field}""#)));
        }
        let register = html(Page::register(&next));
        assert!(register.contains(r#"action="/auth/register""#));
        assert!(register.contains(r#"name="username""#));
    }

    #[test]
    fn the_code_step_carries_the_ticket_and_next() {
        let next = NextPath::sanitize(Some("/notes/"));
        let page = html(Page::sign_in_code(&next, "tick_et-1"));
        assert!(page.contains(r#"<form method="post" action="/auth/sign-in">"#));
        assert!(
            page.contains(r#"name="mfa_ticket" value="tick_et-1""#),
            "{page}"
        );
        assert!(
            page.contains(r#"name="next" value="&#x2f;notes&#x2f;""#),
            "{page}"
        );
        assert!(page.contains(r#"<label for="code">"#));
        assert!(page.contains(r#"autocomplete="one-time-code""#));
        assert!(!page.contains(r#"name="password""#));
    }

    #[test]
    fn what_a_person_typed_is_escaped_and_passwords_are_never_echoed() {
        let next = NextPath::home();
        let error = AppError::fields(vec![FieldError::new("email", "must be an email address")]);
        let text = html(
            Page::sign_in(&next)
                .with_email("\"><script>alert(1)</script>")
                .with_error(&error),
        );
        assert!(!text.contains("<script>"), "{text}");
        assert!(text.contains("&quot;&gt;&lt;script&gt;"), "{text}");
        assert!(text.contains("Must be an email address."), "{text}");
        assert!(
            text.contains(r#"aria-invalid="true" aria-describedby="email-error""#),
            "{text}"
        );
        assert!(text.contains(r#"role="alert""#));
        assert!(!text.contains(r#"type="password" autocomplete="current-password" required value"#));
    }

    #[test]
    fn errors_keep_their_status_and_plain_message() {
        let wrong = AppError::api(
            ErrorCode::InvalidCredentials,
            "The email or password is not correct.",
        );
        let page = Page::sign_in(&NextPath::home()).with_error(&wrong);
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(html(page).contains("The email or password is not correct."));
        let limited = Page::sign_in(&NextPath::home()).with_error(&AppError::limited(
            7,
            "Too many sign-in attempts; try again later.",
        ));
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.retry_after, Some(HeaderValue::from(7u64)));
        let broken = Page::sign_in(&NextPath::home()).with_error(&AppError::internal("boom"));
        let text = html(broken);
        assert!(!text.contains("boom"), "internal details stay in the log");
    }
}
