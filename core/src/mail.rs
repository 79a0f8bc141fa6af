//! Email link tokens and the outbox's message model: what a mail is, which link it carries, and
//! when a failed delivery is tried again.
//!
//! A link token is never stored and never queued. A mail in the outbox carries its message id;
//! the token of its link is `HMAC-SHA256(link key, "edgeauth email link v1:" ‖ message id)`,
//! computed by the delivery loop at send time with a key only the origin holds (derived from the
//! refresh secret). Redis keeps `SHA-256(token)` with the link's purpose, user and expiry, so
//! neither the queue nor the token records let anyone rebuild a usable link. Tokens are looked
//! up by their hash: no comparison of secret bytes happens outside SHA-256, so response timing
//! says nothing about how close a guess was.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::Mac;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::edge_signature::hex;
use crate::secret::Secret;

/// Bytes of a link token (the HMAC-SHA256 output): 256 bits.
pub const TOKEN_BYTES: usize = 32;
/// Length of a token in its base64url form.
pub const TOKEN_CHARS: usize = 43;

/// What a link token allows; a token works only for the purpose it was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Confirms that the account's address receives mail.
    Verify,
    /// Sets a new password without the old one.
    Reset,
    /// Moves the account to the address the link was sent to.
    ChangeEmail,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Reset => "reset",
            Self::ChangeEmail => "change_email",
        }
    }

    /// The demo page's screen for the link: `{public url}/#{screen}={token}`. The token rides in
    /// the fragment, which browsers never send to a server or in a `Referer`.
    pub fn screen(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Reset => "reset",
            Self::ChangeEmail => "confirm-email",
        }
    }
}

/// The key link tokens are derived with, itself derived from the refresh secret so no further
/// secret has to be configured or kept in step across origins.
#[derive(Clone)]
pub struct LinkKey(Secret);

impl LinkKey {
    pub fn derive(refresh_secret: &Secret) -> Self {
        Self(refresh_secret.derive(b"edgeauth email link key v1"))
    }

    /// The token of the link in message `message_id`.
    pub fn token(&self, message_id: &str) -> LinkToken {
        let mut mac = self.0.mac();
        mac.update(b"edgeauth email link v1:");
        mac.update(message_id.as_bytes());
        LinkToken(B64.encode(mac.finalize().into_bytes()))
    }
}

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

/// A raw link token, as it appears in a mail and as a client presents it. Never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkToken(String);

impl LinkToken {
    /// A presented token, if it has the shape of one (43 base64url characters); anything else
    /// cannot be a token and is refused like an unknown one.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let decoded = B64.decode(text).ok()?;
        (text.len() == TOKEN_CHARS && decoded.len() == TOKEN_BYTES).then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What Redis stores and looks the token up by.
    pub fn hash(&self) -> TokenHash {
        TokenHash(hex(&Sha256::digest(self.0.as_bytes())))
    }
}

impl std::fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkToken(..)")
    }
}

/// SHA-256 (lowercase hex) of a link token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHash(pub String);

/// The kinds of mail edgeauth sends. Links are built at send time; notices carry none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// "Confirm your address" (after registration, or on request).
    VerifyEmail,
    /// "Reset your password" (forgot password).
    PasswordReset,
    /// To the new address: "confirm this address for your account".
    ConfirmEmailChange,
    /// To the old address: someone asked to move the account to another address.
    EmailChangeRequested,
    /// To the old address: the account moved to another address.
    EmailChanged,
    /// The password was changed or reset.
    PasswordChanged,
}

impl MailKind {
    /// The purpose of the link the mail carries, if it carries one.
    pub fn link(self) -> Option<Purpose> {
        match self {
            Self::VerifyEmail => Some(Purpose::Verify),
            Self::PasswordReset => Some(Purpose::Reset),
            Self::ConfirmEmailChange => Some(Purpose::ChangeEmail),
            Self::EmailChangeRequested | Self::EmailChanged | Self::PasswordChanged => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
            Self::ConfirmEmailChange => "confirm_email_change",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::PasswordChanged => "password_changed",
        }
    }
}

/// A queued mail: who gets what, with the data its templates show. No token: the link is
/// derived from the message id when the mail is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxMail {
    pub kind: MailKind,
    /// Canonical address of the recipient.
    pub to: String,
    pub username: String,
    /// The other address of an email change (the new one, in notices to the old address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_email: Option<String>,
    /// Minutes the link stays valid, for the text of the mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_minutes: Option<u64>,
}

impl OutboxMail {
    pub fn to_json(&self) -> String {
        // Plain strings and numbers only: serialisation cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// When to try a failed delivery again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failure; doubles with each further one.
    pub base_ms: u64,
    /// Longest wait between two attempts.
    pub max_ms: u64,
    /// Attempts after which the mail is given up (moved to the dead-letter list).
    pub max_attempts: u32,
}

/// What to do after attempt number `attempt` (1-based) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt { due_ms: u64 },
    GiveUp,
}

impl RetryPolicy {
    /// Exponential backoff: `base · 2^(attempt−1)`, capped at `max_ms`.
    pub fn delay_ms(&self, attempt: u32) -> u64 {
        let doublings = attempt.saturating_sub(1).min(40);
        self.base_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_ms)
    }

    pub fn after_failure(&self, attempt: u32, now_ms: u64) -> AfterFailure {
        if attempt >= self.max_attempts {
            AfterFailure::GiveUp
        } else {
            AfterFailure::RetryAt {
                due_ms: now_ms.saturating_add(self.delay_ms(attempt)),
            }
        }
    }
}

/// The link of a mail: `{public url}/#{screen}={token}`.
pub fn link_url(public_url: &str, purpose: Purpose, token: &LinkToken) -> String {
    format!(
        "{}/#{}={}",
        public_url.trim_end_matches('/'),
        purpose.screen(),
        token.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> LinkKey {
        let bytes: Vec<u8> = (0..32u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(byte))
            .collect();
        LinkKey::derive(&Secret::from_bytes(bytes).unwrap())
    }

    #[test]
    fn tokens_are_derived_from_the_message_id_with_the_key() {
        let k = key(1);
        let a = k.token("m1");
        assert_eq!(
            a,
            k.token("m1"),
            "the sender can rebuild the token at send time"
        );
        assert_ne!(a, k.token("m2"));
        assert_ne!(a, key(2).token("m1"), "without the key the id is useless");
        assert_eq!(a.as_str().len(), TOKEN_CHARS);
        assert_eq!(B64.decode(a.as_str()).unwrap().len(), TOKEN_BYTES);
        assert!(!format!("{a:?}{k:?}").contains(a.as_str()));
    }

    #[test]
    fn only_token_shaped_input_parses() {
        let t = key(3).token("x");
        assert_eq!(LinkToken::parse(t.as_str()), Some(t.clone()));
        assert_eq!(
            LinkToken::parse(&format!(" {} ", t.as_str())),
            Some(t.clone())
        );
        for bad in [
            "",
            "abc",
            &"A".repeat(44),
            &"!".repeat(43),
            &t.as_str()[1..],
        ] {
            assert_eq!(LinkToken::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_stored_hash_is_not_the_token() {
        let t = key(4).token("x");
        let h = t.hash();
        assert_eq!(h.0.len(), 64);
        assert!(!h.0.contains(t.as_str()));
        assert_eq!(h, LinkToken::parse(t.as_str()).unwrap().hash());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_then_gives_up() {
        let p = RetryPolicy {
            base_ms: 1000,
            max_ms: 30_000,
            max_attempts: 6,
        };
        let delays: Vec<u64> = (1..=7).map(|a| p.delay_ms(a)).collect();
        assert_eq!(delays, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
        assert_eq!(p.delay_ms(u32::MAX), 30_000);
        assert_eq!(
            p.after_failure(1, 5_000),
            AfterFailure::RetryAt { due_ms: 6_000 }
        );
        assert_eq!(p.after_failure(6, 5_000), AfterFailure::GiveUp);
    }

    #[test]
    fn queued_mails_hold_no_link_and_round_trip() {
        let mail = OutboxMail {
            kind: MailKind::PasswordReset,
            to: "a@example.com".into(),
            username: "ada".into(),
            other_email: None,
            valid_minutes: Some(30),
        };
        let json = mail.to_json();
        assert_eq!(OutboxMail::from_json(&json).unwrap(), mail);
        assert!(!json.contains("token") && !json.contains("http"));
        assert_eq!(MailKind::PasswordReset.link(), Some(Purpose::Reset));
        assert_eq!(MailKind::PasswordChanged.link(), None);
    }

    #[test]
    fn links_carry_the_token_in_the_fragment() {
        let t = key(5).token("m");
        let url = link_url("https://auth.example/", Purpose::Reset, &t);
        assert_eq!(url, format!("https://auth.example/#reset={}", t.as_str()));
        let (before, after) = url.split_once('#').unwrap();
        assert!(!before.contains(t.as_str()) && after.contains(t.as_str()));
    }
}
