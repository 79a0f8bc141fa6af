//! CORS with an explicit allow-list of browser origins: preflight answers and response headers.
//!
//! Credentials (the refresh cookie) are allowed, so `*` is never accepted: each allowed origin
//! is echoed back exactly. An empty list means same-origin use only (no CORS headers at all).

/// Request headers a cross-origin caller may send.
const ALLOWED_REQUEST_HEADERS: &str = "authorization, content-type";
/// Response headers a cross-origin caller may read besides the CORS-safelisted ones.
const EXPOSED_HEADERS: &str = "retry-after, www-authenticate, x-request-id";
/// How long a browser may cache a preflight answer, seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The allowed browser origins, lowercase, as `scheme://host[:port]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsPolicy {
    origins: Vec<String>,
}

impl CorsPolicy {
    /// Parses a comma- or space-separated list such as `https://app.example, http://localhost:3000`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut origins = Vec::new();
        for item in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            let origin = item.to_ascii_lowercase();
            let authority = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            let valid = authority.is_some_and(|a| {
                !a.is_empty()
                    && a.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
                    })
            });
            if !valid {
                return Err(format!(
                    "lists {item:?}; each entry must be an exact origin like https://app.example \
                     (no wildcard, path or trailing slash)"
                ));
            }
            origins.push(origin);
        }
        Ok(Self { origins })
    }

    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// Whether a request's `Origin` header value is on the allow-list.
    pub fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    /// Headers for an actual (non-preflight) response to a request with this `Origin`.
    pub fn response_headers(&self, origin: Option<&str>) -> Vec<(&'static str, String)> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut headers = vec![("vary", "Origin".to_owned())];
        if let Some(origin) = origin.filter(|o| self.allows(o)) {
            headers.push(("access-control-allow-origin", origin.to_owned()));
            headers.push(("access-control-allow-credentials", "true".to_owned()));
            headers.push(("access-control-expose-headers", EXPOSED_HEADERS.to_owned()));
        }
        headers
    }

    /// Headers answering a preflight from an allowed origin for a path with these methods;
    /// `None` if the origin is not allowed.
    pub fn preflight_headers(
        &self,
        origin: &str,
        allowed_methods: &str,
    ) -> Option<Vec<(&'static str, String)>> {
        if !self.allows(origin) {
            return None;
        }
        Some(vec![
            ("vary", "Origin".to_owned()),
            ("access-control-allow-origin", origin.to_owned()),
            ("access-control-allow-credentials", "true".to_owned()),
            ("access-control-allow-methods", allowed_methods.to_owned()),
            (
                "access-control-allow-headers",
                ALLOWED_REQUEST_HEADERS.to_owned(),
            ),
            ("access-control-max-age", PREFLIGHT_MAX_AGE.to_owned()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(headers: &[(&'static str, String)]) -> Vec<&'static str> {
        headers.iter().map(|(n, _)| *n).collect()
    }

    #[test]
    fn parses_lists_and_refuses_wildcards_and_paths() {
        let p = CorsPolicy::parse(" https://App.example, http://localhost:3000 ").unwrap();
        assert!(p.allows("https://app.example"));
        assert!(p.allows("http://localhost:3000"));
        assert!(!p.allows("http://localhost:3001"));
        assert!(!p.allows("null"));
        assert!(CorsPolicy::parse("").unwrap().is_empty());
        for bad in [
            "*",
            "null",
            "https://a.example/",
            "a.example",
            "https://a.example/x",
        ] {
            assert!(CorsPolicy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn echoes_only_allowed_origins() {
        let p = CorsPolicy::parse("https://app.example").unwrap();
        let ok = p.response_headers(Some("https://app.example"));
        assert!(ok.contains(&("access-control-allow-origin", "https://app.example".into())));
        assert!(ok.contains(&("access-control-allow-credentials", "true".into())));
        assert_eq!(
            names(&p.response_headers(Some("https://evil.example"))),
            vec!["vary"]
        );
        assert_eq!(names(&p.response_headers(None)), vec!["vary"]);
        assert!(CorsPolicy::default()
            .response_headers(Some("https://x"))
            .is_empty());
    }

    #[test]
    fn preflight_lists_the_paths_methods() {
        let p = CorsPolicy::parse("https://app.example").unwrap();
        let h = p.preflight_headers("https://app.example", "POST").unwrap();
        assert!(h.contains(&("access-control-allow-methods", "POST".into())));
        assert!(h.contains(&(
            "access-control-allow-headers",
            ALLOWED_REQUEST_HEADERS.into()
        )));
        assert!(p
            .preflight_headers("https://evil.example", "POST")
            .is_none());
    }
}
