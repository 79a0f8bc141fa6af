//! The edge's structured logs: one JSON line per request, and JSON lines for events within one.
//!
//! Lines carry the request id (also sent to the origin and back to the client), so one id finds
//! a request in the edge's and the origin's logs. They never carry tokens, cookies, bodies or
//! query strings: only the route pattern, the status and the outcome code.

use serde_json::json;

use crate::routes::allow_header;

/// The facts logged when a request is answered.
#[derive(Debug, Clone, Copy)]
pub struct RequestLine<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    /// The request path; only its route pattern is logged.
    pub path: &'a str,
    pub status: u16,
    pub duration_ms: f64,
    /// The error code when the edge refused or failed the request itself.
    pub error: Option<&'a str>,
}

/// `{"level":"info","msg":"request","request_id":…,"method":…,"route":…,"status":…,…}`.
pub fn request_line(line: &RequestLine<'_>) -> String {
    let mut value = json!({
        "level": if line.status >= 500 { "error" } else { "info" },
        "msg": "request",
        "request_id": line.request_id,
        "method": line.method,
        "route": route_of(line.path),
        "status": line.status,
        "duration_ms": (line.duration_ms * 10.0).round() / 10.0,
    });
    if let Some(error) = line.error {
        value["error"] = error.into();
    }
    value.to_string()
}

/// An event within a request (`level` is `info`, `warn` or `error`).
pub fn event(level: &str, request_id: &str, message: &str) -> String {
    json!({ "level": level, "msg": message, "request_id": request_id }).to_string()
}

/// The route pattern of a path: session ids collapse to `{id}`, unknown paths to `unmatched`,
/// so log volume per route is countable and nothing a client typed is echoed.
pub fn route_of(path: &str) -> String {
    if allow_header(path).is_none() {
        return "unmatched".to_owned();
    }
    if path.starts_with("/api/sessions/") {
        return "/api/sessions/{id}".to_owned();
    }
    path.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn parse(line: &str) -> Value {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn request_lines_are_json_with_the_route_pattern() {
        let line = parse(&request_line(&RequestLine {
            request_id: "r-1",
            method: "DELETE",
            path: "/api/sessions/abcDEF_123",
            status: 204,
            duration_ms: 12.345,
            error: None,
        }));
        assert_eq!(line["request_id"], "r-1");
        assert_eq!(line["route"], "/api/sessions/{id}");
        assert_eq!(line["status"], 204);
        assert_eq!(line["duration_ms"], 12.3);
        assert_eq!(line["level"], "info");
        assert!(line.get("error").is_none());
        let refused = parse(&request_line(&RequestLine {
            request_id: "r-2",
            method: "GET",
            path: "/api/profile",
            status: 503,
            duration_ms: 1.0,
            error: Some("revocation_unavailable"),
        }));
        assert_eq!(refused["error"], "revocation_unavailable");
        assert_eq!(refused["level"], "error");
    }

    #[test]
    fn unknown_paths_are_not_echoed() {
        for path in ["/eyJhbGciOi.secret.token", "/api/profile/x", "/%0a"] {
            assert_eq!(route_of(path), "unmatched", "{path}");
        }
        assert_eq!(route_of("/api/login"), "/api/login");
    }

    #[test]
    fn events_escape_their_text() {
        let line = parse(&event("error", "r\"1", "a \"quoted\"\nline"));
        assert_eq!(line["request_id"], "r\"1");
        assert_eq!(line["msg"], "a \"quoted\"\nline");
    }
}
