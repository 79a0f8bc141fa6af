//! The isolate's verification keys: pinned ones plus the origin's JWKS, and when to fetch it again.
//!
//! Pure decisions with `now` passed in; the runtime does the fetch. The rules:
//!
//! - a token whose `kid` is known is verified with what the cache holds, unless the fetched set
//!   is older than the TTL — then it is fetched again first;
//! - a token with an unknown `kid` triggers a fetch, so a rotation at the origin reaches the edge
//!   with the first token signed by the new key;
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
    /// Age after which a fetched set is fetched again.
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
    fetched_at_ms: Option<u64>,
    last_attempt_ms: Option<u64>,
    /// Pinned ∪ fetched (pinned wins on a shared `kid`), rebuilt on every successful fetch.
    current: Rc<VerificationKeys>,
}

impl KeyCache {
    pub fn new(pinned: Option<VerificationKeys>, policy: RefetchPolicy) -> Self {
        let current = Rc::new(pinned.clone().unwrap_or_default());
        Self {
            policy,
            pinned,
            fetched_at_ms: None,
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
        let unknown = !self.current.contains(kid);
        let stale = self
            .fetched_at_ms
            .is_some_and(|at| now_ms.saturating_sub(at) >= self.policy.ttl_ms);
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

    /// A fetch succeeded: the origin's set replaces the previously fetched one (keys it no
    /// longer publishes are dropped; pinned keys stay).
    pub fn fetched(&mut self, keys: VerificationKeys, now_ms: u64) {
        self.current = Rc::new(match &self.pinned {
            Some(pinned) => pinned.merged(&keys),
            None => keys,
        });
        self.fetched_at_ms = Some(now_ms);
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
    fn pinned_keys_alone_never_fetch_for_their_kids() {
        let mut cache = KeyCache::new(Some(keys(&["pinned"])), POLICY);
        for t in [T0, T0 + 10_000_000] {
            assert_eq!(cache.plan("pinned", t), Plan::UseCached);
        }
        assert!(cache.keys().contains("pinned"));
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
    fn a_fetch_replaces_fetched_keys_but_keeps_pinned_ones() {
        let pinned = keys(&["pinned"]);
        let mut cache = KeyCache::new(Some(pinned), POLICY);
        cache.fetched(keys(&["a", "b"]), T0);
        cache.fetched(keys(&["b", "c"]), T0 + 400_000);
        let now = cache.keys();
        assert!(now.contains("pinned") && now.contains("b") && now.contains("c"));
        assert!(!now.contains("a"), "a key the origin retired is dropped");
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
    }

    #[test]
    fn a_clock_that_goes_backwards_does_not_block_fetching_forever() {
        let mut cache = KeyCache::new(None, POLICY);
        assert_eq!(cache.plan("k", T0), Plan::Fetch);
        cache.fetch_failed(T0);
        assert_eq!(cache.plan("k", T0 - 1_000), Plan::Fetch);
    }
}
