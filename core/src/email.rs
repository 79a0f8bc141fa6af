//! The canonical form of an email address: what makes two spellings one account.
//!
//! `Alice@Example.com`, `alice@ｅｘａｍｐｌｅ.com` (fullwidth) and `ALICE@EXAMPLE.COM` are one
//! mailbox to every mail system people use, so they must be one account, and one set of login
//! limits. The rule:
//! 1. refuse control, invisible (Unicode *Default_Ignorable_Code_Point*, e.g. zero-width joiner,
//!    bidi overrides) and whitespace characters anywhere: they make different addresses look
//!    alike, and no normalisation can say which one a person meant;
//! 2. NFKC, full Unicode case folding, NFKC again (NFKC_Casefold): compatibility forms such as
//!    fullwidth letters and ligatures become their plain letters, case differences vanish;
//! 3. split at the last `@`; the domain goes through IDNA (UTS #46, non-transitional, STD3
//!    rules, DNS lengths) to its ASCII form (`bücher.example` → `xn--bcher-kva.example`);
//!    a domain IDNA refuses is refused;
//! 4. the result must still be a plain `local@domain` address (RFC 5321 lengths: local part
//!    ≤ 64 octets, whole address ≤ 254) whose domain has a dot.
//!
//! The canonical form is what is stored, shown and used for uniqueness, lookups and the lockout
//! keys. Provider-specific rules (dots or `+tags` in Gmail addresses) are not applied: another
//! provider may give them meaning.

use icu_casemap::CaseMapperBorrowed;
use icu_normalizer::ComposingNormalizerBorrowed;
use icu_properties::props::{DefaultIgnorableCodePoint, WhiteSpace};
use icu_properties::CodePointSetDataBorrowed;

/// RFC 5321 caps a forward path at 254 octets.
pub const EMAIL_MAX: usize = 254;
/// RFC 5321: a local part has at most 64 octets.
pub const LOCAL_PART_MAX: usize = 64;
/// Longest input looked at, before normalisation (fullwidth characters take 3 bytes each).
const INPUT_MAX: usize = 4 * EMAIL_MAX;

/// Why an address has no canonical form; `Display` is the sentence the API shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("must be a valid email address")]
    Invalid,
    #[error("must be at most {EMAIL_MAX} characters long")]
    TooLong,
    #[error(
        "contains invisible, control or space characters, which could make two different \
         addresses look the same; type the address without them"
    )]
    Invisible,
    #[error(
        "has a domain that is not a valid domain name (international domain names must \
         follow IDNA)"
    )]
    Domain,
}

/// The canonical form of `email` (see the module docs), or why there is none.
pub fn canonical(email: &str) -> Result<String, EmailError> {
    let email = email.trim();
    if email.is_empty() {
        return Err(EmailError::Invalid);
    }
    if email.len() > INPUT_MAX {
        return Err(EmailError::TooLong);
    }
    if email.chars().any(is_invisible) {
        return Err(EmailError::Invisible);
    }
    let nfkc = ComposingNormalizerBorrowed::new_nfkc();
    let folded = CaseMapperBorrowed::new()
        .fold_string(&nfkc.normalize(email))
        .into_owned();
    let folded = nfkc.normalize(&folded);
    // Normalisation can itself produce spaces (NBSP → space) or controls: check again.
    if folded.chars().any(is_invisible) {
        return Err(EmailError::Invisible);
    }
    let (local, domain) = folded.rsplit_once('@').ok_or(EmailError::Invalid)?;
    if local.is_empty() || domain.is_empty() {
        return Err(EmailError::Invalid);
    }
    if local.len() > LOCAL_PART_MAX {
        return Err(EmailError::TooLong);
    }
    let domain = idna::domain_to_ascii_strict(domain).map_err(|_| EmailError::Domain)?;
    if !domain.contains('.') || domain.ends_with('.') {
        return Err(EmailError::Domain);
    }
    let address = format!("{local}@{domain}");
    if address.len() > EMAIL_MAX {
        return Err(EmailError::TooLong);
    }
    // Display names ("Name <a@b>"), comments and stray `@`s are not what people mean to give us.
    let parsed: email_address::EmailAddress = address.parse().map_err(|_| EmailError::Invalid)?;
    if parsed.email() != address {
        return Err(EmailError::Invalid);
    }
    Ok(address)
}

fn is_invisible(c: char) -> bool {
    c.is_control()
        || CodePointSetDataBorrowed::new::<DefaultIgnorableCodePoint>().contains(c)
        || CodePointSetDataBorrowed::new::<WhiteSpace>().contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_mailbox_are_one_address() {
        for spelling in [
            "x@example.com",
            "X@EXAMPLE.COM",
            " x@Example.com ",
            "x@ｅｘａｍｐｌｅ.com",
            "ｘ＠ｅｘａｍｐｌｅ．ｃｏｍ",
            "X@example.COM",
        ] {
            assert_eq!(
                canonical(spelling).as_deref(),
                Ok("x@example.com"),
                "{spelling}"
            );
        }
    }

    #[test]
    fn unicode_is_folded_and_domains_become_ascii() {
        assert_eq!(
            canonical("Jürgen@Bücher.Example").as_deref(),
            Ok("jürgen@xn--bcher-kva.example")
        );
        // Full case folding, not just lower-casing: ß and ẞ fold to "ss", final sigma to sigma.
        assert_eq!(
            canonical("STRAẞE@example.com"),
            canonical("strasse@example.com")
        );
        assert_eq!(canonical("ΟΔΟΣ@example.com"), canonical("οδος@example.com"));
        assert_eq!(
            canonical("oﬃce@example.com").as_deref(),
            Ok("office@example.com")
        );
        // The A-label and the U-label of one domain are one domain.
        assert_eq!(
            canonical("a@xn--bcher-kva.example"),
            canonical("a@bücher.example")
        );
    }

    #[test]
    fn invisible_and_control_characters_are_refused() {
        for sneaky in [
            "x\u{200B}@example.com",
            "x\u{200D}y@example.com",
            "x@exa\u{202E}mple.com",
            "x@exam\u{00AD}ple.com",
            "x\u{0000}@example.com",
            "x y@example.com",
            "x\u{00A0}y@example.com",
            "x@example.com\u{FEFF}x",
        ] {
            assert_eq!(canonical(sneaky), Err(EmailError::Invisible), "{sneaky:?}");
        }
    }

    #[test]
    fn bad_domains_say_so() {
        for bad in [
            "a@-example.com",
            "a@exa_mple.com",
            "a@xn--zz.example",
            "a@ex..ample.com",
        ] {
            assert_eq!(canonical(bad), Err(EmailError::Domain), "{bad}");
        }
        assert_eq!(canonical("a@localhost"), Err(EmailError::Domain));
    }

    #[test]
    fn malformed_and_oversized_addresses_are_refused() {
        for bad in [
            "",
            "nope",
            "@example.com",
            "a@",
            "Alice <a@example.com>",
            "a@@example.com",
            "a＠b@example.com",
        ] {
            assert!(canonical(bad).is_err(), "{bad}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(canonical(&long_local), Err(EmailError::TooLong));
        let long = format!("{}@{}.com", "a".repeat(60), "b".repeat(250));
        assert!(canonical(&long).is_err());
        assert_eq!(canonical(&"a".repeat(5000)), Err(EmailError::TooLong));
    }
}
