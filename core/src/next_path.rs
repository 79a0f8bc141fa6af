//! Where the hosted sign-in sends a person back to: the `next` parameter, accepted only as a
//! path on the edge's own origin. Anything that a browser could resolve to another host (or
//! that looks like an attempt to) falls back to `/`, so the sign-in page is never an open
//! redirect. Pure: the origin's pages call it on the query parameter and again on the form
//! field (both already percent-decoded once by the form parser).

/// Where an unusable `next` leads.
pub const HOME: &str = "/";

/// The longest `next` kept (bytes); longer ones fall back to [`HOME`].
pub const MAX_LEN: usize = 2048;

/// A same-origin path (with optional query and fragment), safe to put in a `Location` header
/// and a hidden form field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextPath(String);

impl NextPath {
    /// `raw` if it is a safe same-origin path, else [`HOME`]. `None` (no parameter) is `/`.
    pub fn sanitize(raw: Option<&str>) -> Self {
        match raw {
            Some(raw) if is_safe(raw) => Self(raw.to_owned()),
            _ => Self::home(),
        }
    }

    pub fn home() -> Self {
        Self(HOME.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hosted page `page` (`/auth/sign-in`) with this path as its `next` parameter, or
    /// without one when it is just `/`.
    pub fn page_url(&self, page: &str) -> String {
        if self.is_home() {
            page.to_owned()
        } else {
            format!("{page}?next={}", encode_component(&self.0))
        }
    }

    /// Whether this is just the fallback `/`.
    pub fn is_home(&self) -> bool {
        self.0 == HOME
    }
}

impl std::fmt::Display for NextPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a query value.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The rules, in order:
/// - printable ASCII only (no spaces, tabs, newlines or other controls, which browsers strip
///   from URLs — `/\t/evil.example` would become `//evil.example` — and nothing non-ASCII
///   such as a fullwidth solidus that some parsers fold to `/`), at most [`MAX_LEN`] bytes;
/// - starts with exactly one `/` (not `//host`, not `/\host`, not `https:`, not relative);
/// - no backslash anywhere (browsers read `\` as `/` in http(s) URLs);
/// - the path part (before `?` or `#`) holds no percent-encoded `/`, `\`, `.` or `%`, no
///   encoded control character and no overlong UTF-8 lead byte: a second decoding somewhere (a proxy, an app's router) must not
///   turn it into one of the forms above, and `.`/`..` segments (plain or encoded) are refused
///   because they only make sense to climb out of something;
/// - every `%` starts a well-formed escape.
fn is_safe(raw: &str) -> bool {
    if raw.is_empty() || raw.len() > MAX_LEN {
        return false;
    }
    if !raw.bytes().all(|b| b.is_ascii_graphic()) || raw.contains('\\') {
        return false;
    }
    let mut bytes = raw.bytes();
    if bytes.next() != Some(b'/') || matches!(bytes.next(), Some(b'/')) {
        return false;
    }
    let path_end = raw.find(['?', '#']).unwrap_or(raw.len());
    let (path, rest) = raw.split_at(path_end);
    escapes_are_well_formed(raw) && path_is_plain(path) && rest_is_plain(rest)
}

fn escapes_are_well_formed(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

/// The encoded bytes a path may not contain, and no dot segments.
fn path_is_plain(path: &str) -> bool {
    let bytes = path.as_bytes();
    let encoded_ok = bytes.iter().enumerate().all(|(i, &b)| {
        if b != b'%' {
            return true;
        }
        let hex = |j: usize| bytes.get(j).map(|c| (*c as char).to_digit(16));
        match (hex(i + 1), hex(i + 2)) {
            (Some(Some(hi)), Some(Some(lo))) => {
                let decoded = (hi * 16 + lo) as u8;
                // 0xC0/0xC1 only start overlong UTF-8 forms (`%c0%af` for `/`).
                !(decoded < 0x20
                    || matches!(decoded, 0x7f | 0xc0 | 0xc1)
                    || b"/\\.%".contains(&decoded))
            }
            _ => false,
        }
    });
    encoded_ok && !path.split('/').any(|segment| matches!(segment, "." | ".."))
}

/// The query and fragment may carry encoded slashes (`?next=%2Fa` is ordinary), but no encoded
/// control characters: the value ends up in a `Location` header and a form field.
fn rest_is_plain(rest: &str) -> bool {
    let lower = rest.to_ascii_lowercase();
    !(0u8..0x20)
        .chain([0x7f])
        .any(|c| lower.contains(&format!("%{c:02x}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(raw: &str) -> bool {
        NextPath::sanitize(Some(raw)).as_str() == raw
    }

    #[test]
    fn same_origin_paths_are_kept() {
        for raw in [
            "/",
            "/notes/",
            "/notes/api/whoami",
            "/notes/?sort=new&page=2",
            "/notes/#top",
            "/search?q=a%2Fb&next=%2Fx",
            "/caf%C3%A9",
            "/a-b_c~d/e.f/@x:y",
            "/notes/%20two%20words",
            "/?",
        ] {
            assert!(kept(raw), "{raw}");
        }
    }

    #[test]
    fn everything_that_could_leave_the_origin_falls_back_to_home() {
        let evil = [
            // Other hosts, schemes and relative references.
            "//evil.example",
            "//evil.example/path",
            "///evil.example",
            "https://evil.example",
            "http:evil.example",
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "evil.example",
            "notes/",
            "./notes",
            "?next=/",
            "#x",
            "",
            // Backslashes, raw and encoded, anywhere.
            "/\\evil.example",
            "\\\\evil.example",
            "/\\/evil.example",
            "/notes\\..\\..\\x",
            "/%5cevil.example",
            "/%5Cevil.example",
            "/notes/%5c",
            // Encoded slashes and dots in the path, and double encoding.
            "/%2f%2fevil.example",
            "/%2F%2Fevil.example",
            "/%2fevil.example",
            "/notes/%2e%2e/%2e%2e/x",
            "/%252f%252fevil.example",
            "/notes/%25",
            // Dot segments.
            "/../evil",
            "/notes/../../x",
            "/./x",
            "/notes/..",
            // Controls and whitespace that browsers strip or that would split a header.
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\nSet-Cookie: x=1",
            "/ /evil.example",
            " /notes/",
            "/notes/\u{0}",
            "/%09/evil.example",
            "/%0d%0aSet-Cookie:x",
            "/notes/?a=%0d%0aSet-Cookie:x",
            "/notes/#%00",
            "/%7f",
            "/%c0%afevil.example",
            // Non-ASCII: fullwidth solidus and friends.
            "/\u{ff0f}evil.example",
            "/\u{2215}evil.example",
            "/café",
            // Malformed escapes.
            "/%",
            "/%zz",
            "/notes/?q=%4",
        ];
        for raw in evil {
            assert_eq!(
                NextPath::sanitize(Some(raw)).as_str(),
                HOME,
                "{raw:?} was kept"
            );
        }
    }

    #[test]
    fn page_urls_carry_next_encoded() {
        let next = NextPath::sanitize(Some("/notes/?a=1&b=%2F"));
        assert_eq!(
            next.page_url("/auth/register"),
            "/auth/register?next=%2Fnotes%2F%3Fa%3D1%26b%3D%252F"
        );
        assert_eq!(NextPath::home().page_url("/auth/sign-in"), "/auth/sign-in");
        assert_eq!(encode_component("a b/é"), "a%20b%2F%C3%A9");
    }

    #[test]
    fn absent_and_oversized_fall_back_to_home() {
        assert!(NextPath::sanitize(None).is_home());
        let long = format!("/{}", "a".repeat(MAX_LEN));
        assert!(NextPath::sanitize(Some(&long)).is_home());
        let fits = format!("/{}", "a".repeat(MAX_LEN - 1));
        assert!(kept(&fits));
    }

    #[test]
    fn a_kept_path_is_a_valid_header_value_and_starts_with_one_slash() {
        // Property over a small alphabet of risky characters: whatever is kept is printable
        // ASCII, starts with exactly one slash and holds no backslash.
        let alphabet = [
            '/', '\\', '%', '2', 'f', '5', 'c', '.', 'e', '?', '#', 'a', ':',
        ];
        let mut candidates = vec![String::new()];
        for _ in 0..4 {
            candidates = candidates
                .iter()
                .flat_map(|c| alphabet.iter().map(move |a| format!("{c}{a}")))
                .collect();
            for c in &candidates {
                let next = NextPath::sanitize(Some(c));
                let s = next.as_str();
                assert!(s.starts_with('/') && !s.starts_with("//"), "{c:?} → {s:?}");
                assert!(!s.contains('\\'), "{c:?} → {s:?}");
                assert!(s.bytes().all(|b| b.is_ascii_graphic()), "{c:?}");
            }
        }
    }
}
