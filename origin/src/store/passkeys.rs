//! Passkeys in Redis: each user's credentials (`ea:pk:{uid}`), the credential-id → user index
//! used by discoverable sign-in (`ea:pkc:{id}`), and the single-use ceremony states between a
//! start and its finish (`ea:pkr:`, `ea:pka:`; read with GETDEL, so each is used at most once).

use std::sync::LazyLock;

use edgeauth_core::redis_layout::{self as layout, scripts};
use edgeauth_upstash::{cmd, Script, Value};

use super::{unexpected, Store};
use crate::error::AppResult;

static ADD: LazyLock<Script> = LazyLock::new(|| Script::new(scripts::PASSKEY_ADD));
static UPDATE: LazyLock<Script> = LazyLock::new(|| Script::new(scripts::PASSKEY_UPDATE));
static REMOVE: LazyLock<Script> = LazyLock::new(|| Script::new(scripts::PASSKEY_REMOVE));

/// What adding a passkey found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyAdded {
    Added,
    /// The account no longer exists.
    Gone,
    /// The credential id is already registered (to this account or another).
    Exists,
}

impl Store {
    /// Keeps a ceremony's state under `key` for `ttl_secs`.
    pub async fn put_passkey_state(&self, key: &str, state: &str, ttl_secs: u64) -> AppResult<()> {
        self.redis
            .execute(&cmd("SET").arg(key).arg(state).arg("EX").arg(ttl_secs))
            .await?;
        Ok(())
    }

    /// Takes a ceremony's state: at most once, and only before it expires.
    pub async fn take_passkey_state(&self, key: &str) -> AppResult<Option<String>> {
        let reply = self.redis.execute(&cmd("GETDEL").arg(key)).await?;
        Ok(reply.as_str().map(str::to_owned))
    }

    /// The user's passkeys: (credential id, record JSON).
    pub async fn passkeys(&self, user_id: &str) -> AppResult<Vec<(String, String)>> {
        let reply = self
            .redis
            .execute(&cmd("HGETALL").arg(layout::passkeys(user_id)))
            .await?;
        let items = reply.as_array().unwrap_or_default();
        let texts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
        Ok(texts
            .chunks_exact(2)
            .map(|pair| (pair[0].to_owned(), pair[1].to_owned()))
            .collect())
    }

    /// One passkey's record JSON.
    pub async fn passkey(&self, user_id: &str, credential_id: &str) -> AppResult<Option<String>> {
        let reply = self
            .redis
            .execute(
                &cmd("HGET")
                    .arg(layout::passkeys(user_id))
                    .arg(credential_id),
            )
            .await?;
        Ok(reply.as_str().map(str::to_owned))
    }

    /// The user owning a credential id, if any.
    pub async fn passkey_owner(&self, credential_id: &str) -> AppResult<Option<String>> {
        let reply = self
            .redis
            .execute(&cmd("GET").arg(layout::passkey_owner(credential_id)))
            .await?;
        Ok(reply.as_str().map(str::to_owned))
    }

    pub async fn add_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
        record: &str,
    ) -> AppResult<PasskeyAdded> {
        let reply = self
            .redis
            .eval_script(
                &ADD,
                [
                    layout::user(user_id),
                    layout::passkeys(user_id),
                    layout::passkey_owner(credential_id),
                ],
                [user_id, credential_id, record],
            )
            .await?;
        match reply.as_str() {
            Some("ok") => Ok(PasskeyAdded::Added),
            Some("gone") => Ok(PasskeyAdded::Gone),
            Some("exists") => Ok(PasskeyAdded::Exists),
            _ => Err(unexpected("passkey_add", &reply)),
        }
    }

    /// Replaces a passkey's record; false if the passkey was removed meanwhile.
    pub async fn update_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
        record: &str,
    ) -> AppResult<bool> {
        let reply = self
            .redis
            .eval_script(
                &UPDATE,
                [layout::passkeys(user_id)],
                [credential_id, record],
            )
            .await?;
        Ok(reply.as_i64() == Some(1))
    }

    /// Removes a passkey; false if the user had no such passkey.
    pub async fn remove_passkey(&self, user_id: &str, credential_id: &str) -> AppResult<bool> {
        let reply = self
            .redis
            .eval_script(
                &REMOVE,
                [
                    layout::passkeys(user_id),
                    layout::passkey_owner(credential_id),
                ],
                [user_id, credential_id],
            )
            .await?;
        Ok(reply.as_i64() == Some(1))
    }

    /// Whether the user has at least one passkey.
    pub async fn has_passkeys(&self, user_id: &str) -> AppResult<bool> {
        let reply = self
            .redis
            .execute(&cmd("HLEN").arg(layout::passkeys(user_id)))
            .await?;
        Ok(reply.as_i64().unwrap_or(0) > 0)
    }
}
