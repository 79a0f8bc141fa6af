//! Where edgeauth keeps its state in Redis, and the Lua scripts that change it atomically.
//!
//! Sessions are an allow-list: an access token is accepted only while its session hash exists
//! and names the token's user. Revoking deletes the hash, so there are no deny-list entries
//! whose lifetime could be shorter than the tokens they revoke, and losing data fails closed.
//!
//! | key | type | holds | expires |
//! |---|---|---|---|
//! | `ea:u:{user id}` | hash | id, username, email, ev (1 once the address is verified), pw (argon2id PHC), pwv (password version, bumped by every change), created_at, roles (sorted role names, space-separated; `crate::roles`), totp (the TOTP secret, sealed with the MFA key: `crate::mfa`), totp_step (the last TOTP time step used) | never |
//! | `ea:email:{canonical email}` | string | user id | never |
//! | `ea:name:{lowercase username}` | string | user id | never |
//! | `ea:s:{session id}` | hash | uid, roles (a copy of the user's, kept in step by `set_roles.lua`), name (the user's username at sign-in; usernames never change), created_at, last_used_at, ua, ip, gen, rt (SHA-256 of the newest refresh token), rotated_at_ms, abs_exp, amr (RFC 8176 methods, comma-separated), auth_time (s; `crate::assurance`) | min(idle lifetime, absolute end) — refreshed on each rotation |
//! | `ea:us:{user id}` | sorted set | the user's session ids scored by creation (ms); never more than the session cap (an index; the hashes are the truth) | absolute session lifetime after the newest session |
//! | `ea:n:{nonce}` | string | edge-signature nonces already seen | twice the signature window |
//! | `ea:lk:{account}:{address}` | hash | failures, locked_until of one account from one address (unknown devices) | the lockout's forget-after time |
//! | `ea:lk:{account}:d:{device}` | hash | failures, locked_until of one account on one known device (`crate::device`) | the lockout's forget-after time |
//! | `ea:lf:ip:{address}` | string | failed logins from one address in the window | the window |
//! | `ea:lf:acct:{account}` | string | failed logins on one account in the window | the window |
//! | `ea:ls:ip:{address}` | string | successful logins from one address in the window | the window |
//! | `ea:ls:acct:{account}` | string | successful logins on one account in the window | the window |
//! | `ea:rl:{action}:{address}` | string | register/refresh/forgot/resend attempts from one address in the window | the window |
//! | `ea:rm:{action}:{account}` | string | reset or verification mails asked for one email in the window | the window |
//! | `ea:et:{token hash}` | hash | one email link token (`crate::mail`): p (purpose), uid, email (the address it was sent to), exp (Unix s); never the token | the token's lifetime |
//! | `ea:ut:{purpose}:{user id}` | string | hash of the user's newest token of that purpose (issuing another deletes the record it names) | the token's lifetime |
//! | `ea:outbox` | sorted set | ids of mails to send, scored by when they are due (ms); a claimed mail is due again when its lease ends | never |
//! | `ea:mail:{message id}` | hash | m (the `crate::mail::OutboxMail` JSON: kind, to, template data; no token), n (attempts), err (last error), sent (1 once delivered) | the mail retention (a day after it was sent) |
//! | `ea:outbox:dead` | list | ids of mails given up after the last attempt | never |
//! | `ea:bc:{user id}` | set | SHA-256 of each unused backup code (`crate::mfa`) | never |
//! | `ea:tp:{user id}` | string | the sealed TOTP secret of an enrolment not yet confirmed | the enrolment window |
//! | `ea:mt:{ticket hash}` | string | an MFA ticket's sign-in (JSON: uid, email, pwv); never the ticket | the ticket's lifetime |
//! | `ea:pk:{user id}` | hash | the user's passkeys: credential id (base64url) → JSON (name, created_at, last_used_at, the `webauthn-rs` credential with its public key, sign counter and backup flags; `crate::passkey`) | never |
//! | `ea:pkc:{credential id}` | string | the user id owning a passkey (discoverable sign-in finds the user by it; a credential id belongs to one account only) | never |
//! | `ea:pkr:{user id}` | string | the state of a passkey registration between its start and finish (JSON) | the ceremony's timeout; used once (GETDEL) |
//! | `ea:pka:{ceremony id}` | string | the state of a passkey sign-in or step-up between its start and finish (JSON, with the user id for a step-up) | the ceremony's timeout; used once (GETDEL) |
//!
//! `{account}` is the SHA-256 (hex, first 32 digits) of the canonical email (`crate::email`), so
//! unknown and known emails are limited alike and no address is spelled out in key names.
//! `{address}` is the client's budget bucket (`crate::address`: IPv6 by /64).

/// The Redis key of a user record.
pub fn user(user_id: &str) -> String {
    format!("ea:u:{user_id}")
}

pub fn user_by_email(normalized_email: &str) -> String {
    format!("ea:email:{normalized_email}")
}

pub fn user_by_name(username: &str) -> String {
    format!("ea:name:{}", username.to_ascii_lowercase())
}

pub fn session(session_id: &str) -> String {
    format!("ea:s:{session_id}")
}

/// Prefix of session keys, for scripts that derive them from the user's session index.
pub const SESSION_PREFIX: &str = "ea:s:";

pub fn user_sessions(user_id: &str) -> String {
    format!("ea:us:{user_id}")
}

pub fn nonce(nonce: &str) -> String {
    format!("ea:n:{nonce}")
}

/// The account part of lockout keys for a normalised email.
pub fn account_tag(normalized_email: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = crate::edge_signature::hex(&Sha256::digest(normalized_email.as_bytes()));
    digest[..32].to_owned()
}

/// Whose failed logins on an account one lock counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockSubject<'a> {
    /// An unknown device, by its address bucket.
    Address(&'a str),
    /// A known device, by its credential id (`crate::device::KnownDevice`).
    Device(&'a str),
}

pub fn login_lock(account_tag: &str, subject: LockSubject<'_>) -> String {
    match subject {
        LockSubject::Address(bucket) => format!("ea:lk:{account_tag}:{bucket}"),
        LockSubject::Device(id) => format!("ea:lk:{account_tag}:d:{id}"),
    }
}

pub fn login_failures_by_ip(ip: &str) -> String {
    format!("ea:lf:ip:{ip}")
}

pub fn login_failures_by_account(account_tag: &str) -> String {
    format!("ea:lf:acct:{account_tag}")
}

pub fn login_successes_by_ip(ip: &str) -> String {
    format!("ea:ls:ip:{ip}")
}

pub fn login_successes_by_account(account_tag: &str) -> String {
    format!("ea:ls:acct:{account_tag}")
}

/// Prefix of user keys, for scripts that derive them from an id they look up.
pub const USER_PREFIX: &str = "ea:u:";

/// Fixed-window counter of an action (`register`, `refresh`) from one address.
pub fn action_budget(action: &str, ip: &str) -> String {
    format!("ea:rl:{action}:{ip}")
}

/// Fixed-window counter of mails asked for one email (`account_tag`), by action.
pub fn mail_budget(action: &str, account_tag: &str) -> String {
    format!("ea:rm:{action}:{account_tag}")
}

/// Prefix of email link token records; the rest is the token's hash.
pub const LINK_TOKEN_PREFIX: &str = "ea:et:";

/// The record of the email link token with this hash.
pub fn link_token(hash: &crate::mail::TokenHash) -> String {
    format!("{LINK_TOKEN_PREFIX}{}", hash.0)
}

/// Prefix of the pointers to a user's newest token of `purpose`; the rest is the user id.
pub fn newest_link_prefix(purpose: crate::mail::Purpose) -> String {
    format!("ea:ut:{}:", purpose.as_str())
}

/// The pointer to the user's newest token of `purpose`.
pub fn newest_link(purpose: crate::mail::Purpose, user_id: &str) -> String {
    format!("{}{user_id}", newest_link_prefix(purpose))
}

/// The queue of mails to send (message id → due time, ms).
pub const OUTBOX: &str = "ea:outbox";
/// Mails given up after the last attempt.
pub const OUTBOX_DEAD: &str = "ea:outbox:dead";
/// Prefix of queued mails; the rest is the message id.
pub const MAIL_PREFIX: &str = "ea:mail:";

pub fn mail(message_id: &str) -> String {
    format!("{MAIL_PREFIX}{message_id}")
}

/// The unused backup codes of a user (hashes).
pub fn backup_codes(user_id: &str) -> String {
    format!("ea:bc:{user_id}")
}

/// The sealed secret of a user's TOTP enrolment awaiting its first code.
pub fn pending_totp(user_id: &str) -> String {
    format!("ea:tp:{user_id}")
}

/// The sign-in waiting for its second factor under the ticket with this hash.
pub fn mfa_ticket(ticket_hash: &str) -> String {
    format!("ea:mt:{ticket_hash}")
}

/// The passkeys of a user (credential id → record).
pub fn passkeys(user_id: &str) -> String {
    format!("ea:pk:{user_id}")
}

/// The owner of a passkey credential id (base64url).
pub fn passkey_owner(credential_id: &str) -> String {
    format!("ea:pkc:{credential_id}")
}

/// A user's passkey registration in progress.
pub fn passkey_registration(user_id: &str) -> String {
    format!("ea:pkr:{user_id}")
}

/// A passkey sign-in or step-up in progress.
pub fn passkey_authentication(ceremony_id: &str) -> String {
    format!("ea:pka:{ceremony_id}")
}

/// Field of the session hash that names its user (what the edge checks per request).
pub const SESSION_USER_FIELD: &str = "uid";

/// Field of the session hash (and of the user hash) with the user's roles (`crate::roles`).
pub const ROLES_FIELD: &str = "roles";

/// Field of the session hash with the user's username (the assertion's `preferred_username`),
/// read by the edge in the same `HMGET` as the owner and roles.
pub const SESSION_USERNAME_FIELD: &str = "name";

/// Every Redis command the edge sends: `HMGET` of the session's user, roles and username per
/// authenticated request, `PING` for `/healthz`. The edge's Upstash token needs nothing more, so it should be a
/// read-only one (the dev bridge's read-only token allows exactly these). Extend this list,
/// and only this list, when the edge learns a new command.
pub const EDGE_COMMANDS: &[&str] = &["HMGET", "PING"];

/// Lua scripts, as data. Each documents its KEYS/ARGV and replies.
pub mod scripts {
    /// Creates a user iff neither the email nor the username is taken (case-insensitively),
    /// queueing the verification mail in the same step; see the script.
    pub const REGISTER_USER: &str = concat!(
        include_str!("lua/mail_lib.lua"),
        include_str!("lua/register_user.lua")
    );

    /// Creates a session within the per-user cap, unless the password changed meanwhile.
    pub const CREATE_SESSION: &str = concat!(
        include_str!("lua/session_index.lua"),
        include_str!("lua/create_session.lua")
    );

    /// Adds, removes or lists a user's roles, copying the result into every live session.
    pub const SET_ROLES: &str = concat!(
        include_str!("lua/session_index.lua"),
        include_str!("lua/set_roles.lua")
    );

    /// Rotates a refresh token atomically, within the refresh budget of the client address;
    /// see the script for the reply shapes.
    pub const ROTATE_REFRESH: &str = include_str!("lua/rotate_refresh.lua");

    /// Deletes one session if it belongs to the given user.
    pub const REVOKE_SESSION: &str = concat!(
        include_str!("lua/session_index.lua"),
        include_str!("lua/revoke_session.lua")
    );

    /// Deletes every session of a user except an optional one.
    pub const REVOKE_USER_SESSIONS: &str = concat!(
        include_str!("lua/session_index.lua"),
        include_str!("lua/revoke_user_sessions.lua")
    );

    /// A new password hash, a new password version and every other session revoked, at once.
    pub const CHANGE_PASSWORD: &str = concat!(
        include_str!("lua/session_index.lua"),
        include_str!("lua/mail_lib.lua"),
        include_str!("lua/change_password.lua")
    );

    /// A reset or verification link asked for by email: budgets, token and mail in one step.
    pub const REQUEST_LINK: &str = concat!(
        include_str!("lua/mail_lib.lua"),
        include_str!("lua/request_link.lua")
    );

    /// Uses a verification token.
    pub const VERIFY_EMAIL: &str = concat!(
        include_str!("lua/mail_lib.lua"),
        include_str!("lua/verify_email.lua")
    );

    /// Uses a reset token: new password, every session revoked, notice queued.
    pub const RESET_PASSWORD: &str = concat!(
        include_str!("lua/session_index.lua"),
        include_str!("lua/mail_lib.lua"),
        include_str!("lua/reset_password.lua")
    );

    /// Starts an email change: token for the new address, confirmation and notice queued.
    pub const REQUEST_EMAIL_CHANGE: &str = concat!(
        include_str!("lua/mail_lib.lua"),
        include_str!("lua/request_email_change.lua")
    );

    /// Uses an email-change token: the account moves to the new address.
    pub const CONFIRM_EMAIL_CHANGE: &str = concat!(
        include_str!("lua/mail_lib.lua"),
        include_str!("lua/confirm_email_change.lua")
    );

    /// Claims due mails for delivery, with a lease.
    pub const CLAIM_MAIL: &str = include_str!("lua/claim_mail.lua");

    /// Settles a delivery attempt: sent, retry later, or given up.
    pub const MAIL_DONE: &str = include_str!("lua/mail_done.lua");

    /// A user's live sessions in one step.
    pub const LIST_SESSIONS: &str = concat!(
        include_str!("lua/session_index.lua"),
        include_str!("lua/list_sessions.lua")
    );

    /// Gate before a password check: lockouts and budgets, plus the account's stored record.
    pub const LOGIN_GATE: &str = include_str!("lua/login_gate.lua");

    /// Records a failed password check and locks the (account, address or device) when due.
    pub const LOGIN_FAILED: &str = include_str!("lua/login_failed.lua");

    /// Uses a TOTP time step, at most once.
    pub const TOTP_USE: &str = include_str!("lua/totp_use.lua");

    /// Turns TOTP on with its backup codes.
    pub const CONFIRM_TOTP: &str = include_str!("lua/confirm_totp.lua");

    /// Turns TOTP off, backup codes included.
    pub const DISABLE_TOTP: &str = include_str!("lua/disable_totp.lua");

    /// A session's fresh assurance and a new refresh chain after a step-up.
    pub const STEP_UP: &str = include_str!("lua/step_up.lua");

    /// Adds a passkey to an existing user unless its credential id is already registered.
    pub const PASSKEY_ADD: &str = include_str!("lua/passkey_add.lua");

    /// Replaces a passkey's record (counter, flags, name) only while it still exists.
    pub const PASSKEY_UPDATE: &str = include_str!("lua/passkey_update.lua");

    /// Removes a passkey and its owner index.
    pub const PASSKEY_REMOVE: &str = include_str!("lua/passkey_remove.lua");

    /// A fixed-window budget (register attempts per address).
    pub const RATE_LIMIT: &str = include_str!("lua/rate_limit.lua");
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_namespaced_and_case_folded() {
        assert_eq!(super::user_by_name("Alice_1"), "ea:name:alice_1");
        assert!(super::session("x").starts_with(super::SESSION_PREFIX));
        assert!(super::user("x").starts_with(super::USER_PREFIX));
        let tag = super::account_tag("a@example.com");
        assert_ne!(
            super::login_lock(&tag, super::LockSubject::Address("d")),
            super::login_lock(&tag, super::LockSubject::Device("d")),
            "an address and a device never share a lock"
        );
    }
}
