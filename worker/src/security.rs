//! Security headers the edge puts on every response it sends, whoever produced the body.

/// Name/value pairs set (overwriting any origin value) on every response.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "strict-transport-security",
        "max-age=63072000; includeSubDomains",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// API responses are data, never rendered: they may load nothing at all.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// The demo page may load its own script, stylesheet and icon and call its own API, nothing
/// else: no inline script or style, no plugins, no `<base>`, no framing, and DOM sinks that take
/// strings (`innerHTML`, ...) are disabled through Trusted Types.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'; \
     trusted-types 'none'";

/// What a response carries, which decides its content policy and caching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// JSON from the API (and every error): strictest CSP, never stored.
    Api,
    /// A file of the demo page: the page CSP; browsers may keep it but must revalidate (ETag).
    Page,
    /// Public JSON anyone may cache (the assertion JWKS): the API's CSP, cached 5 minutes.
    PublicData,
    /// An HTML page the origin rendered (the hosted sign-in pages): the page CSP (no script
    /// at all is needed, none may run; forms post only to the edge; never framed), never stored:
    /// it may show what a person typed.
    HostedPage,
}

impl Surface {
    /// The surface of an origin response: its own pages by their content type, else API data.
    pub fn of_origin_response(content_type: Option<&str>) -> Self {
        let html = content_type
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/html"));
        if html {
            Self::HostedPage
        } else {
            Self::Api
        }
    }
}

impl Surface {
    /// The headers that differ between API and page responses.
    pub fn headers(self) -> [(&'static str, &'static str); 2] {
        match self {
            Self::Api => [
                ("content-security-policy", API_CSP),
                ("cache-control", "no-store"),
            ],
            Self::Page => [
                ("content-security-policy", PAGE_CSP),
                ("cache-control", "no-cache"),
            ],
            Self::PublicData => [
                ("content-security-policy", API_CSP),
                ("cache-control", "public, max-age=300"),
            ],
            Self::HostedPage => [
                ("content-security-policy", PAGE_CSP),
                ("cache-control", "no-store"),
            ],
        }
    }
}

/// Headers that identify server software; never sent to clients.
pub const IDENTIFYING_HEADERS: &[&str] = &["server", "x-powered-by"];

/// The response header carrying the edge's request id back to the client.
pub const REQUEST_ID_RESPONSE_HEADER: &str = "x-request-id";

/// The final header list of a response: the handler's own headers (minus anything the edge
/// owns), then the security headers of its surface, the request id and the CORS headers.
pub fn finalize_headers(
    surface: Surface,
    own: Vec<(&'static str, String)>,
    request_id: &str,
    cors: Vec<(&'static str, String)>,
) -> Vec<(&'static str, String)> {
    let surface_headers = surface.headers();
    let edge_owned = |name: &str| {
        SECURITY_HEADERS
            .iter()
            .chain(&surface_headers)
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
            || IDENTIFYING_HEADERS
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name))
            || name.eq_ignore_ascii_case(REQUEST_ID_RESPONSE_HEADER)
            || cors.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    let mut out: Vec<(&'static str, String)> = own
        .into_iter()
        .filter(|(name, _)| !edge_owned(name))
        .collect();
    out.extend(
        SECURITY_HEADERS
            .iter()
            .chain(&surface_headers)
            .map(|(n, v)| (*n, (*v).to_owned())),
    );
    out.push((REQUEST_ID_RESPONSE_HEADER, request_id.to_owned()));
    out.extend(cors);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(out: &'a [(&'static str, String)], name: &str) -> Vec<&'a str> {
        out.iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn edge_headers_win_and_repeats_survive() {
        let own = vec![
            ("set-cookie", "a=1".to_owned()),
            ("set-cookie", "b=2".to_owned()),
            ("cache-control", "public, max-age=60".to_owned()),
            ("content-security-policy", "default-src *".to_owned()),
            ("server", "origin/1.0".to_owned()),
            ("content-type", "application/json".to_owned()),
        ];
        let cors = vec![("vary", "Origin".to_owned())];
        let out = finalize_headers(Surface::Api, own, "rid", cors);
        let all = |name: &str| values(&out, name);
        assert_eq!(all("set-cookie"), vec!["a=1", "b=2"]);
        assert_eq!(all("cache-control"), vec!["no-store"]);
        assert_eq!(all("content-security-policy"), vec![API_CSP]);
        assert!(all("server").is_empty());
        assert_eq!(all("x-request-id"), vec!["rid"]);
        assert_eq!(all("vary"), vec!["Origin"]);
        assert_eq!(all("content-type"), vec!["application/json"]);
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(all(name), vec![*value]);
        }
    }

    #[test]
    fn pages_get_the_page_policy_and_the_same_hardening() {
        let own = vec![
            ("content-type", "text/html; charset=utf-8".to_owned()),
            ("etag", "\"abc\"".to_owned()),
        ];
        let out = finalize_headers(Surface::Page, own, "rid", Vec::new());
        assert_eq!(values(&out, "content-security-policy"), vec![PAGE_CSP]);
        assert_eq!(values(&out, "cache-control"), vec!["no-cache"]);
        assert_eq!(values(&out, "etag"), vec!["\"abc\""]);
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(values(&out, name), vec![*value]);
        }
    }

    #[test]
    fn the_page_policy_allows_no_inline_code_and_no_framing() {
        let directives: Vec<&str> = PAGE_CSP.split(';').map(str::trim).collect();
        for required in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
        ] {
            assert!(directives.contains(&required), "{required}: {PAGE_CSP}");
        }
        for loose in [
            "unsafe-inline",
            "unsafe-eval",
            "*",
            "data:",
            "http:",
            "https:",
        ] {
            assert!(
                !directives.iter().any(|d| d
                    .split(' ')
                    .any(|s| s == loose || s == format!("'{loose}'"))),
                "{loose}: {PAGE_CSP}"
            );
        }
        assert!(API_CSP.starts_with("default-src 'none'"));
        assert!(API_CSP.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn origin_pages_get_the_page_policy_and_are_never_stored() {
        for (content_type, surface) in [
            (Some("text/html; charset=utf-8"), Surface::HostedPage),
            (Some("TEXT/HTML"), Surface::HostedPage),
            (Some("application/json"), Surface::Api),
            (Some("text/plain"), Surface::Api),
            (Some("text/htmlx"), Surface::Api),
            (None, Surface::Api),
        ] {
            assert_eq!(
                Surface::of_origin_response(content_type),
                surface,
                "{content_type:?}"
            );
        }
        let out = finalize_headers(Surface::HostedPage, Vec::new(), "rid", Vec::new());
        assert_eq!(values(&out, "content-security-policy"), vec![PAGE_CSP]);
        assert_eq!(values(&out, "cache-control"), vec!["no-store"]);
        assert_eq!(values(&out, "x-frame-options"), vec!["DENY"]);
    }

    #[test]
    fn names_are_lowercase_and_unique() {
        for surface in [Surface::Api, Surface::Page, Surface::HostedPage] {
            let mut names: Vec<&str> = SECURITY_HEADERS
                .iter()
                .chain(&surface.headers())
                .map(|(n, _)| *n)
                .collect();
            assert!(names.iter().all(|n| *n == n.to_ascii_lowercase()));
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), count);
            assert!(names.contains(&"content-security-policy"));
        }
    }
}
