//! Input rules of the public API (SPEC "Input rules"), as pure functions returning field errors.

use crate::error::FieldError;

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub use crate::email::EMAIL_MAX;

/// A registration that passed every rule. Emails are compared in canonical form; the username
/// keeps the user's spelling for display and is compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub username: String,
    pub email: String,
    pub password: String,
}

pub fn validate_registration(
    username: &str,
    email: &str,
    password: &str,
) -> Result<Registration, Vec<FieldError>> {
    let mut errors = Vec::new();
    if let Err(e) = check_username(username) {
        errors.push(e);
    }
    let email = match normalize_email(email) {
        Ok(email) => email,
        Err(e) => {
            errors.push(e);
            String::new()
        }
    };
    if let Err(e) = check_new_password("password", password, &[username, &email]) {
        errors.push(e);
    }
    if errors.is_empty() {
        Ok(Registration {
            username: username.to_owned(),
            email,
            password: password.to_owned(),
        })
    } else {
        Err(errors)
    }
}

pub fn check_username(username: &str) -> Result<(), FieldError> {
    let len = username.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
        return Err(FieldError::new(
            "username",
            format!("must be {USERNAME_MIN} to {USERNAME_MAX} characters long"),
        ));
    }
    if !username
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(FieldError::new(
            "username",
            "may only contain letters A–Z, digits and underscores",
        ));
    }
    Ok(())
}

/// Validates an email address and returns its canonical form (`crate::email`), the form used for
/// uniqueness, lookups and lockouts; the field error says why an address is refused.
pub fn normalize_email(email: &str) -> Result<String, FieldError> {
    crate::email::canonical(email).map_err(|e| FieldError::new("email", e.to_string()))
}

/// Length rule for a password the user is presenting (login, current password): no strength
/// check, but never silently truncate or accept absurd sizes.
pub fn check_password_length(field: &str, password: &str) -> Result<(), FieldError> {
    let len = password.chars().count();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&len) {
        return Err(FieldError::new(
            field,
            format!("must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long"),
        ));
    }
    Ok(())
}

/// Rules for a password being set: length (NIST SP 800-63B, no composition rules) and, with
/// the `password-strength` feature, rejection of common and easily guessed passwords.
pub fn check_new_password(
    field: &str,
    password: &str,
    user_inputs: &[&str],
) -> Result<(), FieldError> {
    check_password_length(field, password)?;
    strength::check(field, password, user_inputs)
}

#[cfg(feature = "password-strength")]
mod strength {
    use super::FieldError;

    /// zxcvbn score required: 3 = "safely unguessable" against throttled online attacks and
    /// offline slow-hash attacks alike.
    const MIN_SCORE: u8 = 3;

    pub fn check(field: &str, password: &str, user_inputs: &[&str]) -> Result<(), FieldError> {
        let estimate = zxcvbn::zxcvbn(password, user_inputs);
        if u8::from(estimate.score()) >= MIN_SCORE {
            return Ok(());
        }
        let mut message = String::from("is too easy to guess");
        if let Some(warning) = estimate.feedback().and_then(|f| f.warning()) {
            message.push_str(&format!(" ({warning})"));
        }
        message.push_str("; a few uncommon words together make a strong password");
        Err(FieldError::new(field, message))
    }
}

#[cfg(not(feature = "password-strength"))]
mod strength {
    use super::FieldError;

    pub fn check(_: &str, _: &str, _: &[&str]) -> Result<(), FieldError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRONG: &str = "correct horse battery staple 42";

    #[test]
    fn usernames() {
        assert!(check_username("ab").is_err());
        assert!(check_username("abc").is_ok());
        assert!(check_username(&"a".repeat(32)).is_ok());
        assert!(check_username(&"a".repeat(33)).is_err());
        assert!(check_username("with space").is_err());
        assert!(check_username("ünï").is_err());
        assert!(check_username("Good_Name_1").is_ok());
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email(" Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        for bad in ["", "nope", "a@b", "Alice <a@example.com>", "a@@example.com"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
        assert!(normalize_email("x\u{200B}@example.com")
            .unwrap_err()
            .message
            .contains("invisible"));
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(normalize_email(&long).is_err());
    }

    #[test]
    fn password_length_counts_characters_not_bytes() {
        assert!(check_password_length("p", "1234567").is_err());
        assert!(check_password_length("p", "ééééééé").is_err());
        assert!(check_password_length("p", "éééééééé").is_ok());
        assert!(check_password_length("p", &"x".repeat(129)).is_err());
    }

    #[test]
    fn registration_collects_every_field_error() {
        let errors = validate_registration("x", "bad", "short").unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["username", "email", "password"]);
        let ok = validate_registration("alice_1", "Alice@Example.com", STRONG).unwrap();
        assert_eq!(ok.email, "alice@example.com");
    }

    #[cfg(feature = "password-strength")]
    #[test]
    fn common_passwords_are_rejected_with_a_reason() {
        for weak in ["password", "password123", "qwertyuiop", "alice_1alice_1"] {
            let err = check_new_password("password", weak, &["alice_1"]).unwrap_err();
            assert!(
                err.message.contains("too easy to guess"),
                "{weak}: {}",
                err.message
            );
        }
        assert!(check_new_password("password", STRONG, &[]).is_ok());
    }
}
