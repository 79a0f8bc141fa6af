//! What crosses the edge: which client headers reach the origin, which origin headers reach the
//! client, and the request facts (path, client address) the edge signs.

use edgeauth_core::edge_signature::{sign, EdgeSecret, SignedRequest};
use edgeauth_core::headers::{self, is_reserved};

/// Client request headers passed to the origin. Everything else is dropped: in particular every
/// `x-edgeauth-*` header (only the edge sets those), `authorization` (the edge has already
/// turned it into verified identity headers) and all hop-by-hop headers.
const FORWARDED_REQUEST_HEADERS: &[&str] = &[
    "accept",
    "accept-language",
    "content-type",
    "cookie",
    "origin",
    "sec-fetch-site",
    "user-agent",
];

/// Hop-by-hop headers (RFC 9110 §7.6.1) plus ones the runtime manages itself; the app proxy
/// drops the same ones.
pub(crate) const HOP_BY_HOP: &[&str] = &[
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Origin response headers passed back to the client (`set-cookie` possibly several times;
/// `location` of the hosted pages' 303s, always a same-origin path). Security and CORS headers
/// are the edge's own, so the origin's versions never leak through.
pub const RETURNED_RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "location",
    "retry-after",
    "www-authenticate",
];

/// The one response header that may repeat and must not be joined.
pub const SET_COOKIE: &str = "set-cookie";

/// Whether a client request header goes to the origin.
pub fn forward_request_header(name: &str) -> bool {
    !is_reserved(name)
        && !HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
        && FORWARDED_REQUEST_HEADERS
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
}

/// The client request headers the edge reads, gathered in one pass over the runtime's header list
/// (each `Headers.get` would be a separate call out of Wasm).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ClientHeaders {
    pub authorization: Option<String>,
    pub cookie: Option<String>,
    pub origin: Option<String>,
    pub sec_fetch_site: Option<String>,
    pub sec_fetch_mode: Option<String>,
    pub accept: Option<String>,
    pub upgrade: Option<String>,
    pub cf_connecting_ip: Option<String>,
    pub access_control_request_method: Option<String>,
    /// The headers passed on to the origin ([`forward_request_header`]), in arrival order.
    pub forwarded: Vec<(String, String)>,
    /// Every header, in arrival order: what the app proxy filters (`crate::proxy`), so the
    /// runtime's list is read once per request.
    pub all: Vec<(String, String)>,
}

impl ClientHeaders {
    /// From `(name, value)` pairs as the runtime iterates them: names lower-case, repeated
    /// headers already joined (the Fetch standard's `Headers` iterator does both).
    pub fn collect(pairs: Vec<(String, String)>) -> Self {
        let mut headers = Self::default();
        for (name, value) in &pairs {
            let slot = match name.as_str() {
                "authorization" => Some(&mut headers.authorization),
                "cookie" => Some(&mut headers.cookie),
                "origin" => Some(&mut headers.origin),
                "sec-fetch-site" => Some(&mut headers.sec_fetch_site),
                "sec-fetch-mode" => Some(&mut headers.sec_fetch_mode),
                "accept" => Some(&mut headers.accept),
                "upgrade" => Some(&mut headers.upgrade),
                "cf-connecting-ip" => Some(&mut headers.cf_connecting_ip),
                "access-control-request-method" => Some(&mut headers.access_control_request_method),
                _ => None,
            };
            if let Some(slot) = slot {
                *slot = Some(value.clone());
            }
            if forward_request_header(name) {
                headers.forwarded.push((name.clone(), value.clone()));
            }
        }
        headers.all = pairs;
        headers
    }
}

/// The client address from `CF-Connecting-IP` (set by Cloudflare, and by wrangler dev locally),
/// or `"unknown"` when absent or not shaped like an IPv4/IPv6 address.
pub fn client_ip(cf_connecting_ip: Option<&str>) -> String {
    match cf_connecting_ip.map(str::trim) {
        Some(ip)
            if (2..=45).contains(&ip.len())
                && ip.contains(['.', ':'])
                && ip
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':') =>
        {
            ip.to_owned()
        }
        _ => "unknown".to_owned(),
    }
}

/// The path and query of an absolute URL as the runtime serialises it
/// (`https://host/a/b?q=1` → `/a/b?q=1`); fragments are never sent, so they are dropped.
pub fn path_and_query(url: &str) -> String {
    let without_fragment = url.split_once('#').map_or(url, |(before, _)| before);
    let after_scheme = without_fragment
        .split_once("://")
        .map_or(without_fragment, |(_, rest)| rest);
    match after_scheme.find(['/', '?']) {
        Some(i) if after_scheme[i..].starts_with('/') => after_scheme[i..].to_owned(),
        // `https://host?q` has an empty path, which HTTP spells `/`.
        Some(i) => format!("/{}", &after_scheme[i..]),
        None => "/".to_owned(),
    }
}

/// The origin (`scheme://host[:port]`, lowercase) of an absolute URL as the runtime serialises
/// it: `https://Auth.example/api/x?q` → `https://auth.example`. It is what browsers send in
/// `Origin` for pages served from that URL (the runtime already omits default ports).
pub fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!("{scheme}://{authority}").to_ascii_lowercase()
}

/// The host name of an absolute URL, lowercase and without port (`[::1]` stays bracketed):
/// what route rules' `host` is compared with.
pub fn host_of(url: &str) -> String {
    let authority = origin_of(url);
    let authority = authority
        .split_once("://")
        .map_or(authority.as_str(), |(_, a)| a);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => authority[..i].to_owned(),
        _ => authority.to_owned(),
    }
}

/// The path part of a path-and-query.
pub fn path_of(path_and_query: &str) -> &str {
    path_and_query
        .split_once('?')
        .map_or(path_and_query, |(path, _)| path)
}

/// Whether a request with this method carries a body to forward.
pub fn method_has_body(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// The headers the edge adds for the origin: request id, client address, identity (if any),
/// timestamp, nonce and the signature over exactly those values and the body.
pub fn edge_headers(
    secret: &EdgeSecret,
    request: &SignedRequest<'_>,
) -> Vec<(&'static str, String)> {
    let mut out = vec![
        (headers::REQUEST_ID, request.request_id.to_owned()),
        (headers::CLIENT_IP, request.client_ip.to_owned()),
        (headers::TIMESTAMP, request.timestamp.to_string()),
        (headers::NONCE, request.nonce.to_owned()),
    ];
    if let Some(user) = request.user_id {
        out.push((headers::USER_ID, user.to_owned()));
    }
    if let Some(session) = request.session_id {
        out.push((headers::SESSION_ID, session.to_owned()));
    }
    out.push((headers::SIGNATURE, sign(secret, request)));
    out
}

/// A header list as one string of `name:value` lines, to cross into the runtime in one call
/// (`runtime::headers`). `None` if a name contains `:` or a line break, or a value a line break:
/// such a header is invalid anyway (the runtime's `append` refuses it) and would not split back.
pub fn join_header_lines<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> Option<String> {
    let mut text = String::with_capacity(
        pairs
            .iter()
            .map(|(n, v)| n.as_ref().len() + v.as_ref().len() + 2)
            .sum(),
    );
    for (name, value) in pairs {
        let (name, value) = (name.as_ref(), value.as_ref());
        if name.contains([':', '\n', '\r']) || value.contains(['\n', '\r']) {
            return None;
        }
        text.push_str(name);
        text.push(':');
        text.push_str(value);
        text.push('\n');
    }
    Some(text)
}

/// The pairs of [`join_header_lines`]' format (as the runtime's list arrives in it): each line
/// split at its first `:`; a line without one is skipped.
pub fn split_header_lines(text: &str) -> Vec<(String, String)> {
    text.split_terminator('\n')
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_their_port_and_case() {
        assert_eq!(host_of("https://Edge.Example/x"), "edge.example");
        assert_eq!(host_of("http://127.0.0.1:8787/notes/x?q"), "127.0.0.1");
        assert_eq!(host_of("http://[::1]:8787/"), "[::1]");
        assert_eq!(host_of("http://[::1]/"), "[::1]");
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn header_lines_round_trip_and_refuse_what_would_not() {
        let list = pairs(&[
            ("accept", "text/html, */*;q=0.8"),
            ("cookie", "a=1; b=2"),
            ("x-empty", ""),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2; Path=/"),
            ("x-colons", "a:b::c"),
        ]);
        let text = join_header_lines(&list).unwrap();
        assert_eq!(text.lines().count(), list.len());
        assert_eq!(split_header_lines(&text), list);
        assert_eq!(join_header_lines::<&str, &str>(&[]).as_deref(), Some(""));
        assert!(split_header_lines("").is_empty());
        for bad in [
            ("a:b", "v"),
            ("a\nb", "v"),
            ("a", "v\nx-injected:1"),
            ("a", "v\r"),
        ] {
            assert_eq!(join_header_lines(&[bad]), None, "{bad:?}");
        }
    }

    #[test]
    fn one_pass_reads_what_the_edge_needs_and_forwards_only_the_allowed() {
        let headers = ClientHeaders::collect(pairs(&[
            ("accept", "application/json"),
            ("authorization", "Bearer abc"),
            ("cf-connecting-ip", "203.0.113.7"),
            ("cookie", "__Host-edgeauth_refresh=x"),
            ("origin", "https://app.example"),
            ("sec-fetch-site", "same-origin"),
            ("x-edgeauth-user-id", "spoofed"),
            ("connection", "keep-alive"),
        ]));
        assert_eq!(headers.authorization.as_deref(), Some("Bearer abc"));
        assert_eq!(headers.cf_connecting_ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(headers.cookie.as_deref(), Some("__Host-edgeauth_refresh=x"));
        assert_eq!(headers.origin.as_deref(), Some("https://app.example"));
        assert_eq!(headers.sec_fetch_site.as_deref(), Some("same-origin"));
        assert_eq!(headers.accept.as_deref(), Some("application/json"));
        assert_eq!((headers.sec_fetch_mode, headers.upgrade), (None, None));
        assert_eq!(headers.access_control_request_method, None);
        assert_eq!(
            headers.forwarded,
            pairs(&[
                ("accept", "application/json"),
                ("cookie", "__Host-edgeauth_refresh=x"),
                ("origin", "https://app.example"),
                ("sec-fetch-site", "same-origin"),
            ])
        );
    }

    #[test]
    fn one_pass_of_nothing_is_nothing() {
        assert_eq!(ClientHeaders::collect(Vec::new()), ClientHeaders::default());
    }
    use edgeauth_core::edge_signature::verify;

    #[test]
    fn edge_headers_carry_a_verifiable_signature() {
        let secret = EdgeSecret::from_bytes(vec![3; 32]).unwrap();
        let request = SignedRequest {
            method: "DELETE",
            path_and_query: "/api/sessions/s2?x=1",
            timestamp: 1_800_000_000,
            nonce: "00ff",
            user_id: Some("u1"),
            session_id: Some("s1"),
            request_id: "r1",
            client_ip: "127.0.0.1",
            body: b"",
        };
        let out = edge_headers(&secret, &request);
        let get = |name: &str| {
            out.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get(headers::USER_ID), Some("u1"));
        assert_eq!(get(headers::SESSION_ID), Some("s1"));
        assert_eq!(get(headers::TIMESTAMP), Some("1800000000"));
        assert!(out.iter().all(|(n, _)| is_reserved(n)));
        let signature = get(headers::SIGNATURE).unwrap();
        assert_eq!(
            verify(
                std::slice::from_ref(&secret),
                &request,
                signature,
                1_800_000_001,
                30
            ),
            Ok(())
        );

        let anonymous = SignedRequest {
            user_id: None,
            session_id: None,
            ..request
        };
        let out = edge_headers(&secret, &anonymous);
        assert!(!out
            .iter()
            .any(|(n, _)| *n == headers::USER_ID || *n == headers::SESSION_ID));
    }

    #[test]
    fn only_allow_listed_headers_are_forwarded() {
        for name in ["Content-Type", "cookie", "User-Agent", "accept", "Origin"] {
            assert!(forward_request_header(name), "{name}");
        }
        for name in [
            "x-edgeauth-user",
            "X-EdgeAuth-Signature",
            "x-edgeauth-anything",
            "authorization",
            "connection",
            "transfer-encoding",
            "host",
            "content-length",
            "x-forwarded-for",
            "cf-connecting-ip",
            "x-request-id",
        ] {
            assert!(!forward_request_header(name), "{name}");
        }
    }

    #[test]
    fn client_ip_is_sanitised() {
        assert_eq!(client_ip(Some("203.0.113.7")), "203.0.113.7");
        assert_eq!(client_ip(Some("2001:db8::1")), "2001:db8::1");
        assert_eq!(client_ip(Some(" ::1 ")), "::1");
        for bad in [
            None,
            Some(""),
            Some("unknown"),
            Some("1.2.3.4\nx: y"),
            Some("a b"),
        ] {
            assert_eq!(client_ip(bad), "unknown", "{bad:?}");
        }
        assert_eq!(client_ip(Some(&"1".repeat(46))), "unknown");
    }

    #[test]
    fn path_and_query_is_taken_from_the_url() {
        assert_eq!(
            path_and_query("https://h.example/api/x?a=1&b=2"),
            "/api/x?a=1&b=2"
        );
        assert_eq!(path_and_query("http://127.0.0.1:8787/healthz"), "/healthz");
        assert_eq!(path_and_query("http://h/"), "/");
        assert_eq!(path_and_query("http://h"), "/");
        assert_eq!(path_and_query("http://h?x=1"), "/?x=1");
        assert_eq!(path_and_query("http://h/a#frag?not"), "/a");
        assert_eq!(path_and_query("http://h/a?q=/b"), "/a?q=/b");
        assert_eq!(path_of("/api/x?a=1"), "/api/x");
        assert_eq!(
            origin_of("https://Auth.Example/api/x?a=/b"),
            "https://auth.example"
        );
        assert_eq!(origin_of("http://127.0.0.1:8787/"), "http://127.0.0.1:8787");
        assert_eq!(origin_of("http://[::1]:8787?x"), "http://[::1]:8787");
        assert_eq!(origin_of("http://h#f"), "http://h");
        assert_eq!(path_of("/api/x"), "/api/x");
    }

    #[test]
    fn bodies_only_for_methods_that_have_them() {
        assert!(method_has_body("POST"));
        assert!(method_has_body("DELETE"));
        assert!(!method_has_body("GET"));
    }
}
