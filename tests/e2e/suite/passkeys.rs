//! Passkeys through the edge, without a browser: what the API refuses. Registering and signing
//! in with a real (virtual) authenticator is tests/browser/passkeys.test.mjs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_e2e::{Api, Stack};
use reqwest::Method;
use serde_json::{json, Value};

use super::Outcome;
use crate::{check, tests};

tests![
    passkey_registration_needs_a_session_and_a_real_credential,
    passkey_sign_in_challenges_are_single_use,
    passkey_management_refusals,
    an_account_with_totp_and_a_passkey_is_offered_the_passkey_second_step,
];

/// An assertion shaped like a browser's, that no authenticator made.
fn fake_assertion(credential_id: &[u8], user_handle: Option<&[u8]>) -> Value {
    let client_data = json!({
        "type": "webauthn.get",
        "challenge": B64.encode([7u8; 32]),
        "origin": "http://localhost:8787",
    });
    json!({
        "id": B64.encode(credential_id),
        "rawId": B64.encode(credential_id),
        "type": "public-key",
        "response": {
            "authenticatorData": B64.encode([0u8; 37]),
            "clientDataJSON": B64.encode(client_data.to_string()),
            "signature": B64.encode([1u8; 64]),
            "userHandle": user_handle.map(|h| B64.encode(h)),
        },
        "extensions": {},
    })
}

async fn passkey_registration_needs_a_session_and_a_real_credential(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let anonymous = api
        .post("/api/passkeys/register/start", None, json!({}))
        .await?;
    check!(
        anonymous.status == 401,
        "register/start without a session: {} {}",
        anonymous.status,
        anonymous.text
    );
    let s = api.new_session().await?;
    let start = api
        .post("/api/passkeys/register/start", Some(&s.access), json!({}))
        .await?;
    check!(
        start.status == 200,
        "register/start: {} {}",
        start.status,
        start.text
    );
    let options = &start.body["publicKey"];
    check!(
        options["rp"]["id"] == "localhost"
            && options["challenge"].as_str().is_some_and(|c| c.len() >= 43)
            && options["authenticatorSelection"]["residentKey"] == "required"
            && options["authenticatorSelection"]["userVerification"] == "required",
        "creation options: {}",
        start.text
    );
    let garbage = api
        .post(
            "/api/passkeys/register/finish",
            Some(&s.access),
            json!({ "credential": { "id": "x", "response": 5 } }),
        )
        .await?;
    check!(
        garbage.status == 400,
        "finish with a garbage credential: {} {}",
        garbage.status,
        garbage.text
    );
    // Well-formed but made up: it does not verify, and the started ceremony is used up.
    let forged = json!({
        "id": B64.encode([9u8; 16]),
        "rawId": B64.encode([9u8; 16]),
        "type": "public-key",
        "response": {
            "attestationObject": B64.encode([0xa0u8]),
            "clientDataJSON": B64.encode(json!({"type": "webauthn.create", "challenge": options["challenge"], "origin": "http://localhost:8787"}).to_string()),
        },
        "extensions": {},
    });
    let refused = api
        .post(
            "/api/passkeys/register/finish",
            Some(&s.access),
            json!({ "name": "Forged", "credential": forged }),
        )
        .await?;
    check!(
        refused.status == 400 && refused.code() == "validation_failed",
        "finish with a forged credential: {} {}",
        refused.status,
        refused.text
    );
    let again = api
        .post(
            "/api/passkeys/register/finish",
            Some(&s.access),
            json!({ "credential": forged }),
        )
        .await?;
    check!(
        again.status == 400 && again.code() == "invalid_or_expired_token",
        "a second finish of the same ceremony: {} {}",
        again.status,
        again.text
    );
    let list = api.get("/api/passkeys", Some(&s.access)).await?;
    check!(
        list.status == 200 && list.body["passkeys"] == json!([]),
        "nothing was registered: {} {}",
        list.status,
        list.text
    );
    Ok(())
}

async fn passkey_sign_in_challenges_are_single_use(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let start = api
        .post("/api/passkeys/login/start", None, json!({}))
        .await?;
    check!(
        start.status == 200,
        "login/start: {} {}",
        start.status,
        start.text
    );
    let ceremony = start.body["ceremony"]
        .as_str()
        .ok_or("no ceremony")?
        .to_owned();
    check!(
        start.body["publicKey"]["rpId"] == "localhost"
            && start.body["publicKey"]["userVerification"] == "required",
        "request options: {}",
        start.text
    );
    let shape = api
        .post(
            "/api/passkeys/login/finish",
            None,
            json!({ "ceremony": ceremony, "credential": [1, 2, 3] }),
        )
        .await?;
    check!(
        shape.status == 400,
        "a credential that is not one: {} {}",
        shape.status,
        shape.text
    );
    // An unknown passkey: refused (401, not 500), and the ceremony is gone afterwards.
    let unknown = api
        .post(
            "/api/passkeys/login/finish",
            None,
            json!({ "ceremony": ceremony, "credential": fake_assertion(&[3u8; 16], Some(&[4u8; 16])) }),
        )
        .await?;
    check!(
        unknown.status == 401 && unknown.code() == "invalid_credentials",
        "an unknown passkey: {} {}",
        unknown.status,
        unknown.text
    );
    let reused = api
        .post(
            "/api/passkeys/login/finish",
            None,
            json!({ "ceremony": ceremony, "credential": fake_assertion(&[3u8; 16], Some(&[4u8; 16])) }),
        )
        .await?;
    check!(
        reused.status == 400 && reused.code() == "invalid_or_expired_token",
        "the same challenge a second time: {} {}",
        reused.status,
        reused.text
    );
    let made_up = api
        .post(
            "/api/passkeys/login/finish",
            None,
            json!({ "ceremony": "nope", "credential": fake_assertion(&[3u8; 16], None) }),
        )
        .await?;
    check!(
        made_up.status == 400 && made_up.code() == "invalid_or_expired_token",
        "a ceremony never started: {} {}",
        made_up.status,
        made_up.text
    );
    Ok(())
}

async fn passkey_management_refusals(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    let rename = api
        .call(
            Method::PATCH,
            "/api/passkeys/nope",
            Some(&s.access),
            Some(json!({ "name": "Phone" })),
        )
        .await?;
    check!(
        rename.status == 404,
        "renaming a passkey that is not there: {} {}",
        rename.status,
        rename.text
    );
    let fresh = api
        .call(Method::DELETE, "/api/passkeys/nope", Some(&s.access), None)
        .await?;
    check!(
        fresh.status == 404,
        "removing a passkey that is not there: {} {}",
        fresh.status,
        fresh.text
    );
    // An old authentication: removing a passkey needs a step-up first.
    let claims: Value =
        serde_json::from_slice(&B64.decode(s.access.split('.').nth(1).ok_or("not a JWT")?)?)?;
    let sid = claims["sid"].as_str().ok_or("no sid")?;
    stack
        .redis(&["HSET", &format!("ea:s:{sid}"), "auth_time", "1000"])
        .await?;
    let stale = api
        .call(Method::DELETE, "/api/passkeys/nope", Some(&s.access), None)
        .await?;
    check!(
        stale.status == 403 && stale.code() == "step_up_required",
        "removing a passkey on a stale session: {} {}",
        stale.status,
        stale.text
    );
    let step_up = api
        .post(
            "/api/passkeys/reauthenticate/start",
            Some(&s.access),
            json!({}),
        )
        .await?;
    check!(
        step_up.status == 404,
        "a passkey step-up without a passkey: {} {}",
        step_up.status,
        step_up.text
    );
    Ok(())
}

async fn an_account_with_totp_and_a_passkey_is_offered_the_passkey_second_step(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    super::mfa::turn_on_totp(&api, &s).await?;
    let claims: Value =
        serde_json::from_slice(&B64.decode(s.access.split('.').nth(1).ok_or("not a JWT")?)?)?;
    let uid = claims["sub"].as_str().ok_or("no sub")?;
    // A passkey as far as the method list is concerned (registering a real one takes a browser:
    // tests/browser/passkeys.test.mjs).
    let key = format!("ea:pk:{uid}");
    stack.redis(&["HSET", &key, "placeholder", "{}"]).await?;
    let login = api.login(&s.user.email, &s.user.password).await?;
    stack.redis(&["DEL", &key]).await?;
    check!(
        login.status == 401
            && login.body["error"]["methods"] == json!(["totp", "backup_code", "passkey"]),
        "mfa_required of an account with a passkey: {} {}",
        login.status,
        login.text
    );
    let ticket = login.body["error"]["mfa_ticket"]
        .as_str()
        .ok_or("no mfa_ticket")?;
    let unknown = api
        .post(
            "/api/login/mfa/passkey",
            None,
            json!({ "mfa_ticket": "not-a-ticket-at-all-not-a-ticket-at-all-xx" }),
        )
        .await?;
    check!(
        unknown.status == 400 && unknown.code() == "invalid_or_expired_token",
        "a passkey second step under an unknown ticket: {} {}",
        unknown.status,
        unknown.text
    );
    let never_started = api
        .post(
            "/api/login/mfa",
            None,
            json!({
                "mfa_ticket": ticket,
                "passkey": { "ceremony": "nope", "credential": fake_assertion(&[5u8; 16], None) },
            }),
        )
        .await?;
    check!(
        never_started.status == 400 && never_started.code() == "invalid_or_expired_token",
        "a passkey second step without its start: {} {}",
        never_started.status,
        never_started.text
    );
    let both = api
        .post(
            "/api/login/mfa",
            None,
            json!({
                "mfa_ticket": ticket,
                "code": "123456",
                "passkey": { "ceremony": "nope", "credential": {} },
            }),
        )
        .await?;
    check!(
        both.status == 400 && both.code() == "validation_failed",
        "a code and a passkey at once: {} {}",
        both.status,
        both.text
    );
    Ok(())
}
