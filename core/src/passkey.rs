//! Passkeys (WebAuthn): the pure decisions around the ceremonies the origin runs with
//! `webauthn-rs` — which relying-party id and origins are acceptable settings, which RFC 8176
//! method a passkey sign-in proves, and what a passkey's name may be.
//!
//! WebAuthn scopes credentials to a relying-party id, a registrable domain (never an IP
//! address: browsers refuse `navigator.credentials` calls whose RP id is one). Each allowed
//! origin must be that domain or a subdomain of it, over https (or http on `localhost`, which
//! browsers treat as a secure context).

use crate::assurance::amr;

/// Longest passkey name, in characters.
pub const NAME_MAX_CHARS: usize = 64;

/// Checks a relying-party id: a lowercase DNS name (`localhost` or a dotted domain), not an IP
/// address, no port, scheme or path.
pub fn check_rp_id(rp_id: &str) -> Result<(), String> {
    if rp_id.is_empty() {
        return Err("must be set (the site's domain, e.g. auth.example.com)".to_owned());
    }
    if rp_id.parse::<std::net::IpAddr>().is_ok()
        || rp_id.starts_with('[')
        || rp_id
            .split('.')
            .all(|label| label.bytes().all(|b| b.is_ascii_digit()) && !label.is_empty())
    {
        return Err(format!(
            "is an IP address ({rp_id}); WebAuthn needs a domain name as relying-party id \
             (browsers refuse IP addresses): use `localhost` in development \
             (open http://localhost:8787, not 127.0.0.1) or the site's domain"
        ));
    }
    let valid_label = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if rp_id.len() > 253 || !rp_id.split('.').all(valid_label) {
        return Err(format!(
            "must be a lowercase domain name without scheme, port or path, got {rp_id:?}"
        ));
    }
    Ok(())
}

/// Checks one allowed origin against the relying-party id: `https://host[:port]` (or
/// `http://localhost[:port]`, `http://sub.localhost[:port]`) whose host is the RP id or a
/// subdomain of it. Returns the origin normalised (no trailing slash).
pub fn check_origin(origin: &str, rp_id: &str) -> Result<String, String> {
    let origin = origin.trim().trim_end_matches('/');
    let (scheme, rest) = origin
        .split_once("://")
        .ok_or_else(|| format!("{origin:?} is not an origin (scheme://host[:port])"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!(
            "{origin:?} must be scheme://host[:port], without path, query or user"
        ));
    }
    let host = match rest.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        Some(_) => return Err(format!("{origin:?} has an invalid port")),
        None => rest,
    };
    let host = host.to_ascii_lowercase();
    let local = host == "localhost" || host.ends_with(".localhost");
    match scheme {
        "https" => {}
        "http" if local => {}
        _ => {
            return Err(format!(
                "{origin:?} must use https (http only on localhost)"
            ))
        }
    }
    if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
        return Err(format!(
            "{origin:?} is not on the relying-party id {rp_id:?} (or a subdomain of it)"
        ));
    }
    Ok(origin.to_owned())
}

/// The allowed origins of a comma-separated setting, each checked against `rp_id`.
pub fn parse_origins(text: &str, rp_id: &str) -> Result<Vec<String>, String> {
    let origins: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| check_origin(o, rp_id))
        .collect::<Result<_, _>>()?;
    if origins.is_empty() {
        return Err("must name at least one origin (e.g. https://auth.example.com)".to_owned());
    }
    Ok(origins)
}

/// The RFC 8176 method a passkey sign-in proves. A passkey that may be synced to other
/// devices (the authenticator's backup-eligible flag) is a software-bound key (`swk`); one
/// that cannot leave its authenticator is a hardware-bound key (`hwk`). Either way the
/// ceremony required user verification (a PIN or biometric on the device holding the key),
/// so it is a multi-factor authentication on its own (see [`crate::assurance`]).
pub fn method(backup_eligible: bool) -> &'static str {
    if backup_eligible {
        amr::SWK
    } else {
        amr::HWK
    }
}

/// The WebAuthn user handle of a user: 16 bytes derived from the user id (SHA-256, first 16
/// bytes, as a UUID's bytes for `webauthn-rs`). Stable, and reveals nothing about the account.
pub fn user_handle(user_id: &str) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("edgeauth passkey user handle\0{user_id}").as_bytes());
    let mut handle = [0u8; 16];
    handle.copy_from_slice(&digest[..16]);
    handle
}

/// A passkey's display name, trimmed: 1–64 characters, no control characters.
pub fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
        return Err(format!("must be 1 to {NAME_MAX_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rp_ids_are_domains_never_addresses() {
        assert!(check_rp_id("localhost").is_ok());
        assert!(check_rp_id("auth.example.com").is_ok());
        for bad in [
            "",
            "127.0.0.1",
            "::1",
            "[::1]",
            "10.0.0",
            "Example.com",
            "a.com:443",
            "https://a.com",
            "a..b",
            "-a.com",
        ] {
            assert!(check_rp_id(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_rp_id("127.0.0.1").unwrap_err().contains("IP address"));
    }

    #[test]
    fn origins_sit_on_the_rp_id() {
        assert_eq!(
            check_origin("http://localhost:8787/", "localhost").as_deref(),
            Ok("http://localhost:8787")
        );
        assert!(check_origin("https://example.com", "example.com").is_ok());
        assert!(check_origin("https://auth.example.com:8443", "example.com").is_ok());
        for bad in [
            "http://example.com",
            "https://badexample.com",
            "https://example.com.evil",
            "https://example.com/path",
            "example.com",
            "https://example.com:x",
            "http://127.0.0.1:8787",
        ] {
            assert!(
                check_origin(bad, "example.com").is_err(),
                "{bad:?} accepted"
            );
        }
        assert_eq!(
            parse_origins(
                " http://localhost:8787, http://localhost:9000 ",
                "localhost"
            )
            .map(|o| o.len()),
            Ok(2)
        );
        assert!(parse_origins(" , ", "localhost").is_err());
    }

    #[test]
    fn synced_passkeys_are_software_keys() {
        assert_eq!(method(true), "swk");
        assert_eq!(method(false), "hwk");
    }

    #[test]
    fn user_handles_are_stable_and_distinct() {
        assert_eq!(user_handle("a"), user_handle("a"));
        assert_ne!(user_handle("a"), user_handle("b"));
    }

    #[test]
    fn names_are_short_and_printable() {
        assert_eq!(check_name("  Laptop ").as_deref(), Ok("Laptop"));
        assert!(check_name("").is_err());
        assert!(check_name("a\u{7}b").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
        assert!(check_name(&"é".repeat(64)).is_ok());
    }
}
