//! Opaque refresh tokens and the hash chain that makes rotation, grace and reuse detection work
//! without Redis ever holding anything a token can be rebuilt from.
//!
//! A token is `rt1.<session id>.<generation>.<secret>`. Generation 0's secret is 32 bytes from
//! the OS CSPRNG; each successor's secret is `HMAC-SHA256(refresh key, sid ‖ gen ‖ secret)` —
//! an HMAC-DRBG step keyed by a secret that only the origin holds. Redis stores only
//! `SHA-256(token)` of the newest generation, so:
//! - racing tabs that present generation *n* after it was rotated can be handed generation
//!   *n + 1* again (the origin recomputes it; nothing is stored) inside the grace window;
//! - presenting any older generation is *provably* a reuse (its forward chain reaches the
//!   stored hash), so the session can be revoked without trusting the caller, while a random
//!   forgery for a known session id is merely invalid and revokes nothing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::Mac;
use sha2::{Digest, Sha256};

use crate::edge_signature::hex;
use crate::secret::Secret;

const PREFIX: &str = "rt1";
pub const SECRET_BYTES: usize = 32;
/// Highest generation a token may name. A session rotated once a second for its whole 30-day
/// lifetime reaches 2.6 million; anything above this is malformed (and stays far below the 2^53
/// up to which Lua, which compares generations in Redis, counts exactly).
pub const MAX_GENERATION: u64 = u32::MAX as u64;
/// Longest ancestry walked when proving reuse or a logout's token: 10,000 HMAC steps, about
/// 10 ms of CPU. Refreshing at the access-token lifetime (15 min) for 30 days is 2,880
/// generations; an older token is treated as invalid (nothing revoked) rather than walked.
pub const MAX_CHAIN_WALK: u64 = 10_000;

/// A raw refresh token as given to (and received from) the client. Never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    session_id: String,
    generation: u64,
    secret: [u8; SECRET_BYTES],
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RefreshToken({}, gen {}, ..)",
            self.session_id, self.generation
        )
    }
}

/// `SHA-256` of a refresh token, hex: the only form that is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenHash(pub String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed refresh token")]
pub struct MalformedRefreshToken;

impl RefreshToken {
    /// The first token of a session, from 32 bytes of CSPRNG output.
    pub fn first(session_id: &str, random: [u8; SECRET_BYTES]) -> Self {
        Self {
            session_id: session_id.to_owned(),
            generation: 0,
            secret: random,
        }
    }

    pub fn parse(text: &str) -> Result<Self, MalformedRefreshToken> {
        if text.len() > 256 {
            return Err(MalformedRefreshToken);
        }
        let Some([PREFIX, sid, generation, secret]) = split_exact(text, '.') else {
            return Err(MalformedRefreshToken);
        };
        let valid_sid = !sid.is_empty()
            && sid.len() <= 64
            && sid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        // Digits only, no sign or leading zero: a token has one spelling, the one it was issued
        // with (and hashed as); and no generation beyond the bound.
        let generation: u64 = generation
            .parse()
            .ok()
            .filter(|g: &u64| g.to_string() == generation && *g <= MAX_GENERATION)
            .ok_or(MalformedRefreshToken)?;
        let secret: [u8; SECRET_BYTES] = B64
            .decode(secret)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(MalformedRefreshToken)?;
        if !valid_sid {
            return Err(MalformedRefreshToken);
        }
        Ok(Self {
            session_id: sid.to_owned(),
            generation,
            secret,
        })
    }

    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn hash(&self) -> RefreshTokenHash {
        RefreshTokenHash(hex(&Sha256::digest(self.to_string().as_bytes())))
    }

    /// The next generation of this token; `None` past [`MAX_GENERATION`] (the session must
    /// sign in again).
    pub fn successor(&self, key: &Secret) -> Option<Self> {
        let generation = self
            .generation
            .checked_add(1)
            .filter(|g| *g <= MAX_GENERATION)?;
        let mut mac = key.mac();
        mac.update(self.session_id.as_bytes());
        mac.update(&generation.to_be_bytes());
        mac.update(&self.secret);
        Some(Self {
            session_id: self.session_id.clone(),
            generation,
            secret: mac.finalize().into_bytes().into(),
        })
    }

    /// Whether this token is an ancestor of the session's current token (generation
    /// `current_generation`, stored hash `current`): proof that it was issued and rotated.
    /// Walks at most [`MAX_CHAIN_WALK`] generations (up to ~10 ms of CPU: call it off async
    /// threads); anything farther back is not proven.
    pub fn is_ancestor_of(
        &self,
        key: &Secret,
        current_generation: u64,
        current: &RefreshTokenHash,
    ) -> bool {
        if current_generation <= self.generation
            || current_generation - self.generation > MAX_CHAIN_WALK
        {
            return false;
        }
        let mut token = self.clone();
        while token.generation < current_generation {
            match token.successor(key) {
                Some(next) => token = next,
                None => return false,
            }
        }
        token.hash() == *current
    }
}

/// `text` split at `separator` into exactly `N` parts, or `None`.
pub(crate) fn split_exact<const N: usize>(text: &str, separator: char) -> Option<[&str; N]> {
    let parts: Vec<&str> = text.splitn(N + 1, separator).collect();
    parts.try_into().ok()
}

/// The JSON body of `POST /api/refresh` and `POST /api/logout`. The edge (deciding whether the
/// cookie authenticates a request, for CSRF) and the origin (choosing the token) both read it with
/// [`RefreshBody::parse`] and [`RefreshBody::token`], so they always agree on whether the body
/// presents a token.
#[derive(Debug, Default)]
pub struct RefreshBody {
    refresh_token: Option<String>,
}

impl RefreshBody {
    /// An empty (or all-whitespace) body and `null` are the default: no token in the body.
    /// Anything else must be a JSON object (serde would also take an array for a struct).
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        use serde::de::Error;
        use serde_json::Value;
        // By hand rather than a derived `Deserialize`: the same rules (an object, no other
        // field, a string or null token) at a fraction of the edge's Wasm.
        let mut object = match serde_json::from_slice::<Value>(body)? {
            Value::Null => return Ok(Self::default()),
            Value::Object(object) => object,
            _ => {
                return Err(Error::custom(
                    "expected an object with an optional `refresh_token`",
                ))
            }
        };
        let refresh_token = match object.remove("refresh_token") {
            None | Some(Value::Null) => None,
            Some(Value::String(token)) => Some(token),
            Some(_) => return Err(Error::custom("`refresh_token` must be a string")),
        };
        if let Some(field) = object.keys().next() {
            return Err(Error::custom(format!(
                "unknown field `{field}`, expected `refresh_token`"
            )));
        }
        Ok(Self { refresh_token })
    }

    /// The token the body presents. A missing, `null`, empty or all-whitespace `refresh_token`
    /// presents none: the cookie is used, and the request is cookie-authenticated.
    pub fn token(&self) -> Option<&str> {
        self.refresh_token
            .as_deref()
            .filter(|t| !t.trim().is_empty())
    }
}

impl std::fmt::Display for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{PREFIX}.{}.{}.{}",
            self.session_id,
            self.generation,
            B64.encode(self.secret)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Secret {
        Secret::from_bytes(vec![b; 32]).unwrap()
    }

    #[test]
    fn round_trips_and_rejects_junk() {
        let t = RefreshToken::first("sess_1", [3; 32]);
        let text = t.to_string();
        assert!(text.starts_with("rt1.sess_1.0."));
        assert_eq!(RefreshToken::parse(&text).unwrap(), t);
        for bad in [
            "",
            "rt1",
            "rt1.s.0",
            "rt2.s.0.AAAA",
            "rt1.s.x.AAAA",
            "rt1.s.0.AAAA",
            "rt1..0.AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM",
            "rt1.s/1.0.AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM",
            &format!("{text}.x"),
        ] {
            assert!(RefreshToken::parse(bad).is_err(), "{bad}");
        }
        // Other spellings of the same generation are not the token that was issued.
        for spelling in ["+0", "00", "-0"] {
            let other = text.replacen(".0.", &format!(".{spelling}."), 1);
            assert!(RefreshToken::parse(&other).is_err(), "{other}");
        }
    }

    #[test]
    fn successors_are_deterministic_per_key_and_distinct() {
        let t = RefreshToken::first("s", [1; 32]);
        let a = t.successor(&key(1)).unwrap();
        assert_eq!(Some(&a), t.successor(&key(1)).as_ref());
        assert_ne!(Some(&a), t.successor(&key(2)).as_ref());
        assert_eq!(a.generation(), 1);
        assert_ne!(a.hash(), t.hash());
        assert_ne!(a.successor(&key(1)).as_ref(), Some(&a));
    }

    #[test]
    fn generations_are_bounded_and_never_overflow() {
        let secret = B64.encode([3u8; 32]);
        let at = |g: &str| RefreshToken::parse(&format!("rt1.s.{g}.{secret}"));
        assert!(at(&MAX_GENERATION.to_string()).is_ok());
        for too_big in [
            (MAX_GENERATION + 1).to_string(),
            u64::MAX.to_string(),
            "18446744073709551616".to_owned(),
            "-1".to_owned(),
            "+1".to_owned(),
            "01".to_owned(),
            String::new(),
        ] {
            assert!(at(&too_big).is_err(), "{too_big}");
        }
        let last = at(&MAX_GENERATION.to_string()).unwrap();
        assert_eq!(last.successor(&key(1)), None);
        let g0 = RefreshToken::first("s", [9; 32]);
        assert!(!g0.is_ancestor_of(&key(1), MAX_GENERATION, &last.hash()));
    }

    #[test]
    fn the_walk_is_capped() {
        let k = key(4);
        let mut token = RefreshToken::first("s", [2; 32]);
        let g0 = token.clone();
        for _ in 0..MAX_CHAIN_WALK + 1 {
            token = token.successor(&k).unwrap();
        }
        // One generation beyond the cap: not proven, so nothing would be revoked.
        assert!(!g0.is_ancestor_of(&k, MAX_CHAIN_WALK + 1, &token.hash()));
        let g1 = g0.successor(&k).unwrap();
        assert!(g1.is_ancestor_of(&k, MAX_CHAIN_WALK + 1, &token.hash()));
    }

    #[test]
    fn an_empty_body_token_is_no_token() {
        for (body, token) in [
            (&b""[..], None),
            (b"  \n", None),
            (b"null", None),
            (b"{}", None),
            (br#"{"refresh_token":null}"#, None),
            (br#"{"refresh_token":""}"#, None),
            (br#"{"refresh_token":"  "}"#, None),
            (br#"{"refresh_token":"rt1.s.1.x"}"#, Some("rt1.s.1.x")),
        ] {
            let parsed = RefreshBody::parse(body).unwrap();
            assert_eq!(parsed.token(), token, "{}", String::from_utf8_lossy(body));
        }
        for bad in [
            &br#"{"refresh_token":42}"#[..],
            br#"{"refresh_token":"x","other":1}"#,
            br#"["refresh_token"]"#,
            b"refresh_token=x",
            br#"{"refresh_token":"x""#,
        ] {
            assert!(
                RefreshBody::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn ancestry_proves_reuse_but_not_forgery() {
        let k = key(5);
        let g0 = RefreshToken::first("s", [9; 32]);
        let g3 = g0
            .successor(&k)
            .and_then(|t| t.successor(&k))
            .and_then(|t| t.successor(&k))
            .unwrap();
        assert!(g0.is_ancestor_of(&k, 3, &g3.hash()));
        assert!(!g3.is_ancestor_of(&k, 3, &g3.hash()));
        let forged = RefreshToken::first("s", [8; 32]);
        assert!(!forged.is_ancestor_of(&k, 3, &g3.hash()));
        assert!(!g0.is_ancestor_of(&key(6), 3, &g3.hash()));
    }
}
