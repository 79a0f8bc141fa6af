//! The session cookies (refresh token, SameSite=Strict; access token, SameSite=Lax) and the
//! device-credential cookie, as `edgeauth_core::cookies` builds them: `__Host-` prefixed,
//! HttpOnly, Secure, Path=/.

use axum::http::{header, HeaderMap, HeaderValue};
use edgeauth_core::cookies;
use edgeauth_core::headers::{cookie, DEVICE_COOKIE, REFRESH_COOKIE};

/// `Set-Cookie` value carrying a refresh token for `max_age_secs`.
pub fn set(token: &str, max_age_secs: u64) -> HeaderValue {
    header_value(&cookies::set_refresh(token, max_age_secs))
}

/// `Set-Cookie` value carrying an access token for its lifetime: set alongside every refresh
/// cookie, so browser navigations to rules that accept it are authenticated (docs/security.md).
pub fn set_access(token: &str, max_age_secs: u64) -> HeaderValue {
    header_value(&cookies::set_access(token, max_age_secs))
}

/// `Set-Cookie` values that delete both session cookies.
pub fn clear() -> [HeaderValue; 2] {
    cookies::clear_session().map(|c| header_value(&c))
}

/// The refresh token from the request's `Cookie` headers, if any.
pub fn read(headers: &HeaderMap) -> Option<String> {
    read_named(headers, REFRESH_COOKIE)
}

fn read_named(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie(h, name))
        .map(str::to_owned)
}

/// `Set-Cookie` value carrying the device credentials (`edgeauth_core::device`).
pub fn set_device(value: &str, max_age_secs: u64) -> HeaderValue {
    header_value(&cookies::set_device(value, max_age_secs))
}

/// The device cookie's value from the request's `Cookie` headers, if any.
pub fn read_device(headers: &HeaderMap) -> Option<String> {
    read_named(headers, DEVICE_COOKIE)
}

fn header_value(text: &str) -> HeaderValue {
    // Tokens are URL-safe base64 and dots; the attributes are ASCII.
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-edgeauth_rt=rt1.s.0.x; b=2"),
        );
        assert_eq!(read(&h).as_deref(), Some("rt1.s.0.x"));
        h.insert(header::COOKIE, HeaderValue::from_static("edgeauth_rt=nope"));
        assert_eq!(read(&h), None);
    }

    #[test]
    fn attributes_are_strict() {
        let v = set("t", 60);
        let text = v.to_str().unwrap();
        for attr in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(text.contains(attr), "{text}");
        }
        assert!(!text.contains("Domain"));
        let [refresh, access] = clear();
        assert!(refresh
            .to_str()
            .unwrap()
            .starts_with("__Host-edgeauth_rt=;"));
        assert!(access.to_str().unwrap().starts_with("__Host-edgeauth_at=;"));
        assert!(access.to_str().unwrap().contains("Max-Age=0"));
        let at = set_access("a.b.c", 900);
        assert_eq!(
            at.to_str().unwrap(),
            "__Host-edgeauth_at=a.b.c; Max-Age=900; Path=/; Secure; HttpOnly; SameSite=Lax"
        );
        let device = set_device("d", 60);
        let device = device.to_str().unwrap();
        assert!(device.starts_with("__Host-edgeauth_device=d;"), "{device}");
        for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(device.contains(attr), "{device}");
        }
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("__Host-edgeauth_rt=r; __Host-edgeauth_device=a~b"),
        );
        assert_eq!(read_device(&h).as_deref(), Some("a~b"));
    }
}
