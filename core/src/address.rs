//! Which client a per-address budget counts: IPv4 addresses one by one, IPv6 addresses by
//! network prefix, IPv4-mapped IPv6 addresses as the IPv4 address they carry.
//!
//! One IPv6 subscriber is routinely given a whole /64 (often a /56 or /48), so counting every
//! IPv6 address on its own would hand each client 2^64 budgets. IPv4-mapped addresses
//! (`::ffff:192.0.2.1`) are the same client as `192.0.2.1` and must share its budget.

use std::net::{IpAddr, Ipv6Addr};

/// IPv6 prefix length that identifies one client by default: the /64 a subscriber's LAN gets.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// Bucket of addresses the edge could not read (no or a malformed `CF-Connecting-IP`).
pub const UNKNOWN: &str = "unknown";

/// The budget bucket of a client address as the edge reported it: an IPv4 address as is, an
/// IPv6 address as its `/prefix` network (`2001:db8:1:2::/64`), an IPv4-mapped IPv6 address as
/// IPv4. Anything that is not an address is [`UNKNOWN`]. `prefix` is clamped to 1–128.
pub fn bucket(client_ip: &str, ipv6_prefix: u8) -> String {
    match client_ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = ipv6_prefix.clamp(1, 128);
                let mask = u128::MAX << (128 - u32::from(prefix));
                let network = Ipv6Addr::from(u128::from(v6) & mask);
                format!("{network}/{prefix}")
            }
        },
        Err(_) => UNKNOWN.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_is_its_own_bucket() {
        assert_eq!(bucket("203.0.113.7", 64), "203.0.113.7");
        assert_eq!(bucket(" 203.0.113.7 ", 64), "203.0.113.7");
        assert_ne!(bucket("203.0.113.7", 64), bucket("203.0.113.8", 64));
    }

    #[test]
    fn ipv6_is_bucketed_by_prefix() {
        let a = bucket("2001:db8:1:2::1", 64);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, bucket("2001:db8:1:2:ffff:ffff:ffff:ffff", 64));
        assert_eq!(a, bucket("2001:DB8:1:2:0:0:0:99", 64));
        assert_ne!(a, bucket("2001:db8:1:3::1", 64));
        assert_eq!(bucket("2001:db8:1:2::1", 48), "2001:db8:1::/48");
        assert_eq!(bucket("2001:db8::1", 128), "2001:db8::1/128");
        assert_eq!(
            bucket("2001:db8::1", 0),
            "::/1",
            "clamped to at least 1 bit"
        );
        assert_eq!(bucket("2001:db8::1", 200), "2001:db8::1/128");
    }

    #[test]
    fn ipv4_mapped_ipv6_is_the_ipv4_client() {
        assert_eq!(bucket("::ffff:198.18.0.1", 64), "198.18.0.1");
        assert_eq!(bucket("::ffff:c612:1", 64), "198.18.0.1");
    }

    #[test]
    fn junk_is_unknown() {
        for junk in [
            "",
            "unknown",
            "1.2.3",
            "fe80::1%eth0",
            "::ffff:1.2.3.4.5",
            "1.2.3.4:80",
        ] {
            assert_eq!(bucket(junk, 64), UNKNOWN, "{junk}");
        }
    }
}
