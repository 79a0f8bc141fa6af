//! Second factors on the origin: TOTP (RFC 6238 via `totp-rs`) with its once-per-time-step rule,
//! single-use backup codes, the sign-in's MFA ticket, and the encryption of TOTP secrets at rest
//! (AES-256-GCM). Only the origin enables this module (feature `mfa`): the edge never sees a
//! secret or a code. Randomness comes in from the caller, as everywhere in this crate.

use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use aes_gcm::Aes256Gcm;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Totp};

use crate::edge_signature::hex;
use crate::secret::Secret;

/// TOTP secret size: 160 bits, RFC 4226's recommendation and what authenticator apps expect.
pub const TOTP_SECRET_BYTES: usize = 20;
/// Seconds per TOTP time step.
pub const TOTP_STEP_SECS: u64 = 30;
/// Number of backup codes handed out at confirmation.
pub const BACKUP_CODE_COUNT: usize = 10;
/// Random bytes per backup code: 80 bits, 16 base32 characters.
pub const BACKUP_CODE_BYTES: usize = 10;
/// Random bytes of an MFA ticket.
pub const TICKET_BYTES: usize = 32;
/// AES-GCM nonce size.
pub const NONCE_BYTES: usize = 12;
/// The issuer authenticator apps show next to the account.
pub const TOTP_ISSUER: &str = "edgeauth";

/// A TOTP secret in the clear: only ever in memory, sealed before it is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret([u8; TOTP_SECRET_BYTES]);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

/// What checking a TOTP code found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpCheck {
    /// Right code for this time step (returned: to be stored as the last used step, which must
    /// be done atomically with comparing against the stored one).
    Valid { step: u64 },
    /// The right code, but of a time step already used (or older than it): refused.
    Replayed,
    /// Not a code of the current window (or not a code at all).
    Wrong,
}

impl TotpSecret {
    pub fn from_random(random: [u8; TOTP_SECRET_BYTES]) -> Self {
        Self(random)
    }

    fn totp(&self, account: &str) -> Option<Totp> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_skew(1)
            .with_step_duration(TOTP_STEP_SECS)
            .with_secret(self.0.to_vec())
            .with_account_name(account.replace(':', "_"))
            .with_issuer(Some(TOTP_ISSUER))
            .build()
            .ok()
    }

    /// The base32 secret users type into an app that cannot scan the QR code.
    pub fn base32(&self) -> String {
        self.totp("x")
            .map(|t| t.secret().to_base32())
            .unwrap_or_default()
    }

    /// `otpauth://totp/edgeauth:<account>?secret=…&issuer=edgeauth` (Key URI format).
    pub fn otpauth_uri(&self, account: &str) -> Option<String> {
        self.totp(account)?.to_url().ok()
    }

    /// The code of the time step containing `time` (tests compute codes with this).
    pub fn code_at(&self, time: u64) -> String {
        self.totp("x")
            .map(|t| t.generate(time).to_string())
            .unwrap_or_default()
    }

    /// Checks `code` at `now` (one step of skew either way), refusing any step at or before
    /// `last_step`: a code is used at most once, and never one older than the last used.
    pub fn check(&self, code: &str, now: u64, last_step: Option<u64>) -> TotpCheck {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return TotpCheck::Wrong;
        }
        let Some(totp) = self.totp("x") else {
            return TotpCheck::Wrong;
        };
        match totp.check(&code, now) {
            Some(step) if last_step.is_some_and(|last| step <= last) => TotpCheck::Replayed,
            Some(step) => TotpCheck::Valid { step },
            None => TotpCheck::Wrong,
        }
    }
}

/// The AES-256-GCM key TOTP secrets are sealed with (`EDGEAUTH_MFA_KEY`).
#[derive(Clone)]
pub struct MfaKey(Aes256Gcm);

impl std::fmt::Debug for MfaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaKey(..)")
    }
}

/// A sealed value that does not open: wrong key, another user's record, or tampered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the sealed TOTP secret does not open with this key")]
pub struct Unsealable;

const SEALED_PREFIX: &str = "v1";

impl MfaKey {
    /// The key from a configured secret (`Secret` checks length and randomness); labelled, so
    /// the configured bytes are never used as an AES key directly.
    pub fn from_secret(secret: &Secret) -> Self {
        let derived = secret.derive(b"edgeauth totp secret sealing v1");
        // A derived key is exactly 32 bytes (HMAC-SHA256 output).
        Self(
            Aes256Gcm::new_from_slice(derived.expose())
                .unwrap_or_else(|_| unreachable!("HMAC-SHA256 output is 32 bytes")),
        )
    }

    /// `v1.<nonce>.<ciphertext>`, bound to `user_id` (associated data): a record copied to
    /// another account does not open there.
    pub fn seal(
        &self,
        secret: &TotpSecret,
        user_id: &str,
        nonce: [u8; NONCE_BYTES],
    ) -> Result<String, Unsealable> {
        let sealed = self
            .0
            .encrypt(
                &Nonce::<Aes256Gcm>::from(nonce),
                Payload {
                    msg: &secret.0,
                    aad: user_id.as_bytes(),
                },
            )
            .map_err(|_| Unsealable)?;
        Ok(format!(
            "{SEALED_PREFIX}.{}.{}",
            B64.encode(nonce),
            B64.encode(sealed)
        ))
    }

    pub fn open(&self, sealed: &str, user_id: &str) -> Result<TotpSecret, Unsealable> {
        let mut parts = sealed.split('.');
        let (Some(SEALED_PREFIX), Some(nonce), Some(body), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Unsealable);
        };
        let nonce: [u8; NONCE_BYTES] = B64
            .decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(Unsealable)?;
        let body = B64.decode(body).map_err(|_| Unsealable)?;
        let plain = self
            .0
            .decrypt(
                &Nonce::<Aes256Gcm>::from(nonce),
                Payload {
                    msg: &body,
                    aad: user_id.as_bytes(),
                },
            )
            .map_err(|_| Unsealable)?;
        plain.try_into().map(TotpSecret).map_err(|_| Unsealable)
    }
}

/// Lowercase RFC 4648 base32 without padding: codes people can read out and type.
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A backup code from 10 random bytes: 16 base32 characters in groups of four
/// (`abcd-efgh-ijkl-mnop`).
pub fn backup_code(random: [u8; BACKUP_CODE_BYTES]) -> String {
    let mut bits: u32 = 0;
    let mut count = 0;
    let mut chars = Vec::with_capacity(16);
    for byte in random {
        bits = (bits << 8) | u32::from(byte);
        count += 8;
        while count >= 5 {
            count -= 5;
            chars.push(BASE32[((bits >> count) & 31) as usize] as char);
        }
    }
    chars
        .chunks(4)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// The stored form of a backup code: SHA-256 (hex) of its canonical spelling (lowercase, no
/// separators or spaces). 80 random bits need no slow hash; `None` for input that cannot be a
/// code, so it is never looked up.
pub fn backup_code_hash(code: &str) -> Option<String> {
    let canonical: String = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (canonical.len() == 16 && canonical.bytes().all(|b| BASE32.contains(&b)))
        .then(|| hex(&Sha256::digest(canonical.as_bytes())))
}

/// The MFA ticket of a sign-in between its password and its second factor: random, handed to
/// the client, stored only as a hash.
pub fn ticket(random: [u8; TICKET_BYTES]) -> String {
    B64.encode(random)
}

/// The stored form of a ticket; `None` for text that cannot be a ticket.
pub fn ticket_hash(ticket: &str) -> Option<String> {
    let bytes = B64.decode(ticket).ok()?;
    (bytes.len() == TICKET_BYTES).then(|| hex(&Sha256::digest(ticket.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B's SHA-1 seed.
    const RFC_SEED: &[u8; 20] = b"12345678901234567890";

    #[test]
    fn codes_follow_rfc_6238() {
        let secret = TotpSecret::from_random(*RFC_SEED);
        // 8-digit vectors from the RFC, whose last six digits are the 6-digit codes.
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(secret.code_at(time), code);
        }
        assert_eq!(
            secret.base32(),
            "gezdgnbvgy3tqojqgezdgnbvgy3tqojq".to_uppercase()
        );
        let uri = secret.otpauth_uri("ada@example.com").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/edgeauth:ada%40example.com?secret="),
            "{uri}"
        );
        assert!(uri.contains("issuer=edgeauth"), "{uri}");
    }

    #[test]
    fn a_code_is_good_once_and_only_in_its_window() {
        let secret = TotpSecret::from_random([7; 20]);
        let now = 1_800_000_015;
        let code = secret.code_at(now);
        let step = now / TOTP_STEP_SECS;
        assert_eq!(secret.check(&code, now, None), TotpCheck::Valid { step });
        assert_eq!(
            secret.check(
                &format!("{} {}", &code[..3], &code[3..]),
                now,
                Some(step - 1)
            ),
            TotpCheck::Valid { step }
        );
        assert_eq!(secret.check(&code, now, Some(step)), TotpCheck::Replayed);
        assert_eq!(
            secret.check(&code, now, Some(step + 1)),
            TotpCheck::Replayed
        );
        // One step of skew either way, not two.
        assert_eq!(
            secret.check(&code, now + 30, None),
            TotpCheck::Valid { step }
        );
        assert_eq!(secret.check(&code, now + 60, None), TotpCheck::Wrong);
        assert_eq!(
            secret.check(&code, now - 30, None),
            TotpCheck::Valid { step }
        );
        for junk in ["", "12345", "1234567", "abcdef", "１２３４５６"] {
            assert_eq!(secret.check(junk, now, None), TotpCheck::Wrong, "{junk}");
        }
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_user() {
        let key = MfaKey::from_secret(&Secret::from_bytes(vec![3; 32]).unwrap());
        let other = MfaKey::from_secret(&Secret::from_bytes(vec![4; 32]).unwrap());
        let secret = TotpSecret::from_random([9; 20]);
        let sealed = key.seal(&secret, "u1", [1; 12]).unwrap();
        assert!(!sealed.contains(&secret.base32()));
        assert_eq!(key.open(&sealed, "u1").unwrap(), secret);
        assert_eq!(key.open(&sealed, "u2"), Err(Unsealable));
        assert_eq!(other.open(&sealed, "u1"), Err(Unsealable));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(key.open(&tampered, "u1"), Err(Unsealable));
        for junk in ["", "v1", "v1.a.b", "v2.AAAAAAAAAAAAAAAA.AAAA"] {
            assert_eq!(key.open(junk, "u1"), Err(Unsealable), "{junk}");
        }
    }

    #[test]
    fn backup_codes_are_readable_and_hash_canonically() {
        let code = backup_code([0xff; 10]);
        assert_eq!(code, "7777-7777-7777-7777");
        let code = backup_code([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(code.len(), 19);
        let hash = backup_code_hash(&code).unwrap();
        assert_eq!(backup_code_hash(&code.to_uppercase()), Some(hash.clone()));
        assert_eq!(backup_code_hash(&code.replace('-', "")), Some(hash.clone()));
        assert_ne!(backup_code_hash(&backup_code([1; 10])), Some(hash));
        for junk in ["", "abcd", "0000-0000-0000-0000", "é"] {
            assert_eq!(backup_code_hash(junk), None, "{junk}");
        }
    }

    #[test]
    fn tickets_hash_and_junk_is_refused() {
        let t = ticket([5; 32]);
        assert_eq!(ticket_hash(&t).map(|h| h.len()), Some(64));
        assert_eq!(ticket_hash("short"), None);
        assert_eq!(ticket_hash(&format!("{t}x")), None);
    }
}
