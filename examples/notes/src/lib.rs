//! An example app behind edgeauth's edge. Every route but `public/` and `/healthz` needs the
//! edge's identity assertion, verified by `edgeauth-verify`; the admin route needs the role
//! `admin`. `{prefix}/` is an HTML page (the notes and a form) for browsers that navigate to
//! it; the rest is a JSON API. Routes live under a prefix (`/notes` by default) because the edge forwards the
//! full path.

pub mod config;
mod error;
mod notes;
mod page;
mod streams;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Json;
use axum::Router;
use edgeauth_verify::{require_role, AssertionLayer, Identity, Verifier};
use serde_json::{json, Value};
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use streams::{download_byte, MAX_DOWNLOAD_MIB};

/// The default upload limit: the notes rule at the edge allows 64 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 64 * 1024 * 1024;

/// How the routes are mounted and bounded.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `/notes`, or empty for the root. Must start with `/` and not end with one.
    pub prefix: String,
    /// Uploads larger than this are refused with 413.
    pub max_upload_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            prefix: "/notes".to_owned(),
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
        }
    }
}

/// A prefix the router cannot mount.
#[derive(Debug, thiserror::Error)]
#[error("prefix {0:?} must be empty, or start with / and hold only letters, digits, -, _, . and single /")]
pub struct PrefixError(pub String);

#[derive(Clone)]
pub(crate) struct AppState {
    notes: Arc<notes::NoteStore>,
    max_upload_bytes: u64,
    /// `{prefix}/`: the HTML page, and where its form posts.
    page_path: String,
}

/// The whole app: `/healthz` at the root, everything else under the prefix.
pub fn app(settings: &Settings, verifier: Arc<Verifier>) -> Result<Router, PrefixError> {
    check_prefix(&settings.prefix)?;
    let state = AppState {
        notes: Arc::default(),
        max_upload_bytes: settings.max_upload_bytes,
        page_path: format!("{}/", settings.prefix),
    };
    let admin = Router::new()
        .route("/api/admin/stats", get(notes::admin_stats))
        .route_layer(require_role("admin"));
    let signed_in = Router::new()
        .route("/api/whoami", get(notes::whoami))
        // The edge lets only sessions with a second factor through (`"mfa": true`, wrangler.toml).
        .route("/api/secure", get(notes::whoami))
        .route(
            "/api/notes",
            get(notes::list)
                .post(notes::create)
                .layer(DefaultBodyLimit::max(notes::MAX_BODY_BYTES)),
        )
        .route("/api/events", get(streams::events))
        .route("/api/upload", post(streams::upload))
        .route("/api/download", get(streams::download))
        .route("/ws", get(streams::websocket))
        .merge(admin)
        .route_layer(AssertionLayer::new(verifier.clone()));
    // The page sits at `{prefix}/` itself, which a router nested at the prefix does not match.
    let page = Router::new()
        .route(
            &state.page_path,
            get(page::show)
                .post(page::add)
                .layer(DefaultBodyLimit::max(notes::MAX_BODY_BYTES)),
        )
        .route_layer(AssertionLayer::new(verifier.clone()))
        .with_state(state.clone());
    let public = Router::new()
        .route("/public/hello", get(hello))
        .route_layer(AssertionLayer::optional(verifier));
    let mounted = public.merge(signed_in).with_state(state);
    let mounted = if settings.prefix.is_empty() {
        mounted
    } else {
        Router::new().nest(&settings.prefix, mounted)
    };
    Ok(mounted
        .merge(page)
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(TraceLayer::new_for_http()))
}

fn check_prefix(prefix: &str) -> Result<(), PrefixError> {
    let valid = prefix.is_empty()
        || (prefix.starts_with('/')
            && !prefix.ends_with('/')
            && !prefix.contains("//")
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.')));
    if valid {
        Ok(())
    } else {
        Err(PrefixError(prefix.to_owned()))
    }
}

/// `GET /public/hello`: needs no assertion; says who is signed in when the edge sent one.
async fn hello(identity: Option<Identity>) -> Json<Value> {
    Json(json!({
        "message": "Hello from the notes app",
        "signed_in_as": identity.map(|i| i.sub),
    }))
}

#[cfg(test)]
mod tests {
    use super::check_prefix;

    #[test]
    fn prefixes_the_router_can_mount() {
        for ok in ["", "/notes", "/apps/notes-v2", "/a.b_c"] {
            assert!(check_prefix(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "/", "notes", "/notes/", "//notes", "/no{tes}", "/*rest", "/a b",
        ] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
