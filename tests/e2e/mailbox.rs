//! The stack's maildev inbox, read through maildev's REST API (`GET /api/email`), as the tests
//! read the mails edgeauth sends.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::stack::BoxError;

/// One received mail.
#[derive(Debug, Clone)]
pub struct Mail {
    pub id: String,
    pub subject: String,
    /// Recipient addresses, lower-cased.
    pub to: Vec<String>,
    pub text: String,
    pub html: String,
    pub message_id: String,
}

impl Mail {
    /// The token of the link to the demo page's `screen` (`reset`, `verify`, `confirm-email`),
    /// from the plain-text part: `…/#{screen}={token}`.
    pub fn link_token(&self, screen: &str) -> Option<String> {
        let marker = format!("/#{screen}=");
        let start = self.text.find(&marker)? + marker.len();
        let token: String = self.text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        (!token.is_empty()).then_some(token)
    }

    /// The whole link to `screen`, from the plain-text part.
    pub fn link(&self, screen: &str) -> Option<String> {
        let token = self.link_token(screen)?;
        let marker = format!("/#{screen}={token}");
        let end = self.text.find(&marker)? + marker.len();
        let start = self.text[..end]
            .rfind(|c: char| c.is_whitespace())
            .map_or(0, |i| i + 1);
        Some(self.text[start..end].to_owned())
    }
}

/// maildev's inbox at `base` (its web port).
#[derive(Clone)]
pub struct Inbox {
    base: String,
    http: reqwest::Client,
}

impl Inbox {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// Every mail maildev holds.
    pub async fn all(&self) -> Result<Vec<Mail>, BoxError> {
        let reply = self
            .http
            .get(format!("{}/api/email", self.base))
            .timeout(Duration::from_secs(10))
            .send()
            .await?;
        let status = reply.status();
        let body: Value = reply.json().await?;
        let items = body
            .as_array()
            .ok_or_else(|| format!("maildev GET /email: {status} {body}"))?;
        Ok(items.iter().map(parse).collect())
    }

    /// Mails to `address` (compared case-insensitively), oldest first.
    pub async fn to(&self, address: &str) -> Result<Vec<Mail>, BoxError> {
        let address = address.to_lowercase();
        Ok(self
            .all()
            .await?
            .into_iter()
            .filter(|m| m.to.contains(&address))
            .collect())
    }

    /// Waits until `address` has received `count` mails whose subject contains `subject`, and
    /// returns them; an error after `limit`.
    pub async fn wait_for(
        &self,
        address: &str,
        subject: &str,
        count: usize,
        limit: Duration,
    ) -> Result<Vec<Mail>, BoxError> {
        let deadline = Instant::now() + limit;
        loop {
            let mails: Vec<Mail> = self
                .to(address)
                .await?
                .into_iter()
                .filter(|m| m.subject.contains(subject))
                .collect();
            if mails.len() >= count {
                return Ok(mails);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{address} received {} of {count} mails \"{subject}\" within {limit:?}",
                    mails.len()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn parse(item: &Value) -> Mail {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    Mail {
        id: text(&item["id"]),
        subject: text(&item["subject"]),
        to: item["to"]
            .as_array()
            .map(|to| {
                to.iter()
                    .filter_map(|t| t["address"].as_str().map(str::to_lowercase))
                    .collect()
            })
            .unwrap_or_default(),
        text: text(&item["text"]),
        html: text(&item["html"]),
        message_id: text(&item["messageId"]),
    }
}
