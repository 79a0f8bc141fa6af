//! Server-side secrets (the edge⇄origin HMAC key, the refresh-token derivation key).

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
}

impl Secret {
    /// Parses a base64 (standard or URL-safe, padded or not) secret of at least 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .or_else(|_| STANDARD.decode(text))
            .map_err(|_| SecretError::NotBase64)?;
        Self::from_bytes(bytes)
    }

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

    pub(crate) fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; this cannot fail.
        <HmacSha256 as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!())
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
        let ok = URL_SAFE_NO_PAD.encode([9u8; 32]);
        assert!(Secret::from_base64(&ok).is_ok());
        assert!(Secret::from_base64(&STANDARD.encode([9u8; 32])).is_ok());
    }
}
