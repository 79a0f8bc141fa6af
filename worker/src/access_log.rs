//! The edge's structured logs: one JSON line per request, and JSON lines for events within one.
//!
//! Lines carry the request id (also sent to the origin and back to the client), so one id finds
//! a request in the edge's and the origin's logs. They never carry tokens, cookies, bodies or
//! query strings: only the route pattern, the status and the outcome code.

use serde_json::json;

/// The facts logged when a request is answered.
#[derive(Debug, Clone, Copy)]
pub struct RequestLine<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    /// The matched rule's path pattern (`/api/sessions/{id}`), `None` when no rule matched:
    /// nothing a client typed is echoed.
    pub route: Option<&'a str>,
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
        "route": line.route.unwrap_or("unmatched"),
        "status": line.status,
        "duration_ms": (line.duration_ms * 10.0).round() / 10.0,
    });
    if let Some(error) = line.error {
        value["error"] = error.into();
    }
    value.to_string()
}

/// The message of the event logged when the edge signs an assertion (not when it reuses one).
pub const SIGNED_EVENT: &str = "signed an identity assertion";

/// An event within a request (`level` is `info`, `warn` or `error`).
pub fn event(level: &str, request_id: &str, message: &str) -> String {
    json!({ "level": level, "msg": message, "request_id": request_id }).to_string()
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
            route: Some("/api/sessions/{id}"),
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
            route: None,
            status: 503,
            duration_ms: 1.0,
            error: Some("revocation_unavailable"),
        }));
        assert_eq!(refused["error"], "revocation_unavailable");
        assert_eq!(refused["route"], "unmatched");
        assert_eq!(refused["level"], "error");
    }

    #[test]
    fn unknown_paths_are_not_echoed() {
        let table = edgeauth_core::routes::RouteTable::with_builtin("").unwrap();
        for path in ["/eyJhbGciOi.secret.token", "/api/profile/x", "/%0a"] {
            assert_eq!(table.pattern_of("h", path), None, "{path}");
        }
        assert_eq!(table.pattern_of("h", "/api/login"), Some("/api/login"));
        assert_eq!(
            table.pattern_of("h", "/api/sessions/abc"),
            Some("/api/sessions/{id}")
        );
    }

    #[test]
    fn events_escape_their_text() {
        let line = parse(&event("error", "r\"1", "a \"quoted\"\nline"));
        assert_eq!(line["request_id"], "r\"1");
        assert_eq!(line["msg"], "a \"quoted\"\nline");
    }
}
