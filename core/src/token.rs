//! Access tokens: what the origin issues and the exact policy the edge verifies them against.

use std::collections::HashSet;

use jwt_simple::prelude::{
    Duration, ECDSAP256PublicKeyLike, ES256PublicKey, Ed25519PublicKey, EdDSAPublicKeyLike,
    HeaderOptions, JWTClaims, Token, UnixTimeStamp, VerificationOptions,
};
use serde::{Deserialize, Serialize};

use crate::assurance::Assurance;
use crate::keys::{Algorithm, KeyError, SigningKey, VerificationKey, VerificationKeys};

/// The JWT `typ` of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// Tokens longer than this are refused before any parsing (SPEC: > 4 KiB).
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Everything that decides whether an access token is acceptable.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    pub issuer: String,
    pub audience: String,
    /// Lifetime of issued access tokens, seconds.
    pub access_ttl_secs: u64,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, seconds.
    pub leeway_secs: u64,
    /// Algorithms the verifier accepts at all.
    pub allowed_algorithms: Vec<Algorithm>,
}

impl TokenPolicy {
    pub fn new(issuer: &str, audience: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_ttl_secs: 900,
            leeway_secs: 30,
            allowed_algorithms: vec![Algorithm::EdDSA, Algorithm::ES256],
        }
    }
}

/// The claims edgeauth adds to the registered ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionClaim {
    pub sid: String,
    /// How the session was authenticated (RFC 8176 values); absent in tokens of sessions that
    /// predate it, which then meet no `mfa` rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// When the session last proved a credential (OIDC `auth_time`); absent: unknown, never
    /// recent.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub auth_time: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// What the origin puts into a new access token.
#[derive(Debug, Clone)]
pub struct AccessGrant<'a> {
    pub user_id: &'a str,
    pub session_id: &'a str,
    /// Unique per token (random, chosen by the caller).
    pub token_id: &'a str,
    pub now: u64,
    /// The token never outlives its session: `exp` is capped here (Unix seconds).
    pub session_expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedAccessToken {
    pub token: String,
    /// Seconds until `exp`, for `expires_in`.
    pub expires_in: u64,
}

/// Signs an access token with the given key, without assurance claims (as tokens were before
/// `amr`/`auth_time`: they meet no `mfa` or `max_age` rule).
pub fn issue_access_token(
    key: &SigningKey,
    policy: &TokenPolicy,
    grant: &AccessGrant<'_>,
) -> Result<IssuedAccessToken, KeyError> {
    issue_access_token_with(key, policy, grant, &Assurance::default())
}

/// Signs an access token carrying the session's `amr` and `auth_time`.
pub fn issue_access_token_with(
    key: &SigningKey,
    policy: &TokenPolicy,
    grant: &AccessGrant<'_>,
    assurance: &Assurance,
) -> Result<IssuedAccessToken, KeyError> {
    let exp = (grant.now + policy.access_ttl_secs).min(grant.session_expires_at);
    let claims = JWTClaims {
        issued_at: Some(UnixTimeStamp::from_secs(grant.now)),
        expires_at: Some(UnixTimeStamp::from_secs(exp)),
        invalid_before: Some(UnixTimeStamp::from_secs(grant.now)),
        issuer: Some(policy.issuer.clone()),
        subject: Some(grant.user_id.to_owned()),
        audiences: Some(jwt_simple::claims::Audiences::AsString(
            policy.audience.clone(),
        )),
        jwt_id: Some(grant.token_id.to_owned()),
        nonce: None,
        custom: SessionClaim {
            sid: grant.session_id.to_owned(),
            amr: assurance.amr.clone(),
            auth_time: assurance.auth_time,
        },
    };
    let header = HeaderOptions {
        signature_type: Some(ACCESS_TOKEN_TYPE.to_owned()),
        content_type: None,
    };
    Ok(IssuedAccessToken {
        token: key.sign(claims, &header)?,
        expires_in: exp.saturating_sub(grant.now),
    })
}

/// An access token whose signature and claims have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAccessToken {
    pub user_id: String,
    pub session_id: String,
    pub token_id: String,
    pub issued_at: u64,
    pub expires_at: u64,
    pub kid: String,
    /// `amr` and `auth_time` as the token states them.
    pub assurance: Assurance,
}

/// Why a token was refused. All of them mean 401 `invalid_token` to the client; the detail is
/// for logs only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    #[error("token longer than {MAX_TOKEN_BYTES} bytes")]
    Oversized,
    #[error("not a compact JWS")]
    Malformed,
    #[error("algorithm {0:?} is not accepted")]
    Algorithm(String),
    #[error("missing or unknown key id")]
    UnknownKey,
    #[error("key {kid} is for {expected}, token says {actual}")]
    KeyAlgorithmMismatch {
        kid: String,
        expected: &'static str,
        actual: String,
    },
    #[error("signature or claims rejected: {0}")]
    Rejected(String),
    #[error("required claim {0} missing")]
    MissingClaim(&'static str),
}

/// Verifies an access token: size, algorithm allow-list, known `kid` bound to its algorithm,
/// signature, `typ`, `iss`, `aud`, `exp`/`nbf`/`iat` with the policy's leeway.
pub fn verify_access_token(
    keys: &VerificationKeys,
    policy: &TokenPolicy,
    token: &str,
    now: u64,
) -> Result<VerifiedAccessToken, TokenRejection> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenRejection::Oversized);
    }
    if token.is_empty() || token.bytes().filter(|b| *b == b'.').count() != 2 {
        return Err(TokenRejection::Malformed);
    }
    let metadata = Token::decode_metadata(token).map_err(|_| TokenRejection::Malformed)?;
    let alg = Algorithm::parse(metadata.algorithm())
        .filter(|alg| policy.allowed_algorithms.contains(alg))
        .ok_or_else(|| TokenRejection::Algorithm(metadata.algorithm().to_owned()))?;
    let kid = metadata.key_id().ok_or(TokenRejection::UnknownKey)?;
    let key = keys.get(kid).ok_or(TokenRejection::UnknownKey)?;
    if key.algorithm() != alg {
        return Err(TokenRejection::KeyAlgorithmMismatch {
            kid: kid.to_owned(),
            expected: key.algorithm().as_str(),
            actual: alg.as_str().to_owned(),
        });
    }
    let options = VerificationOptions {
        accept_future: false,
        required_key_id: Some(kid.to_owned()),
        required_signature_type: Some(ACCESS_TOKEN_TYPE.to_owned()),
        allowed_issuers: Some(HashSet::from([policy.issuer.clone()])),
        allowed_audiences: Some(HashSet::from([policy.audience.clone()])),
        time_tolerance: Some(Duration::from_secs(policy.leeway_secs)),
        max_token_length: Some(MAX_TOKEN_BYTES),
        artificial_time: Some(UnixTimeStamp::from_secs(now)),
        ..VerificationOptions::default()
    };
    let claims: JWTClaims<SessionClaim> = match key {
        VerificationKey::Ed25519(raw) => {
            Ed25519PublicKey::from_bytes(raw).and_then(|k| k.verify_token(token, Some(options)))
        }
        VerificationKey::Es256(raw) => {
            ES256PublicKey::from_bytes(raw).and_then(|k| k.verify_token(token, Some(options)))
        }
    }
    .map_err(|e| TokenRejection::Rejected(e.to_string()))?;
    required_claims(claims, kid)
}

/// The claims every access token must carry, taken out of verified claims. Shared by both
/// verification paths (jwt-simple here, the split path in `token_split`).
pub(crate) fn required_claims(
    claims: JWTClaims<SessionClaim>,
    kid: &str,
) -> Result<VerifiedAccessToken, TokenRejection> {
    let expires_at = claims
        .expires_at
        .ok_or(TokenRejection::MissingClaim("exp"))?;
    let issued_at = claims
        .issued_at
        .ok_or(TokenRejection::MissingClaim("iat"))?;
    let user_id = claims
        .subject
        .filter(|s| !s.is_empty())
        .ok_or(TokenRejection::MissingClaim("sub"))?;
    let token_id = claims
        .jwt_id
        .filter(|s| !s.is_empty())
        .ok_or(TokenRejection::MissingClaim("jti"))?;
    if claims.custom.sid.is_empty() {
        return Err(TokenRejection::MissingClaim("sid"));
    }
    let SessionClaim {
        sid,
        amr,
        auth_time,
    } = claims.custom;
    Ok(VerifiedAccessToken {
        user_id,
        session_id: sid,
        assurance: Assurance { amr, auth_time },
        token_id,
        issued_at: issued_at.as_secs(),
        expires_at: expires_at.as_secs(),
        kid: kid.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::test_ring;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;

    const NOW: u64 = 1_800_000_000;

    fn policy() -> TokenPolicy {
        TokenPolicy::new("https://auth.example", "edgeauth")
    }

    fn grant(now: u64) -> AccessGrant<'static> {
        AccessGrant {
            user_id: "u1",
            session_id: "s1",
            token_id: "j1",
            now,
            session_expires_at: u64::MAX,
        }
    }

    #[test]
    fn issued_tokens_verify_with_both_algorithms() {
        let ring = test_ring();
        let keys = ring.verification_keys().unwrap();
        for key in ring.keys() {
            let issued = issue_access_token(key, &policy(), &grant(NOW)).unwrap();
            assert_eq!(issued.expires_in, 900);
            let ok = verify_access_token(&keys, &policy(), &issued.token, NOW + 10).unwrap();
            assert_eq!((ok.user_id.as_str(), ok.session_id.as_str()), ("u1", "s1"));
            assert_eq!(ok.kid, key.kid());
            let header: serde_json::Value = serde_json::from_slice(
                &B64.decode(issued.token.split('.').next().unwrap()).unwrap(),
            )
            .unwrap();
            assert_eq!(header["typ"], "at+jwt");
        }
    }

    #[test]
    fn assurance_claims_round_trip_and_default_to_nothing() {
        let ring = test_ring();
        let keys = ring.verification_keys().unwrap();
        let assurance = Assurance::new(&["pwd", "otp"], NOW - 5);
        let with = issue_access_token_with(ring.active(), &policy(), &grant(NOW), &assurance)
            .unwrap()
            .token;
        let ok = verify_access_token(&keys, &policy(), &with, NOW).unwrap();
        assert_eq!(ok.assurance, assurance);
        let claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(with.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(claims["amr"], serde_json::json!(["mfa", "otp", "pwd"]));
        assert_eq!(claims["auth_time"], NOW - 5);
        let without = issue_access_token(ring.active(), &policy(), &grant(NOW))
            .unwrap()
            .token;
        let ok = verify_access_token(&keys, &policy(), &without, NOW).unwrap();
        assert_eq!(ok.assurance, Assurance::default());
    }

    #[test]
    fn expiry_is_capped_by_the_session() {
        let ring = test_ring();
        let mut g = grant(NOW);
        g.session_expires_at = NOW + 60;
        let issued = issue_access_token(ring.active(), &policy(), &g).unwrap();
        assert_eq!(issued.expires_in, 60);
    }

    #[test]
    fn time_checks_use_the_small_leeway() {
        let ring = test_ring();
        let keys = ring.verification_keys().unwrap();
        let token = issue_access_token(ring.active(), &policy(), &grant(NOW))
            .unwrap()
            .token;
        let p = policy();
        assert!(verify_access_token(&keys, &p, &token, NOW + 900 + 29).is_ok());
        assert!(verify_access_token(&keys, &p, &token, NOW + 900 + 31).is_err());
        // Not yet valid (issued in the future beyond the leeway).
        assert!(verify_access_token(&keys, &p, &token, NOW - 31).is_err());
        assert!(verify_access_token(&keys, &p, &token, NOW - 29).is_ok());
    }

    #[test]
    fn wrong_issuer_audience_and_key_are_refused() {
        let ring = test_ring();
        let keys = ring.verification_keys().unwrap();
        let token = issue_access_token(ring.active(), &policy(), &grant(NOW))
            .unwrap()
            .token;
        let mut p = policy();
        p.issuer = "https://other".into();
        assert!(matches!(
            verify_access_token(&keys, &p, &token, NOW),
            Err(TokenRejection::Rejected(_))
        ));
        let mut p = policy();
        p.audience = "other".into();
        assert!(verify_access_token(&keys, &p, &token, NOW).is_err());
        let other = test_ring().verification_keys().unwrap();
        assert!(verify_access_token(&other, &policy(), &token, NOW).is_err());
    }

    #[test]
    fn header_tricks_are_refused() {
        let ring = test_ring();
        let keys = ring.verification_keys().unwrap();
        let token = issue_access_token(ring.active(), &policy(), &grant(NOW))
            .unwrap()
            .token;
        let parts: Vec<&str> = token.split('.').collect();
        let with_header = |h: &str| format!("{}.{}.{}", B64.encode(h), parts[1], parts[2]);
        let p = policy();
        let none = format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
            parts[1]
        );
        assert!(verify_access_token(&keys, &p, &none, NOW).is_err());
        let hs = with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":"ed-1"}"#);
        assert!(matches!(
            verify_access_token(&keys, &p, &hs, NOW),
            Err(TokenRejection::Algorithm(_))
        ));
        let swapped = with_header(r#"{"alg":"ES256","typ":"at+jwt","kid":"ed-1"}"#);
        assert!(matches!(
            verify_access_token(&keys, &p, &swapped, NOW),
            Err(TokenRejection::KeyAlgorithmMismatch { .. })
        ));
        let unknown = with_header(r#"{"alg":"EdDSA","typ":"at+jwt","kid":"nope"}"#);
        assert_eq!(
            verify_access_token(&keys, &p, &unknown, NOW),
            Err(TokenRejection::UnknownKey)
        );
        let wrong_typ = with_header(r#"{"alg":"EdDSA","typ":"JWT","kid":"ed-1"}"#);
        assert!(verify_access_token(&keys, &p, &wrong_typ, NOW).is_err());
        let big = format!("{token}{}", "A".repeat(MAX_TOKEN_BYTES));
        assert_eq!(
            verify_access_token(&keys, &p, &big, NOW),
            Err(TokenRejection::Oversized)
        );
        for junk in ["", "a.b", "a.b.c", "....", "é.é.é"] {
            assert!(verify_access_token(&keys, &p, junk, NOW).is_err(), "{junk}");
        }
    }
}
