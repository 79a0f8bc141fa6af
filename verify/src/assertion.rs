//! The assertion itself: its wire format, the verified [`Identity`] and the pure verification
//! policy (no I/O, no clock: `now` is passed in).

use std::collections::HashSet;
use std::time::Duration;

use jwt_simple::prelude::{
    Audiences, Ed25519PublicKey, EdDSAPublicKeyLike, JWTClaims, Token, UnixTimeStamp,
    VerificationOptions,
};
use serde::{Deserialize, Serialize};

/// The JWT `typ` the edge puts on every assertion.
pub const ASSERTION_TYPE: &str = "edgeauth-assertion+jwt";
/// The only signature algorithm an assertion may use.
pub const ASSERTION_ALGORITHM: &str = "EdDSA";
/// The request header the edge puts the assertion in, unless the upstream's rule says otherwise.
pub const DEFAULT_HEADER_NAME: &str = "edgeauth-assertion";
/// The path under the edge's origin where it publishes the assertion keys.
pub const JWKS_PATH: &str = "/.well-known/edgeauth/assertion-jwks.json";

/// Who the edge says is calling: the claims of an assertion whose signature, type, issuer,
/// audience and lifetime have been checked. Serialises with the claim names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The edge's issuer URL.
    pub iss: String,
    /// The upstream id this assertion was made for (this app's audience).
    pub aud: String,
    /// The user id.
    pub sub: String,
    /// The session id (stable across the session's token refreshes; logout ends it).
    pub sid: String,
    /// The user's roles when the edge made the assertion.
    pub roles: Vec<String>,
    /// The user's username (claim `preferred_username`), for display; absent for sessions the
    /// edge has no username for. Key data by `sub`, never by this.
    #[serde(
        rename = "preferred_username",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub username: Option<String>,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds.
    pub exp: u64,
}

impl Identity {
    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// `Ok` when the user has `role`; otherwise a [`Forbidden`] that answers 403.
    pub fn require_role(&self, role: &str) -> Result<(), Forbidden> {
        self.require_any_role(&[role])
    }

    /// `Ok` when the user has at least one of `roles`; otherwise a [`Forbidden`] (403).
    pub fn require_any_role(&self, roles: &[&str]) -> Result<(), Forbidden> {
        if roles.iter().any(|role| self.has_role(role)) {
            Ok(())
        } else {
            Err(Forbidden {
                needed: roles.iter().map(|r| (*r).to_owned()).collect(),
            })
        }
    }
}

/// The caller is authenticated but lacks every role a route needs. Answers 403 with the JSON
/// error `forbidden`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("needs one of the roles {needed:?}")]
pub struct Forbidden {
    /// The roles of which one would have been enough.
    pub needed: Vec<String>,
}

/// Why a request's assertion was refused. [`Rejection::KeysUnavailable`] answers 503 (the app
/// cannot check anything, so it refuses everything); the rest answer 401. The detail is for
/// logs: the client gets a generic message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the request carries no assertion")]
    Missing,
    #[error("the assertion header appears more than once")]
    Duplicate,
    #[error("assertion longer than {0} bytes")]
    Oversized(usize),
    #[error("not a compact JWS")]
    Malformed,
    #[error("algorithm {0:?} is not EdDSA")]
    Algorithm(String),
    #[error("typ {0:?} is not {ASSERTION_TYPE}")]
    Type(Option<String>),
    #[error("no kid in the header")]
    MissingKeyId,
    #[error("unknown kid {0:?}")]
    UnknownKey(String),
    #[error("the assertion keys are unavailable: {0}")]
    KeysUnavailable(String),
    #[error("signature or claims rejected: {0}")]
    Invalid(String),
    #[error("claim {0} missing or empty")]
    MissingClaim(&'static str),
    #[error("aud must be the string {0:?}")]
    Audience(String),
    #[error("lifetime exp - iat = {0} s is longer than the allowed {1} s")]
    Lifetime(u64, u64),
}

/// Everything [`verify_with_key`] checks against; built from the verifier's configuration.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub issuer: String,
    pub audience: String,
    pub leeway: Duration,
    pub max_lifetime: Duration,
    pub max_bytes: usize,
}

/// The claims an assertion adds to the registered ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AssertionClaims {
    pub sid: String,
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
}

/// Cheap checks before any key is looked up (so garbage never causes a JWKS fetch): size, shape,
/// `alg`, `typ`. Returns the `kid`.
pub(crate) fn inspect(token: &str, policy: &Policy) -> Result<String, Rejection> {
    if token.len() > policy.max_bytes {
        return Err(Rejection::Oversized(policy.max_bytes));
    }
    if token.split('.').count() != 3 || token.split('.').any(str::is_empty) {
        return Err(Rejection::Malformed);
    }
    let metadata = Token::decode_metadata(token).map_err(|_| Rejection::Malformed)?;
    if metadata.algorithm() != ASSERTION_ALGORITHM {
        return Err(Rejection::Algorithm(metadata.algorithm().to_owned()));
    }
    if metadata.signature_type() != Some(ASSERTION_TYPE) {
        return Err(Rejection::Type(
            metadata.signature_type().map(str::to_owned),
        ));
    }
    match metadata.key_id() {
        Some(kid) if !kid.is_empty() => Ok(kid.to_owned()),
        _ => Err(Rejection::MissingKeyId),
    }
}

/// Verifies the signature with `key` and the claims against `policy` at time `now` (Unix
/// seconds): `typ`, `kid`, `iss`, `aud` (one string, this app's), `iat` not in the future and `exp` not
/// past (both within the leeway), `exp - iat` at most the maximum lifetime, `sub` and `sid`
/// present.
pub(crate) fn verify_with_key(
    key: &Ed25519PublicKey,
    kid: &str,
    policy: &Policy,
    token: &str,
    now: u64,
) -> Result<Identity, Rejection> {
    let options = VerificationOptions {
        accept_future: false,
        required_key_id: Some(kid.to_owned()),
        required_signature_type: Some(ASSERTION_TYPE.to_owned()),
        allowed_issuers: Some(HashSet::from([policy.issuer.clone()])),
        allowed_audiences: Some(HashSet::from([policy.audience.clone()])),
        time_tolerance: Some(jwt_simple::prelude::Duration::from_secs(
            policy.leeway.as_secs(),
        )),
        max_token_length: Some(policy.max_bytes),
        artificial_time: Some(UnixTimeStamp::from_secs(now)),
        ..VerificationOptions::default()
    };
    let claims: JWTClaims<AssertionClaims> = key
        .verify_token(token, Some(options))
        .map_err(|e| Rejection::Invalid(e.to_string()))?;

    let iat = claims
        .issued_at
        .ok_or(Rejection::MissingClaim("iat"))?
        .as_secs();
    let exp = claims
        .expires_at
        .ok_or(Rejection::MissingClaim("exp"))?
        .as_secs();
    let max_lifetime = policy.max_lifetime.as_secs();
    if exp < iat || exp - iat > max_lifetime {
        return Err(Rejection::Lifetime(exp.saturating_sub(iat), max_lifetime));
    }
    // One string, not an array: an assertion is for exactly one upstream.
    let aud = match claims.audiences {
        Some(Audiences::AsString(aud)) if aud == policy.audience => aud,
        _ => return Err(Rejection::Audience(policy.audience.clone())),
    };
    let non_empty = |value: Option<String>, name| {
        value
            .filter(|v| !v.is_empty())
            .ok_or(Rejection::MissingClaim(name))
    };
    Ok(Identity {
        iss: non_empty(claims.issuer, "iss")?,
        aud,
        sub: non_empty(claims.subject, "sub")?,
        sid: non_empty(Some(claims.custom.sid), "sid")?,
        roles: claims.custom.roles,
        username: claims
            .custom
            .preferred_username
            .filter(|name| !name.is_empty()),
        iat,
        exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{sign_with, unix_now, TestAssertion};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use jwt_simple::prelude::{
        Claims, Ed25519KeyPair, EdDSAKeyPairLike, HS256Key, HeaderOptions, MACLike,
    };

    const ISS: &str = "https://edge.example";

    fn policy(audience: &str) -> Policy {
        Policy {
            issuer: ISS.into(),
            audience: audience.into(),
            leeway: Duration::from_secs(5),
            max_lifetime: Duration::from_secs(60),
            max_bytes: 8192,
        }
    }

    fn key() -> Ed25519KeyPair {
        Ed25519KeyPair::generate().with_key_id("k1")
    }

    fn check(
        key: &Ed25519KeyPair,
        token: &str,
        audience: &str,
        now: u64,
    ) -> Result<Identity, Rejection> {
        let policy = policy(audience);
        let kid = inspect(token, &policy)?;
        verify_with_key(&key.public_key(), &kid, &policy, token, now)
    }

    #[test]
    fn a_valid_assertion_gives_its_claims() {
        let key = key();
        let now = unix_now();
        let mut claims = TestAssertion::new(ISS, "notes", "user-1");
        claims.roles = vec!["admin".into()];
        let identity = check(&key, &sign_with(&key, &claims), "notes", now).expect("valid");
        assert_eq!(identity.sub, "user-1");
        assert_eq!(identity.sid, claims.sid);
        assert_eq!(identity.aud, "notes");
        assert_eq!(identity.iss, ISS);
        assert_eq!(identity.roles, ["admin"]);
        assert_eq!((identity.iat, identity.exp), (claims.iat, claims.exp));
        assert!(identity.require_role("admin").is_ok());
        assert!(identity.require_role("ops").is_err());
        assert!(identity.require_any_role(&["ops", "admin"]).is_ok());
        assert_eq!(identity.username, None, "no preferred_username claim");

        let named = claims.with_username("ada_l");
        let identity = check(&key, &sign_with(&key, &named), "notes", now).expect("valid");
        assert_eq!(identity.username.as_deref(), Some("ada_l"));
        let json = serde_json::to_value(&identity).expect("serialises");
        assert_eq!(json["preferred_username"], "ada_l");
    }

    #[test]
    fn time_claims_are_checked_with_the_leeway() {
        let key = key();
        let now = unix_now();
        let mut claims = TestAssertion::new(ISS, "notes", "u");
        claims.iat = now - 40;
        claims.exp = now - 10;
        assert!(matches!(
            check(&key, &sign_with(&key, &claims), "notes", now),
            Err(Rejection::Invalid(_))
        ));
        claims.exp = now - 3; // within the 5 s leeway
        assert!(check(&key, &sign_with(&key, &claims), "notes", now).is_ok());
        claims.iat = now + 30; // issued in the future
        claims.exp = now + 50;
        assert!(matches!(
            check(&key, &sign_with(&key, &claims), "notes", now),
            Err(Rejection::Invalid(_))
        ));
    }

    #[test]
    fn lifetimes_over_sixty_seconds_are_refused() {
        let key = key();
        let now = unix_now();
        let mut claims = TestAssertion::new(ISS, "notes", "u");
        claims.exp = claims.iat + 61;
        assert_eq!(
            check(&key, &sign_with(&key, &claims), "notes", now),
            Err(Rejection::Lifetime(61, 60))
        );
        claims.exp = claims.iat + 60;
        assert!(check(&key, &sign_with(&key, &claims), "notes", now).is_ok());
    }

    #[test]
    fn another_audience_or_issuer_is_refused() {
        let key = key();
        let now = unix_now();
        let token = sign_with(&key, &TestAssertion::new(ISS, "app-a", "u"));
        assert!(matches!(
            check(&key, &token, "app-b", now),
            Err(Rejection::Invalid(_))
        ));
        let token = sign_with(
            &key,
            &TestAssertion::new("https://evil.example", "notes", "u"),
        );
        assert!(matches!(
            check(&key, &token, "notes", now),
            Err(Rejection::Invalid(_))
        ));
    }

    #[test]
    fn an_array_of_audiences_is_refused_even_when_it_names_ours() {
        let key = key();
        let now = unix_now();
        for audiences in [vec!["notes", "other"], vec!["notes"]] {
            let claims = Claims::with_custom_claims(
                AssertionClaims {
                    sid: "s".into(),
                    roles: vec![],
                    preferred_username: None,
                },
                jwt_simple::prelude::Duration::from_secs(30),
            )
            .with_issuer(ISS)
            .with_subject("u")
            .with_audiences(
                audiences
                    .into_iter()
                    .map(str::to_owned)
                    .collect::<HashSet<_>>(),
            );
            let header = HeaderOptions {
                signature_type: Some(ASSERTION_TYPE.into()),
                content_type: None,
            };
            let token = key.sign_with_options(claims, &header).expect("sign");
            assert_eq!(
                check(&key, &token, "notes", now),
                Err(Rejection::Audience("notes".into()))
            );
        }
    }

    #[test]
    fn another_key_with_the_same_kid_is_refused() {
        let signer = key();
        let token = sign_with(&signer, &TestAssertion::new(ISS, "notes", "u"));
        assert!(matches!(
            check(&key(), &token, "notes", unix_now()),
            Err(Rejection::Invalid(_))
        ));
    }

    #[test]
    fn wrong_typ_and_missing_kid_are_refused_before_any_key_lookup() {
        let key = key();
        let mut claims = TestAssertion::new(ISS, "notes", "u");
        claims.typ = "at+jwt".into();
        let token = sign_with(&key, &claims);
        assert_eq!(
            inspect(&token, &policy("notes")),
            Err(Rejection::Type(Some("at+jwt".into())))
        );
        let unnamed = Ed25519KeyPair::generate();
        let token = sign_with(&unnamed, &TestAssertion::new(ISS, "notes", "u"));
        assert_eq!(
            inspect(&token, &policy("notes")),
            Err(Rejection::MissingKeyId)
        );
    }

    fn forged(header: &str, payload_from: &str, signature: &str) -> String {
        let payload = payload_from.split('.').nth(1).unwrap_or_default();
        format!("{}.{payload}.{signature}", URL_SAFE_NO_PAD.encode(header))
    }

    #[test]
    fn alg_none_and_hmac_forgeries_are_refused() {
        let key = key();
        let genuine = sign_with(&key, &TestAssertion::new(ISS, "notes", "u"));
        let policy = policy("notes");
        let none = forged(
            r#"{"alg":"none","typ":"edgeauth-assertion+jwt","kid":"k1"}"#,
            &genuine,
            "",
        );
        assert_eq!(inspect(&none, &policy), Err(Rejection::Malformed));
        let none = forged(
            r#"{"alg":"none","typ":"edgeauth-assertion+jwt","kid":"k1"}"#,
            &genuine,
            "AA",
        );
        assert_eq!(
            inspect(&none, &policy),
            Err(Rejection::Algorithm("none".into()))
        );
        // The classic confusion: HS256 keyed with the public key's bytes.
        let hmac = HS256Key::from_bytes(&key.public_key().to_bytes()).with_key_id("k1");
        let claims = Claims::with_custom_claims(
            AssertionClaims {
                sid: "s".into(),
                roles: vec!["admin".into()],
                preferred_username: None,
            },
            jwt_simple::prelude::Duration::from_secs(30),
        )
        .with_issuer(ISS)
        .with_subject("u")
        .with_audience("notes");
        let header = HeaderOptions {
            signature_type: Some(ASSERTION_TYPE.into()),
            content_type: None,
        };
        let token = hmac
            .authenticate_with_options(claims, &header)
            .expect("mac");
        assert_eq!(
            inspect(&token, &policy),
            Err(Rejection::Algorithm("HS256".into()))
        );
        // Even if the header check were bypassed, the Ed25519 key refuses it.
        assert!(verify_with_key(&key.public_key(), "k1", &policy, &token, unix_now()).is_err());
    }

    #[test]
    fn oversized_and_garbage_tokens_are_refused() {
        let policy = policy("notes");
        assert_eq!(
            inspect(&"a".repeat(9000), &policy),
            Err(Rejection::Oversized(8192))
        );
        for garbage in [
            "",
            "abc",
            "a.b",
            "a..c",
            "a.b.c.d",
            "!!!.???.***",
            "eyJ9.e30.AA",
        ] {
            assert!(inspect(garbage, &policy).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn missing_session_or_roles_claims_are_refused() {
        let key = key();
        let claims = Claims::create(jwt_simple::prelude::Duration::from_secs(30))
            .with_issuer(ISS)
            .with_subject("u")
            .with_audience("notes");
        let header = HeaderOptions {
            signature_type: Some(ASSERTION_TYPE.into()),
            content_type: None,
        };
        let token = key.sign_with_options(claims, &header).expect("sign");
        assert!(matches!(
            check(&key, &token, "notes", unix_now()),
            Err(Rejection::Invalid(_))
        ));
        let mut claims = TestAssertion::new(ISS, "notes", "");
        claims.sub = String::new();
        assert_eq!(
            check(&key, &sign_with(&key, &claims), "notes", unix_now()),
            Err(Rejection::MissingClaim("sub"))
        );
    }
}
