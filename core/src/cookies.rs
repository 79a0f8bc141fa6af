//! The `Set-Cookie` values of edgeauth's cookies, built in one place so the origin (which sets
//! and clears the session cookies) and the edge (which clears them on a sign-in redirect and
//! sets the bounce marker) always agree on names and attributes.
//!
//! Every cookie is `__Host-` prefixed (so `Secure`, `Path=/` and no `Domain`: pinned to the
//! edge's own origin) and `HttpOnly` (no script ever reads one). The refresh and device cookies
//! are `SameSite=Strict`; the access cookie is `SameSite=Lax`, so a link from another site
//! still arrives authenticated while the access token lives (docs/security.md, "Browsers").

use crate::headers::{ACCESS_COOKIE, BOUNCE_COOKIE, DEVICE_COOKIE, REFRESH_COOKIE};

/// How long the bounce marker lives: long enough for the bounce page's immediate re-request.
pub const BOUNCE_MAX_AGE_SECS: u64 = 30;

/// Which cross-site requests a cookie goes along with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SameSite {
    Strict,
    Lax,
}

fn build(name: &str, value: &str, max_age_secs: u64, same_site: SameSite) -> String {
    let same_site = match same_site {
        SameSite::Strict => "Strict",
        SameSite::Lax => "Lax",
    };
    // Concatenated rather than `format!`ed: this runs in the edge's Wasm, where every
    // formatting call site adds code.
    [
        name,
        "=",
        value,
        "; Max-Age=",
        &max_age_secs.to_string(),
        "; Path=/; Secure; HttpOnly; SameSite=",
        same_site,
    ]
    .concat()
}

/// The refresh token, for the session's idle lifetime.
pub fn set_refresh(token: &str, max_age_secs: u64) -> String {
    build(REFRESH_COOKIE, token, max_age_secs, SameSite::Strict)
}

/// The access token, for its lifetime (`expires_in`): set alongside every refresh cookie.
pub fn set_access(token: &str, max_age_secs: u64) -> String {
    build(ACCESS_COOKIE, token, max_age_secs, SameSite::Lax)
}

/// The device credential (`crate::device`).
pub fn set_device(value: &str, max_age_secs: u64) -> String {
    build(DEVICE_COOKIE, value, max_age_secs, SameSite::Strict)
}

/// The bounce marker; its value tags the URL it was set for (`crate::navigation::bounce_tag`).
pub fn set_bounce(tag: &str) -> String {
    build(BOUNCE_COOKIE, tag, BOUNCE_MAX_AGE_SECS, SameSite::Lax)
}

pub fn clear_refresh() -> String {
    build(REFRESH_COOKIE, "", 0, SameSite::Strict)
}

pub fn clear_access() -> String {
    build(ACCESS_COOKIE, "", 0, SameSite::Lax)
}

pub fn clear_bounce() -> String {
    build(BOUNCE_COOKIE, "", 0, SameSite::Lax)
}

/// Both session cookies deleted: what sign-out, logout everywhere and a refused refresh send.
pub fn clear_session() -> [String; 2] {
    [clear_refresh(), clear_access()]
}

/// The deletions a redirect to sign-in sends: each edgeauth cookie the request carried (session
/// cookies of a revoked session, a spent bounce marker), unless `already` (the origin's own
/// `Set-Cookie` values) sets or deletes it. The device cookie stays: it is no session.
pub fn clear_carried(cookie_header: &str, already: &[String]) -> Vec<String> {
    type Clear = (&'static str, fn() -> String);
    let clears: [Clear; 3] = [
        (ACCESS_COOKIE, clear_access),
        (REFRESH_COOKIE, clear_refresh),
        (BOUNCE_COOKIE, clear_bounce),
    ];
    clears
        .into_iter()
        .filter(|(name, _)| crate::headers::cookie(cookie_header, name).is_some())
        .filter(|(name, _)| {
            !already.iter().any(|c| {
                c.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('='))
            })
        })
        .map(|(_, clear)| clear())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(cookie: &str) -> Vec<&str> {
        cookie.split("; ").skip(1).collect()
    }

    #[test]
    fn every_cookie_is_host_only_secure_and_http_only() {
        for cookie in [
            set_refresh("r", 60),
            set_access("a", 60),
            set_device("d", 60),
            set_bounce("b"),
            clear_refresh(),
            clear_access(),
            clear_bounce(),
        ] {
            assert!(cookie.starts_with("__Host-edgeauth_"), "{cookie}");
            let attrs = attributes(&cookie);
            for required in ["Path=/", "Secure", "HttpOnly"] {
                assert!(attrs.contains(&required), "{cookie}");
            }
            assert!(!cookie.contains("Domain"), "{cookie}");
        }
    }

    #[test]
    fn only_the_access_cookie_and_the_marker_are_lax() {
        assert_eq!(
            set_access("a.b.c", 900),
            "__Host-edgeauth_at=a.b.c; Max-Age=900; Path=/; Secure; HttpOnly; SameSite=Lax"
        );
        assert!(set_refresh("r", 1).ends_with("SameSite=Strict"));
        assert!(set_device("d", 1).ends_with("SameSite=Strict"));
        assert!(set_bounce("t").contains(&format!("Max-Age={BOUNCE_MAX_AGE_SECS};")));
        assert!(set_bounce("t").ends_with("SameSite=Lax"));
    }

    #[test]
    fn clearing_expires_both_session_cookies() {
        let [refresh, access] = clear_session();
        assert!(
            refresh.starts_with("__Host-edgeauth_rt=; Max-Age=0;"),
            "{refresh}"
        );
        assert!(
            access.starts_with("__Host-edgeauth_at=; Max-Age=0;"),
            "{access}"
        );
        assert!(clear_bounce().starts_with("__Host-edgeauth_bounce=; Max-Age=0;"));
    }

    #[test]
    fn a_sign_in_redirect_clears_what_the_request_carried() {
        let carried = "a=1; __Host-edgeauth_at=x; __Host-edgeauth_device=d; \
                       __Host-edgeauth_bounce=t";
        assert_eq!(
            clear_carried(carried, &[]),
            [clear_access(), clear_bounce()]
        );
        let all = "__Host-edgeauth_rt=r; __Host-edgeauth_at=x";
        assert_eq!(clear_carried(all, &[]), [clear_access(), clear_refresh()]);
        // The origin already deleted both: nothing twice.
        assert!(clear_carried(all, &clear_session()).is_empty());
        assert!(clear_carried("a=1; __Host-edgeauth_device=d", &[]).is_empty());
        assert!(
            clear_carried("__Host-edgeauth_at=", &[]).is_empty(),
            "empty is absent"
        );
    }
}
