//! What Redis holds: after a full flow, a scan of every key finds no refresh token, refresh
//! secret, access token, password or private key, and no password hash but argon2id. A stolen
//! copy of the store rebuilds no usable token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_core::redis_layout as layout;
use edgeauth_e2e::client::TestUser;
use edgeauth_e2e::observe::{every_key, session_of};
use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::{Api, Stack};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::Outcome;
use crate::{check, tests};

tests![redis_holds_no_token_secret_or_weak_hash];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every string inside a value (hash fields and values, set members, list items).
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push(k.clone());
            strings(v, out);
        }),
        Value::Number(n) => out.push(n.to_string()),
        _ => {}
    }
}

/// Whether `text` holds something shaped like a refresh token (`rt1.<sid>.<generation>.<43
/// base64url characters>`) or a JWT (`eyJ….eyJ….…`).
fn looks_like_a_token(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .any(|word| match word.split('.').collect::<Vec<_>>()[..] {
            ["rt1", sid, generation, secret] => {
                !sid.is_empty()
                    && !generation.is_empty()
                    && generation.bytes().all(|b| b.is_ascii_digit())
                    && secret.len() == 43
            }
            [header, payload, _] => header.starts_with("eyJ") && payload.starts_with("eyJ"),
            _ => false,
        })
}

/// Whether `text` is shaped like a modular-crypt or PHC password hash (`$id$…$…`).
fn looks_like_a_password_hash(text: &str) -> bool {
    text.starts_with('$')
        && text.matches('$').count() >= 3
        && !text.contains(|c: char| c.is_whitespace() || c == '@')
}

async fn redis_holds_no_token_secret_or_weak_hash(stack: &'static Stack) -> Outcome {
    // The flow: register, sign in twice, rotate, change the password (ending the other
    // session), fail a login, sign in with the new password, log out.
    let api = Api::new(&stack.edge);
    let user = TestUser::unique();
    let registered = api.register(&user).await?;
    check!(registered.status == 201, "register: {}", registered.text);
    let first = api.sign_in(&user).await?;
    let second = api.sign_in(&user).await?;
    let rotated = api.refresh(&first.refresh).await?;
    let (rotated_access, rotated_refresh) = rotated.tokens()?;
    let new_password = format!("{} renewed", user.password);
    let changed = api
        .post(
            "/api/password",
            Some(&rotated_access),
            json!({ "current_password": user.password, "new_password": new_password }),
        )
        .await?;
    check!(changed.status == 204, "password change: {}", changed.text);
    let wrong = api.login(&user.email, "not the password at all").await?;
    check!(wrong.status == 401, "failed login: {}", wrong.text);
    let renewed = TestUser {
        password: new_password.clone(),
        ..user.clone()
    };
    let third = api.sign_in(&renewed).await?;
    let out = api
        .call(Method::POST, "/api/logout", Some(&third.access), None)
        .await?;
    check!(out.status == 204, "logout: {}", out.text);

    // Everything secret the client and the operator hold.
    let mut secrets: Vec<(String, String)> = vec![
        ("password".into(), user.password.clone()),
        ("new password".into(), new_password),
        ("edge secret".into(), stack.edge_secret.clone()),
        ("bridge token".into(), stack.bridge_token.clone()),
    ];
    for key in stack.signing_keys.keys() {
        if let Some(d) = key.to_private_jwk()["d"].as_str() {
            secrets.push(("private signing key".into(), d.to_owned()));
        }
    }
    for (name, token) in [
        ("first refresh token", &first.refresh),
        ("second refresh token", &second.refresh),
        ("rotated refresh token", &rotated_refresh),
        ("third refresh token", &third.refresh),
    ] {
        secrets.push((name.into(), token.clone()));
        let secret = token.rsplit('.').next().unwrap_or_default();
        secrets.push((format!("{name}'s secret"), secret.to_owned()));
        secrets.push((format!("{name}'s secret, hex"), hex(&B64.decode(secret)?)));
    }
    for (name, token) in [
        ("first access token", &first.access),
        ("second access token", &second.access),
        ("rotated access token", &rotated_access),
        ("third access token", &third.access),
    ] {
        secrets.push((name.into(), token.clone()));
        let signature = token.rsplit('.').next().unwrap_or_default();
        secrets.push((format!("{name}'s signature"), signature.to_owned()));
    }
    check!(
        secrets.iter().all(|(_, s)| s.len() >= 16),
        "a secret to look for is too short to mean anything"
    );

    let keys = every_key(stack).await?;
    let mut user_hashes = 0;
    for (key, value) in &keys {
        let mut texts = vec![key.clone()];
        strings(value, &mut texts);
        for text in &texts {
            for (name, secret) in &secrets {
                check!(!text.contains(secret.as_str()), "{key} holds the {name}");
            }
            check!(
                !looks_like_a_token(text),
                "{key} holds something token-shaped: {text}"
            );
            check!(
                !looks_like_a_password_hash(text) || text.starts_with("$argon2id$v=19$"),
                "{key} holds a password hash that is not argon2id: {text}"
            );
        }
        if key.starts_with("ea:u:") {
            user_hashes += 1;
            let hash = value["pw"].as_str().unwrap_or_default();
            check!(
                hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
                "{key}: password stored as {hash:?}"
            );
        }
    }
    check!(
        user_hashes > 0,
        "the scan found no user at all ({} keys)",
        keys.len()
    );

    // The one session left (the password change ended the second, the logout the third) holds
    // the SHA-256 of its newest refresh token, nothing more.
    let key = layout::session(&session_of(&rotated_refresh)?);
    let session = keys
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .ok_or_else(|| BoxError::from(format!("{key} is missing from the scan")))?;
    let digest = hex(&Sha256::digest(rotated_refresh.as_bytes()));
    check!(
        session["rt"] == digest.as_str(),
        "{key} stores {} for its refresh token, not its SHA-256",
        session["rt"]
    );
    Ok(())
}
