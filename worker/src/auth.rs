//! Authenticating a request: the Bearer token's signature and claims (no I/O), then the session
//! owner that Redis reported.

use edgeauth_core::assurance::Assurance;
use edgeauth_core::keys::VerificationKeys;
use edgeauth_core::roles::Roles;
use edgeauth_core::token::{verify_access_token, TokenPolicy, VerifiedAccessToken};
use edgeauth_core::token_split::{decode_access_token, UnverifiedAccessToken};

use crate::bearer::bearer_token;
use crate::error::EdgeError;

/// The verified caller, as forwarded to the origin in identity headers and to apps in the
/// assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub session_id: String,
    /// The session hash's copy of the user's roles, current as of this request.
    pub roles: Roles,
    /// The user's username as the session recorded it at sign-in (sessions older than that
    /// record have none); apps get it as the assertion's `preferred_username`.
    pub username: Option<String>,
    /// The token's `amr` and `auth_time`, for rules that require a step-up.
    pub assurance: Assurance,
}

/// What the edge's one Redis command (`HMGET <session> uid roles name`) found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFields {
    /// `None` when the session no longer exists.
    pub owner: Option<String>,
    pub roles: Option<String>,
    pub username: Option<String>,
}

/// Checks everything about the `Authorization` header's token except its signature (which the
/// runtime checks natively, `runtime::webcrypto`). No I/O and no cryptography: a token refused
/// here costs neither Redis nor the origin anything.
pub fn decode_bearer<'h>(
    policy: &TokenPolicy,
    authorization: Option<&'h str>,
    now_secs: u64,
) -> Result<UnverifiedAccessToken<'h>, EdgeError> {
    let token = bearer_token(authorization).map_err(|e| EdgeError::invalid_token(e.describe()))?;
    decode_access_token(policy, token, now_secs)
        .map_err(|rejection| EdgeError::invalid_token(rejection.to_string()))
}

/// Checks the access cookie's token as [`decode_bearer`] checks the header's: the same claims
/// and policy, no I/O.
pub fn decode_cookie_token<'c>(
    policy: &TokenPolicy,
    token: &'c str,
    now_secs: u64,
) -> Result<UnverifiedAccessToken<'c>, EdgeError> {
    decode_access_token(policy, token, now_secs)
        .map_err(|rejection| EdgeError::invalid_token(rejection.to_string()))
}

/// Checks the `Authorization` header's token entirely in Rust (jwt-simple), the reference the
/// edge's split path ([`decode_bearer`] plus WebCrypto) is tested against.
pub fn verify_bearer(
    keys: &VerificationKeys,
    policy: &TokenPolicy,
    authorization: Option<&str>,
    now_secs: u64,
) -> Result<VerifiedAccessToken, EdgeError> {
    let token = bearer_token(authorization).map_err(|e| EdgeError::invalid_token(e.describe()))?;
    verify_access_token(keys, policy, token, now_secs)
        .map_err(|rejection| EdgeError::invalid_token(rejection.to_string()))
}

/// Accepts the token only if its session still exists and belongs to the token's user.
pub fn confirm_session(
    token: VerifiedAccessToken,
    session: &SessionFields,
) -> Result<Identity, EdgeError> {
    match session.owner.as_deref() {
        Some(owner) if owner == token.user_id => Ok(Identity {
            user_id: token.user_id,
            session_id: token.session_id,
            roles: Roles::from_field(session.roles.as_deref()),
            username: session.username.clone().filter(|name| !name.is_empty()),
            assurance: token.assurance,
        }),
        Some(_) => Err(EdgeError::invalid_token(format!(
            "session {} belongs to another user",
            token.session_id
        ))),
        None => Err(EdgeError::invalid_token(format!(
            "session {} is revoked or expired",
            token.session_id
        ))),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use edgeauth_core::keys::{SigningKey, SigningKeyRing};
    use edgeauth_core::token::{issue_access_token, AccessGrant};
    use edgeauth_core::ErrorCode;
    use jwt_simple::prelude::Ed25519KeyPair;

    pub const NOW: u64 = 1_800_000_000;

    pub fn ring() -> SigningKeyRing {
        SigningKeyRing::new(vec![SigningKey::ed25519("k1", Ed25519KeyPair::generate())]).unwrap()
    }

    pub fn policy() -> TokenPolicy {
        TokenPolicy::new("http://127.0.0.1:8787", "edgeauth")
    }

    pub fn token(ring: &SigningKeyRing) -> String {
        let grant = AccessGrant {
            user_id: "u1",
            session_id: "s1",
            token_id: "j1",
            now: NOW,
            session_expires_at: u64::MAX,
        };
        issue_access_token(ring.active(), &policy(), &grant)
            .unwrap()
            .token
    }

    fn code(result: Result<VerifiedAccessToken, EdgeError>) -> ErrorCode {
        result.err().unwrap().code()
    }

    #[test]
    fn valid_bearer_tokens_verify() {
        let ring = ring();
        let keys = ring.verification_keys().unwrap();
        let header = format!("bearer {}", token(&ring));
        let ok = verify_bearer(&keys, &policy(), Some(&header), NOW + 1).unwrap();
        assert_eq!((ok.user_id.as_str(), ok.session_id.as_str()), ("u1", "s1"));
    }

    #[test]
    fn bad_headers_and_tokens_are_invalid_token() {
        let ring = ring();
        let keys = ring.verification_keys().unwrap();
        let p = policy();
        let t = token(&ring);
        let other_keys = super::tests::ring().verification_keys().unwrap();
        let cases: Vec<(Option<String>, &VerificationKeys, u64)> = vec![
            (None, &keys, NOW),
            (Some("Basic dTpw".into()), &keys, NOW),
            (Some("Bearer".into()), &keys, NOW),
            (Some("Bearer garbage".into()), &keys, NOW),
            (Some(format!("Bearer {t}")), &other_keys, NOW),
            (Some(format!("Bearer {t}")), &keys, NOW + 3600),
        ];
        for (header, keys, now) in cases {
            assert_eq!(
                code(verify_bearer(keys, &p, header.as_deref(), now)),
                ErrorCode::InvalidToken,
                "{header:?}"
            );
        }
    }

    #[test]
    fn decoding_refuses_what_verifying_refuses_short_of_the_signature() {
        let ring = ring();
        let keys = ring.verification_keys().unwrap();
        let header = format!("Bearer {}", token(&ring));
        let decoded = decode_bearer(&policy(), Some(&header), NOW + 1).unwrap();
        assert_eq!(decoded.kid(), "k1");
        assert!(decoded.key(&keys).is_ok());
        let ok = decoded.accept(true).unwrap();
        assert_eq!(
            ok,
            verify_bearer(&keys, &policy(), Some(&header), NOW + 1).unwrap()
        );
        for (header, now) in [
            (None, NOW),
            (Some("Bearer garbage".to_owned()), NOW),
            (Some(header.clone()), NOW + 3600),
        ] {
            let err = decode_bearer(&policy(), header.as_deref(), now).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidToken, "{header:?}");
        }
    }

    #[test]
    fn session_must_exist_and_match_the_user() {
        let ring = ring();
        let keys = ring.verification_keys().unwrap();
        let header = format!("Bearer {}", token(&ring));
        let verified = || verify_bearer(&keys, &policy(), Some(&header), NOW).unwrap();
        let fields = |owner: Option<&str>, roles: Option<&str>| SessionFields {
            owner: owner.map(str::to_owned),
            roles: roles.map(str::to_owned),
            username: Some("ada_l".to_owned()),
        };
        assert_eq!(
            confirm_session(verified(), &fields(Some("u1"), Some("editor admin"))).unwrap(),
            Identity {
                user_id: "u1".into(),
                session_id: "s1".into(),
                roles: Roles::from_field(Some("admin editor")),
                username: Some("ada_l".into()),
                assurance: Assurance::default(),
            }
        );
        let no_roles = confirm_session(verified(), &fields(Some("u1"), None)).unwrap();
        assert_eq!(no_roles.roles, Roles::default());
        let unnamed = SessionFields {
            username: None,
            ..fields(Some("u1"), None)
        };
        assert_eq!(
            confirm_session(verified(), &unnamed).unwrap().username,
            None
        );
        for owner in [None, Some("u2"), Some("")] {
            let err = confirm_session(verified(), &fields(owner, Some("admin"))).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidToken, "{owner:?}");
        }
    }
}
