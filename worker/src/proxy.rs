//! What crosses the edge on the way to an app upstream and back: which client headers and
//! cookies the app sees (never anything that looks like edgeauth identity), which of the app's
//! response headers reach the client, and the security headers the edge adds. Pure;
//! `runtime::app` does the I/O.

use edgeauth_core::routes::Upstream;

use crate::error::EdgeError;
// Hop-by-hop headers are never copied in either direction (`upgrade` is re-added for
// WebSocket handshakes): the same list the auth origin's forward drops.
use crate::forwarding::HOP_BY_HOP;
use crate::security::REQUEST_ID_RESPONSE_HEADER;

/// WebSocket handshake headers the runtime generates for its own upstream handshake.
const WEBSOCKET_HANDSHAKE: &[&str] = &[
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-accept",
];

/// Forwarding headers only the edge may set (client values could lie about the caller).
const FORWARDING: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// Cookie names of edgeauth's own cookies (refresh token, device), compared lowercase.
const EDGEAUTH_COOKIE_PREFIX: &str = "__host-edgeauth";

/// What the edge knows about the request, for the forwarding headers.
#[derive(Debug, Clone, Copy)]
pub struct Forwarded<'a> {
    pub client_ip: &'a str,
    /// The host the client asked for (`edge.example`, with port if any).
    pub host: &'a str,
    /// `https` or `http`.
    pub proto: &'a str,
}

/// Whether a header claims edgeauth identity: the app may trust only the edge's assertion.
pub fn is_identity_header(name: &str, upstream: &Upstream) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("edgeauth-")
        || name.starts_with("x-edgeauth-")
        || name == upstream.assertion_header
}

/// The `Cookie` value without edgeauth's cookies; `None` if nothing is left.
pub fn strip_edgeauth_cookies(cookie: &str) -> Option<String> {
    let kept: Vec<&str> = cookie
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("").trim();
            !name
                .to_ascii_lowercase()
                .starts_with(EDGEAUTH_COOKIE_PREFIX)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// Whether the client asks for a WebSocket upgrade.
pub fn is_websocket_upgrade(pairs: &[(String, String)]) -> bool {
    pairs.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("upgrade") && v.trim().eq_ignore_ascii_case("websocket")
    })
}

/// The client's headers as the app receives them (the assertion is added by the caller).
pub fn app_request_headers(
    pairs: &[(String, String)],
    upstream: &Upstream,
    forwarded: &Forwarded<'_>,
) -> Vec<(String, String)> {
    let websocket = is_websocket_upgrade(pairs);
    let mut out: Vec<(String, String)> = Vec::with_capacity(pairs.len() + 4);
    for (name, value) in pairs {
        let lower = name.to_ascii_lowercase();
        let dropped = HOP_BY_HOP.contains(&lower.as_str())
            || WEBSOCKET_HANDSHAKE.contains(&lower.as_str())
            || FORWARDING.contains(&lower.as_str())
            || lower.starts_with("cf-")
            || is_identity_header(&lower, upstream)
            || (lower == "authorization" && !upstream.forward_authorization);
        if dropped {
            continue;
        }
        if lower == "cookie" {
            if let Some(kept) = strip_edgeauth_cookies(value) {
                out.push((lower, kept));
            }
            continue;
        }
        out.push((lower, value.clone()));
    }
    if websocket {
        out.push(("upgrade".into(), "websocket".into()));
    }
    out.push(("x-forwarded-for".into(), forwarded.client_ip.to_owned()));
    out.push(("x-forwarded-host".into(), forwarded.host.to_owned()));
    out.push(("x-forwarded-proto".into(), forwarded.proto.to_owned()));
    out
}

/// Set on every app response, replacing the app's value.
pub const ALWAYS: &[(&str, &str)] = &[
    (
        "strict-transport-security",
        "max-age=63072000; includeSubDomains",
    ),
    ("x-content-type-options", "nosniff"),
];

/// Set on app responses only where the app set none: the app knows its pages best (an app
/// that frames itself or loads scripts sets its own), the defaults only forbid what is risky
/// for any app: being framed, leaking URLs in `Referer`, sharing a browsing context group.
pub const UNLESS_SET: &[(&str, &str)] = &[
    ("content-security-policy", "frame-ancestors 'none'"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// Response headers the edge owns or never passes on.
fn dropped_response_header(lower: &str) -> bool {
    HOP_BY_HOP.contains(&lower)
        || matches!(lower, "server" | "x-powered-by" | "set-cookie")
        || lower == REQUEST_ID_RESPONSE_HEADER
        || lower.starts_with("access-control-")
        || ALWAYS.iter().any(|(n, _)| *n == lower)
}

/// The app's response headers as the client receives them (`set-cookie` separately, see
/// [`app_set_cookies`]), with the edge's security headers, request id and CORS headers.
pub fn app_response_headers(
    pairs: impl IntoIterator<Item = (String, String)>,
    request_id: &str,
    cors: Vec<(&'static str, String)>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = pairs
        .into_iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .filter(|(n, _)| !dropped_response_header(n))
        .collect();
    for (name, value) in UNLESS_SET {
        if !out.iter().any(|(n, _)| n == name) {
            out.push(((*name).to_owned(), (*value).to_owned()));
        }
    }
    out.extend(
        ALWAYS
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    out.push((REQUEST_ID_RESPONSE_HEADER.to_owned(), request_id.to_owned()));
    out.extend(cors.into_iter().map(|(n, v)| (n.to_owned(), v)));
    out
}

/// The app's `Set-Cookie` headers the client may receive: an app can never set or clear
/// edgeauth's own cookies.
pub fn app_set_cookies(cookies: Vec<String>) -> Vec<String> {
    cookies
        .into_iter()
        .filter(|c| {
            let name = c.split('=').next().unwrap_or("").trim();
            !name
                .to_ascii_lowercase()
                .starts_with(EDGEAUTH_COOKIE_PREFIX)
        })
        .collect()
}

/// Refuses a body whose declared length is over the rule's limit before anything is sent.
/// `Ok(true)`: the length is declared (the runtime enforces it, no counting needed);
/// `Ok(false)`: no length (chunked), so the body must be counted on the way.
pub fn check_declared_length(content_length: Option<&str>, limit: u64) -> Result<bool, EdgeError> {
    match content_length.map(|v| v.trim().parse::<u64>()) {
        None => Ok(false),
        Some(Ok(length)) if length > limit => Err(EdgeError::PayloadTooLarge {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        }),
        Some(Ok(_)) => Ok(true),
        Some(Err(_)) => Err(EdgeError::BadRequest {
            detail: "Content-Length is not a number".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(forward_authorization: bool) -> Upstream {
        Upstream {
            id: "notes".into(),
            url: "http://127.0.0.1:1".into(),
            timeout_ms: 1000,
            assertion_header: "x-identity".into(),
            forward_authorization,
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    const FORWARDED: Forwarded<'static> = Forwarded {
        client_ip: "203.0.113.9",
        host: "edge.example",
        proto: "https",
    };

    fn get<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn identity_the_client_sent_never_reaches_the_app() {
        let client = pairs(&[
            ("Accept", "text/html"),
            ("Edgeauth-Assertion", "forged"),
            ("edgeauth-user", "admin"),
            ("X-Edgeauth-User", "admin"),
            ("X-Identity", "forged"),
            ("Authorization", "Bearer t"),
            (
                "Cookie",
                "a=1; __Host-edgeauth_rt=secret; __Host-edgeauth_device=d; b=2",
            ),
            ("X-Forwarded-For", "10.0.0.1"),
            ("CF-Connecting-IP", "203.0.113.9"),
            ("Host", "edge.example"),
            ("Connection", "keep-alive"),
            ("Content-Length", "5"),
            ("Content-Type", "text/plain"),
        ]);
        let out = app_request_headers(&client, &upstream(false), &FORWARDED);
        let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "accept",
                "cookie",
                "content-type",
                "x-forwarded-for",
                "x-forwarded-host",
                "x-forwarded-proto"
            ]
        );
        assert_eq!(get(&out, "cookie"), ["a=1; b=2"]);
        assert_eq!(get(&out, "x-forwarded-for"), ["203.0.113.9"]);
        let with_auth = app_request_headers(&client, &upstream(true), &FORWARDED);
        assert_eq!(get(&with_auth, "authorization"), ["Bearer t"]);
    }

    #[test]
    fn only_edgeauth_cookies_are_removed() {
        assert_eq!(strip_edgeauth_cookies("__Host-edgeauth_rt=x"), None);
        assert_eq!(
            strip_edgeauth_cookies("__HOST-EDGEAUTH_rt=x;theme=dark"),
            Some("theme=dark".into())
        );
        assert_eq!(
            strip_edgeauth_cookies("edgeauth_rt=mine; s=1"),
            Some("edgeauth_rt=mine; s=1".into())
        );
    }

    #[test]
    fn websocket_upgrades_keep_only_what_the_runtime_needs() {
        let client = pairs(&[
            ("Upgrade", "WebSocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "abc"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Protocol", "chat"),
        ]);
        assert!(is_websocket_upgrade(&client));
        let out = app_request_headers(&client, &upstream(false), &FORWARDED);
        assert_eq!(get(&out, "upgrade"), ["websocket"]);
        assert_eq!(get(&out, "sec-websocket-protocol"), ["chat"]);
        assert!(get(&out, "sec-websocket-key").is_empty());
        assert!(get(&out, "connection").is_empty());
        assert!(!is_websocket_upgrade(&pairs(&[("Upgrade", "h2c")])));
    }

    #[test]
    fn security_headers_are_always_or_unless_the_app_set_them() {
        let app = pairs(&[
            ("Content-Type", "text/html"),
            ("Content-Security-Policy", "default-src 'self'"),
            ("Strict-Transport-Security", "max-age=0"),
            ("X-Content-Type-Options", "sniff-away"),
            ("Server", "notes/1.0"),
            ("Transfer-Encoding", "chunked"),
            ("Access-Control-Allow-Origin", "*"),
            ("X-Request-Id", "app-id"),
            ("Cache-Control", "private, max-age=5"),
        ]);
        let out = app_response_headers(app, "r-1", vec![("vary", "Origin".into())]);
        assert_eq!(get(&out, "content-security-policy"), ["default-src 'self'"]);
        assert_eq!(
            get(&out, "strict-transport-security"),
            ["max-age=63072000; includeSubDomains"]
        );
        assert_eq!(get(&out, "x-content-type-options"), ["nosniff"]);
        assert_eq!(get(&out, "x-frame-options"), ["DENY"]);
        assert_eq!(get(&out, "referrer-policy"), ["no-referrer"]);
        assert_eq!(get(&out, "cache-control"), ["private, max-age=5"]);
        assert_eq!(get(&out, "x-request-id"), ["r-1"]);
        assert_eq!(get(&out, "vary"), ["Origin"]);
        for gone in ["server", "transfer-encoding", "access-control-allow-origin"] {
            assert!(get(&out, gone).is_empty(), "{gone}");
        }
        let bare = app_response_headers(Vec::new(), "r", Vec::new());
        assert_eq!(
            get(&bare, "content-security-policy"),
            ["frame-ancestors 'none'"]
        );
    }

    #[test]
    fn apps_cannot_set_edgeauth_cookies() {
        let kept = app_set_cookies(vec![
            "__Host-edgeauth_rt=x; Path=/".into(),
            "note=1; Path=/notes".into(),
        ]);
        assert_eq!(kept, ["note=1; Path=/notes"]);
    }

    #[test]
    fn declared_lengths_over_the_limit_are_refused_up_front() {
        assert_eq!(check_declared_length(None, 10), Ok(false));
        assert_eq!(check_declared_length(Some("10"), 10), Ok(true));
        assert_eq!(
            check_declared_length(Some("11"), 10),
            Err(EdgeError::PayloadTooLarge { limit: 10 })
        );
        assert!(matches!(
            check_declared_length(Some("x"), 10),
            Err(EdgeError::BadRequest { .. })
        ));
    }
}
