//! Names of the headers the edge sets for the origin. Clients may never set these themselves.

/// Prefix of every edge→origin header; the edge strips any client-supplied header with it.
pub const PREFIX: &str = "x-edgeauth-";
/// Verified user id (`sub`) of the caller, absent on public routes.
pub const USER_ID: &str = "x-edgeauth-user";
/// Verified session id (`sid`) of the caller, absent on public routes.
pub const SESSION_ID: &str = "x-edgeauth-session";
/// Request id generated at the edge, carried through to the origin's logs.
pub const REQUEST_ID: &str = "x-edgeauth-request-id";
/// The client address as the edge saw it.
pub const CLIENT_IP: &str = "x-edgeauth-client-ip";
/// Unix seconds at which the edge signed the request.
pub const TIMESTAMP: &str = "x-edgeauth-timestamp";
/// Single-use random value; the origin refuses to see it twice.
pub const NONCE: &str = "x-edgeauth-nonce";
/// `v1=<hex HMAC-SHA256>` over the canonical request.
pub const SIGNATURE: &str = "x-edgeauth-signature";

/// The refresh-token cookie (the `__Host-` prefix pins it to the edge's own origin).
pub const REFRESH_COOKIE: &str = "__Host-edgeauth_rt";

/// The device-credential cookie: proof of earlier successful sign-ins (`crate::device`).
pub const DEVICE_COOKIE: &str = "__Host-edgeauth_device";

/// The access-token cookie (SameSite=Lax): what authenticates browser navigations to rules
/// that accept it (`crate::cookies`, `crate::navigation`).
pub const ACCESS_COOKIE: &str = "__Host-edgeauth_at";

/// The bounce marker: set by the same-site bounce page for a few seconds, so a second
/// signed-out-looking cross-site arrival at the same URL goes to sign-in instead of looping.
pub const BOUNCE_COOKIE: &str = "__Host-edgeauth_bounce";

/// Response headers of a successful `POST /api/refresh`, for the edge only (it never passes
/// `x-edgeauth-*` response headers on): the rotated session's owner, id, roles and username, so
/// a silent refresh at the edge continues with the new identity without reading Redis again.
pub const REFRESHED_USER: &str = "x-edgeauth-user";
pub const REFRESHED_SESSION: &str = "x-edgeauth-session";
pub const REFRESHED_ROLES: &str = "x-edgeauth-roles";
pub const REFRESHED_USERNAME: &str = "x-edgeauth-username";
/// The rotated session's `amr` (comma-separated) and `auth_time`, for the rule's step-up check.
pub const REFRESHED_AMR: &str = "x-edgeauth-amr";
pub const REFRESHED_AUTH_TIME: &str = "x-edgeauth-auth-time";

/// The refresh token in one `Cookie` header value (`a=1; __Host-edgeauth_rt=...; b=2`), with
/// optional quotes removed; `None` when the cookie is absent or empty. The edge (deciding whether
/// a request is cookie-authenticated, for CSRF) and the origin (reading the token) both use this,
/// so they always agree on whether the cookie is there.
pub fn refresh_cookie(cookie_header: &str) -> Option<&str> {
    cookie(cookie_header, REFRESH_COOKIE)
}

/// The access token of the `__Host-edgeauth_at` cookie, if present and not empty.
pub fn access_cookie(cookie_header: &str) -> Option<&str> {
    cookie(cookie_header, ACCESS_COOKIE)
}

/// The value of the cookie `name` in one `Cookie` header value, quotes removed; `None` when
/// absent or empty.
pub fn cookie<'h>(cookie_header: &'h str, name: &str) -> Option<&'h str> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// Whether a client-supplied header must be removed before forwarding.
pub fn is_reserved(name: &str) -> bool {
    name.len() >= PREFIX.len() && name[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reserved_is_case_insensitive() {
        assert!(super::is_reserved("X-EdgeAuth-User"));
        assert!(super::is_reserved("x-edgeauth-anything"));
        assert!(!super::is_reserved("x-edge"));
        assert!(!super::is_reserved("authorization"));
    }

    #[test]
    fn refresh_cookie_is_found_among_others() {
        use super::refresh_cookie;
        assert_eq!(
            refresh_cookie("a=1; __Host-edgeauth_rt=rt1.s.0.x; b=2"),
            Some("rt1.s.0.x")
        );
        assert_eq!(refresh_cookie("__Host-edgeauth_rt=\"q\""), Some("q"));
        for absent in [
            "",
            "a=1",
            "edgeauth_rt=nope",
            "__host-edgeauth_rt=wrong-case",
            "__Host-edgeauth_rt=",
            "__Host-edgeauth_rt=\"\"",
            "x=__Host-edgeauth_rt=v",
        ] {
            assert_eq!(refresh_cookie(absent), None, "{absent}");
        }
    }
}
