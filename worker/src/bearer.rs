//! Extracting the access token from an `Authorization: Bearer <token>` header (RFC 6750 §2.1).

/// Why no token could be taken from the header. All of them mean 401 `invalid_token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    Missing,
    NotBearer,
    Malformed,
}

impl BearerError {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Missing => "no Authorization header",
            Self::NotBearer => "Authorization scheme is not Bearer",
            Self::Malformed => "Bearer credentials are empty or not a b64token",
        }
    }
}

/// The token of a `Bearer` header. The scheme is case-insensitive; the credentials must be a
/// single RFC 6750 `b64token` (`[A-Za-z0-9-._~+/]+=*`), which every JWS compact form is.
pub fn bearer_token(header: Option<&str>) -> Result<&str, BearerError> {
    let header = header.ok_or(BearerError::Missing)?.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::NotBearer);
    }
    let token = rest.trim_start_matches(' ');
    if is_b64token(token) {
        Ok(token)
    } else {
        Err(BearerError::Malformed)
    }
}

fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_bearer_in_any_case() {
        for header in [
            "Bearer a.b.c",
            "bearer a.b.c",
            "BEARER  a.b.c",
            " Bearer a.b.c ",
        ] {
            assert_eq!(bearer_token(Some(header)), Ok("a.b.c"), "{header:?}");
        }
        assert_eq!(bearer_token(Some("Bearer abc==")), Ok("abc=="));
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!(bearer_token(None), Err(BearerError::Missing));
        for header in ["", "Basic dXNlcjpwdw==", "Token a.b.c", "Bearera.b.c"] {
            assert_eq!(
                bearer_token(Some(header)),
                Err(BearerError::NotBearer),
                "{header:?}"
            );
        }
        for header in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a\tb",
            "Bearer ===",
            "Bearer a,b",
            "Bearer é",
        ] {
            assert_eq!(
                bearer_token(Some(header)),
                Err(BearerError::Malformed),
                "{header:?}"
            );
        }
    }
}
