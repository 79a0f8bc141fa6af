//! The isolate's verification keys: pinned ones plus the origin's JWKS, and when to fetch it again.
//!
//! Pure decisions with `now` passed in; the runtime does the fetch. The rules:
//!
//! - a token whose `kid` is known is verified with what the cache holds, unless the set is older
//!   than the TTL — then it is fetched again first. A pin that no fetch has confirmed yet counts
//!   from the isolate's first key lookup, so a pin, too, is checked against the origin once per
//!   TTL;
//! - a token with an unknown `kid` triggers a fetch, so a rotation at the origin reaches the edge
//!   with the first token signed by the new key;
//! - with the origin's JWKS in use, the origin decides which keys are trusted: a fetched set
//!   replaces the previous one, and a pinned key it no longer publishes is dropped too (a retired
//!   key is gone within one TTL, pinned or not). A pinned key's material still wins over a
//!   fetched key with the same `kid`;
//! - whatever the reason, an isolate starts at most one fetch per `min_refetch` interval, so a
//!   flood of random `kid`s costs the origin one request per interval, not one per token;
//! - a failed fetch keeps the keys the cache has (stale beats none while the origin is down).

use std::rc::Rc;

use edgeauth_core::keys::VerificationKeys;

/// When to fetch, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefetchPolicy {
    /// Whether the origin's JWKS is used at all.
    pub from_origin: bool,
    /// Age after which the key set is fetched again.
    pub ttl_ms: u64,
    /// Least time between two fetch attempts.
    pub min_interval_ms: u64,
}

/// What the caller should do before verifying a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Verify with [`KeyCache::keys`] as they are.
    UseCached,
    /// Fetch the origin's JWKS, report the outcome with [`KeyCache::fetched`] or
    /// [`KeyCache::fetch_failed`], then verify. The attempt is already recorded, so concurrent
    /// requests of the same isolate do not fetch too.
    Fetch,
}

pub struct KeyCache {
    policy: RefetchPolicy,
    pinned: Option<VerificationKeys>,
    /// When the current set was last confirmed by a fetch or, before any fetch succeeded, when
    /// the pin was first used.
    since_ms: Option<u64>,
    last_attempt_ms: Option<u64>,
    /// The pin alone until a fetch succeeds; then the fetched set (pinned material on a shared
    /// `kid`), rebuilt on every successful fetch.
    current: Rc<VerificationKeys>,
}

impl KeyCache {
    pub fn new(pinned: Option<VerificationKeys>, policy: RefetchPolicy) -> Self {
        let current = Rc::new(pinned.clone().unwrap_or_default());
        Self {
            policy,
            pinned,
            since_ms: None,
            last_attempt_ms: None,
            current,
        }
    }

    /// The keys to verify with now.
    pub fn keys(&self) -> Rc<VerificationKeys> {
        Rc::clone(&self.current)
    }

    /// Decides whether a token naming `kid` warrants a fetch first. Call it only for tokens
    /// that passed every check that needs no key (`edgeauth_core::token_split::decode_access_token`).
    pub fn plan(&mut self, kid: &str, now_ms: u64) -> Plan {
        if !self.policy.from_origin {
            return Plan::UseCached;
        }
        let since = *self.since_ms.get_or_insert(now_ms);
        let unknown = !self.current.contains(kid);
        let stale = now_ms.saturating_sub(since) >= self.policy.ttl_ms;
        // A clock that went backwards counts as "long ago", never as a reason to stall.
        let may_attempt = self
            .last_attempt_ms
            .is_none_or(|at| now_ms < at || now_ms - at >= self.policy.min_interval_ms);
        if (unknown || stale) && may_attempt {
            self.last_attempt_ms = Some(now_ms);
            Plan::Fetch
        } else {
            Plan::UseCached
        }
    }

    /// A fetch succeeded: the origin's set replaces the current one. Returns the pinned `kid`s
    /// the origin no longer publishes — no longer trusted, and worth a warning: the pin
    /// (`EDGEAUTH_JWKS`) should be updated.
    pub fn fetched(&mut self, keys: VerificationKeys, now_ms: u64) -> Vec<String> {
        let (current, dropped) = match &self.pinned {
            Some(pinned) => {
                let mut dropped: Vec<String> = pinned
                    .kids()
                    .filter(|kid| !keys.contains(kid))
                    .map(str::to_owned)
                    .collect();
                dropped.sort();
                (pinned.shared_with(&keys).merged(&keys), dropped)
            }
            None => (keys, Vec::new()),
        };
        self.current = Rc::new(current);
        self.since_ms = Some(now_ms);
        dropped
    }

    /// A fetch failed: keep the current keys; the next attempt waits for the interval.
    pub fn fetch_failed(&mut self, now_ms: u64) {
        self.last_attempt_ms = Some(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeauth_core::keys::{SigningKey, SigningKeyRing};
    use jwt_simple::prelude::Ed25519KeyPair;

    const POLICY: RefetchPolicy = RefetchPolicy {
        from_origin: true,
        ttl_ms: 300_000,
        min_interval_ms: 30_000,
    };
    const T0: u64 = 1_800_000_000_000;

    fn keys(kids: &[&str]) -> VerificationKeys {
        let ring = SigningKeyRing::new(
            kids.iter()
                .map(|kid| SigningKey::ed25519(kid, Ed25519KeyPair::generate()))
                .collect(),
        )
        .unwrap();
        ring.verification_keys().unwrap()
    }

    #[test]
    fn a_known_kid_needs_no_fetch_until_the_set_is_stale() {
        let mut cache = KeyCache::new(None, POLICY);
        assert_eq!(cache.plan("k1", T0), Plan::Fetch);
        cache.fetched(keys(&["k1"]), T0);
        assert_eq!(cache.plan("k1", T0 + 1), Plan::UseCached);
        assert_eq!(cache.plan("k1", T0 + 299_999), Plan::UseCached);
        assert_eq!(cache.plan("k1", T0 + 300_000), Plan::Fetch);
        cache.fetched(keys(&["k1"]), T0 + 300_100);
        assert_eq!(cache.plan("k1", T0 + 300_200), Plan::UseCached);
    }

    #[test]
    fn a_pin_alone_is_checked_against_the_origin_once_per_ttl() {
        let mut cache = KeyCache::new(Some(keys(&["pinned"])), POLICY);
        // The first lookup starts the pin's clock; no fetch is needed for its kid until the TTL.
        let start = T0 + 10_000_000;
        for t in [start, start + 299_999] {
            assert_eq!(cache.plan("pinned", t), Plan::UseCached);
        }
        assert!(cache.keys().contains("pinned"));
        assert_eq!(cache.plan("pinned", start + 300_000), Plan::Fetch);
    }

    #[test]
    fn an_unknown_kid_fetches_at_most_once_per_interval() {
        let mut cache = KeyCache::new(Some(keys(&["old"])), POLICY);
        assert_eq!(cache.plan("new", T0), Plan::Fetch);
        cache.fetched(keys(&["new", "old"]), T0 + 50);
        assert_eq!(cache.plan("new", T0 + 60), Plan::UseCached);
        // A flood of random kids: nothing until the interval has passed, then one fetch.
        let fetches = (0..10_000u64)
            .filter(|i| cache.plan(&format!("forged-{i}"), T0 + 60 + i * 10) == Plan::Fetch)
            .count();
        assert_eq!(fetches, 3, "one per 30 s over 100 s");
    }

    #[test]
    fn concurrent_requests_do_not_fetch_twice() {
        let mut cache = KeyCache::new(None, POLICY);
        assert_eq!(cache.plan("k", T0), Plan::Fetch);
        // The first fetch is still in flight.
        assert_eq!(cache.plan("k", T0 + 5), Plan::UseCached);
    }

    #[test]
    fn a_failed_fetch_keeps_the_keys_and_waits() {
        let mut cache = KeyCache::new(None, POLICY);
        assert_eq!(cache.plan("k1", T0), Plan::Fetch);
        cache.fetched(keys(&["k1"]), T0);
        assert_eq!(cache.plan("k1", T0 + 300_000), Plan::Fetch);
        cache.fetch_failed(T0 + 302_000);
        assert!(cache.keys().contains("k1"), "stale keys are kept");
        assert_eq!(cache.plan("k1", T0 + 310_000), Plan::UseCached);
        assert_eq!(cache.plan("k1", T0 + 332_000), Plan::Fetch);
    }

    #[test]
    fn a_fetch_replaces_fetched_keys() {
        let mut cache = KeyCache::new(None, POLICY);
        assert!(cache.fetched(keys(&["a", "b"]), T0).is_empty());
        cache.fetched(keys(&["b", "c"]), T0 + 400_000);
        let now = cache.keys();
        assert!(now.contains("b") && now.contains("c"));
        assert!(!now.contains("a"), "a key the origin retired is dropped");
    }

    #[test]
    fn a_pinned_key_the_origin_no_longer_publishes_is_dropped() {
        let mut cache = KeyCache::new(Some(keys(&["old", "current"])), POLICY);
        assert_eq!(cache.plan("old", T0), Plan::UseCached);
        assert_eq!(cache.plan("old", T0 + 300_000), Plan::Fetch);
        let dropped = cache.fetched(keys(&["current", "next"]), T0 + 300_050);
        assert_eq!(dropped, ["old"]);
        let now = cache.keys();
        assert!(
            !now.contains("old"),
            "the retired pinned key is no longer trusted"
        );
        assert!(now.contains("current") && now.contains("next"));
        // The retired kid is now unknown: it may trigger one more fetch per interval, never trust.
        assert_eq!(cache.plan("old", T0 + 300_060), Plan::UseCached);
        assert_eq!(cache.plan("old", T0 + 330_050), Plan::Fetch);
        cache.fetched(keys(&["current", "next"]), T0 + 330_100);
        assert!(!cache.keys().contains("old"));
    }

    #[test]
    fn pinned_material_wins_over_a_fetched_key_with_the_same_kid() {
        let pinned = keys(&["shared"]);
        let pinned_bytes = pinned.get("shared").unwrap().raw().to_vec();
        let mut cache = KeyCache::new(Some(pinned), POLICY);
        cache.fetched(keys(&["shared"]), T0);
        assert_eq!(cache.keys().get("shared").unwrap().raw(), pinned_bytes);
    }

    #[test]
    fn without_the_origin_nothing_is_ever_fetched() {
        let mut cache = KeyCache::new(
            Some(keys(&["k"])),
            RefetchPolicy {
                from_origin: false,
                ..POLICY
            },
        );
        assert_eq!(cache.plan("unknown", T0), Plan::UseCached);
        // The pin is the only source: it stays until the operator changes it.
        assert_eq!(cache.plan("k", T0 + 10_000_000_000), Plan::UseCached);
        assert!(cache.keys().contains("k"));
    }

    #[test]
    fn a_clock_that_goes_backwards_does_not_block_fetching_forever() {
        let mut cache = KeyCache::new(None, POLICY);
        assert_eq!(cache.plan("k", T0), Plan::Fetch);
        cache.fetch_failed(T0);
        assert_eq!(cache.plan("k", T0 - 1_000), Plan::Fetch);
    }
}
