//! The mails' text and HTML parts, from one template per kind and part (minijinja; HTML is
//! auto-escaped). No images, no tracking pixels, no tracked links.

use edgeauth_core::mail::{MailKind, OutboxMail};
use minijinja::{context, Environment};

/// Product name shown in mails.
const PRODUCT: &str = "edgeauth";

pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Templates(Environment<'static>);

const SOURCES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    (
        "verify_email.txt",
        include_str!("templates/verify_email.txt"),
    ),
    (
        "verify_email.html",
        include_str!("templates/verify_email.html"),
    ),
    (
        "password_reset.txt",
        include_str!("templates/password_reset.txt"),
    ),
    (
        "password_reset.html",
        include_str!("templates/password_reset.html"),
    ),
    (
        "confirm_email_change.txt",
        include_str!("templates/confirm_email_change.txt"),
    ),
    (
        "confirm_email_change.html",
        include_str!("templates/confirm_email_change.html"),
    ),
    (
        "email_change_requested.txt",
        include_str!("templates/email_change_requested.txt"),
    ),
    (
        "email_change_requested.html",
        include_str!("templates/email_change_requested.html"),
    ),
    (
        "email_changed.txt",
        include_str!("templates/email_changed.txt"),
    ),
    (
        "email_changed.html",
        include_str!("templates/email_changed.html"),
    ),
    (
        "password_changed.txt",
        include_str!("templates/password_changed.txt"),
    ),
    (
        "password_changed.html",
        include_str!("templates/password_changed.html"),
    ),
];

fn subject(kind: MailKind) -> &'static str {
    match kind {
        MailKind::VerifyEmail => "Confirm your email address",
        MailKind::PasswordReset => "Reset your password",
        MailKind::ConfirmEmailChange => "Confirm your new email address",
        MailKind::EmailChangeRequested => "A change of your email address was requested",
        MailKind::EmailChanged => "Your email address was changed",
        MailKind::PasswordChanged => "Your password was changed",
    }
}

impl Templates {
    pub fn new() -> Result<Self, String> {
        let mut env = Environment::new();
        for (name, source) in SOURCES {
            env.add_template(name, source)
                .map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(Self(env))
    }

    /// Both parts of `mail`; `link` is required by the kinds that carry one.
    pub fn render(&self, mail: &OutboxMail, link: Option<&str>) -> Result<Rendered, String> {
        if mail.kind.link().is_some() && link.is_none() {
            return Err("a link mail without its link".to_owned());
        }
        let ctx = context! {
            product => PRODUCT,
            to => &mail.to,
            username => &mail.username,
            other_email => &mail.other_email,
            valid_minutes => mail.valid_minutes,
            link => link,
        };
        let part = |ext: &str| {
            let name = format!("{}.{ext}", mail.kind.as_str());
            self.0
                .get_template(&name)
                .and_then(|t| t.render(&ctx))
                .map_err(|e| format!("{name}: {e}"))
        };
        Ok(Rendered {
            subject: subject(mail.kind).to_owned(),
            text: part("txt")?,
            html: part("html")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(kind: MailKind) -> OutboxMail {
        OutboxMail {
            kind,
            to: "ada@example.com".into(),
            username: "<ada>".into(),
            other_email: Some("new@example.com".into()),
            valid_minutes: Some(30),
        }
    }

    #[test]
    fn every_kind_renders_both_parts_and_html_is_escaped() {
        let t = Templates::new().unwrap();
        for kind in [
            MailKind::VerifyEmail,
            MailKind::PasswordReset,
            MailKind::ConfirmEmailChange,
            MailKind::EmailChangeRequested,
            MailKind::EmailChanged,
            MailKind::PasswordChanged,
        ] {
            let link = kind.link().map(|_| "https://a.example/#reset=T0K&x");
            let r = t.render(&mail(kind), link).unwrap();
            assert!(r.text.contains("<ada>"), "{kind:?}: {}", r.text);
            assert!(
                r.html.contains("&lt;ada&gt;") && !r.html.contains("<ada>"),
                "{kind:?}"
            );
            assert!(!r.html.contains("<img"), "no tracking pixels");
            if let Some(link) = link {
                assert!(r.text.contains(link), "{kind:?}");
                assert!(r.html.contains("T0K&amp;x"), "{kind:?}: {}", r.html);
                assert!(r.text.contains("30 minutes"), "{kind:?}");
            }
        }
    }

    #[test]
    fn a_link_mail_without_a_link_is_refused() {
        let t = Templates::new().unwrap();
        assert!(t.render(&mail(MailKind::PasswordReset), None).is_err());
    }
}
