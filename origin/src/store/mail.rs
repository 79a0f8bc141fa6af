//! The outbox and email link tokens in Redis: every state change that sends mail queues it in
//! the same script, and the delivery loop claims and settles mails here.

use edgeauth_core::mail::{OutboxMail, Purpose, TokenHash};
use edgeauth_core::rate_limit::Budget;
use edgeauth_core::redis_layout::{self as layout, scripts};
use edgeauth_upstash::{cmd, Script, Value};

use super::{hash_fields, unexpected, Checked, Store};
use crate::error::AppResult;
use crate::mail::{NewMail, RETENTION_SECS, SENT_KEEP_SECS};
use crate::now_millis;

/// The scripts of this module.
#[derive(Clone)]
pub struct MailScripts {
    request_link: Script,
    verify_email: Script,
    reset_password: Script,
    request_email_change: Script,
    confirm_email_change: Script,
    claim_mail: Script,
    mail_done: Script,
}

impl MailScripts {
    pub fn new() -> Self {
        Self {
            request_link: Script::new(scripts::REQUEST_LINK),
            verify_email: Script::new(scripts::VERIFY_EMAIL),
            reset_password: Script::new(scripts::RESET_PASSWORD),
            request_email_change: Script::new(scripts::REQUEST_EMAIL_CHANGE),
            confirm_email_change: Script::new(scripts::CONFIRM_EMAIL_CHANGE),
            claim_mail: Script::new(scripts::CLAIM_MAIL),
            mail_done: Script::new(scripts::MAIL_DONE),
        }
    }

    /// Names for the Redis metrics.
    pub fn names(&self) -> Vec<(&'static str, &Script)> {
        vec![
            ("request_link", &self.request_link),
            ("verify_email", &self.verify_email),
            ("reset_password", &self.reset_password),
            ("request_email_change", &self.request_email_change),
            ("confirm_email_change", &self.confirm_email_change),
            ("claim_mail", &self.claim_mail),
            ("mail_done", &self.mail_done),
        ]
    }
}

impl Default for MailScripts {
    fn default() -> Self {
        Self::new()
    }
}

/// A mail with a link, and the token record to write with it.
pub struct LinkMail<'a> {
    pub mail: &'a NewMail,
    pub token: &'a TokenHash,
    /// Unix seconds.
    pub expires_at: u64,
    pub ttl_secs: u64,
}

impl LinkMail<'_> {
    /// The token block, then the mail block (see `mail_lib.lua`).
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            layout::LINK_TOKEN_PREFIX.to_owned(),
            self.token.0.clone(),
            self.expires_at.to_string(),
            self.ttl_secs.to_string(),
        ];
        args.extend(mail_args(self.mail));
        args
    }
}

/// The mail block of `mail_lib.lua`: id, JSON, now (ms), retention, mail prefix, outbox.
pub fn mail_args(mail: &NewMail) -> Vec<String> {
    vec![
        mail.id.clone(),
        mail.mail.to_json(),
        now_millis().to_string(),
        RETENTION_SECS.to_string(),
        layout::MAIL_PREFIX.to_owned(),
        layout::OUTBOX.to_owned(),
    ]
}

/// What asking for a link by email did.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkRequest {
    /// The mail is queued.
    Queued,
    /// Nothing was sent: no such account, already verified, or the email's budget is used up.
    NotSent,
    /// The client address used up its budget.
    Limited { retry_after: u64 },
}

/// A live token record, read before the work (password hashing) that precedes using it.
pub struct LinkRecord {
    pub purpose: String,
    pub user_id: String,
    /// The address the link was sent to.
    pub email: String,
    pub expires_at: u64,
}

/// A mail the delivery loop claimed.
pub struct Claimed {
    pub id: String,
    /// The stored mail, or why it cannot be read.
    pub mail: Result<OutboxMail, String>,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// One claim of the delivery loop.
pub struct Claim {
    pub depth: u64,
    /// When the earliest remaining mail is due (ms), if any.
    pub next_due_ms: Option<u64>,
    pub mails: Vec<Claimed>,
}

/// How a delivery attempt ended.
pub enum Settle {
    Sent,
    Retry { due_ms: u64 },
    Dead,
}

/// Outcome of confirming an email change.
pub enum EmailChange {
    Done,
    Invalid,
    Taken,
}

/// Outcome of starting an email change.
pub enum ChangeRequest {
    Queued,
    Taken,
    Stale,
}

impl Store {
    /// Asks for a reset or verification link by email (see `request_link.lua`).
    #[allow(clippy::too_many_arguments)]
    pub async fn request_link(
        &self,
        purpose: Purpose,
        email: &str,
        address: &str,
        per_ip: Budget,
        per_email: Budget,
        mail: &NewMail,
        token: &TokenHash,
        ttl_secs: u64,
        now: u64,
    ) -> AppResult<LinkRequest> {
        let action = purpose.as_str();
        let link = LinkMail {
            mail,
            token,
            expires_at: now + ttl_secs,
            ttl_secs,
        };
        let args = [
            per_ip.max.to_string(),
            per_ip.window_secs.to_string(),
            per_email.max.to_string(),
            per_email.window_secs.to_string(),
            action.to_owned(),
            layout::USER_PREFIX.to_owned(),
            layout::newest_link_prefix(purpose),
        ]
        .into_iter()
        .chain(link.args());
        let reply = self
            .redis
            .eval_script(
                &self.mail.request_link,
                [
                    // One address budget for every mail asked for without signing in.
                    layout::action_budget("mail", address),
                    layout::mail_budget(action, &layout::account_tag(email)),
                    layout::user_by_email(email),
                ],
                args,
            )
            .await?;
        let items = reply.as_array().unwrap_or_default();
        match items.first().and_then(Value::as_str) {
            Some("queued") => Ok(LinkRequest::Queued),
            Some("quiet" | "unknown" | "skipped") => Ok(LinkRequest::NotSent),
            Some("limited") => Ok(LinkRequest::Limited {
                retry_after: items.get(1).and_then(Value::as_i64).unwrap_or(1).max(1) as u64,
            }),
            _ => Err(unexpected("request_link", &reply)),
        }
    }

    /// The live record of a token, if any (purpose and expiry are checked again when it is
    /// used).
    pub async fn link_record(&self, token: &TokenHash, now: u64) -> AppResult<Option<LinkRecord>> {
        let reply = self
            .redis
            .execute(&cmd("HGETALL").arg(layout::link_token(token)))
            .await?;
        let mut fields = hash_fields(&reply);
        let mut take = |name: &str| fields.remove(name).unwrap_or_default();
        let record = LinkRecord {
            purpose: take("p"),
            user_id: take("uid"),
            email: take("email"),
            expires_at: take("exp").parse().unwrap_or(0),
        };
        Ok((record.expires_at > now && !record.user_id.is_empty()).then_some(record))
    }

    /// Uses a verification token; true if the address is now verified.
    pub async fn verify_email(&self, token: &TokenHash, now: u64) -> AppResult<bool> {
        let reply = self
            .redis
            .eval_script(
                &self.mail.verify_email,
                [layout::link_token(token)],
                [
                    now.to_string(),
                    layout::USER_PREFIX.to_owned(),
                    layout::newest_link_prefix(Purpose::Verify),
                ],
            )
            .await?;
        match reply.as_str() {
            Some("ok") => Ok(true),
            Some("invalid") => Ok(false),
            _ => Err(unexpected("verify_email", &reply)),
        }
    }

    /// Uses a reset token for `user_id` (see `reset_password.lua`); `Stale` when the token is
    /// no longer live. Returns the number of sessions revoked.
    pub async fn reset_password(
        &self,
        token: &TokenHash,
        user_id: &str,
        new_hash: &str,
        notice: &NewMail,
        now: u64,
    ) -> AppResult<Checked<u64>> {
        let reply = self
            .redis
            .eval_script(
                &self.mail.reset_password,
                [
                    layout::link_token(token),
                    layout::user(user_id),
                    layout::user_sessions(user_id),
                    layout::newest_link(Purpose::Reset, user_id),
                ],
                [
                    now.to_string(),
                    user_id.to_owned(),
                    new_hash.to_owned(),
                    layout::SESSION_PREFIX.to_owned(),
                ]
                .into_iter()
                .chain(mail_args(notice)),
            )
            .await?;
        let items = reply.as_array().unwrap_or_default();
        match items.first().and_then(Value::as_str) {
            Some("ok") => Ok(Checked::Done(
                items.get(1).and_then(Value::as_i64).unwrap_or(0).max(0) as u64,
            )),
            Some("invalid") => Ok(Checked::Stale),
            _ => Err(unexpected("reset_password", &reply)),
        }
    }

    /// Starts an email change (see `request_email_change.lua`).
    pub async fn request_email_change(
        &self,
        user_id: &str,
        current_email: &str,
        link: &LinkMail<'_>,
        notice: &NewMail,
    ) -> AppResult<ChangeRequest> {
        let new_email = &link.mail.mail.to;
        let reply = self
            .redis
            .eval_script(
                &self.mail.request_email_change,
                [
                    layout::user_by_email(new_email),
                    layout::user(user_id),
                    layout::newest_link(Purpose::ChangeEmail, user_id),
                ],
                [
                    user_id.to_owned(),
                    current_email.to_owned(),
                    new_email.clone(),
                ]
                .into_iter()
                .chain(link.args())
                .chain([notice.id.clone(), notice.mail.to_json()]),
            )
            .await?;
        match reply.as_str() {
            Some("ok") => Ok(ChangeRequest::Queued),
            Some("taken") => Ok(ChangeRequest::Taken),
            Some("stale") => Ok(ChangeRequest::Stale),
            _ => Err(unexpected("request_email_change", &reply)),
        }
    }

    /// Uses an email-change token read for `user_id` whose address was `old_email`.
    pub async fn confirm_email_change(
        &self,
        token: &TokenHash,
        record: &LinkRecord,
        old_email: &str,
        notice: &NewMail,
        now: u64,
    ) -> AppResult<EmailChange> {
        let reply = self
            .redis
            .eval_script(
                &self.mail.confirm_email_change,
                [
                    layout::link_token(token),
                    layout::user(&record.user_id),
                    layout::user_by_email(old_email),
                    layout::user_by_email(&record.email),
                    layout::newest_link(Purpose::ChangeEmail, &record.user_id),
                ],
                [
                    now.to_string(),
                    record.user_id.clone(),
                    old_email.to_owned(),
                ]
                .into_iter()
                .chain(mail_args(notice)),
            )
            .await?;
        match reply.as_str() {
            Some("ok") => Ok(EmailChange::Done),
            Some("invalid") => Ok(EmailChange::Invalid),
            Some("taken") => Ok(EmailChange::Taken),
            _ => Err(unexpected("confirm_email_change", &reply)),
        }
    }

    /// Claims up to `batch` due mails for `lease_ms`.
    pub async fn claim_mail(&self, now_ms: u64, lease_ms: u64, batch: u32) -> AppResult<Claim> {
        let reply = self
            .redis
            .eval_script(
                &self.mail.claim_mail,
                [layout::OUTBOX],
                [
                    now_ms.to_string(),
                    lease_ms.to_string(),
                    batch.to_string(),
                    layout::MAIL_PREFIX.to_owned(),
                ],
            )
            .await?;
        let items = reply.as_array().unwrap_or_default();
        let Some(depth) = items.first().and_then(Value::as_i64) else {
            return Err(unexpected("claim_mail", &reply));
        };
        let next_due_ms = items
            .get(1)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<f64>().ok())
            .map(|ms| ms.max(0.0) as u64);
        let mails = items
            .get(2..)
            .unwrap_or_default()
            .chunks_exact(3)
            .filter_map(|c| {
                let id = c[0].as_str()?.to_owned();
                let mail = c[1]
                    .as_str()
                    .ok_or_else(|| "not a string".to_owned())
                    .and_then(|json| OutboxMail::from_json(json).map_err(|e| e.to_string()));
                let attempt = c[2].as_i64().unwrap_or(1).clamp(1, i64::from(u32::MAX)) as u32;
                Some(Claimed { id, mail, attempt })
            })
            .collect();
        Ok(Claim {
            depth: depth.max(0) as u64,
            next_due_ms,
            mails,
        })
    }

    /// Records how a delivery attempt ended.
    pub async fn settle_mail(&self, id: &str, settle: &Settle, error: &str) -> AppResult<()> {
        let (outcome, due) = match settle {
            Settle::Sent => ("sent", 0),
            Settle::Retry { due_ms } => ("retry", *due_ms),
            Settle::Dead => ("dead", 0),
        };
        let reply = self
            .redis
            .eval_script(
                &self.mail.mail_done,
                [
                    layout::OUTBOX.to_owned(),
                    layout::mail(id),
                    layout::OUTBOX_DEAD.to_owned(),
                ],
                [
                    id.to_owned(),
                    outcome.to_owned(),
                    due.to_string(),
                    // Errors are for operators; keep the record small.
                    error.chars().take(300).collect::<String>(),
                    SENT_KEEP_SECS.to_string(),
                ],
            )
            .await?;
        match reply.as_str() {
            Some("ok") => Ok(()),
            _ => Err(unexpected("mail_done", &reply)),
        }
    }
}
