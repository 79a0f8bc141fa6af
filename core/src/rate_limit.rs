//! Rate-limit and lockout arithmetic, pure: the Lua scripts apply it atomically in Redis.
//!
//! Guards on password checks (modelled on rauthy's per-IP delays, kanidm's growing soft locks and
//! OWASP's device cookies, `crate::device`):
//! - per (account, client address) for unknown devices, per (account, device) for known ones:
//!   after `threshold` consecutive failures the pair is locked for
//!   `base · 2^(failures − threshold)` seconds, capped at `max`. Locking the *pair* means an
//!   attacker cannot lock the real user out from the user's own network or device;
//! - per client address: at most `ip_failures` failed logins per window, across all accounts
//!   (credential stuffing from one address) — unknown devices only;
//! - per account: at most `account_failures` failed logins per window from all addresses
//!   (distributed guessing) — unknown devices only, so guessing never locks the owner out of a
//!   device they signed in on before; the lock ends with the window;
//! - successes: at most `account_successes` sign-ins per account and `ip_successes` per address
//!   per window, so nobody mints sessions and argon2 work without bound.
//!
//! "Address" is the budget bucket of `crate::address` (IPv6 by /64). A successful login resets
//! its pair's failures.

/// Settings of the login guards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLimits {
    pub threshold: u32,
    pub base_lock_secs: u64,
    pub max_lock_secs: u64,
    /// Failures are forgotten after this long without another failure.
    pub forget_after_secs: u64,
    pub ip_failures: u32,
    pub ip_window_secs: u64,
    pub account_failures: u32,
    pub account_window_secs: u64,
    pub ip_successes: u32,
    pub ip_success_window_secs: u64,
    pub account_successes: u32,
    pub account_success_window_secs: u64,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            threshold: 5,
            base_lock_secs: 30,
            max_lock_secs: 900,
            forget_after_secs: 24 * 3600,
            ip_failures: 50,
            ip_window_secs: 900,
            account_failures: 100,
            account_window_secs: 3600,
            ip_successes: 200,
            ip_success_window_secs: 900,
            account_successes: 30,
            account_success_window_secs: 3600,
        }
    }
}

impl LoginLimits {
    /// Lock length after `failures` consecutive failures of one (account, IP) pair.
    pub fn lock_secs(&self, failures: u32) -> u64 {
        if failures < self.threshold {
            return 0;
        }
        let doublings = (failures - self.threshold).min(32);
        self.base_lock_secs
            .saturating_mul(1u64 << doublings)
            .min(self.max_lock_secs)
    }
}

/// A fixed-window budget: `max` events per `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub max: u32,
    pub window_secs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_grow_then_cap() {
        let l = LoginLimits::default();
        let locks: Vec<u64> = (0..12).map(|f| l.lock_secs(f)).collect();
        assert_eq!(locks, [0, 0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900]);
        assert_eq!(l.lock_secs(u32::MAX), 900, "no overflow");
    }
}
