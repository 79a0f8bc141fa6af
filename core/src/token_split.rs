//! Access-token verification in two halves: every check but the signature, then the signature.
//!
//! [`verify_access_token`](crate::token::verify_access_token) (jwt-simple) is the reference.
//! The edge runs the same policy through [`decode_access_token`] — header, `kid`/`alg` binding,
//! claims, all with jwt-simple's own types and rules — and checks only the signature itself with
//! the platform's native verifier (WebCrypto in Workers), which costs a fifth of Ed25519 in Wasm.
//! Tests here and end to end hold both halves to the reference verdict on valid and mutated tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jwt_simple::prelude::{Duration, JWTClaims, UnixTimeStamp};
use serde::Deserialize;

use crate::keys::{Algorithm, VerificationKey, VerificationKeys};
use crate::token::{
    SessionClaim, TokenPolicy, TokenRejection, VerifiedAccessToken, ACCESS_TOKEN_TYPE,
    MAX_TOKEN_BYTES,
};

/// Ed25519 and ES256 (r ‖ s) signatures are both exactly this long.
const SIGNATURE_BYTES: usize = 64;

/// The JOSE header exactly as jwt-simple reads it (same fields, types and defaults), so a header
/// jwt-simple refuses to parse is refused here too; unknown fields are ignored by both.
#[derive(Deserialize)]
#[allow(dead_code)] // Fields only parsed so their types are enforced as jwt-simple does.
struct Header {
    alg: String,
    #[serde(default)]
    cty: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    crit: Option<Vec<String>>,
    #[serde(default)]
    x5c: Option<Vec<String>>,
    #[serde(default)]
    jku: Option<String>,
    #[serde(default)]
    jwk: Option<String>,
    #[serde(default)]
    x5u: Option<String>,
    #[serde(default)]
    x5t: Option<String>,
    #[serde(default, rename = "x5t#S256")]
    x5t_s256: Option<String>,
    #[serde(default)]
    salt: Option<String>,
}

/// A token that passed every check except its signature. The only way on is
/// [`UnverifiedAccessToken::accept`], after checking [`signature`](Self::signature) over
/// [`signing_input`](Self::signing_input) with the key from [`key`](Self::key).
#[derive(Debug)]
pub struct UnverifiedAccessToken<'t> {
    kid: String,
    algorithm: Algorithm,
    signing_input: &'t str,
    signature: Vec<u8>,
    verified: VerifiedAccessToken,
}

impl UnverifiedAccessToken<'_> {
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// `base64url(header) "." base64url(claims)`, the signed bytes.
    pub fn signing_input(&self) -> &[u8] {
        self.signing_input.as_bytes()
    }

    /// The decoded signature: 64 bytes, Ed25519 or ES256 `r ‖ s` (the WebCrypto format).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The key the signature must be checked with: the token's `kid`, bound to its algorithm.
    pub fn key<'k>(
        &self,
        keys: &'k VerificationKeys,
    ) -> Result<&'k VerificationKey, TokenRejection> {
        let key = keys.get(&self.kid).ok_or(TokenRejection::UnknownKey)?;
        if key.algorithm() != self.algorithm {
            return Err(TokenRejection::KeyAlgorithmMismatch {
                kid: self.kid.clone(),
                expected: key.algorithm().as_str(),
                actual: self.algorithm.as_str().to_owned(),
            });
        }
        Ok(key)
    }

    /// The verified token, if the caller found the signature valid.
    pub fn accept(self, signature_valid: bool) -> Result<VerifiedAccessToken, TokenRejection> {
        if signature_valid {
            Ok(self.verified)
        } else {
            Err(TokenRejection::Rejected("invalid signature".into()))
        }
    }
}

/// Every check of [`verify_access_token`](crate::token::verify_access_token) except the key
/// lookup ([`UnverifiedAccessToken::key`]) and the signature: size, shape, header (`alg`
/// allow-list, `kid`, `typ`, `crit`), then the claims against the policy at `now`. Cheap
/// rejections come first, so a forged or expired token costs no cryptography at all.
pub fn decode_access_token<'t>(
    policy: &TokenPolicy,
    token: &'t str,
    now: u64,
) -> Result<UnverifiedAccessToken<'t>, TokenRejection> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenRejection::Oversized);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenRejection::Malformed);
    };
    let header: Header = B64
        .decode(header_b64)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(TokenRejection::Malformed)?;
    let algorithm = Algorithm::parse(&header.alg)
        .filter(|alg| policy.allowed_algorithms.contains(alg))
        .ok_or_else(|| TokenRejection::Algorithm(header.alg.clone()))?;
    let kid = header.kid.ok_or(TokenRejection::UnknownKey)?;
    let rejected = |what: &str| TokenRejection::Rejected(what.to_owned());
    if header.crit.is_some_and(|crit| !crit.is_empty()) {
        return Err(rejected("unsupported critical header extension"));
    }
    // jwt-simple compares `typ` after `to_uppercase()`. No non-ASCII character upper-cases into
    // "AT+JWT" (none maps to A, T, J, W or '+', and no expansion yields them), so an ASCII
    // case-insensitive comparison is the same test without Unicode case tables in the Wasm.
    if header
        .typ
        .is_none_or(|typ| !typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE))
    {
        return Err(rejected("not an access token (typ)"));
    }
    if header.salt.is_some_and(|salt| B64.decode(salt).is_err()) {
        return Err(rejected("undecodable salt"));
    }
    let claims: JWTClaims<SessionClaim> = B64
        .decode(claims_b64)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| rejected("claims are not a JSON object of the expected shape"))?;
    let verified = check_claims(policy, claims, &kid, now)?;
    let signature = B64
        .decode(signature_b64)
        .map_err(|_| rejected("undecodable signature"))?;
    if signature.len() != SIGNATURE_BYTES {
        return Err(rejected("signature has the wrong length"));
    }
    let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
    Ok(UnverifiedAccessToken {
        kid,
        algorithm,
        signing_input,
        signature,
        verified,
    })
}

/// jwt-simple's claim validation with the reference's options (no future `iat`/`nbf`, `exp`,
/// issuer and audience required, the policy's leeway), in its timestamp arithmetic; then the
/// claims edgeauth requires.
fn check_claims(
    policy: &TokenPolicy,
    claims: JWTClaims<SessionClaim>,
    kid: &str,
    now: u64,
) -> Result<VerifiedAccessToken, TokenRejection> {
    let rejected = |what: &str| TokenRejection::Rejected(what.to_owned());
    let now = UnixTimeStamp::from_secs(now);
    let tolerance = Duration::from_secs(policy.leeway_secs);
    if claims.issued_at.is_some_and(|iat| iat > now + tolerance) {
        return Err(rejected("issued in the future"));
    }
    if claims
        .invalid_before
        .is_some_and(|nbf| now + tolerance < nbf)
    {
        return Err(rejected("not valid yet"));
    }
    if let Some(exp) = claims.expires_at {
        if now < tolerance || now - tolerance > exp {
            return Err(rejected("expired"));
        }
    }
    if claims.issuer.as_deref() != Some(policy.issuer.as_str()) {
        return Err(rejected("wrong or missing issuer"));
    }
    let audience_ok = claims.audiences.as_ref().is_some_and(|audiences| {
        audiences.contains(&std::collections::HashSet::from([policy.audience.clone()]))
    });
    if !audience_ok {
        return Err(rejected("wrong or missing audience"));
    }
    crate::token::required_claims(claims, kid)
}

/// The public key in the form WebCrypto's `importKey("raw", …)` takes: 32 bytes for Ed25519,
/// the uncompressed SEC1 point (65 bytes) for P-256.
pub fn raw_public_key(key: &VerificationKey) -> &[u8] {
    key.raw()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::test_ring;
    use crate::keys::SigningKeyRing;
    use crate::token::{issue_access_token, verify_access_token, AccessGrant};
    use serde_json::{json, Value};

    const NOW: u64 = 1_800_000_000;

    fn policy() -> TokenPolicy {
        TokenPolicy::new("https://auth.example", "edgeauth")
    }

    /// The split path with a native signature check standing in for WebCrypto.
    fn split_verify(
        keys: &VerificationKeys,
        token: &str,
        now: u64,
    ) -> Result<VerifiedAccessToken, TokenRejection> {
        let unverified = decode_access_token(&policy(), token, now)?;
        let key = unverified.key(keys)?;
        let valid = native_signature_ok(key, unverified.signing_input(), unverified.signature());
        unverified.accept(valid)
    }

    fn native_signature_ok(key: &VerificationKey, message: &[u8], signature: &[u8]) -> bool {
        match key {
            VerificationKey::Ed25519(_) => {
                let pk = ed25519_compact::PublicKey::from_slice(raw_public_key(key)).unwrap();
                ed25519_compact::Signature::from_slice(signature)
                    .is_ok_and(|sig| pk.verify(message, &sig).is_ok())
            }
            VerificationKey::Es256(_) => {
                use p256::ecdsa::signature::Verifier;
                let pk = p256::ecdsa::VerifyingKey::from_sec1_bytes(raw_public_key(key)).unwrap();
                p256::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|sig| pk.verify(message, &sig).is_ok())
            }
        }
    }

    /// Signs arbitrary header and claims JSON with a ring key (for tokens jwt-simple would never
    /// issue but must judge).
    fn sign_raw(ring: &SigningKeyRing, index: usize, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let jwk = ring.keys()[index].to_private_jwk();
        let d = B64.decode(jwk["d"].as_str().unwrap()).unwrap();
        let signature = match jwk["kty"].as_str() {
            Some("OKP") => {
                let x = B64.decode(jwk["x"].as_str().unwrap()).unwrap();
                let sk = ed25519_compact::SecretKey::from_slice(&[d, x].concat()).unwrap();
                sk.sign(&input, None).to_vec()
            }
            _ => {
                use p256::ecdsa::signature::Signer;
                let sk = p256::ecdsa::SigningKey::from_slice(&d).unwrap();
                let sig: p256::ecdsa::Signature = sk.sign(input.as_bytes());
                sig.to_bytes().to_vec()
            }
        };
        format!("{input}.{}", B64.encode(signature))
    }

    /// Asserts both paths reach the same verdict (and the same identity); returns the verdict.
    fn agree(keys: &VerificationKeys, token: &str, now: u64) -> bool {
        let reference = verify_access_token(keys, &policy(), token, now);
        let split = split_verify(keys, token, now);
        let accepted = reference.is_ok();
        assert_eq!(
            reference.is_ok(),
            split.is_ok(),
            "{token}\nreference: {reference:?}\nsplit: {split:?}"
        );
        if let (Ok(a), Ok(b)) = (reference, split) {
            assert_eq!(a, b);
        }
        accepted
    }

    fn good_claims() -> Value {
        json!({"iss": "https://auth.example", "aud": "edgeauth", "sub": "u1", "sid": "s1",
               "jti": "j1", "iat": NOW, "nbf": NOW, "exp": NOW + 900})
    }

    #[test]
    fn issued_tokens_pass_both_ways_with_identical_results() {
        let ring = test_ring();
        let keys = ring.verification_keys().unwrap();
        for key in ring.keys() {
            let grant = AccessGrant {
                user_id: "u1",
                session_id: "s1",
                token_id: "j1",
                now: NOW,
                session_expires_at: u64::MAX,
            };
            let token = issue_access_token(key, &policy(), &grant).unwrap().token;
            for now in [NOW - 31, NOW - 30, NOW, NOW + 929, NOW + 930, NOW + 931] {
                agree(&keys, &token, now);
            }
            assert!(split_verify(&keys, &token, NOW).is_ok());
        }
    }

    #[test]
    fn crafted_headers_and_claims_get_the_reference_verdict() {
        let ring = test_ring();
        let keys = ring.verification_keys().unwrap();
        let base_header = |kid: &str, alg: &str| json!({"alg": alg, "typ": "at+jwt", "kid": kid});
        let mut headers = vec![base_header("ed-1", "EdDSA"), base_header("es-1", "ES256")];
        for extra in [
            json!({"typ": "AT+JWT"}),
            json!({"typ": "At+jwT"}),
            json!({"typ": "at+jwt "}),
            json!({"typ": "ﬅ"}),
            json!({"typ": "ᴀt+jwt"}),
            json!({"typ": "JWT"}),
            json!({"typ": null}),
            json!({"typ": 1}),
            json!({"crit": []}),
            json!({"crit": ["exp"]}),
            json!({"salt": "AAAA"}),
            json!({"salt": "!!"}),
            json!({"jwk": {"kty": "OKP"}}),
            json!({"x5c": "nope"}),
            json!({"kid": null}),
            json!({"kid": "unknown"}),
            json!({"alg": "Ed25519"}),
            json!({"alg": "HS256"}),
            json!({"alg": "none"}),
            json!({"cty": "JWT"}),
            json!({"extra": [1, 2, 3]}),
        ] {
            for index in 0..2 {
                let mut header = headers[index].clone();
                for (k, v) in extra.as_object().unwrap() {
                    header[k] = v.clone();
                }
                headers.push(header);
            }
        }
        let mut claims = vec![good_claims()];
        for change in [
            json!({"aud": ["other", "edgeauth"]}),
            json!({"aud": ["other"]}),
            json!({"aud": []}),
            json!({"aud": 5}),
            json!({"iss": "https://other"}),
            json!({"iss": null}),
            json!({"exp": NOW - 100}),
            json!({"exp": (NOW + 900) as f64 + 0.5}),
            json!({"exp": "soon"}),
            json!({"exp": -1}),
            json!({"exp": null}),
            json!({"exp": u64::MAX}),
            json!({"iat": NOW + 100}),
            json!({"nbf": NOW + 31}),
            json!({"nbf": NOW + 29}),
            json!({"sub": ""}),
            json!({"sub": 7}),
            json!({"sid": ""}),
            json!({"sid": null}),
            json!({"jti": ""}),
            json!({"nonce": "x"}),
            json!({"extra": {"deep": true}}),
        ] {
            let mut c = good_claims();
            for (k, v) in change.as_object().unwrap() {
                c[k] = v.clone();
            }
            claims.push(c);
        }
        let mut without = good_claims();
        for field in ["iss", "aud", "exp", "iat", "nbf", "sub", "sid", "jti"] {
            without.as_object_mut().unwrap().remove(field);
            claims.push(without.clone());
            without = good_claims();
        }
        claims.push(json!(["array", "claims"]));
        let mut accepted = 0;
        let mut total = 0;
        for header in &headers {
            for claim in &claims {
                for index in 0..2 {
                    total += 1;
                    accepted +=
                        usize::from(agree(&keys, &sign_raw(&ring, index, header, claim), NOW));
                }
            }
        }
        // Both verdicts occur: the corpus is neither all-valid nor all-invalid.
        assert!(
            accepted > 20 && accepted < total / 4,
            "{accepted} of {total} accepted"
        );
    }

    #[test]
    fn mangled_bytes_get_the_reference_verdict() {
        let ring = test_ring();
        let keys = ring.verification_keys().unwrap();
        for index in 0..2 {
            let (alg, kid) = [("EdDSA", "ed-1"), ("ES256", "es-1")][index];
            let header = json!({"alg": alg, "typ": "at+jwt", "kid": kid});
            let token = sign_raw(&ring, index, &header, &good_claims());
            agree(&keys, &token, NOW);
            let bytes = token.as_bytes();
            for position in 0..bytes.len() {
                for replacement in [b'A', b'_', b'=', b'.', b'+'] {
                    let mut mangled = bytes.to_vec();
                    mangled[position] = replacement;
                    if let Ok(text) = std::str::from_utf8(&mangled) {
                        agree(&keys, text, NOW);
                    }
                }
            }
            // Truncations, extensions, a second signature, high-S ECDSA.
            for cut in 0..bytes.len() {
                agree(&keys, &token[..cut], NOW);
            }
            agree(&keys, &format!("{token}A"), NOW);
            agree(&keys, &format!("{token}.A"), NOW);
            agree(&keys, &format!("{token}="), NOW);
            let (input, signature) = token.rsplit_once('.').unwrap();
            let mut sig = B64.decode(signature).unwrap();
            sig.reverse();
            agree(&keys, &format!("{input}.{}", B64.encode(&sig)), NOW);
            if index == 1 {
                let high_s = negate_s(&B64.decode(signature).unwrap());
                agree(&keys, &format!("{input}.{}", B64.encode(high_s)), NOW);
            }
        }
    }

    /// ECDSA malleability: (r, s) → (r, n − s) is also a valid signature of the same message.
    fn negate_s(signature: &[u8]) -> Vec<u8> {
        const N: [u8; 32] = [
            0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2,
            0xfc, 0x63, 0x25, 0x51,
        ];
        let s = &signature[32..];
        let mut out = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let mut d = i16::from(N[i]) - i16::from(s[i]) - borrow;
            borrow = i16::from(d < 0);
            if d < 0 {
                d += 256;
            }
            out[i] = d as u8;
        }
        [&signature[..32], &out].concat()
    }

    #[test]
    fn only_ascii_characters_upper_case_into_the_access_token_type() {
        // What makes `eq_ignore_ascii_case` equal to jwt-simple's `to_uppercase()` comparison.
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            let upper: String = c.to_uppercase().collect();
            if !c.is_ascii() {
                assert!(
                    !upper.chars().all(|u| "AT+JW".contains(u)),
                    "{c:?} → {upper}"
                );
            }
        }
    }

    #[test]
    fn rejections_name_their_stage() {
        let ring = test_ring();
        let keys = ring.verification_keys().unwrap();
        let claims = good_claims();
        let unknown = sign_raw(
            &ring,
            0,
            &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "x"}),
            &claims,
        );
        let decoded = decode_access_token(&policy(), &unknown, NOW).unwrap();
        assert_eq!(decoded.key(&keys).err(), Some(TokenRejection::UnknownKey));
        let swapped = sign_raw(
            &ring,
            0,
            &json!({"alg": "ES256", "typ": "at+jwt", "kid": "ed-1"}),
            &claims,
        );
        let decoded = decode_access_token(&policy(), &swapped, NOW).unwrap();
        assert!(matches!(
            decoded.key(&keys),
            Err(TokenRejection::KeyAlgorithmMismatch { .. })
        ));
        let good = sign_raw(
            &ring,
            0,
            &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "ed-1"}),
            &claims,
        );
        let decoded = decode_access_token(&policy(), &good, NOW).unwrap();
        assert_eq!(decoded.kid(), "ed-1");
        assert_eq!(decoded.algorithm(), Algorithm::EdDSA);
        assert_eq!(decoded.signature().len(), 64);
        assert!(decoded.accept(false).is_err());
        assert_eq!(
            decode_access_token(&policy(), &"A".repeat(MAX_TOKEN_BYTES + 1), NOW).err(),
            Some(TokenRejection::Oversized)
        );
        assert_eq!(
            raw_public_key(keys.get("es-1").unwrap()).len(),
            65,
            "P-256 keys are exported uncompressed"
        );
    }
}
