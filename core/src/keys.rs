//! Signing and verification keys: private key rings (origin only), public key sets (edge), JWKS.
//!
//! One key type per algorithm (from jwt-simple), so a key can only ever be used with its own
//! algorithm; the algorithm is derived from the key material, never from a token header.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_simple::prelude::{ES256KeyPair, Ed25519KeyPair};
#[cfg(not(target_arch = "wasm32"))]
use jwt_simple::prelude::{ES256PublicKey, Ed25519PublicKey};
use serde_json::{json, Map, Value};

/// The signature algorithms edgeauth supports. `alg` names as in RFC 7518 / RFC 8037.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    EdDSA,
    ES256,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "EdDSA" => Some(Self::EdDSA),
            "ES256" => Some(Self::ES256),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("the key set is empty")]
    Empty,
    #[error("key #{index}: missing \"kid\"")]
    MissingKid { index: usize },
    #[error("key \"{kid}\": {reason}")]
    Invalid { kid: String, reason: String },
    #[error("key id \"{0}\" appears twice")]
    DuplicateKid(String),
    #[error("signing failed: {0}")]
    Signing(String),
    #[error("no key with id \"{0}\" in the set")]
    UnknownKid(String),
    #[error("key \"{0}\" is the signing key; rotate in a new key before retiring it")]
    RetiringSigner(String),
    #[error(
        "this is a public key set; signing needs the private keys (`edgeauth-origin keys \
         generate` prints both: the private set for EDGEAUTH_SIGNING_KEYS, the public JWKS for \
         the edge)"
    )]
    PublicKeySet,
}

/// A private signing key with its key id.
pub struct SigningKey {
    kid: String,
    material: SigningMaterial,
}

enum SigningMaterial {
    Ed25519(Ed25519KeyPair),
    Es256(ES256KeyPair),
}

impl SigningKey {
    /// Wraps a freshly generated Ed25519 key pair (generation itself is the caller's I/O).
    pub fn ed25519(kid: &str, pair: Ed25519KeyPair) -> Self {
        Self {
            kid: kid.to_owned(),
            material: SigningMaterial::Ed25519(pair.with_key_id(kid)),
        }
    }

    /// Wraps a freshly generated P-256 key pair.
    pub fn es256(kid: &str, pair: ES256KeyPair) -> Self {
        Self {
            kid: kid.to_owned(),
            material: SigningMaterial::Es256(pair.with_key_id(kid)),
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.material {
            SigningMaterial::Ed25519(_) => Algorithm::EdDSA,
            SigningMaterial::Es256(_) => Algorithm::ES256,
        }
    }

    /// The private JWK (contains the secret `d`; never publish it).
    pub fn to_private_jwk(&self) -> Value {
        let raw = match &self.material {
            SigningMaterial::Ed25519(k) => k.to_jwk(),
            SigningMaterial::Es256(k) => k.to_jwk(),
        };
        decorate(&raw, &self.kid, self.algorithm())
    }

    /// The public JWK (`kid`, `alg`, `use: sig`).
    pub fn to_public_jwk(&self) -> Value {
        let raw = match &self.material {
            SigningMaterial::Ed25519(k) => k.public_key().to_jwk(),
            SigningMaterial::Es256(k) => k.public_key().to_jwk(),
        };
        decorate(&raw, &self.kid, self.algorithm())
    }

    pub(crate) fn sign<C: serde::Serialize>(
        &self,
        claims: jwt_simple::claims::JWTClaims<C>,
        options: &jwt_simple::common::HeaderOptions,
    ) -> Result<String, KeyError> {
        use jwt_simple::prelude::{ECDSAP256KeyPairLike, EdDSAKeyPairLike};
        let signed = match &self.material {
            SigningMaterial::Ed25519(k) => k.sign_with_options(claims, options),
            SigningMaterial::Es256(k) => k.sign_with_options(claims, options),
        };
        signed.map_err(|e| KeyError::Signing(e.to_string()))
    }

    fn from_private_jwk(index: usize, jwk: &Value) -> Result<Self, KeyError> {
        let kid = kid_of(index, jwk)?;
        if jwk.get("d").is_none() {
            return Err(KeyError::Invalid {
                kid,
                reason: "is a public key (no \"d\"); signing needs the private key".into(),
            });
        }
        let text = jwk.to_string();
        let invalid = |e: jwt_simple::Error| KeyError::Invalid {
            kid: kid.clone(),
            reason: e.to_string(),
        };
        let material = match algorithm_of(&kid, jwk)? {
            Algorithm::EdDSA => SigningMaterial::Ed25519(
                Ed25519KeyPair::from_jwk(&text)
                    .map_err(invalid)?
                    .with_key_id(&kid),
            ),
            Algorithm::ES256 => SigningMaterial::Es256(
                ES256KeyPair::from_jwk(&text)
                    .map_err(invalid)?
                    .with_key_id(&kid),
            ),
        };
        Ok(Self { kid, material })
    }
}

/// The origin's private keys. The first key signs; every key is published for verification,
/// so rotating in a new signer never invalidates tokens signed by an older one.
pub struct SigningKeyRing {
    keys: Vec<SigningKey>,
}

impl SigningKeyRing {
    pub fn new(keys: Vec<SigningKey>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        ensure_unique(keys.iter().map(SigningKey::kid))?;
        Ok(Self { keys })
    }

    /// Parses a private JWK set: `{"keys": [...]}` or a bare array of private JWKs.
    pub fn from_json(text: &str) -> Result<Self, KeyError> {
        let jwks = jwk_array(text)?;
        // The usual mix-up: the published JWKS pasted where the private set belongs.
        if jwks.iter().all(|jwk| jwk.get("d").is_none()) {
            return Err(KeyError::PublicKeySet);
        }
        let keys = jwks
            .iter()
            .enumerate()
            .map(|(i, jwk)| SigningKey::from_private_jwk(i, jwk))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    pub fn active(&self) -> &SigningKey {
        &self.keys[0]
    }

    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// `{"keys": [...]}` with the private parts, for storing the ring.
    pub fn to_private_json(&self) -> String {
        json!({ "keys": self.keys.iter().map(SigningKey::to_private_jwk).collect::<Vec<_>>() })
            .to_string()
    }

    /// The public JWKS served at `/.well-known/jwks.json`.
    pub fn public_jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().map(SigningKey::to_public_jwk).collect::<Vec<_>>() })
    }

    /// The public verification keys matching this ring.
    pub fn verification_keys(&self) -> Result<VerificationKeys, KeyError> {
        VerificationKeys::from_json(&self.public_jwks().to_string())
    }

    /// Rotation: `key` signs from now on; every current key stays published, so tokens they
    /// signed keep verifying until they expire.
    pub fn rotated(mut self, key: SigningKey) -> Result<Self, KeyError> {
        self.keys.insert(0, key);
        Self::new(self.keys)
    }

    /// Staged rotation, first half: `key` is published (last) but does not sign yet. Once every
    /// origin copy and edge knows it, [`promoted`](Self::promoted) makes it the signer.
    pub fn staged(mut self, key: SigningKey) -> Result<Self, KeyError> {
        self.keys.push(key);
        Self::new(self.keys)
    }

    /// Makes the key `kid` the signer; the others keep their order behind it.
    pub fn promoted(mut self, kid: &str) -> Result<Self, KeyError> {
        let index = self.index_of(kid)?;
        let key = self.keys.remove(index);
        self.keys.insert(0, key);
        Ok(self)
    }

    /// Drops the key `kid` from the set (it is no longer published). Only safe once every
    /// token it signed has expired: access-token lifetime + the edge's leeway after it stopped
    /// signing. The signing key cannot be retired.
    pub fn retired(mut self, kid: &str) -> Result<Self, KeyError> {
        match self.index_of(kid)? {
            0 => Err(KeyError::RetiringSigner(kid.to_owned())),
            index => {
                self.keys.remove(index);
                Ok(self)
            }
        }
    }

    /// Keeps the signing key and the `count - 1` keys after it (the most recently retired
    /// signers, when every rotation used [`rotated`](Self::rotated)). `count` is at least 1.
    pub fn keeping(mut self, count: usize) -> Self {
        self.keys.truncate(count.max(1));
        self
    }

    fn index_of(&self, kid: &str) -> Result<usize, KeyError> {
        self.keys
            .iter()
            .position(|k| k.kid() == kid)
            .ok_or_else(|| KeyError::UnknownKid(kid.to_owned()))
    }
}

/// A public key usable for exactly one algorithm, as raw bytes: the form WebCrypto's
/// `importKey("raw", …)` takes, so the edge's Wasm needs none of jwt-simple's key types (and
/// their point arithmetic and error formatting) to hold it. The reference verifier
/// ([`verify_access_token`](crate::token::verify_access_token)) builds jwt-simple's key from
/// these bytes.
#[derive(Clone, PartialEq, Eq)]
pub enum VerificationKey {
    /// The 32-byte Ed25519 public key.
    Ed25519([u8; 32]),
    /// The uncompressed SEC1 point `04 ‖ x ‖ y` (65 bytes).
    Es256([u8; 65]),
}

impl VerificationKey {
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Ed25519(_) => Algorithm::EdDSA,
            Self::Es256(_) => Algorithm::ES256,
        }
    }

    /// The raw public key: 32 bytes for Ed25519, the uncompressed SEC1 point (65 bytes) for
    /// P-256.
    pub fn raw(&self) -> &[u8] {
        match self {
            Self::Ed25519(raw) => raw,
            Self::Es256(raw) => raw,
        }
    }
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerificationKey({})", self.algorithm().as_str())
    }
}

/// Whether the key is a usable point: Ed25519's canonical encoding of a point that is not of
/// small order, P-256's point on the curve (jwt-simple's checks, natively). The edge's Wasm
/// leaves the point to the runtime: WebCrypto's `importKey` refuses a P-256 point off the curve
/// (`runtime::jwks` imports a fetched set before trusting it) and `verify` refuses an Ed25519
/// key that is no point; lengths and encodings are checked on both.
#[cfg(not(target_arch = "wasm32"))]
fn check_point(key: &VerificationKey) -> Result<(), String> {
    match key {
        VerificationKey::Ed25519(raw) => Ed25519PublicKey::from_bytes(raw)
            .map(drop)
            .map_err(|_| "x is not an Ed25519 public key".into()),
        VerificationKey::Es256(raw) => ES256PublicKey::from_bytes(raw)
            .map(drop)
            .map_err(|_| "x and y are not a point on P-256".into()),
    }
}

#[cfg(target_arch = "wasm32")]
fn check_point(_key: &VerificationKey) -> Result<(), String> {
    Ok(())
}

/// Public keys by `kid`, as configured at the edge or published by the origin.
#[derive(Default, Clone)]
pub struct VerificationKeys {
    by_kid: HashMap<String, VerificationKey>,
}

impl VerificationKeys {
    /// Parses a public JWKS (`{"keys": [...]}` or a bare array). Private parts are refused,
    /// so a private key pasted into the edge's configuration fails loudly.
    pub fn from_json(text: &str) -> Result<Self, KeyError> {
        let mut by_kid = HashMap::new();
        for (index, jwk) in jwk_array(text)?.iter().enumerate() {
            let kid = kid_of(index, jwk)?;
            if jwk.get("d").is_some() {
                return Err(KeyError::Invalid {
                    kid,
                    reason: "contains a private key (\"d\"); the edge must only hold public keys"
                        .into(),
                });
            }
            let invalid = |reason: String| KeyError::Invalid {
                kid: kid.clone(),
                reason,
            };
            // The coordinates are decoded here rather than through jwt-simple's JWK parser:
            // `algorithm_of` has already checked `kty`, `crv` and `alg`, and the edge's Wasm then
            // carries no JWK parser and no key type of jwt-simple's.
            let key = match algorithm_of(&kid, jwk)? {
                Algorithm::EdDSA => {
                    VerificationKey::Ed25519(coordinate(jwk, "x").map_err(&invalid)?)
                }
                Algorithm::ES256 => {
                    let mut point = [0x04; 65];
                    point[1..33].copy_from_slice(&coordinate(jwk, "x").map_err(&invalid)?);
                    point[33..].copy_from_slice(&coordinate(jwk, "y").map_err(&invalid)?);
                    VerificationKey::Es256(point)
                }
            };
            check_point(&key).map_err(&invalid)?;
            if by_kid.insert(kid.clone(), key).is_some() {
                return Err(KeyError::DuplicateKid(kid));
            }
        }
        if by_kid.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self { by_kid })
    }

    pub fn get(&self, kid: &str) -> Option<&VerificationKey> {
        self.by_kid.get(kid)
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// Every key of `self` and `other`; where both have a `kid`, `self`'s key wins (the edge's
    /// pinned configuration beats a fetched set).
    pub fn merged(&self, other: &Self) -> Self {
        let mut by_kid = other.by_kid.clone();
        by_kid.extend(
            self.by_kid
                .iter()
                .map(|(kid, key)| (kid.clone(), key.clone())),
        );
        Self { by_kid }
    }

    /// The keys of `self` whose `kid` `other` also has (with `self`'s material).
    pub fn shared_with(&self, other: &Self) -> Self {
        let by_kid = self
            .by_kid
            .iter()
            .filter(|(kid, _)| other.contains(kid))
            .map(|(kid, key)| (kid.clone(), key.clone()))
            .collect();
        Self { by_kid }
    }

    pub fn len(&self) -> usize {
        self.by_kid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty()
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.by_kid.keys().map(String::as_str)
    }
}

fn jwk_array(text: &str) -> Result<Vec<Value>, KeyError> {
    let value: Value = serde_json::from_str(text).map_err(|e| KeyError::Json(e.to_string()))?;
    let keys = match value {
        Value::Array(keys) => keys,
        Value::Object(mut set) => match set.remove("keys") {
            Some(Value::Array(keys)) => keys,
            _ => return Err(KeyError::Json("expected {\"keys\": [...]}".into())),
        },
        _ => return Err(KeyError::Json("expected a JWK set".into())),
    };
    if keys.is_empty() {
        return Err(KeyError::Empty);
    }
    Ok(keys)
}

/// A 32-byte JWK coordinate (`x`, `y`), base64url without padding.
fn coordinate(jwk: &Value, name: &str) -> Result<[u8; 32], String> {
    jwk.get(name)
        .and_then(Value::as_str)
        .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| format!("\"{name}\" is not 32 bytes of base64url"))
}

fn kid_of(index: usize, jwk: &Value) -> Result<String, KeyError> {
    match jwk.get("kid").and_then(Value::as_str) {
        Some(kid) if !kid.is_empty() => Ok(kid.to_owned()),
        _ => Err(KeyError::MissingKid { index }),
    }
}

/// The algorithm implied by the key material (`kty`/`crv`); a conflicting `alg` is an error.
fn algorithm_of(kid: &str, jwk: &Value) -> Result<Algorithm, KeyError> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    let implied = match (field("kty"), field("crv")) {
        (Some("OKP"), Some("Ed25519")) => Algorithm::EdDSA,
        (Some("EC"), Some("P-256")) => Algorithm::ES256,
        (kty, crv) => {
            return Err(KeyError::Invalid {
                kid: kid.to_owned(),
                reason: format!(
                "unsupported key type {kty:?}/{crv:?}; use OKP/Ed25519 (EdDSA) or EC/P-256 (ES256)"
            ),
            })
        }
    };
    match field("alg") {
        None => Ok(implied),
        Some(alg)
            if alg == implied.as_str() || (alg == "Ed25519" && implied == Algorithm::EdDSA) =>
        {
            Ok(implied)
        }
        Some(alg) => Err(KeyError::Invalid {
            kid: kid.to_owned(),
            reason: format!("\"alg\" {alg} does not match the key type"),
        }),
    }
}

fn decorate(raw_jwk: &str, kid: &str, alg: Algorithm) -> Value {
    let mut map: Map<String, Value> = serde_json::from_str(raw_jwk).unwrap_or_default();
    map.insert("kid".into(), kid.into());
    map.insert("alg".into(), alg.as_str().into());
    map.insert("use".into(), "sig".into());
    Value::Object(map)
}

fn ensure_unique<'a>(kids: impl Iterator<Item = &'a str>) -> Result<(), KeyError> {
    let mut seen = std::collections::HashSet::new();
    for kid in kids {
        if !seen.insert(kid) {
            return Err(KeyError::DuplicateKid(kid.to_owned()));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn test_ring() -> SigningKeyRing {
        SigningKeyRing::new(vec![
            SigningKey::ed25519("ed-1", Ed25519KeyPair::generate()),
            SigningKey::es256("es-1", ES256KeyPair::generate()),
        ])
        .unwrap()
    }

    #[test]
    fn private_ring_round_trips_and_publishes_only_public_parts() {
        let ring = test_ring();
        let again = SigningKeyRing::from_json(&ring.to_private_json()).unwrap();
        assert_eq!(again.active().kid(), "ed-1");
        assert_eq!(again.keys()[1].algorithm(), Algorithm::ES256);
        let jwks = ring.public_jwks();
        assert!(!jwks.to_string().contains("\"d\""));
        assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
        assert_eq!(jwks["keys"][1]["kid"], "es-1");
        let public = ring.verification_keys().unwrap();
        assert_eq!(public.len(), 2);
        assert_eq!(public.get("es-1").unwrap().algorithm(), Algorithm::ES256);
    }

    #[test]
    fn edge_refuses_private_keys_and_junk() {
        let ring = test_ring();
        let err = VerificationKeys::from_json(&ring.to_private_json())
            .err()
            .unwrap();
        assert!(matches!(err, KeyError::Invalid { .. }), "{err}");
        assert!(matches!(
            VerificationKeys::from_json("nope"),
            Err(KeyError::Json(_))
        ));
        assert_eq!(
            VerificationKeys::from_json("[]").err(),
            Some(KeyError::Empty)
        );
        let no_kid =
            r#"[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]"#;
        assert_eq!(
            VerificationKeys::from_json(no_kid).err(),
            Some(KeyError::MissingKid { index: 0 })
        );
        let hs = r#"[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]"#;
        assert!(matches!(
            VerificationKeys::from_json(hs),
            Err(KeyError::Invalid { .. })
        ));
    }

    #[test]
    fn keys_are_raw_bytes_and_bad_points_are_refused() {
        let ring = test_ring();
        let keys = ring.verification_keys().unwrap();
        assert_eq!(keys.get("ed-1").unwrap().raw().len(), 32);
        let es = keys.get("es-1").unwrap().raw();
        assert_eq!((es.len(), es[0]), (65, 0x04), "uncompressed SEC1");
        assert_eq!(
            format!("{:?}", keys.get("es-1").unwrap()),
            "VerificationKey(ES256)"
        );
        let refused = |jwk: Value| {
            let text = json!({ "keys": [jwk] }).to_string();
            match VerificationKeys::from_json(&text) {
                Err(KeyError::Invalid { reason, .. }) => reason,
                other => panic!("accepted: {:?}", other.map(|k| k.len())),
            }
        };
        // A P-256 point moved off the curve.
        let mut off_curve = ring.keys()[1].to_public_jwk();
        let mut y = URL_SAFE_NO_PAD
            .decode(off_curve["y"].as_str().unwrap())
            .unwrap();
        y[31] ^= 1;
        off_curve["y"] = URL_SAFE_NO_PAD.encode(&y).into();
        assert!(refused(off_curve).contains("P-256"));
        // The Ed25519 identity point (small order).
        let mut weak = ring.keys()[0].to_public_jwk();
        let mut identity = [0u8; 32];
        identity[0] = 1;
        weak["x"] = URL_SAFE_NO_PAD.encode(identity).into();
        assert!(refused(weak).contains("Ed25519"));
        // Wrong lengths.
        let mut short = ring.keys()[0].to_public_jwk();
        short["x"] = URL_SAFE_NO_PAD.encode([7u8; 31]).into();
        assert!(refused(short).contains("32 bytes"));
    }

    #[test]
    fn a_public_set_is_not_taken_for_signing_keys() {
        let ring = test_ring();
        let public = ring.public_jwks().to_string();
        let err = SigningKeyRing::from_json(&public).err().unwrap();
        assert_eq!(err, KeyError::PublicKeySet);
        assert!(
            err.to_string()
                .starts_with("this is a public key set; signing needs the private keys"),
            "{err}"
        );
        // One public key among private ones is named.
        let mut mixed: Value = serde_json::from_str(&ring.to_private_json()).unwrap();
        mixed["keys"][1] = ring.keys()[1].to_public_jwk();
        match SigningKeyRing::from_json(&mixed.to_string()) {
            Err(KeyError::Invalid { kid, reason }) => {
                assert_eq!(kid, "es-1");
                assert!(reason.contains("public key"), "{reason}");
            }
            other => panic!("{:?}", other.err()),
        }
    }

    #[test]
    fn mismatched_alg_is_refused() {
        let ring = test_ring();
        let mut jwk = ring.keys()[0].to_public_jwk();
        jwk["alg"] = "ES256".into();
        let text = json!({ "keys": [jwk] }).to_string();
        assert!(matches!(
            VerificationKeys::from_json(&text),
            Err(KeyError::Invalid { .. })
        ));
    }

    fn kids(ring: &SigningKeyRing) -> Vec<&str> {
        ring.keys().iter().map(SigningKey::kid).collect()
    }

    #[test]
    fn rotation_puts_the_new_key_first_and_keeps_the_old_ones() {
        let ring = test_ring()
            .rotated(SigningKey::ed25519("ed-2", Ed25519KeyPair::generate()))
            .unwrap();
        assert_eq!(kids(&ring), ["ed-2", "ed-1", "es-1"]);
        assert_eq!(ring.active().kid(), "ed-2");
        let again = SigningKeyRing::from_json(&ring.to_private_json()).unwrap();
        assert_eq!(kids(&again), ["ed-2", "ed-1", "es-1"]);
        let dup = again.rotated(SigningKey::ed25519("ed-1", Ed25519KeyPair::generate()));
        assert!(matches!(dup, Err(KeyError::DuplicateKid(_))));
    }

    #[test]
    fn staging_publishes_without_signing_until_promoted() {
        let ring = test_ring()
            .staged(SigningKey::ed25519("next", Ed25519KeyPair::generate()))
            .unwrap();
        assert_eq!(kids(&ring), ["ed-1", "es-1", "next"]);
        assert!(ring.verification_keys().unwrap().contains("next"));
        let ring = ring.promoted("next").unwrap();
        assert_eq!(kids(&ring), ["next", "ed-1", "es-1"]);
        assert_eq!(
            ring.promoted("nope").err(),
            Some(KeyError::UnknownKid("nope".into()))
        );
    }

    #[test]
    fn retiring_drops_old_keys_but_never_the_signer() {
        let ring = test_ring()
            .rotated(SigningKey::ed25519("ed-2", Ed25519KeyPair::generate()))
            .unwrap();
        let ring = ring.retired("es-1").unwrap();
        assert_eq!(kids(&ring), ["ed-2", "ed-1"]);
        assert_eq!(
            ring.retired("ed-2").err(),
            Some(KeyError::RetiringSigner("ed-2".into()))
        );
        let ring = test_ring()
            .rotated(SigningKey::ed25519("ed-2", Ed25519KeyPair::generate()))
            .unwrap();
        assert_eq!(kids(&ring.keeping(2)), ["ed-2", "ed-1"]);
        assert_eq!(kids(&test_ring().keeping(0)), ["ed-1"]);
        assert!(matches!(
            test_ring().retired("missing"),
            Err(KeyError::UnknownKid(_))
        ));
    }

    #[test]
    fn merged_sets_prefer_their_own_keys() {
        let pinned = test_ring().verification_keys().unwrap();
        let fetched = SigningKeyRing::new(vec![
            SigningKey::ed25519("ed-1", Ed25519KeyPair::generate()),
            SigningKey::ed25519("ed-9", Ed25519KeyPair::generate()),
        ])
        .unwrap()
        .verification_keys()
        .unwrap();
        let both = pinned.merged(&fetched);
        assert_eq!(both.len(), 3);
        assert_eq!(
            both.get("ed-1").unwrap().raw(),
            pinned.get("ed-1").unwrap().raw()
        );
        assert!(both.contains("ed-9") && both.contains("es-1"));
        let shared = pinned.shared_with(&fetched);
        assert_eq!(shared.kids().collect::<Vec<_>>(), ["ed-1"]);
        assert_eq!(
            shared.get("ed-1").unwrap().raw(),
            pinned.get("ed-1").unwrap().raw()
        );
    }

    #[test]
    fn duplicate_kids_are_refused() {
        let ring = SigningKeyRing::new(vec![
            SigningKey::ed25519("a", Ed25519KeyPair::generate()),
            SigningKey::ed25519("a", Ed25519KeyPair::generate()),
        ]);
        assert!(matches!(ring, Err(KeyError::DuplicateKid(_))));
    }
}
