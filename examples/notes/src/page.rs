//! `GET /notes/` and its form: the caller's notes as a server-rendered HTML page that works
//! without JavaScript. A browser reaches it by plain navigation: the edge recognises the
//! session cookie, refreshes it when needed, and sends a signed-out visitor to the hosted
//! sign-in page — the app only ever sees the assertion.

use std::sync::LazyLock;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use edgeauth_verify::Identity;
use minijinja::{context, Environment};
use serde::Deserialize;

use crate::notes::{self, MAX_NOTE_CHARS};
use crate::AppState;

/// The page loads only the edge's stylesheet and icon and posts only to its own origin; it
/// runs no script and is never framed.
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

static TEMPLATES: LazyLock<Result<Environment<'static>, String>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.add_template("page.html", include_str!("templates/page.html"))
        .map_err(|e| format!("page.html: {e:#}"))?;
    Ok(env)
});

#[derive(Deserialize)]
pub struct NewNoteForm {
    #[serde(default)]
    text: String,
}

/// `GET {prefix}/`: the page.
pub async fn show(State(state): State<AppState>, identity: Identity) -> Response {
    render(&state, &identity, StatusCode::OK, None)
}

/// `POST {prefix}/` (`text`): adds the note, then 303 back to the page (so a reload does not
/// post again); a note that cannot be added shows the page with the reason.
pub async fn add(
    State(state): State<AppState>,
    identity: Identity,
    form: Result<Form<NewNoteForm>, FormRejection>,
) -> Response {
    let text = match form {
        Ok(Form(form)) => form.text,
        Err(rejection) => {
            let problem = "The note could not be read; please try again.";
            return render(&state, &identity, rejection.status(), Some(problem));
        }
    };
    match notes::add_checked(&state, &identity.sub, &text) {
        Ok(_) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            let location =
                HeaderValue::from_str(&state.page_path).unwrap_or(HeaderValue::from_static("/"));
            response.headers_mut().insert(header::LOCATION, location);
            response
        }
        Err(error) => {
            let problem = error.message().to_owned();
            render(&state, &identity, error.status(), Some(&problem))
        }
    }
}

fn render(
    state: &AppState,
    identity: &Identity,
    status: StatusCode,
    problem: Option<&str>,
) -> Response {
    let notes = state.notes.list(&identity.sub);
    let html = TEMPLATES.as_ref().map_err(Clone::clone).and_then(|env| {
        env.get_template("page.html")
            .and_then(|t| {
                t.render(context! {
                    name => display_name(identity),
                    notes => notes,
                    problem => problem,
                    action => &state.page_path,
                    max_chars => MAX_NOTE_CHARS,
                })
            })
            .map_err(|e| format!("page.html: {e:#}"))
    });
    match html {
        Ok(html) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
            ],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the notes page did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page did not render").into_response()
        }
    }
}

/// The username the edge vouches for, else the user id.
fn display_name(identity: &Identity) -> &str {
    identity.username.as_deref().unwrap_or(&identity.sub)
}
