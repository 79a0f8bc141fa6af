//! Fresh random identifiers: per-request ids and single-use signature nonces.

/// Random bytes from the platform CSPRNG (`crypto.getRandomValues` in Workers).
fn random<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)?;
    Ok(bytes)
}

/// A UUIDv4-shaped request id, e.g. `3f2b8c1e-9d4a-4f6b-8e2a-1c5d7e9f0a3b`.
pub fn request_id() -> Result<String, getrandom::Error> {
    let mut b = random::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// A 128-bit nonce as 32 lowercase hex characters (URL-safe, within the origin's 64-char limit).
pub fn nonce() -> Result<String, getrandom::Error> {
    Ok(hex(&random::<16>()?))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_uuid_v4_and_differ() {
        let a = request_id().unwrap();
        let b = request_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert!(matches!(a.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
    }

    #[test]
    fn nonces_are_hex_and_short() {
        let n = nonce().unwrap();
        assert_eq!(n.len(), 32);
        assert!(n.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(n, nonce().unwrap());
    }
}
