//! Server-side secrets (the edge⇄origin HMAC key, the refresh-token derivation key).
//!
//! Configured secrets must be long enough *and* look like the output of a random generator:
//! a value a person typed or a placeholder (32 zero bytes, `0 1 2 3 …`, a base64-encoded
//! phrase) passes a length check but gives an attacker far fewer than 256 bits to guess.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Minimum shared-secret size. 32 bytes = the HMAC-SHA256 output size.
pub const MIN_SECRET_BYTES: usize = 32;

/// An HMAC-SHA256 key. Only constructible from at least 32 bytes.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("is not base64 (standard or URL-safe)")]
    NotBase64,
    #[error("decodes to {0} bytes; at least {MIN_SECRET_BYTES} random bytes are required")]
    TooShort(usize),
    #[error(
        "{0}, not random bytes; generate one with `openssl rand -base64 32` \
         (or `head -c 32 /dev/urandom | base64`)"
    )]
    NotRandom(&'static str),
}

/// Fewer distinct values than this among the bytes (or among the steps between neighbouring
/// bytes) marks a value no random generator produced: for 32 random bytes the chance is below
/// 10⁻¹⁴ (at most C(256, 15) · (15/256)³¹), and it only shrinks for longer secrets.
const MIN_DISTINCT: usize = 16;

impl Secret {
    /// Parses a configured secret: base64 (standard or URL-safe, padded or not) of at least 32
    /// bytes that look random (see [`SecretError::NotRandom`]).
    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .or_else(|_| STANDARD.decode(text))
            .map_err(|_| SecretError::NotBase64)?;
        let secret = Self::from_bytes(bytes)?;
        match obviously_not_random(&secret.0) {
            Some(reason) => Err(SecretError::NotRandom(reason)),
            None => Ok(secret),
        }
    }

    /// A secret from raw bytes, checking only the length (tests and derived keys).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, SecretError> {
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort(bytes.len()));
        }
        Ok(Self(bytes))
    }

    /// A separate key for another purpose, `HMAC-SHA256(self, label)`: keys derived with
    /// different labels are independent, and none reveals this one.
    pub fn derive(&self, label: &[u8]) -> Secret {
        let mut mac = self.mac();
        mac.update(label);
        Secret(mac.finalize().into_bytes().to_vec())
    }

    /// Whether two secrets are the same key (start-up checks that two roles do not share one).
    pub fn same_key_as(&self, other: &Secret) -> bool {
        use subtle::ConstantTimeEq;
        self.0.ct_eq(&other.0).into()
    }

    /// The key bytes, for a cipher keyed by a derived secret (`crate::mfa`).
    #[cfg_attr(not(feature = "mfa"), allow(dead_code))]
    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; this cannot fail.
        <HmacSha256 as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!())
    }
}

/// Why `bytes` cannot have come from a random generator, if they obviously cannot.
fn obviously_not_random(bytes: &[u8]) -> Option<&'static str> {
    let distinct = |values: &mut dyn Iterator<Item = u8>| {
        let mut seen = [false; 256];
        values
            .filter(|&v| !std::mem::replace(&mut seen[usize::from(v)], true))
            .count()
    };
    if bytes.windows(2).all(|pair| pair[0] == pair[1]) {
        Some("is one byte repeated")
    } else if distinct(&mut bytes.iter().copied()) < MIN_DISTINCT {
        Some("repeats a handful of byte values")
    } else if distinct(&mut bytes.windows(2).map(|pair| pair[1].wrapping_sub(pair[0])))
        < MIN_DISTINCT
    {
        Some("is a simple sequence")
    } else if bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
        // 32 random bytes are all printable with a chance of (95/256)³² ≈ 2 · 10⁻¹⁴.
        Some("decodes to readable text (a phrase or a password)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_must_be_long_enough() {
        assert_eq!(
            Secret::from_base64("c2hvcnQ").err(),
            Some(SecretError::TooShort(5))
        );
        assert!(Secret::from_base64("not base64!").is_err());
        assert_eq!(
            Secret::from_bytes(vec![9; 31]).err(),
            Some(SecretError::TooShort(31))
        );
    }

    proptest::proptest! {
        #[test]
        fn random_secrets_are_accepted(bytes in proptest::array::uniform32(proptest::num::u8::ANY)) {
            for text in [URL_SAFE_NO_PAD.encode(bytes), STANDARD.encode(bytes)] {
                proptest::prop_assert!(Secret::from_base64(&text).is_ok(), "{}", text);
            }
        }
    }

    #[test]
    fn obviously_chosen_secrets_are_refused() {
        let sequence: Vec<u8> = (0..32).collect();
        let evens: Vec<u8> = (0..32).map(|i| i * 2 + 7).collect();
        let pattern: Vec<u8> = b"abc1".repeat(8);
        let phrase = b"my edge secret for production 01".to_vec();
        for (bytes, reason) in [
            (vec![0u8; 32], "one byte repeated"),
            (vec![9u8; 48], "one byte repeated"),
            (pattern, "a handful"),
            (sequence, "simple sequence"),
            (evens, "simple sequence"),
            (phrase, "readable text"),
        ] {
            let text = STANDARD.encode(&bytes);
            match Secret::from_base64(&text) {
                Err(e @ SecretError::NotRandom(_)) => {
                    assert!(e.to_string().contains(reason), "{bytes:?}: {e}");
                    assert!(e.to_string().contains("openssl rand -base64 32"), "{e}");
                }
                other => panic!("{bytes:?} was not refused as chosen: {other:?}"),
            }
            // Length alone is still all that raw bytes are checked for.
            assert!(Secret::from_bytes(bytes).is_ok());
        }
    }

    #[test]
    fn equal_secrets_are_recognised() {
        let a = Secret::from_bytes(vec![1; 32]).unwrap();
        let b = Secret::from_bytes(vec![2; 32]).unwrap();
        assert!(a.same_key_as(&a.clone()) && !a.same_key_as(&b));
    }
}
