//! The identity assertion the edge attaches to app requests: its keys (the
//! `EDGEAUTH_ASSERTION_KEYS` secret and the public JWKS), the JWT's header and claims, and when
//! an isolate may reuse one it already signed. The signature itself is the runtime's
//! (WebCrypto Ed25519 in the worker). Format: docs/gateway.md.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;

use crate::roles::Roles;

/// The JWT `typ` of assertions.
pub const TYP: &str = "edgeauth-assertion+jwt";
/// Lifetime of an assertion, seconds (`exp - iat`).
pub const LIFETIME_SECS: u64 = 60;
/// An isolate reuses an assertion while at least this much of its lifetime remains, seconds,
/// so apps see at most 30 s old `iat`s and at least 30 s until `exp`.
pub const MIN_REMAINING_SECS: u64 = 30;
/// Most assertions one isolate keeps for reuse.
pub const CACHE_CAPACITY: usize = 1024;

/// The private keys of the `EDGEAUTH_ASSERTION_KEYS` secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AssertionKeys {
    /// Index into `keys` of the signing key.
    current: usize,
    keys: Vec<AssertionKey>,
}

/// One Ed25519 key pair, raw.
#[derive(Clone, PartialEq, Eq)]
pub struct AssertionKey {
    pub kid: String,
    /// The 32-byte private seed, base64url (as in a JWK's `d`).
    pub d: String,
    /// The 32-byte public key, base64url (a JWK's `x`).
    pub x: String,
}

impl std::fmt::Debug for AssertionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        write!(
            f,
            "AssertionKeys {{ current: {}, kids: {kids:?} }}",
            self.current().kid
        )
    }
}

/// The secret's shape, for error messages (which never echo key material).
const SHAPE: &str = "is not {\"current\": kid, \"keys\": [{\"kid\", \"d\", \"x\"}]}";

/// One key of the secret as written. Read through `serde_json::Value` (as the route table is):
/// no derived visitors in the edge's Wasm for a secret parsed once per isolate.
fn raw_key(value: &serde_json::Value) -> Option<AssertionKey> {
    let object = value.as_object()?;
    if object.len() != 3 {
        return None;
    }
    let text = |name: &str| object.get(name)?.as_str().map(str::to_owned);
    Some(AssertionKey {
        kid: text("kid")?,
        d: text("d")?,
        x: text("x")?,
    })
}

impl AssertionKeys {
    /// Parses `{"current": kid, "keys": [{"kid", "d", "x"}, ...]}`; every key is published,
    /// `current` signs. Errors never echo key material.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| format!("{SHAPE} (error at line {} column {})", e.line(), e.column()))?;
        let object = value
            .as_object()
            .filter(|o| o.len() == 2)
            .ok_or_else(|| SHAPE.to_owned())?;
        let current = object
            .get("current")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| SHAPE.to_owned())?;
        let raw_keys = object
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| SHAPE.to_owned())?
            .iter()
            .map(raw_key)
            .collect::<Option<Vec<AssertionKey>>>()
            .ok_or_else(|| SHAPE.to_owned())?;
        let mut keys: Vec<AssertionKey> = Vec::with_capacity(raw_keys.len());
        for key in raw_keys {
            if key.kid.is_empty()
                || key.kid.len() > 64
                || !key
                    .kid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err("has a kid that is not 1-64 of A-Z a-z 0-9 - _".into());
            }
            for (name, value) in [("d", &key.d), ("x", &key.x)] {
                let ok = URL_SAFE_NO_PAD
                    .decode(value)
                    .is_ok_and(|bytes| bytes.len() == 32);
                if !ok {
                    return Err(format!(
                        "key \"{}\": {name} is not 32 bytes of base64url",
                        key.kid
                    ));
                }
            }
            if keys.iter().any(|k| k.kid == key.kid) {
                return Err(format!("key \"{}\" is listed twice", key.kid));
            }
            keys.push(key);
        }
        let current = keys
            .iter()
            .position(|k| k.kid == current)
            .ok_or_else(|| format!("current \"{current}\" is not one of its keys"))?;
        Ok(Self { current, keys })
    }

    /// The secret's text for these keys (for `keys generate`-style tools and tests).
    pub fn to_secret(&self) -> String {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|k| serde_json::json!({"kid": k.kid, "d": k.d, "x": k.x}))
            .collect();
        serde_json::json!({"current": self.current().kid, "keys": keys}).to_string()
    }

    /// Keys from parts; the first signs.
    pub fn new(keys: Vec<AssertionKey>) -> Result<Self, String> {
        let current = keys.first().ok_or("no keys")?.kid.clone();
        let raw = serde_json::json!({
            "current": current,
            "keys": keys.iter().map(|k| serde_json::json!({"kid": k.kid, "d": k.d, "x": k.x})).collect::<Vec<_>>(),
        });
        Self::parse(&raw.to_string())
    }

    pub fn current(&self) -> &AssertionKey {
        &self.keys[self.current]
    }

    /// Every key, in the secret's order.
    pub fn all(&self) -> &[AssertionKey] {
        &self.keys
    }

    /// The public JWKS (`/.well-known/edgeauth/assertion-jwks.json`): the signing key first.
    pub fn public_jwks(&self) -> String {
        let ordered = std::iter::once(self.current()).chain(
            self.keys
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != self.current)
                .map(|(_, k)| k),
        );
        let keys: Vec<serde_json::Value> = ordered
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "x": k.x, "kid": k.kid,
                    "alg": "EdDSA", "use": "sig",
                })
            })
            .collect();
        serde_json::json!({ "keys": keys }).to_string()
    }
}

/// Who an assertion speaks for, and to whom.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub issuer: &'a str,
    /// The upstream's id.
    pub audience: &'a str,
    pub user_id: &'a str,
    pub session_id: &'a str,
    pub roles: &'a Roles,
    /// The user's username (`preferred_username`), when the session records it.
    pub username: Option<&'a str>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    sid: &'a str,
    roles: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    preferred_username: Option<&'a str>,
    iat: u64,
    exp: u64,
}

/// The JWS signing input (`base64url(header).base64url(claims)`) of a new assertion.
pub fn signing_input(kid: &str, subject: &Subject<'_>, now_secs: u64) -> String {
    let header = serde_json::json!({"alg": "EdDSA", "typ": TYP, "kid": kid}).to_string();
    let claims = Claims {
        iss: subject.issuer,
        aud: subject.audience,
        sub: subject.user_id,
        sid: subject.session_id,
        roles: subject.roles.as_slice(),
        preferred_username: subject.username,
        iat: now_secs,
        exp: now_secs + LIFETIME_SECS,
    };
    // Serialising plain strings and numbers cannot fail.
    let claims = serde_json::to_string(&claims).unwrap_or_default();
    let mut input = URL_SAFE_NO_PAD.encode(header);
    input.push('.');
    input.push_str(&URL_SAFE_NO_PAD.encode(claims));
    input
}

/// The compact JWS from its signing input and signature.
pub fn compact(signing_input: &str, signature: &[u8]) -> String {
    let mut token = String::with_capacity(signing_input.len() + 90);
    token.push_str(signing_input);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    token
}

/// An isolate's signed assertions, reused while they are fresh enough (see
/// [`MIN_REMAINING_SECS`]). Keyed by everything in the claims that varies between requests.
///
/// Looked up by session id, then compared field by field: a lookup (once per app request)
/// borrows the subject's fields instead of building an owned key of six strings and hashing
/// them all.
#[derive(Debug, Default)]
pub struct AssertionCache {
    /// By session id; a session has one entry per upstream, roles and key it was seen with.
    entries: HashMap<String, Vec<Entry>>,
    len: usize,
    signed: u64,
}

#[derive(Debug)]
struct Entry {
    kid: String,
    audience: String,
    user_id: String,
    roles: Roles,
    username: Option<String>,
    token: String,
    exp: u64,
}

impl Entry {
    fn is_for(&self, kid: &str, subject: &Subject<'_>) -> bool {
        self.kid == kid
            && self.audience == subject.audience
            && self.user_id == subject.user_id
            && &self.roles == subject.roles
            && self.username.as_deref() == subject.username
    }
}

impl AssertionCache {
    /// A reusable assertion for this subject, if one has at least [`MIN_REMAINING_SECS`] left.
    pub fn get(&self, kid: &str, subject: &Subject<'_>, now_secs: u64) -> Option<&str> {
        let entry = self
            .entries
            .get(subject.session_id)?
            .iter()
            .find(|entry| entry.is_for(kid, subject))?;
        (now_secs + MIN_REMAINING_SECS <= entry.exp && now_secs + LIFETIME_SECS >= entry.exp)
            .then_some(entry.token.as_str())
    }

    /// Remembers an assertion signed at `iat`; when full, drops what can no longer be reused
    /// and, if still full, everything (simple, and bounded).
    pub fn put(&mut self, kid: &str, subject: &Subject<'_>, iat: u64, token: String) {
        self.signed += 1;
        if self.len >= CACHE_CAPACITY {
            self.entries.retain(|_, list| {
                list.retain(|entry| iat + MIN_REMAINING_SECS <= entry.exp);
                !list.is_empty()
            });
            self.len = self.entries.values().map(Vec::len).sum();
            if self.len >= CACHE_CAPACITY {
                self.entries.clear();
                self.len = 0;
            }
        }
        let list = self
            .entries
            .entry(subject.session_id.to_owned())
            .or_default();
        let entry = Entry {
            kid: kid.to_owned(),
            audience: subject.audience.to_owned(),
            user_id: subject.user_id.to_owned(),
            roles: subject.roles.clone(),
            username: subject.username.map(str::to_owned),
            token,
            exp: iat + LIFETIME_SECS,
        };
        match list.iter_mut().find(|old| old.is_for(kid, subject)) {
            Some(old) => *old = entry,
            None => {
                list.push(entry);
                self.len += 1;
            }
        }
    }

    /// How many assertions this isolate has signed (benchmark figure).
    pub fn signed(&self) -> u64 {
        self.signed
    }

    /// How many assertions this isolate keeps.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwt_simple::prelude::*;

    fn keypair(kid: &str) -> (AssertionKey, Ed25519KeyPair) {
        let pair = Ed25519KeyPair::generate().with_key_id(kid);
        let bytes = pair.to_bytes();
        let key = AssertionKey {
            kid: kid.into(),
            d: URL_SAFE_NO_PAD.encode(&bytes[..32]),
            x: URL_SAFE_NO_PAD.encode(&bytes[32..]),
        };
        (key, pair)
    }

    #[test]
    fn keys_parse_publish_and_round_trip() {
        let (a, _) = keypair("a1");
        let (b, _) = keypair("b2");
        let keys = AssertionKeys::new(vec![b.clone(), a.clone()]).unwrap();
        assert_eq!(keys.current().kid, "b2");
        assert_eq!(AssertionKeys::parse(&keys.to_secret()).unwrap(), keys);
        let jwks: serde_json::Value = serde_json::from_str(&keys.public_jwks()).unwrap();
        let published: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(published, ["b2", "a1"]);
        assert_eq!(jwks["keys"][0]["kty"], "OKP");
        assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
        assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
        assert_eq!(jwks["keys"][0]["x"], b.x.as_str());
        assert!(jwks["keys"][0].get("d").is_none(), "never the private part");
        let debug = format!("{keys:?}");
        assert!(!debug.contains(&a.d) && !debug.contains(&b.d));
    }

    #[test]
    fn bad_key_secrets_are_refused_without_echoing_keys() {
        let (a, _) = keypair("a1");
        let with = |current: &str, d: &str| {
            format!(
                r#"{{"current":"{current}","keys":[{{"kid":"a1","d":"{d}","x":"{}"}}]}}"#,
                a.x
            )
        };
        for (text, problem) in [
            ("nope".to_owned(), "is not"),
            (with("zz", &a.d), "current \"zz\""),
            (with("a1", "c2hvcnQ"), "d is not 32 bytes"),
            (
                format!(
                    r#"{{"current":"a 1","keys":[{{"kid":"a 1","d":"{}","x":"{}"}}]}}"#,
                    a.d, a.x
                ),
                "kid",
            ),
        ] {
            let e = AssertionKeys::parse(&text).unwrap_err();
            assert!(e.contains(problem), "{e}");
            assert!(!e.contains(&a.d));
        }
    }

    #[test]
    fn assertions_verify_with_jwt_simple_and_carry_the_claims() {
        let (key, pair) = keypair("k1");
        let roles = Roles::from_field(Some("editor admin"));
        let subject = Subject {
            issuer: "https://edge.example",
            audience: "notes",
            user_id: "u1",
            session_id: "s1",
            roles: &roles,
            username: Some("ada_l"),
        };
        let now = Clock::now_since_epoch().as_secs();
        let input = signing_input(&key.kid, &subject, now);
        let signature = ed25519_compact::KeyPair::from_slice(&pair.to_bytes())
            .unwrap()
            .sk
            .sign(input.as_bytes(), None);
        let token = compact(&input, signature.as_ref());

        let metadata = Token::decode_metadata(&token).unwrap();
        assert_eq!(metadata.signature_type(), Some(TYP));
        assert_eq!(metadata.key_id(), Some("k1"));
        assert_eq!(metadata.algorithm(), "EdDSA");
        let options = VerificationOptions {
            allowed_issuers: Some(HashSet::from_strings(&["https://edge.example"])),
            allowed_audiences: Some(HashSet::from_strings(&["notes"])),
            ..Default::default()
        };
        let claims = pair
            .public_key()
            .verify_token::<serde_json::Value>(&token, Some(options))
            .unwrap();
        assert_eq!(claims.subject.as_deref(), Some("u1"));
        assert_eq!(claims.custom["sid"], "s1");
        assert_eq!(claims.custom["preferred_username"], "ada_l");
        assert_eq!(
            claims.custom["roles"],
            serde_json::json!(["admin", "editor"])
        );
        let (iat, exp) = (
            claims.issued_at.unwrap().as_secs(),
            claims.expires_at.unwrap().as_secs(),
        );
        assert_eq!((iat, exp - iat), (now, LIFETIME_SECS));
        // aud is a plain string, as docs/gateway.md promises.
        let payload = token.split('.').nth(1).unwrap();
        let raw: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(raw["aud"], "notes");

        let other_app = VerificationOptions {
            allowed_audiences: Some(HashSet::from_strings(&["billing"])),
            ..Default::default()
        };
        assert!(pair
            .public_key()
            .verify_token::<serde_json::Value>(&token, Some(other_app))
            .is_err());
    }

    #[test]
    fn the_cache_reuses_for_half_the_lifetime_per_session_upstream_and_roles() {
        let admin = Roles::from_field(Some("admin"));
        let none = Roles::default();
        let subject = |aud, sid, roles| Subject {
            issuer: "i",
            audience: aud,
            user_id: "u",
            session_id: sid,
            roles,
            username: None,
        };
        let mut cache = AssertionCache::default();
        let t0 = 1_000;
        cache.put("k", &subject("notes", "s1", &admin), t0, "A".into());
        assert_eq!(
            cache.get("k", &subject("notes", "s1", &admin), t0),
            Some("A")
        );
        assert_eq!(
            cache.get("k", &subject("notes", "s1", &admin), t0 + 30),
            Some("A")
        );
        assert_eq!(
            cache.get("k", &subject("notes", "s1", &admin), t0 + 31),
            None
        );
        assert_eq!(
            cache.get("k", &subject("notes", "s1", &admin), t0 - 1),
            None,
            "clock went back"
        );
        assert_eq!(
            cache.get("k", &subject("notes", "s1", &none), t0),
            None,
            "roles changed"
        );
        assert_eq!(
            cache.get("k", &subject("other", "s1", &admin), t0),
            None,
            "other upstream"
        );
        assert_eq!(
            cache.get("k", &subject("notes", "s2", &admin), t0),
            None,
            "other session"
        );
        assert_eq!(
            cache.get("k2", &subject("notes", "s1", &admin), t0),
            None,
            "other key"
        );
        assert_eq!(cache.signed(), 1);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let roles = Roles::default();
        let mut cache = AssertionCache::default();
        let ids: Vec<String> = (0..CACHE_CAPACITY * 2 + 5)
            .map(|i| format!("s{i}"))
            .collect();
        for id in &ids {
            let subject = Subject {
                issuer: "i",
                audience: "a",
                user_id: "u",
                session_id: id,
                roles: &roles,
                username: None,
            };
            cache.put("k", &subject, 1_000, id.clone());
        }
        assert!(cache.len() <= CACHE_CAPACITY);
        assert_eq!(
            cache.len(),
            cache.entries.values().map(Vec::len).sum::<usize>()
        );
        let last = ids.last().unwrap();
        let subject = Subject {
            issuer: "i",
            audience: "a",
            user_id: "u",
            session_id: last,
            roles: &roles,
            username: None,
        };
        assert_eq!(cache.get("k", &subject, 1_000), Some(last.as_str()));
    }
}
