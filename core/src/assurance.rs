//! Authentication assurance: how a session was authenticated (`amr`, RFC 8176) and when
//! (`auth_time`), the rules that combine a step-up with what the session already proved, and the
//! route rules' `mfa` / `max_age` requirements. Pure and small: the edge links this module.

/// RFC 8176 method values edgeauth issues.
pub mod amr {
    /// A password.
    pub const PWD: &str = "pwd";
    /// A one-time password: a TOTP code or a backup code.
    pub const OTP: &str = "otp";
    /// A hardware-bound key (a passkey on a security key).
    pub const HWK: &str = "hwk";
    /// A software-bound key (a synced passkey).
    pub const SWK: &str = "swk";
    /// More than one factor was used.
    pub const MFA: &str = "mfa";
}

/// Methods that are a second factor on top of a password.
const SECOND_FACTORS: [&str; 3] = [amr::OTP, amr::HWK, amr::SWK];

/// How a session (and the access tokens it hands out) was authenticated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assurance {
    /// RFC 8176 values, in canonical order (see [`Assurance::new`]).
    pub amr: Vec<String>,
    /// When the user last proved a credential for this session (Unix seconds); 0: unknown.
    pub auth_time: u64,
}

impl Assurance {
    /// From the methods just proven at `now`; adds `mfa` when a password and a second factor were
    /// both proven, or a passkey (`hwk`/`swk`: always with user verification, a device and its
    /// PIN or biometric, so multi-factor on its own). Duplicates and order do not matter.
    pub fn new(methods: &[&str], now: u64) -> Self {
        let mut amr: Vec<String> = Vec::with_capacity(methods.len() + 1);
        for method in methods {
            if *method != amr::MFA && !amr.iter().any(|m| m == method) {
                amr.push((*method).to_owned());
            }
        }
        let has_pwd = amr.iter().any(|m| m == amr::PWD);
        let passkey = amr.iter().any(|m| m == amr::HWK || m == amr::SWK);
        if passkey || (has_pwd && amr.iter().any(|m| SECOND_FACTORS.contains(&m.as_str()))) {
            amr.push(amr::MFA.to_owned());
        }
        amr.sort();
        Self {
            amr,
            auth_time: now,
        }
    }

    /// Whether a second factor (a one-time code or a passkey) is among the methods.
    pub fn has_second_factor(&self) -> bool {
        self.amr
            .iter()
            .any(|m| SECOND_FACTORS.contains(&m.as_str()))
    }

    /// Whether the last authentication happened at most `max_age` seconds before `now`.
    pub fn is_recent(&self, max_age: u64, now: u64) -> bool {
        self.auth_time > 0 && now.saturating_sub(self.auth_time) <= max_age
    }

    /// The session after a step-up with `method` at `now` (`POST /api/reauthenticate`): the
    /// time is fresh, and the methods are the one just proven plus the password the session
    /// started with when `method` is a second factor (the session then holds both factors).
    /// A password step-up drops an earlier second factor: `mfa` rules and second-factor actions
    /// then ask for it again, so a fresh password never vouches for an old code.
    pub fn after_step_up(&self, method: &str, now: u64) -> Self {
        let had_pwd = self.amr.iter().any(|m| m == amr::PWD);
        if SECOND_FACTORS.contains(&method) && had_pwd {
            Self::new(&[amr::PWD, method], now)
        } else {
            Self::new(&[method], now)
        }
    }

    /// The Redis field form: comma-separated methods.
    pub fn amr_field(&self) -> String {
        self.amr.join(",")
    }

    /// From the Redis fields (absent or unparsable: nothing proven, time unknown).
    pub fn from_fields(amr: Option<&str>, auth_time: Option<&str>) -> Self {
        Self {
            amr: amr
                .unwrap_or("")
                .split(',')
                .filter(|m| is_method(m))
                .map(str::to_owned)
                .collect(),
            auth_time: auth_time.and_then(|t| t.parse().ok()).unwrap_or(0),
        }
    }
}

/// An RFC 8176-shaped method value: 1–16 of `a-z 0-9 _`.
fn is_method(text: &str) -> bool {
    (1..=16).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A route rule's assurance requirement (`"mfa": true`, `"max_age": <seconds>`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepUpRule {
    /// A second factor must be among the token's methods.
    pub mfa: bool,
    /// The token's `auth_time` must be at most this many seconds old.
    pub max_age: Option<u64>,
}

/// Why a caller must step up (403 `step_up_required`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepUpNeeded {
    SecondFactor,
    Recent { max_age: u64 },
}

impl std::fmt::Display for StepUpNeeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SecondFactor => f.write_str("a second factor is required"),
            Self::Recent { max_age } => {
                write!(f, "an authentication within {max_age} s is required")
            }
        }
    }
}

impl StepUpRule {
    /// Whether the rule asks for anything beyond a valid session.
    pub fn is_required(&self) -> bool {
        self.mfa || self.max_age.is_some()
    }

    /// Whether `assurance` meets the rule at `now`.
    pub fn check(&self, assurance: &Assurance, now: u64) -> Result<(), StepUpNeeded> {
        if self.mfa && !assurance.has_second_factor() {
            return Err(StepUpNeeded::SecondFactor);
        }
        match self.max_age {
            Some(max_age) if !assurance.is_recent(max_age, now) => {
                Err(StepUpNeeded::Recent { max_age })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn password_and_second_factor_make_mfa() {
        assert_eq!(Assurance::new(&["pwd"], NOW).amr, ["pwd"]);
        assert_eq!(
            Assurance::new(&["otp", "pwd", "otp"], NOW).amr,
            ["mfa", "otp", "pwd"]
        );
        assert_eq!(Assurance::new(&["otp"], NOW).amr, ["otp"]);
        assert!(!Assurance::new(&["pwd"], NOW).has_second_factor());
        assert!(Assurance::new(&["otp"], NOW).has_second_factor());
        assert!(Assurance::new(&["hwk"], NOW).has_second_factor());
        assert_eq!(Assurance::new(&["swk"], NOW).amr, ["mfa", "swk"]);
        assert_eq!(
            Assurance::new(&["pwd"], NOW).after_step_up("hwk", NOW).amr,
            ["hwk", "mfa", "pwd"]
        );
    }

    #[test]
    fn step_up_keeps_the_password_only_under_a_second_factor() {
        let pwd = Assurance::new(&["pwd"], NOW - 3600);
        let up = pwd.after_step_up("otp", NOW);
        assert_eq!(up.amr, ["mfa", "otp", "pwd"]);
        assert_eq!(up.auth_time, NOW);
        let both = Assurance::new(&["pwd", "otp"], NOW - 3600);
        let down = both.after_step_up("pwd", NOW);
        assert_eq!(down.amr, ["pwd"]);
        assert!(!down.has_second_factor());
    }

    #[test]
    fn rules_demand_a_second_factor_and_recency() {
        let pwd = Assurance::new(&["pwd"], NOW - 100);
        let mfa = Assurance::new(&["pwd", "otp"], NOW - 100);
        let needs_mfa = StepUpRule {
            mfa: true,
            max_age: None,
        };
        assert_eq!(needs_mfa.check(&pwd, NOW), Err(StepUpNeeded::SecondFactor));
        assert_eq!(needs_mfa.check(&mfa, NOW), Ok(()));
        let recent = StepUpRule {
            mfa: false,
            max_age: Some(60),
        };
        assert_eq!(
            recent.check(&pwd, NOW),
            Err(StepUpNeeded::Recent { max_age: 60 })
        );
        assert_eq!(recent.check(&pwd, NOW - 40), Ok(()));
        assert_eq!(
            recent.check(&Assurance::default(), NOW),
            recent.check(&pwd, NOW)
        );
        assert!(StepUpRule::default()
            .check(&Assurance::default(), NOW)
            .is_ok());
        assert!(!StepUpRule::default().is_required());
    }

    #[test]
    fn fields_round_trip_and_junk_is_nothing() {
        let a = Assurance::new(&["pwd", "otp"], NOW);
        let back = Assurance::from_fields(Some(&a.amr_field()), Some(&NOW.to_string()));
        assert_eq!(back, a);
        let junk = Assurance::from_fields(Some("PWD,,o t p"), Some("soon"));
        assert_eq!(junk, Assurance::default());
        assert_eq!(Assurance::from_fields(None, None), Assurance::default());
    }
}
