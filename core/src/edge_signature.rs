//! The edge→origin request signature: HMAC-SHA256 over a canonical form of the request.
//!
//! Canonical string (fields joined by `\n`):
//! `edgeauth-v1`, timestamp, nonce, METHOD, path-and-query, user id, session id, request id,
//! client ip, lowercase hex SHA-256 of the body. Absent identity fields are empty strings.
//! The header carries `v1=<lowercase hex HMAC>`.

const VERSION: &str = "edgeauth-v1";

use hmac::Mac;
use sha2::{Digest, Sha256};

pub use crate::secret::Secret as EdgeSecret;

/// Everything the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub timestamp: u64,
    pub nonce: &'a str,
    pub user_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub request_id: &'a str,
    pub client_ip: &'a str,
    pub body: &'a [u8],
}

impl SignedRequest<'_> {
    pub fn canonical(&self) -> String {
        [
            VERSION,
            &self.timestamp.to_string(),
            self.nonce,
            &self.method.to_ascii_uppercase(),
            self.path_and_query,
            self.user_id.unwrap_or(""),
            self.session_id.unwrap_or(""),
            self.request_id,
            self.client_ip,
            &hex(&Sha256::digest(self.body)),
        ]
        .join("\n")
    }
}

/// The value of the signature header for this request.
pub fn sign(secret: &EdgeSecret, request: &SignedRequest<'_>) -> String {
    let mut mac = secret.mac();
    mac.update(request.canonical().as_bytes());
    format!("v1={}", hex(&mac.finalize().into_bytes()))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header missing or not v1=<hex>")]
    Malformed,
    #[error("timestamp outside the {0} s window")]
    Stale(u64),
    #[error("nonce missing or too long")]
    BadNonce,
    #[error("signature does not match")]
    Mismatch,
}

/// Checks a signature against every accepted secret (current, then previous during a
/// rotation), and the timestamp against `now ± window_secs`. Replay (nonce reuse) is the
/// caller's check, since it needs shared storage.
pub fn verify(
    secrets: &[EdgeSecret],
    request: &SignedRequest<'_>,
    header: &str,
    now: u64,
    window_secs: u64,
) -> Result<(), SignatureError> {
    let given = header
        .strip_prefix("v1=")
        .and_then(unhex)
        .filter(|b| b.len() == 32)
        .ok_or(SignatureError::Malformed)?;
    if request.nonce.is_empty() || request.nonce.len() > 64 {
        return Err(SignatureError::BadNonce);
    }
    if request.timestamp.abs_diff(now) > window_secs {
        return Err(SignatureError::Stale(window_secs));
    }
    let canonical = request.canonical();
    let matches = secrets.iter().any(|secret| {
        let mut mac = secret.mac();
        mac.update(canonical.as_bytes());
        mac.verify_slice(&given).is_ok()
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(byte: u8) -> EdgeSecret {
        EdgeSecret::from_bytes(vec![byte; 32]).unwrap()
    }

    fn request(body: &[u8]) -> SignedRequest<'_> {
        SignedRequest {
            method: "post",
            path_and_query: "/api/logout?x=1",
            timestamp: 1_700_000_000,
            nonce: "n0nce",
            user_id: Some("u1"),
            session_id: Some("s1"),
            request_id: "r1",
            client_ip: "203.0.113.7",
            body,
        }
    }

    /// Known-answer vector, computed independently with Python's `hmac`/`hashlib`:
    /// `hmac.new(b"\x07"*32, canonical.encode(), "sha256").hexdigest()`.
    #[test]
    fn known_answer() {
        let req = request(b"{\"a\":1}");
        assert_eq!(
            req.canonical(),
            "edgeauth-v1\n1700000000\nn0nce\nPOST\n/api/logout?x=1\nu1\ns1\nr1\n203.0.113.7\n\
             015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
        );
        assert_eq!(
            sign(&secret(7), &req),
            "v1=52416f7c4a31d7a96154e731cfa32a726196ac78031a925a81dc22fe7da4e653"
        );
    }

    #[test]
    fn verifies_with_current_or_previous_secret() {
        let req = request(b"{}");
        let sig = sign(&secret(1), &req);
        let now = req.timestamp + 5;
        assert!(verify(&[secret(1)], &req, &sig, now, 30).is_ok());
        assert!(verify(&[secret(2), secret(1)], &req, &sig, now, 30).is_ok());
        assert_eq!(
            verify(&[secret(2)], &req, &sig, now, 30),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn every_field_is_covered() {
        let base = request(b"{}");
        let sig = sign(&secret(1), &base);
        let now = base.timestamp;
        let variants = [
            SignedRequest {
                method: "GET",
                ..base
            },
            SignedRequest {
                path_and_query: "/api/logout?x=2",
                ..base
            },
            SignedRequest {
                nonce: "other",
                ..base
            },
            SignedRequest {
                user_id: Some("u2"),
                ..base
            },
            SignedRequest {
                user_id: None,
                ..base
            },
            SignedRequest {
                session_id: Some("s2"),
                ..base
            },
            SignedRequest {
                request_id: "r2",
                ..base
            },
            SignedRequest {
                client_ip: "198.51.100.1",
                ..base
            },
            SignedRequest {
                body: b"{ }",
                ..base
            },
            SignedRequest {
                timestamp: base.timestamp + 1,
                ..base
            },
        ];
        for v in variants {
            assert_eq!(
                verify(&[secret(1)], &v, &sig, now, 30),
                Err(SignatureError::Mismatch),
                "{v:?}"
            );
        }
    }

    #[test]
    fn stale_and_malformed_are_refused() {
        let req = request(b"");
        let sig = sign(&secret(1), &req);
        let s = [secret(1)];
        assert_eq!(
            verify(&s, &req, &sig, req.timestamp + 31, 30),
            Err(SignatureError::Stale(30))
        );
        assert_eq!(
            verify(&s, &req, &sig, req.timestamp - 31, 30),
            Err(SignatureError::Stale(30))
        );
        for bad in ["", "v1=", "v1=zz", "v2=00", &sig[..sig.len() - 2]] {
            assert_eq!(
                verify(&s, &req, bad, req.timestamp, 30),
                Err(SignatureError::Malformed)
            );
        }
    }
}
