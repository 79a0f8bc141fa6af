//! The route table: which paths exist, with which methods, and how the edge treats each.

/// Who may call a forwarded route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Forwarded without identity headers.
    Anonymous,
    /// Requires a valid Bearer access token of a live session.
    Bearer,
    /// Bearer if an `Authorization` header is present at all, otherwise anonymous
    /// (`POST /api/logout` by refresh token or cookie).
    BearerIfPresent,
}

/// What the edge does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    /// Answered at the edge: Redis and origin reachability.
    Health,
    /// A file of the demo page, from the Workers static assets (`web/`), with the page CSP.
    Page,
    /// Forwarded to the origin, signed.
    Forward(Access),
}

/// Why a request matches no route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    NotFound,
    /// The path exists; `allow` lists its methods (for the `Allow` header).
    MethodNotAllowed {
        allow: &'static str,
    },
}

use Access::{Anonymous, Bearer, BearerIfPresent};
use Handling::{Forward, Health, Page};

/// The demo page's URL paths; `/` is `web/index.html`, the others are the file names in `web/`.
pub const PAGE_PATHS: &[&str] = &["/", "/app.js", "/app.css", "/favicon.svg"];

type Methods = &'static [(&'static str, Handling)];

/// The mail-backed auth routes (issue 18), all `POST`: verification, password reset, email
/// change. The tokens they take ride in request bodies, never in URLs.
const EMAIL_ROUTES: &[(&str, (&str, Handling))] = &[
    ("/api/email/verify", ("POST", Forward(Anonymous))),
    ("/api/email/verify/resend", ("POST", Forward(Anonymous))),
    ("/api/password/forgot", ("POST", Forward(Anonymous))),
    ("/api/password/reset", ("POST", Forward(Anonymous))),
    ("/api/email/change", ("POST", Forward(Bearer))),
    ("/api/email/change/confirm", ("POST", Forward(Anonymous))),
];

/// The methods of a path, or `None` if the path does not exist.
fn endpoint(path: &str) -> Option<Methods> {
    Some(match path {
        "/healthz" => &[("GET", Health)],
        page if PAGE_PATHS.contains(&page) => &[("GET", Page)],
        "/.well-known/jwks.json" | "/openapi.json" => &[("GET", Forward(Anonymous))],
        "/api/register" | "/api/login" | "/api/refresh" => &[("POST", Forward(Anonymous))],
        "/api/logout" => &[("POST", Forward(BearerIfPresent))],
        "/api/profile" | "/api/sessions" => &[("GET", Forward(Bearer))],
        "/api/logout-all" | "/api/password" => &[("POST", Forward(Bearer))],
        _ => {
            if let Some((_, handling)) = EMAIL_ROUTES.iter().find(|(p, _)| *p == path) {
                return Some(std::slice::from_ref(handling));
            }
            let id = path.strip_prefix("/api/sessions/")?;
            if !is_session_id(id) {
                return None;
            }
            &[("DELETE", Forward(Bearer))]
        }
    })
}

/// Session ids in URLs: 1–128 URL-safe characters (what the origin generates is a subset).
fn is_session_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Classifies a request by method (case-sensitive, as HTTP defines it) and path (no query).
pub fn classify(method: &str, path: &str) -> Result<Handling, RouteError> {
    let methods = endpoint(path).ok_or(RouteError::NotFound)?;
    methods
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, handling)| *handling)
        .ok_or(RouteError::MethodNotAllowed {
            allow: allowed_methods(methods),
        })
}

/// The `Allow` value of an existing path (also used for CORS preflights).
pub fn allow_header(path: &str) -> Option<&'static str> {
    endpoint(path).map(allowed_methods)
}

fn allowed_methods(methods: Methods) -> &'static str {
    // Every path has exactly one method today; keep the table and this in step.
    methods.first().map_or("", |(m, _)| *m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_routes_are_classified() {
        let cases = [
            ("GET", "/healthz", Health),
            ("GET", "/", Page),
            ("GET", "/app.js", Page),
            ("GET", "/.well-known/jwks.json", Forward(Anonymous)),
            ("GET", "/openapi.json", Forward(Anonymous)),
            ("POST", "/api/register", Forward(Anonymous)),
            ("POST", "/api/login", Forward(Anonymous)),
            ("POST", "/api/refresh", Forward(Anonymous)),
            ("POST", "/api/logout", Forward(BearerIfPresent)),
            ("GET", "/api/profile", Forward(Bearer)),
            ("POST", "/api/logout-all", Forward(Bearer)),
            ("GET", "/api/sessions", Forward(Bearer)),
            ("DELETE", "/api/sessions/abc-DEF_123", Forward(Bearer)),
            ("POST", "/api/password", Forward(Bearer)),
            ("POST", "/api/password/forgot", Forward(Anonymous)),
            ("POST", "/api/password/reset", Forward(Anonymous)),
            ("POST", "/api/email/verify", Forward(Anonymous)),
            ("POST", "/api/email/verify/resend", Forward(Anonymous)),
            ("POST", "/api/email/change", Forward(Bearer)),
            ("POST", "/api/email/change/confirm", Forward(Anonymous)),
        ];
        for (method, path, want) in cases {
            assert_eq!(classify(method, path), Ok(want), "{method} {path}");
        }
    }

    #[test]
    fn wrong_methods_get_405_with_allow() {
        assert_eq!(
            classify("GET", "/api/login"),
            Err(RouteError::MethodNotAllowed { allow: "POST" })
        );
        assert_eq!(
            classify("POST", "/api/sessions/x"),
            Err(RouteError::MethodNotAllowed { allow: "DELETE" })
        );
        assert_eq!(
            classify("get", "/healthz"),
            Err(RouteError::MethodNotAllowed { allow: "GET" })
        );
        assert_eq!(allow_header("/api/profile"), Some("GET"));
    }

    #[test]
    fn unknown_paths_are_404() {
        for path in [
            "/index.html",
            "/app.js/",
            "/web/app.js",
            "/_headers",
            "/api",
            "/api/",
            "/api/profile/",
            "/API/profile",
            "/api/sessions/",
            "/api/sessions/a/b",
            "/api/sessions/a%2Fb",
            "/api/sessions/..",
            "/healthz/",
        ] {
            assert_eq!(classify("GET", path), Err(RouteError::NotFound), "{path}");
            assert_eq!(
                classify("DELETE", path),
                Err(RouteError::NotFound),
                "{path}"
            );
        }
        let long = format!("/api/sessions/{}", "a".repeat(129));
        assert_eq!(classify("DELETE", &long), Err(RouteError::NotFound));
    }

    #[test]
    fn the_page_routes_are_exactly_the_files_in_web() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.'))
            .map(|name| {
                if name == "index.html" {
                    "/".to_owned()
                } else {
                    format!("/{name}")
                }
            })
            .collect();
        files.sort();
        let mut routed: Vec<&str> = PAGE_PATHS.to_vec();
        routed.sort_unstable();
        assert_eq!(files, routed, "web/ and routes::PAGE_PATHS disagree");
        assert_eq!(
            classify("POST", "/"),
            Err(RouteError::MethodNotAllowed { allow: "GET" })
        );
    }
}
