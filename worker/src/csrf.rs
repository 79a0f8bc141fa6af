//! CSRF protection: which requests the refresh cookie authenticates, and whether they come from a page allowed to send them.
//!
//! The rule (docs/security.md, "Browsers"): a state-changing request (any method but GET, HEAD
//! and OPTIONS) that carries the refresh cookie and is not authenticated by a Bearer token is
//! *cookie-authenticated* — except `POST /api/refresh` and `POST /api/logout` whose JSON body
//! presents a `refresh_token`, because the origin then uses the body's token and ignores the
//! cookie. Whether it does is decided by `edgeauth_core::refresh::RefreshBody`, the parse the
//! origin uses too: an empty token is no token, so the cookie (and this check) applies.
//! A cookie-authenticated request passes only if its `Origin` is the edge's own origin or on
//! the allow-list (`EDGEAUTH_ALLOWED_ORIGINS`), or, when it has no `Origin` at all or the opaque
//! `Origin: null`, `Sec-Fetch-Site` is `same-origin`. Anything else is refused with 403 before
//! Redis or the origin see it. `null` needs this: the edge's `Referrer-Policy: no-referrer`
//! makes browsers send `Origin: null` on their own same-origin form POSTs, and the browser-set
//! `Sec-Fetch-Site` (computed over the whole redirect chain, never settable by a page) is what
//! tells those apart from the other sources of `null` (sandboxed frames, `data:` documents,
//! cross-origin redirects), which are never `same-origin`.
//!
//! The hosted pages' form POSTs (`/auth/sign-in`, ...) are checked the same way even without a
//! cookie: a foreign page must not sign a browser into an account of the attacker's choosing
//! (login CSRF) or sign it out.
//!
//! SameSite=Strict already keeps the cookie off cross-*site* requests, but a site is
//! scheme + registrable domain: pages on other ports or subdomains of the same site still get
//! the cookie attached, and only this check stops them.

use edgeauth_core::headers::refresh_cookie;
use edgeauth_core::refresh::RefreshBody;

use crate::cors::CorsPolicy;

/// Routes whose origin handler prefers a `refresh_token` in the JSON body over the cookie.
const BODY_TOKEN_PATHS: &[&str] = &["/api/refresh", "/api/logout"];

/// The hosted pages' form targets: checked with or without a cookie.
const FORM_PATHS: &[&str] = &["/auth/sign-in", "/auth/register", "/auth/sign-out"];

/// What the check needs to know about one request.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The `Cookie` header as the edge received (and forwards) it.
    pub cookie: Option<&'a str>,
    /// Whether the edge verifies a Bearer token for this request; then the origin acts on the
    /// token's identity, never on the cookie.
    pub bearer_verified: bool,
    pub body: &'a [u8],
    pub origin: Option<&'a str>,
    pub sec_fetch_site: Option<&'a str>,
}

/// Why a cookie-authenticated request was refused (for logs; the client gets a generic 403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsrfRejection {
    /// `Origin` names a page that is neither the edge itself nor on the allow-list.
    ForeignOrigin(String),
    /// No `Origin` (or `Origin: null`), and `Sec-Fetch-Site` is absent or not `same-origin`.
    UnprovenOrigin { sec_fetch_site: Option<String> },
}

impl std::fmt::Display for CsrfRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ForeignOrigin(origin) => {
                write!(f, "cookie-authenticated request from origin {origin:?}")
            }
            Self::UnprovenOrigin { sec_fetch_site } => write!(
                f,
                "cookie-authenticated request without Origin (Sec-Fetch-Site: {sec_fetch_site:?})"
            ),
        }
    }
}

/// Whether the refresh cookie is what authenticates this request (see the module docs).
pub fn is_cookie_authenticated(request: &RequestFacts<'_>) -> bool {
    let state_changing = !matches!(request.method, "GET" | "HEAD" | "OPTIONS");
    let carries_cookie = request.cookie.and_then(refresh_cookie).is_some();
    state_changing
        && carries_cookie
        && !request.bearer_verified
        && !(BODY_TOKEN_PATHS.contains(&request.path) && body_names_refresh_token(request.body))
}

/// Accepts every request that is not cookie-authenticated, and cookie-authenticated ones only
/// from `own_origin` (the edge's `scheme://host[:port]`) or an allowed origin.
pub fn check(
    request: &RequestFacts<'_>,
    own_origin: &str,
    allowed: &CorsPolicy,
) -> Result<(), CsrfRejection> {
    let form_post = request.method == "POST" && FORM_PATHS.contains(&request.path);
    if !is_cookie_authenticated(request) && !form_post {
        return Ok(());
    }
    check_page(request.origin, request.sec_fetch_site, own_origin, allowed)
}

/// The page check alone, for a request known to be cookie-authenticated (also app rules that
/// accept the access cookie: their state-changing requests and WebSocket upgrades).
pub fn check_page(
    origin: Option<&str>,
    sec_fetch_site: Option<&str>,
    own_origin: &str,
    allowed: &CorsPolicy,
) -> Result<(), CsrfRejection> {
    match origin.map(str::trim) {
        Some(origin) if origin.eq_ignore_ascii_case(own_origin) || allowed.allows(origin) => Ok(()),
        Some(origin) if origin != "null" => Err(CsrfRejection::ForeignOrigin(origin.to_owned())),
        _ => match sec_fetch_site.map(str::trim) {
            Some(site) if site.eq_ignore_ascii_case("same-origin") => Ok(()),
            other => Err(CsrfRejection::UnprovenOrigin {
                sec_fetch_site: other.map(str::to_owned),
            }),
        },
    }
}

/// Whether the body presents a refresh token — exactly when the origin's refresh and logout
/// handlers take the token from the body instead of the cookie (the same parse: a missing,
/// `null` or empty token means "use the cookie"; a body that does not parse is refused there).
fn body_names_refresh_token(body: &[u8]) -> bool {
    RefreshBody::parse(body).is_ok_and(|b| b.token().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EDGE: &str = "https://auth.example";
    const COOKIE: &str = "theme=dark; __Host-edgeauth_rt=rt1.s.0.secret";

    fn facts<'a>() -> RequestFacts<'a> {
        RequestFacts {
            method: "POST",
            path: "/api/refresh",
            cookie: Some(COOKIE),
            bearer_verified: false,
            body: b"",
            origin: None,
            sec_fetch_site: None,
        }
    }

    fn allow_list() -> CorsPolicy {
        CorsPolicy::parse("https://app.example").unwrap()
    }

    fn verdict(request: RequestFacts<'_>) -> Result<(), CsrfRejection> {
        check(&request, EDGE, &allow_list())
    }

    #[test]
    fn own_and_allowed_origins_pass() {
        for origin in [EDGE, "HTTPS://AUTH.EXAMPLE", "https://app.example"] {
            let request = RequestFacts {
                origin: Some(origin),
                ..facts()
            };
            assert_eq!(verdict(request), Ok(()), "{origin}");
        }
    }

    #[test]
    fn foreign_origins_are_refused() {
        for origin in [
            "https://evil.example",
            "http://auth.example",
            "https://auth.example:8443",
            "https://auth.example.evil.example",
            "",
        ] {
            let request = RequestFacts {
                origin: Some(origin),
                sec_fetch_site: Some("same-origin"),
                ..facts()
            };
            assert_eq!(
                verdict(request),
                Err(CsrfRejection::ForeignOrigin(origin.to_owned())),
                "{origin}"
            );
        }
    }

    #[test]
    fn without_origin_only_same_origin_fetch_metadata_passes() {
        let same = RequestFacts {
            sec_fetch_site: Some("same-origin"),
            ..facts()
        };
        assert_eq!(verdict(same), Ok(()));
        for site in [None, Some("same-site"), Some("cross-site"), Some("none")] {
            let request = RequestFacts {
                sec_fetch_site: site,
                ..facts()
            };
            assert_eq!(
                verdict(request),
                Err(CsrfRejection::UnprovenOrigin {
                    sec_fetch_site: site.map(str::to_owned)
                }),
                "{site:?}"
            );
        }
    }

    #[test]
    fn origin_null_passes_only_with_same_origin_fetch_metadata() {
        let own_form = RequestFacts {
            origin: Some("null"),
            sec_fetch_site: Some("same-origin"),
            ..facts()
        };
        assert_eq!(verdict(own_form), Ok(()));
        for site in [None, Some("same-site"), Some("cross-site"), Some("none")] {
            let request = RequestFacts {
                origin: Some("null"),
                sec_fetch_site: site,
                ..facts()
            };
            assert_eq!(
                verdict(request),
                Err(CsrfRejection::UnprovenOrigin {
                    sec_fetch_site: site.map(str::to_owned)
                }),
                "{site:?}"
            );
        }
    }

    #[test]
    fn hosted_form_posts_are_checked_without_a_cookie() {
        for path in ["/auth/sign-in", "/auth/register", "/auth/sign-out"] {
            let foreign = RequestFacts {
                path,
                cookie: None,
                origin: Some("https://evil.example"),
                body: b"email=a%40b.example&password=x",
                ..facts()
            };
            assert!(verdict(foreign).is_err(), "{path}");
            let sandboxed = RequestFacts {
                origin: Some("null"),
                sec_fetch_site: Some("cross-site"),
                ..foreign
            };
            assert!(verdict(sandboxed).is_err(), "{path}");
            let own = RequestFacts {
                origin: Some("null"),
                sec_fetch_site: Some("same-origin"),
                ..foreign
            };
            assert_eq!(verdict(own), Ok(()), "{path}");
            let own_named = RequestFacts {
                origin: Some(EDGE),
                sec_fetch_site: None,
                ..foreign
            };
            assert_eq!(verdict(own_named), Ok(()), "{path}");
        }
        // The pages themselves are GETs anyone may load (then framing is refused by headers).
        let get = RequestFacts {
            method: "GET",
            path: "/auth/sign-in",
            cookie: None,
            origin: Some("https://evil.example"),
            ..facts()
        };
        assert_eq!(verdict(get), Ok(()));
    }

    #[test]
    fn every_state_changing_cookie_request_is_checked() {
        for (method, path) in [
            ("POST", "/api/refresh"),
            ("POST", "/api/logout"),
            ("POST", "/api/login"),
            ("POST", "/api/register"),
            ("DELETE", "/api/sessions/s1"),
            ("PUT", "/anything"),
        ] {
            let request = RequestFacts {
                method,
                path,
                origin: Some("https://evil.example"),
                ..facts()
            };
            assert!(is_cookie_authenticated(&request), "{method} {path}");
            assert!(verdict(request).is_err(), "{method} {path}");
        }
    }

    #[test]
    fn requests_the_cookie_does_not_authenticate_are_not_checked() {
        let foreign = RequestFacts {
            origin: Some("https://evil.example"),
            ..facts()
        };
        let cases = [
            (
                "safe method",
                RequestFacts {
                    method: "GET",
                    ..foreign
                },
            ),
            (
                "HEAD",
                RequestFacts {
                    method: "HEAD",
                    ..foreign
                },
            ),
            (
                "no cookie",
                RequestFacts {
                    cookie: None,
                    ..foreign
                },
            ),
            (
                "other cookies only",
                RequestFacts {
                    cookie: Some("theme=dark"),
                    ..foreign
                },
            ),
            (
                "empty cookie",
                RequestFacts {
                    cookie: Some("__Host-edgeauth_rt="),
                    ..foreign
                },
            ),
            (
                "bearer",
                RequestFacts {
                    bearer_verified: true,
                    ..foreign
                },
            ),
            (
                "token in the body",
                RequestFacts {
                    body: br#"{"refresh_token":"rt1.s.1.x"}"#,
                    ..foreign
                },
            ),
            (
                "token in the body of logout",
                RequestFacts {
                    path: "/api/logout",
                    body: br#" {"refresh_token": "rt1.s.1.x"} "#,
                    ..foreign
                },
            ),
        ];
        for (what, request) in cases {
            assert!(!is_cookie_authenticated(&request), "{what}");
            assert_eq!(verdict(request), Ok(()), "{what}");
        }
    }

    #[test]
    fn a_body_that_does_not_name_a_token_leaves_the_cookie_in_charge() {
        let bodies: [&[u8]; 10] = [
            b"",
            b"{}",
            br#"{"refresh_token":null}"#,
            br#"{"refresh_token":""}"#,
            br#" {"refresh_token": "  "} "#,
            br#"{"refresh_token":42}"#,
            br#"{"refresh_token":"x""#,
            br#"["refresh_token"]"#,
            br#"refresh_token=x"#,
            br#"{"refresh_token":"x","extra":1}"#,
        ];
        for body in bodies {
            let request = RequestFacts {
                body,
                origin: Some("https://evil.example"),
                ..facts()
            };
            assert!(
                is_cookie_authenticated(&request),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // Only refresh and logout read a body token; elsewhere the cookie still counts.
        let login = RequestFacts {
            path: "/api/login",
            body: br#"{"refresh_token":"x"}"#,
            ..facts()
        };
        assert!(is_cookie_authenticated(&login));
    }
}
