//! The refresh-token and device-credential cookies: `__Host-` prefixed, HttpOnly, Secure,
//! SameSite=Strict, Path=/.

use axum::http::{header, HeaderMap, HeaderValue};
use edgeauth_core::headers::{cookie, DEVICE_COOKIE, REFRESH_COOKIE};

/// `Set-Cookie` value carrying a refresh token for `max_age_secs`.
pub fn set(token: &str, max_age_secs: u64) -> HeaderValue {
    header_value(&format!(
        "{REFRESH_COOKIE}={token}; Max-Age={max_age_secs}; Path=/; Secure; HttpOnly; SameSite=Strict"
    ))
}

/// `Set-Cookie` value that deletes the refresh cookie.
pub fn clear() -> HeaderValue {
    header_value(&format!(
        "{REFRESH_COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict"
    ))
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
    header_value(&format!(
        "{DEVICE_COOKIE}={value}; Max-Age={max_age_secs}; Path=/; Secure; HttpOnly; SameSite=Strict"
    ))
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
        assert!(clear().to_str().unwrap().contains("Max-Age=0"));
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
