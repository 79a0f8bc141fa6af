//! Device credentials (OWASP's "device cookies"): signed proof that a browser or client signed in
//! to an account successfully before, so that guessing attacks on the account cannot lock its
//! owner out.
//!
//! After every successful sign-in the origin hands out a credential for that account in the
//! cookie `__Host-edgeauth_device` (one cookie holds the credentials of up to
//! [`MAX_CREDENTIALS`] accounts, newest first). A sign-in attempt that presents a valid
//! credential for the account it names comes from a *known device*: the account-wide and
//! per-address failure limits do not apply to it, and its failures lock only that device (by the
//! credential's id), never the account. Every other attempt meets all the limits as before. An
//! attacker spreading guesses over many addresses therefore locks out only other unknown devices.
//!
//! A credential is `<account tag>.<issued>.<id>.<mac>`: the account tag (as in the Redis layout),
//! the Unix time it was issued, 16 random bytes naming the device, and
//! `HMAC-SHA256(device key, tag ‖ issued ‖ id)`. Nothing is stored server-side; a credential
//! expires `lifetime` seconds after issue and is renewed at every successful sign-in.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::Mac;

use crate::secret::Secret;

/// Accounts one device cookie remembers (shared computers, several accounts of one person).
pub const MAX_CREDENTIALS: usize = 5;
/// Longest cookie value looked at; anything longer is ignored as a whole.
const MAX_COOKIE_LEN: usize = 2048;
/// Credentials issued up to this far in the future are accepted (clock steps between origins).
const FUTURE_SKEW_SECS: u64 = 300;
const ID_BYTES: usize = 16;
const SEPARATOR: char = '~';

/// The key that signs device credentials, derived from the refresh-token secret so that no
/// further secret has to be configured, rotated or kept in step across origins.
#[derive(Clone)]
pub struct DeviceKey(Secret);

impl DeviceKey {
    pub fn derive(refresh_secret: &Secret) -> Self {
        Self(refresh_secret.derive(b"edgeauth device credential v1"))
    }
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceKey(..)")
    }
}

/// A device whose credential for the account verified. Its id keys the device's own lockout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDevice {
    pub id: String,
}

struct Credential<'a> {
    account: &'a str,
    issued: u64,
    id: [u8; ID_BYTES],
    text: &'a str,
}

fn mac(
    key: &DeviceKey,
    account: &str,
    issued: u64,
    id: &[u8; ID_BYTES],
) -> crate::secret::HmacSha256 {
    let mut mac = key.0.mac();
    mac.update(account.as_bytes());
    mac.update(&issued.to_be_bytes());
    mac.update(id);
    mac
}

/// Parses one credential and checks its signature and age.
fn verified<'a>(
    key: &DeviceKey,
    text: &'a str,
    now: u64,
    lifetime_secs: u64,
) -> Option<Credential<'a>> {
    let [account, issued, id, tag] = crate::refresh::split_exact(text, '.')?;
    let account_ok = account.len() == 32 && account.bytes().all(|b| b.is_ascii_hexdigit());
    let issued: u64 = issued.parse().ok().filter(|_| account_ok)?;
    let fresh = issued <= now.saturating_add(FUTURE_SKEW_SECS)
        && now.saturating_sub(issued) <= lifetime_secs;
    let id: [u8; ID_BYTES] = B64.decode(id).ok()?.try_into().ok()?;
    let tag = B64.decode(tag).ok()?;
    // Constant-time comparison.
    mac(key, account, issued, &id).verify_slice(&tag).ok()?;
    fresh.then_some(Credential {
        account,
        issued,
        id,
        text,
    })
}

fn credentials<'a>(
    key: &'a DeviceKey,
    cookie: Option<&'a str>,
    now: u64,
    lifetime_secs: u64,
) -> impl Iterator<Item = Credential<'a>> + 'a {
    cookie
        .filter(|c| c.len() <= MAX_COOKIE_LEN)
        .into_iter()
        .flat_map(|c| c.split(SEPARATOR))
        .take(MAX_CREDENTIALS)
        .filter_map(move |text| verified(key, text, now, lifetime_secs))
}

/// The known device behind `cookie` (the device cookie's value) for `account`, if the cookie
/// holds a valid, unexpired credential for exactly that account.
pub fn known_device(
    key: &DeviceKey,
    cookie: Option<&str>,
    account: &str,
    now: u64,
    lifetime_secs: u64,
) -> Option<KnownDevice> {
    credentials(key, cookie, now, lifetime_secs)
        .find(|c| c.account == account)
        .map(|c| KnownDevice {
            id: B64.encode(c.id),
        })
}

/// The device cookie's new value after a successful sign-in to `account`: a fresh credential for
/// it (with the random `id`), then the still-valid credentials of other accounts, newest first,
/// at most [`MAX_CREDENTIALS`] in all.
pub fn after_sign_in(
    key: &DeviceKey,
    cookie: Option<&str>,
    account: &str,
    now: u64,
    lifetime_secs: u64,
    id: [u8; ID_BYTES],
) -> String {
    let tag = B64.encode(mac(key, account, now, &id).finalize().into_bytes());
    let fresh = format!("{account}.{now}.{}.{tag}", B64.encode(id));
    let mut kept: Vec<Credential<'_>> = credentials(key, cookie, now, lifetime_secs)
        .filter(|c| c.account != account)
        .collect();
    kept.sort_by_key(|c| std::cmp::Reverse(c.issued));
    std::iter::once(fresh.as_str())
        .chain(kept.iter().map(|c| c.text))
        .take(MAX_CREDENTIALS)
        .collect::<Vec<_>>()
        .join(&SEPARATOR.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;
    const LIFE: u64 = 180 * 86_400;
    const ALICE: &str = "0123456789abcdef0123456789abcdef";
    const BOB: &str = "fedcba9876543210fedcba9876543210";

    fn key(b: u8) -> DeviceKey {
        DeviceKey::derive(&Secret::from_bytes(vec![b; 32]).unwrap())
    }

    #[test]
    fn a_credential_vouches_for_its_account_only() {
        let k = key(1);
        let cookie = after_sign_in(&k, None, ALICE, NOW, LIFE, [7; 16]);
        let device = known_device(&k, Some(&cookie), ALICE, NOW + 10, LIFE).unwrap();
        assert_eq!(device.id, B64.encode([7u8; 16]));
        assert_eq!(known_device(&k, Some(&cookie), BOB, NOW, LIFE), None);
        assert_eq!(
            known_device(&key(2), Some(&cookie), ALICE, NOW, LIFE),
            None,
            "other key"
        );
        assert_eq!(known_device(&k, None, ALICE, NOW, LIFE), None);
    }

    #[test]
    fn credentials_expire_and_cannot_come_from_the_future() {
        let k = key(1);
        let cookie = after_sign_in(&k, None, ALICE, NOW, LIFE, [7; 16]);
        assert!(known_device(&k, Some(&cookie), ALICE, NOW + LIFE, LIFE).is_some());
        assert!(known_device(&k, Some(&cookie), ALICE, NOW + LIFE + 1, LIFE).is_none());
        assert!(known_device(&k, Some(&cookie), ALICE, NOW - FUTURE_SKEW_SECS, LIFE).is_some());
        assert!(known_device(&k, Some(&cookie), ALICE, NOW - FUTURE_SKEW_SECS - 1, LIFE).is_none());
    }

    #[test]
    fn tampering_breaks_the_credential() {
        let k = key(1);
        let cookie = after_sign_in(&k, None, ALICE, NOW, LIFE, [7; 16]);
        let parts: Vec<&str> = cookie.split('.').collect();
        let variants = [
            format!("{BOB}.{}.{}.{}", parts[1], parts[2], parts[3]),
            format!("{}.{}.{}.{}", parts[0], NOW + 1, parts[2], parts[3]),
            format!(
                "{}.{}.{}.{}",
                parts[0],
                parts[1],
                B64.encode([8u8; 16]),
                parts[3]
            ),
            format!(
                "{}.{}.{}.{}",
                parts[0],
                parts[1],
                parts[2],
                B64.encode([0u8; 32])
            ),
            format!("{cookie}.x"),
            cookie.to_uppercase(),
            String::new(),
            "~~~".to_owned(),
            format!("{cookie}{}", "~".repeat(MAX_COOKIE_LEN)),
        ];
        for bad in &variants {
            for account in [ALICE, BOB] {
                assert_eq!(
                    known_device(&k, Some(bad), account, NOW, LIFE),
                    None,
                    "{bad}"
                );
            }
        }
    }

    #[test]
    fn one_cookie_remembers_several_accounts_newest_first() {
        let k = key(1);
        let mut cookie = after_sign_in(&k, None, ALICE, NOW, LIFE, [1; 16]);
        cookie = after_sign_in(&k, Some(&cookie), BOB, NOW + 1, LIFE, [2; 16]);
        assert!(known_device(&k, Some(&cookie), ALICE, NOW + 2, LIFE).is_some());
        assert!(known_device(&k, Some(&cookie), BOB, NOW + 2, LIFE).is_some());
        // Signing in to Alice again replaces her credential rather than adding one.
        cookie = after_sign_in(&k, Some(&cookie), ALICE, NOW + 3, LIFE, [3; 16]);
        assert_eq!(cookie.split(SEPARATOR).count(), 2);
        let alice = known_device(&k, Some(&cookie), ALICE, NOW + 4, LIFE).unwrap();
        assert_eq!(alice.id, B64.encode([3u8; 16]));
        // The oldest account falls out beyond the limit.
        for n in 0..MAX_CREDENTIALS as u8 {
            let account = format!("{:032x}", u128::from(n) + 1);
            cookie = after_sign_in(
                &k,
                Some(&cookie),
                &account,
                NOW + 10 + u64::from(n),
                LIFE,
                [n; 16],
            );
        }
        assert_eq!(cookie.split(SEPARATOR).count(), MAX_CREDENTIALS);
        assert!(known_device(&k, Some(&cookie), BOB, NOW + 20, LIFE).is_none());
        // Junk and foreign credentials in the old cookie are dropped, not carried along.
        let mixed = format!(
            "junk~{}",
            after_sign_in(&key(9), None, BOB, NOW, LIFE, [5; 16])
        );
        let fresh = after_sign_in(&k, Some(&mixed), ALICE, NOW, LIFE, [6; 16]);
        assert_eq!(fresh.split(SEPARATOR).count(), 1);
    }

    #[test]
    fn the_cookie_value_is_cookie_safe() {
        let k = key(1);
        let cookie = after_sign_in(&k, None, ALICE, NOW, LIFE, [255; 16]);
        assert!(cookie
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)));
    }
}
