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
/// Longest ancestry walked when proving reuse (a 15-minute refresh cadence for 30 days is
/// 2,880 generations).
pub const MAX_CHAIN_WALK: u64 = 100_000;

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
        let mut parts = text.split('.');
        let (Some(PREFIX), Some(sid), Some(generation), Some(secret), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(MalformedRefreshToken);
        };
        let valid_sid = !sid.is_empty()
            && sid.len() <= 64
            && sid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        // Digits only, no sign or leading zero: a token has one spelling, the one it was issued
        // with (and hashed as).
        let generation: u64 = generation
            .parse()
            .ok()
            .filter(|g: &u64| g.to_string() == generation)
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

    /// The next generation of this token.
    pub fn successor(&self, key: &Secret) -> Self {
        let generation = self.generation + 1;
        let mut mac = key.mac();
        mac.update(self.session_id.as_bytes());
        mac.update(&generation.to_be_bytes());
        mac.update(&self.secret);
        Self {
            session_id: self.session_id.clone(),
            generation,
            secret: mac.finalize().into_bytes().into(),
        }
    }

    /// Whether this token is an ancestor of the session's current token (generation
    /// `current_generation`, stored hash `current`): proof that it was issued and rotated.
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
            token = token.successor(key);
        }
        token.hash() == *current
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
        let a = t.successor(&key(1));
        assert_eq!(a, t.successor(&key(1)));
        assert_ne!(a, t.successor(&key(2)));
        assert_eq!(a.generation(), 1);
        assert_ne!(a.hash(), t.hash());
        assert_ne!(a.successor(&key(1)), a);
    }

    #[test]
    fn ancestry_proves_reuse_but_not_forgery() {
        let k = key(5);
        let g0 = RefreshToken::first("s", [9; 32]);
        let g3 = g0.successor(&k).successor(&k).successor(&k);
        assert!(g0.is_ancestor_of(&k, 3, &g3.hash()));
        assert!(!g3.is_ancestor_of(&k, 3, &g3.hash()));
        let forged = RefreshToken::first("s", [8; 32]);
        assert!(!forged.is_ancestor_of(&k, 3, &g3.hash()));
        assert!(!g0.is_ancestor_of(&key(6), 3, &g3.hash()));
    }
}
