//! Outgoing mail: the SMTP settings, the templates and the delivery loop that drains the Redis
//! outbox. Requests only queue mail (in the same Redis step as the change that causes it); this
//! loop sends it, with retries and backoff, so no request ever waits for SMTP.

pub mod templates;

use std::sync::Arc;
use std::time::Duration;

use edgeauth_core::mail::{AfterFailure, LinkKey, MailKind, OutboxMail, TokenHash};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Notify;

use crate::app::AppState;
use crate::error::AppResult;
use crate::now_millis;
use crate::sessions::random_id;
use crate::store::mail::{Claimed, Settle};

/// Queue depth after the last claim (mails waiting or being sent).
pub const QUEUE_DEPTH: &str = "edgeauth_mail_queue_depth";
/// Mails queued by this origin's requests, by kind.
pub const QUEUED: &str = "edgeauth_mail_queued_total";
/// Mails handed to the SMTP server, by kind.
pub const SENT: &str = "edgeauth_mail_sent_total";
/// Failed delivery attempts (each is retried until the last), by kind.
pub const FAILURES: &str = "edgeauth_mail_failures_total";
/// Mails given up after the last attempt, by kind.
pub const DEAD: &str = "edgeauth_mail_dead_total";

/// How long a queued mail's record lives at most (past every retry).
pub const RETENTION_SECS: u64 = 7 * 86_400;
/// How long a sent mail's record stays (its `sent` marker stops a second delivery).
pub const SENT_KEEP_SECS: u64 = 86_400;
/// Mails claimed at once.
const BATCH: u32 = 10;

/// Where and how to send mail.
#[derive(Clone)]
pub struct SmtpSettings {
    url: String,
    credentials: Option<Credentials>,
    timeout: Duration,
    pub from: Mailbox,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmtpSettings(..)")
    }
}

impl SmtpSettings {
    /// Checks the URL (scheme, host, credentials) without connecting.
    pub fn parse(
        url: &str,
        username: Option<&str>,
        password: Option<&str>,
        timeout_secs: u64,
    ) -> Result<Self, String> {
        if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
            return Err("must start with smtp:// or smtps://".to_owned());
        }
        let settings = Self {
            url: url.to_owned(),
            credentials: match (username, password) {
                (Some(u), Some(p)) => Some(Credentials::new(u.to_owned(), p.to_owned())),
                (None, None) => None,
                _ => {
                    return Err(
                        "EDGEAUTH_SMTP_USERNAME and EDGEAUTH_SMTP_PASSWORD go together".to_owned(),
                    )
                }
            },
            timeout: Duration::from_secs(timeout_secs),
            from: "edgeauth <edgeauth@localhost.invalid>"
                .parse()
                .map_err(|e| format!("{e}"))?,
        };
        settings.transport()?;
        Ok(settings)
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        // The URL may hold a password: never echo it.
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&self.url)
            .map_err(|e| format!("is not a usable SMTP URL ({})", error_kind(&e)))?
            .timeout(Some(self.timeout));
        if let Some(credentials) = &self.credentials {
            builder = builder.credentials(credentials.clone());
        }
        Ok(builder.build())
    }
}

/// The reason of a lettre error without its source chain (which may quote the URL).
fn error_kind(e: &lettre::transport::smtp::Error) -> &'static str {
    if e.is_client() {
        "bad URL or parameters"
    } else if e.is_tls() {
        "TLS"
    } else if e.is_transient() {
        "transient server error"
    } else if e.is_permanent() {
        "permanent server error"
    } else if e.is_timeout() {
        "timeout"
    } else {
        "connection"
    }
}

/// `EDGEAUTH_MAIL_FROM`: `Name <address>` or `address`.
pub fn parse_from(text: &str) -> Result<Mailbox, String> {
    text.trim()
        .parse::<Mailbox>()
        .map_err(|e| format!("must be `Name <address>` or `address`: {e}"))
}

/// Wakes the delivery loop when a request queued mail.
#[derive(Clone, Default)]
pub struct Mailer {
    wake: Arc<Notify>,
}

impl Mailer {
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// A mail about to be queued: its id (from which the link token is derived) and contents.
pub struct NewMail {
    pub id: String,
    pub mail: OutboxMail,
}

impl NewMail {
    /// A fresh message id for `mail`, and the hash of its link token if the kind has a link.
    pub fn new(key: &LinkKey, mail: OutboxMail) -> AppResult<(Self, Option<TokenHash>)> {
        let id = random_id()?;
        let hash = mail.kind.link().map(|_| key.token(&id).hash());
        Ok((Self { id, mail }, hash))
    }

    /// A notice (no link), addressed.
    pub fn notice(
        kind: MailKind,
        to: &str,
        username: &str,
        other: Option<&str>,
    ) -> AppResult<Self> {
        Ok(Self {
            id: random_id()?,
            mail: OutboxMail {
                kind,
                to: to.to_owned(),
                username: username.to_owned(),
                other_email: other.map(str::to_owned),
                valid_minutes: None,
            },
        })
    }
}

/// Counts a mail queued by a request and wakes the loop.
pub fn queued(app: &AppState, kind: MailKind) {
    metrics::counter!(QUEUED, "kind" => kind.as_str()).increment(1);
    app.mailer.wake();
}

pub fn describe_metrics() {
    metrics::describe_gauge!(
        QUEUE_DEPTH,
        "Mails in the outbox (waiting, retrying or being sent)."
    );
    metrics::describe_counter!(QUEUED, "Mails queued by this origin, by kind.");
    metrics::describe_counter!(SENT, "Mails accepted by the SMTP server, by kind.");
    metrics::describe_counter!(FAILURES, "Failed delivery attempts (retried), by kind.");
    metrics::describe_counter!(DEAD, "Mails given up after the last attempt, by kind.");
}

/// Runs the delivery loop until the process ends. Does nothing when mail is off.
pub async fn deliver_forever(app: AppState) {
    let Some(smtp) = app.settings.mail.smtp.clone() else {
        return;
    };
    let transport = match smtp.transport() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "EDGEAUTH_SMTP_URL: mail delivery is off");
            return;
        }
    };
    let templates = match templates::Templates::new() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "mail templates do not load: mail delivery is off");
            return;
        }
    };
    let sweep = Duration::from_secs(app.settings.mail.sweep_secs);
    // A claimed mail returns to the queue after this long, in case this origin dies mid-send.
    let lease_ms = smtp.timeout.as_millis() as u64 * 3 + 5_000;
    loop {
        let claimed = match app.store.claim_mail(now_millis(), lease_ms, BATCH).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the mail outbox; retrying");
                tokio::time::sleep(sweep.min(Duration::from_secs(5))).await;
                continue;
            }
        };
        metrics::gauge!(QUEUE_DEPTH).set(claimed.depth as f64);
        if !claimed.mails.is_empty() {
            for mail in claimed.mails {
                deliver(&app, &transport, &templates, &smtp.from, mail).await;
            }
            continue;
        }
        let wait = claimed
            .next_due_ms
            .map_or(sweep, |due| {
                Duration::from_millis(due.saturating_sub(now_millis()))
            })
            .min(sweep);
        tokio::select! {
            () = app.mailer.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn deliver(
    app: &AppState,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    templates: &templates::Templates,
    from: &Mailbox,
    claimed: Claimed,
) {
    let settings = &app.settings.mail;
    let kind = claimed
        .mail
        .as_ref()
        .map_or("unreadable", |m| m.kind.as_str());
    let outcome = match &claimed.mail {
        Ok(mail) => {
            let link = mail.kind.link().map(|purpose| {
                let token = settings.link_key.token(&claimed.id);
                edgeauth_core::mail::link_url(&settings.public_url, purpose, &token)
            });
            match build_message(templates, from, &claimed.id, mail, link.as_deref()) {
                Ok(message) => transport
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("SMTP: {} ({e})", error_kind(&e))),
                // A mail that cannot be built now never can: give it up at once.
                Err(e) => Err(format!("unsendable: {e}")),
            }
        }
        Err(e) => Err(format!("unsendable: unreadable mail record: {e}")),
    };
    let settle = match &outcome {
        Ok(()) => {
            metrics::counter!(SENT, "kind" => kind).increment(1);
            tracing::info!(mail_id = %claimed.id, kind, attempt = claimed.attempt, "mail sent");
            Settle::Sent
        }
        Err(error) => {
            metrics::counter!(FAILURES, "kind" => kind).increment(1);
            let give_up = error.starts_with("unsendable");
            match settings.retry.after_failure(claimed.attempt, now_millis()) {
                AfterFailure::RetryAt { due_ms } if !give_up => {
                    tracing::warn!(mail_id = %claimed.id, kind, attempt = claimed.attempt, retry_in_ms = due_ms.saturating_sub(now_millis()), %error, "mail delivery failed; will retry");
                    Settle::Retry { due_ms }
                }
                _ => {
                    metrics::counter!(DEAD, "kind" => kind).increment(1);
                    tracing::error!(mail_id = %claimed.id, kind, attempt = claimed.attempt, %error, "mail given up");
                    Settle::Dead
                }
            }
        }
    };
    let error = outcome.err().unwrap_or_default();
    if let Err(e) = app.store.settle_mail(&claimed.id, &settle, &error).await {
        // The lease ends and the mail is claimed again; a sent one may then go out twice,
        // which the Message-ID lets mail clients fold into one.
        tracing::warn!(mail_id = %claimed.id, error = %e, "cannot record the delivery outcome");
    }
}

fn build_message(
    templates: &templates::Templates,
    from: &Mailbox,
    id: &str,
    mail: &OutboxMail,
    link: Option<&str>,
) -> Result<Message, String> {
    let to: Mailbox = mail.to.parse().map_err(|e| format!("bad recipient: {e}"))?;
    let rendered = templates.render(mail, link)?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(rendered.subject)
        // One event, one Message-ID: should a delivery be repeated after a crash, mail clients
        // show it once.
        .message_id(Some(format!("<{id}@edgeauth>")))
        .multipart(MultiPart::alternative_plain_html(
            rendered.text,
            rendered.html,
        ))
        .map_err(|e| format!("cannot build the message: {e}"))
}
