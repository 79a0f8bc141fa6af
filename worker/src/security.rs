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
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    ("cache-control", "no-store"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// Headers that identify server software; never sent to clients.
pub const IDENTIFYING_HEADERS: &[&str] = &["server", "x-powered-by"];

/// The response header carrying the edge's request id back to the client.
pub const REQUEST_ID_RESPONSE_HEADER: &str = "x-request-id";

/// The final header list of a response: the handler's own headers (minus anything the edge
/// owns), then the security headers, the request id and the CORS headers.
pub fn finalize_headers(
    own: Vec<(&'static str, String)>,
    request_id: &str,
    cors: Vec<(&'static str, String)>,
) -> Vec<(&'static str, String)> {
    let edge_owned = |name: &str| {
        SECURITY_HEADERS
            .iter()
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
    out.extend(SECURITY_HEADERS.iter().map(|(n, v)| (*n, (*v).to_owned())));
    out.push((REQUEST_ID_RESPONSE_HEADER, request_id.to_owned()));
    out.extend(cors);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_headers_win_and_repeats_survive() {
        let own = vec![
            ("set-cookie", "a=1".to_owned()),
            ("set-cookie", "b=2".to_owned()),
            ("cache-control", "public, max-age=60".to_owned()),
            ("server", "origin/1.0".to_owned()),
            ("content-type", "application/json".to_owned()),
        ];
        let cors = vec![("vary", "Origin".to_owned())];
        let out = finalize_headers(own, "rid", cors);
        let all = |name: &str| -> Vec<&str> {
            out.iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert_eq!(all("set-cookie"), vec!["a=1", "b=2"]);
        assert_eq!(all("cache-control"), vec!["no-store"]);
        assert!(all("server").is_empty());
        assert_eq!(all("x-request-id"), vec!["rid"]);
        assert_eq!(all("vary"), vec!["Origin"]);
        assert_eq!(all("content-type"), vec!["application/json"]);
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(all(name), vec![*value]);
        }
    }

    #[test]
    fn names_are_lowercase_and_unique() {
        let mut names: Vec<&str> = SECURITY_HEADERS.iter().map(|(n, _)| *n).collect();
        assert!(names.iter().all(|n| *n == n.to_ascii_lowercase()));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SECURITY_HEADERS.len());
        assert!(names.contains(&"content-security-policy"));
    }
}
