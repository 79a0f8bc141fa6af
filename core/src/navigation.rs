//! Browser navigations to rules that accept the access cookie: which requests are navigations,
//! and what one without a live access cookie gets — a silent refresh, a same-site bounce, a
//! redirect to sign-in, or (not a navigation) the API's 401. Rules and reasons:
//! docs/security.md, "Browsers".

use sha2::{Digest, Sha256};

use crate::edge_signature::hex;

/// The hosted sign-in page signed-out navigations are sent to, with `?next=<path and query>`.
pub const SIGN_IN_PATH: &str = "/auth/sign-in";

/// What the decisions need to know about one request (header values as received).
#[derive(Debug, Clone, Copy, Default)]
pub struct BrowserRequest<'a> {
    pub method: &'a str,
    pub sec_fetch_mode: Option<&'a str>,
    pub sec_fetch_site: Option<&'a str>,
    pub accept: Option<&'a str>,
    pub upgrade: Option<&'a str>,
}

impl BrowserRequest<'_> {
    /// A WebSocket handshake (a `GET` any page can start, cross-site included).
    pub fn is_websocket(&self) -> bool {
        self.upgrade
            .is_some_and(|u| u.trim().eq_ignore_ascii_case("websocket"))
    }

    /// Whether the method can change state (everything but `GET`, `HEAD`, `OPTIONS`).
    pub fn is_state_changing(&self) -> bool {
        !matches!(self.method, "GET" | "HEAD" | "OPTIONS")
    }

    /// A navigation: `Sec-Fetch-Mode: navigate`; browsers that send no fetch metadata are
    /// judged by `Accept` preferring HTML. When `Sec-Fetch-Mode` is present it decides alone,
    /// so a script's `fetch` never gets a redirect to an HTML page, whatever it accepts.
    pub fn is_navigation(&self) -> bool {
        if self.is_websocket() {
            return false;
        }
        match self.sec_fetch_mode.map(str::trim) {
            Some(mode) => mode.eq_ignore_ascii_case("navigate"),
            None => self.accept.is_some_and(prefers_html),
        }
    }

    /// Whether the navigation started outside this site (a link in a mail or on another
    /// site: `cross-site`; typed, bookmarked or opened by another app: `none`). Such a request
    /// may lack the SameSite=Strict refresh cookie although the browser holds one.
    fn arrives_from_elsewhere(&self) -> bool {
        self.sec_fetch_site.map(str::trim).is_some_and(|site| {
            site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("none")
        })
    }
}

/// Whether an `Accept` value prefers HTML: its first media range of the highest quality is
/// `text/html` or `application/xhtml+xml` (what browsers send for navigations; `fetch` sends
/// `*/*`, API clients `application/json`).
pub fn prefers_html(accept: &str) -> bool {
    let mut best: Option<(u32, &str)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        if media.is_empty() {
            continue;
        }
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(QUALITY_ONE), |(_, value)| quality(value.trim()))
            .unwrap_or(0);
        if best.is_none_or(|(top, _)| q > top) {
            best = Some((q, media));
        }
    }
    best.is_some_and(|(q, media)| {
        q > 0
            && (media.eq_ignore_ascii_case("text/html")
                || media.eq_ignore_ascii_case("application/xhtml+xml"))
    })
}

/// `q=1` in [`quality`]'s unit.
const QUALITY_ONE: u32 = 1_000_000_000;

/// A media range's quality (`0`…`1`, RFC 9110 allows up to three decimals) in billionths;
/// `None` for anything else (then the range counts as unacceptable). Read by hand rather than
/// as an `f32`: float parsing would link core's decimal-to-float tables into the Wasm.
fn quality(value: &str) -> Option<u32> {
    let value = value.strip_prefix('+').unwrap_or(value);
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return None;
    }
    let mut q = match whole.trim_start_matches('0') {
        "" => 0,
        "1" => QUALITY_ONE,
        _ => return None,
    };
    let mut unit = QUALITY_ONE;
    for digit in fraction.bytes() {
        unit /= 10;
        q += u32::from(digit - b'0') * unit;
    }
    (q <= QUALITY_ONE).then_some(q)
}

/// What a request to a cookie rule gets when it has no usable access token (no cookie, an
/// expired or invalid one, or its session is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithoutSession {
    /// Not a navigation: `401 invalid_token`, as a Bearer client gets.
    Unauthorized,
    /// The refresh cookie came along: rotate it at the origin in this request and continue
    /// with the new identity (a refused rotation then goes to sign-in).
    Refresh,
    /// A `GET` that arrived from elsewhere without the refresh cookie: answer a tiny page that
    /// re-requests the same URL from this site, which the SameSite=Strict cookie joins.
    Bounce,
    /// `303` to [`sign_in_location`].
    SignIn,
}

/// The decision for a request without a usable access token. `bounce_cookie` is the bounce
/// marker's value if the request carries one: a re-request that still looks signed out and
/// still arrives "from elsewhere" (a browser that labels the bounce's refresh so) goes to
/// sign-in instead of bouncing again, so bounces never loop.
pub fn without_session(
    request: &BrowserRequest<'_>,
    has_refresh_cookie: bool,
    bounce_cookie: Option<&str>,
    path_and_query: &str,
) -> WithoutSession {
    if !request.is_navigation() {
        return WithoutSession::Unauthorized;
    }
    if has_refresh_cookie {
        return WithoutSession::Refresh;
    }
    let safe = matches!(request.method, "GET" | "HEAD");
    let bounced_already = bounce_cookie == Some(bounce_tag(path_and_query).as_str());
    if safe && request.arrives_from_elsewhere() && !bounced_already {
        WithoutSession::Bounce
    } else {
        WithoutSession::SignIn
    }
}

/// `/auth/sign-in?next=<path and query, percent-encoded>`: after signing in, the person lands
/// where they were going (the sign-in page accepts only same-site relative paths as `next`).
pub fn sign_in_location(path_and_query: &str) -> String {
    let mut location = String::with_capacity(SIGN_IN_PATH.len() + 6 + path_and_query.len());
    location.push_str(SIGN_IN_PATH);
    location.push_str("?next=");
    for byte in path_and_query.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            location.push(char::from(byte));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            location.push('%');
            location.push(char::from(HEX[usize::from(byte >> 4)]));
            location.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
    location
}

/// The bounce marker's value for a URL: 64 bits of its SHA-256, so the marker of one link does
/// not stop the bounce of another.
pub fn bounce_tag(path_and_query: &str) -> String {
    hex(&Sha256::digest(path_and_query.as_bytes())[..8])
}

/// The bounce page: an immediate `<meta http-equiv="refresh">` to the same path and query (no
/// script needed), a link for anyone whose browser does not follow it, a language and a title.
pub fn bounce_page(path_and_query: &str) -> String {
    let target = escape_html(path_and_query);
    // Concatenated rather than `format!`ed (fewer formatting call sites in the edge's Wasm).
    [
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"refresh\" content=\"0;url=",
        &target,
        "\">\n<title>Opening the page</title>\n</head>\n<body>\n<main>\n\
         <p>Opening the page. <a href=\"",
        &target,
        "\">Continue</a></p>\n</main>\n</body>\n</html>\n",
    ]
    .concat()
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,\
                                 image/avif,image/webp,image/apng,*/*;q=0.8";

    fn get<'a>() -> BrowserRequest<'a> {
        BrowserRequest {
            method: "GET",
            sec_fetch_mode: Some("navigate"),
            sec_fetch_site: Some("same-origin"),
            accept: Some(CHROME_ACCEPT),
            upgrade: None,
        }
    }

    #[test]
    fn html_preference_follows_the_highest_quality() {
        for yes in [
            CHROME_ACCEPT,
            "text/html",
            "TEXT/HTML; charset=utf-8",
            "application/xhtml+xml,*/*;q=0.1",
            "application/json;q=0.5, text/html",
            "text/html, application/json",
        ] {
            assert!(prefers_html(yes), "{yes}");
        }
        for no in [
            "",
            "*/*",
            "application/json",
            "application/json, text/html",
            "text/html;q=0.5, application/json",
            "text/html;q=0",
            "text/html;q=x",
            "text/html;q=2",
            "text/*",
            ",,",
        ] {
            assert!(!prefers_html(no), "{no}");
        }
    }

    #[test]
    fn qualities_are_read_as_decimals_between_zero_and_one() {
        for (value, q) in [
            ("1", Some(QUALITY_ONE)),
            ("1.000", Some(QUALITY_ONE)),
            ("+1.", Some(QUALITY_ONE)),
            ("0", Some(0)),
            ("0.5", Some(500_000_000)),
            (".5", Some(500_000_000)),
            ("0.001", Some(1_000_000)),
            ("000.25", Some(250_000_000)),
            ("1.001", None),
            ("2", None),
            ("10", None),
            ("-0.5", None),
            ("", None),
            (".", None),
            ("0.5x", None),
            ("1e0", None),
            ("inf", None),
            ("NaN", None),
        ] {
            assert_eq!(quality(value), q, "{value}");
        }
        assert!(prefers_html("application/json;q=0.899, text/html;q=0.9"));
        assert!(!prefers_html("application/json;q=0.901, text/html;q=0.9"));
        assert!(prefers_html("text/html;q=.001, application/json;q=0"));
    }

    #[test]
    fn fetch_metadata_decides_what_a_navigation_is() {
        assert!(get().is_navigation());
        let fetch = BrowserRequest {
            sec_fetch_mode: Some("cors"),
            ..get()
        };
        assert!(!fetch.is_navigation(), "a fetch accepting HTML");
        let old_browser = BrowserRequest {
            sec_fetch_mode: None,
            sec_fetch_site: None,
            ..get()
        };
        assert!(old_browser.is_navigation());
        let api = BrowserRequest {
            accept: Some("application/json"),
            ..old_browser
        };
        assert!(!api.is_navigation());
        let socket = BrowserRequest {
            upgrade: Some("websocket"),
            ..get()
        };
        assert!(socket.is_websocket() && !socket.is_navigation());
        assert!(BrowserRequest {
            method: "POST",
            ..get()
        }
        .is_state_changing());
        assert!(!get().is_state_changing());
    }

    #[test]
    fn navigations_refresh_bounce_or_sign_in_others_get_401() {
        let path = "/notes/?a=1";
        let decide = |request: BrowserRequest<'_>, refresh: bool, bounce: Option<&str>| {
            without_session(&request, refresh, bounce, path)
        };
        use WithoutSession::*;
        assert_eq!(decide(get(), true, None), Refresh);
        assert_eq!(decide(get(), false, None), SignIn);
        let api = BrowserRequest {
            sec_fetch_mode: Some("cors"),
            ..get()
        };
        assert_eq!(decide(api, true, None), Unauthorized);
        assert_eq!(decide(api, false, None), Unauthorized);
        for site in ["cross-site", "none", " Cross-Site "] {
            let elsewhere = BrowserRequest {
                sec_fetch_site: Some(site),
                ..get()
            };
            assert_eq!(decide(elsewhere, false, None), Bounce, "{site}");
            assert_eq!(decide(elsewhere, true, None), Refresh, "{site}");
            // The marker of this URL stops a second bounce; another URL's does not.
            let tag = bounce_tag(path);
            assert_eq!(decide(elsewhere, false, Some(&tag)), SignIn, "{site}");
            let other = bounce_tag("/notes/other");
            assert_eq!(decide(elsewhere, false, Some(&other)), Bounce, "{site}");
            // A form POST from elsewhere cannot be replayed by a bounce.
            let post = BrowserRequest {
                method: "POST",
                ..elsewhere
            };
            assert_eq!(decide(post, false, None), SignIn, "{site}");
        }
        for site in [Some("same-site"), Some("same-origin"), None] {
            let here = BrowserRequest {
                sec_fetch_site: site,
                ..get()
            };
            assert_eq!(decide(here, false, None), SignIn, "{site:?}");
        }
    }

    #[test]
    fn sign_in_keeps_the_path_and_query_encoded() {
        assert_eq!(sign_in_location("/notes/"), "/auth/sign-in?next=/notes/");
        assert_eq!(
            sign_in_location("/notes/a?x=1&y=%20z#"),
            "/auth/sign-in?next=/notes/a%3Fx%3D1%26y%3D%2520z%23"
        );
        assert_eq!(
            sign_in_location("/é"),
            "/auth/sign-in?next=/%C3%A9",
            "bytes, not characters"
        );
    }

    #[test]
    fn the_bounce_page_refreshes_to_the_same_url_without_script() {
        let page = bounce_page("/notes/?a=1&b='\"<x>");
        let target = "/notes/?a=1&amp;b=&#39;&quot;&lt;x&gt;";
        assert!(page.contains(&format!(
            "<meta http-equiv=\"refresh\" content=\"0;url={target}\">"
        )));
        assert!(page.contains(&format!("<a href=\"{target}\">")));
        assert!(page.contains("<html lang=\"en\">") && page.contains("<title>"));
        assert!(!page.contains("<script"));
        assert_eq!(bounce_tag("/a").len(), 16);
        assert_ne!(bounce_tag("/a"), bounce_tag("/b"));
    }
}
