//! Users' roles: names, and how they are stored in the user and session hashes (one field,
//! sorted role names separated by single spaces; `set_roles.lua` keeps both in step).

/// Longest role name.
pub const MAX_ROLE_LEN: usize = 64;
/// Most roles one user may hold (keeps the session field and the assertion small).
pub const MAX_ROLES: usize = 32;

/// Role names: 1–64 of `a-z 0-9 _ . : -`, starting with a letter or digit.
pub fn is_valid_role(role: &str) -> bool {
    (1..=MAX_ROLE_LEN).contains(&role.len())
        && role.as_bytes()[0].is_ascii_alphanumeric()
        && role.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b':' | b'-')
        })
}

/// A caller's roles: sorted, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Roles(Vec<String>);

impl Roles {
    /// From the stored field (`None`: the field is absent, no roles). Names that are not valid
    /// role names are dropped, so a hand-edited hash cannot smuggle odd text into assertions.
    pub fn from_field(field: Option<&str>) -> Self {
        let mut roles: Vec<String> = field
            .unwrap_or("")
            .split(' ')
            .filter(|r| is_valid_role(r))
            .map(str::to_owned)
            .collect();
        roles.sort();
        roles.dedup();
        roles.truncate(MAX_ROLES);
        Self(roles)
    }

    pub fn contains(&self, role: &str) -> bool {
        self.0.binary_search_by(|r| r.as_str().cmp(role)).is_ok()
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// The stored field's text.
    pub fn to_field(&self) -> String {
        self.0.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_checked() {
        for good in [
            "admin",
            "a",
            "notes:write",
            "team.ops",
            "x_1-2",
            &"r".repeat(64),
        ] {
            assert!(is_valid_role(good), "{good}");
        }
        for bad in ["", "Admin", "-x", "a b", "é", "a/b", &"r".repeat(65)] {
            assert!(!is_valid_role(bad), "{bad}");
        }
    }

    #[test]
    fn fields_parse_sorted_and_deduplicated() {
        let roles = Roles::from_field(Some("b a  b BAD a"));
        assert_eq!(roles.as_slice(), ["a", "b"]);
        assert!(roles.contains("a") && !roles.contains("c"));
        assert_eq!(roles.to_field(), "a b");
        assert_eq!(Roles::from_field(None), Roles::default());
        assert_eq!(Roles::from_field(Some("")).as_slice().len(), 0);
    }
}
