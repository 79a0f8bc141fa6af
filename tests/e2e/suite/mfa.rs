//! Second factors end to end: TOTP enrolment with codes computed here (totp-rs, independently of
//! the origin's wrapper), two-step sign-in with a code and with a backup code (each single use),
//! replayed codes, wrong codes meeting the sign-in lockout, `amr`/`auth_time` in the tokens and
//! across refresh, rules demanding `mfa` or a `max_age` at the edge, the step-up, the recent
//! authentication sensitive actions need, and the hosted sign-in page's code step.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_core::assurance::Assurance;
use edgeauth_core::token::{issue_access_token_with, AccessGrant, TokenPolicy};
use edgeauth_e2e::client::{Reply, Session};
use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::{Api, Stack};
use reqwest::Method;
use serde_json::{json, Value};
use totp_rs::{Algorithm, Builder, Secret, Totp};

use super::limits::is_limited;
use super::Outcome;
use crate::{check, tests};

tests![
    totp_signs_in_with_a_code_or_a_backup_code_each_once,
    wrong_codes_meet_the_sign_in_lockout,
    an_mfa_rule_refuses_a_password_session_until_it_steps_up,
    max_age_rules_and_sensitive_actions_need_a_recent_sign_in,
    the_hosted_sign_in_asks_for_the_code,
];

fn now() -> Result<u64, BoxError> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())
}

/// An authenticator app holding the enrolled secret; it hands out each time step's code once,
/// in order, as a person reading the app would: first the current step's, then the next.
pub(super) struct Authenticator {
    totp: Totp,
    last_step: Option<u64>,
}

impl Authenticator {
    fn new(enrollment: &Reply) -> Result<Self, BoxError> {
        let secret = enrollment.body["secret"]
            .as_str()
            .ok_or_else(|| format!("enroll: no secret in {}", enrollment.text))?;
        let bytes = Secret::try_from_base32(secret)
            .map_err(|e| format!("enroll: secret {secret:?} is not base32: {e:?}"))?;
        let totp = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_step_duration(30)
            .with_secret(bytes.as_bytes().to_vec())
            .build()
            .map_err(|e| format!("{e:?}"))?;
        Ok(Self {
            totp,
            last_step: None,
        })
    }

    /// The code of the step after the last one used (the current step's at first).
    fn next_code(&mut self) -> Result<String, BoxError> {
        let step = match self.last_step {
            Some(last) => last + 1,
            None => now()? / 30,
        };
        self.last_step = Some(step);
        Ok(self.totp.generate(step * 30).to_string())
    }

    /// The code [`next_code`](Self::next_code) will give, without using it up.
    fn peek_code(&self) -> Result<String, BoxError> {
        let step = match self.last_step {
            Some(last) => last + 1,
            None => now()? / 30,
        };
        Ok(self.totp.generate(step * 30).to_string())
    }

    /// The code of the last step used again (a replay).
    fn last_code(&self) -> Result<String, BoxError> {
        let step = self.last_step.ok_or("no code used yet")?;
        Ok(self.totp.generate(step * 30).to_string())
    }

    /// A code of no step near now.
    fn wrong_code(&self) -> Result<String, BoxError> {
        Ok(self.totp.generate(now()? + 3600).to_string())
    }
}

/// Enrolls and confirms TOTP for the session's user; the app and the backup codes.
pub(super) async fn turn_on_totp(
    api: &Api,
    s: &Session,
) -> Result<(Authenticator, Vec<String>), BoxError> {
    let enrollment = api
        .post("/api/mfa/totp/enroll", Some(&s.access), json!({}))
        .await?;
    if enrollment.status != 200 {
        return Err(format!("enroll: {} {}", enrollment.status, enrollment.text).into());
    }
    let uri = enrollment.body["otpauth_uri"].as_str().unwrap_or("");
    if !uri.starts_with("otpauth://totp/") || !uri.contains("issuer=edgeauth") {
        return Err(format!("enroll: otpauth_uri {uri:?}").into());
    }
    if !enrollment.body["qr_svg"]
        .as_str()
        .is_some_and(|svg| svg.contains("<svg"))
    {
        return Err("enroll: no SVG QR code".into());
    }
    let mut app = Authenticator::new(&enrollment)?;
    let confirmed = api
        .post(
            "/api/mfa/totp/confirm",
            Some(&s.access),
            json!({ "code": app.next_code()? }),
        )
        .await?;
    if confirmed.status != 200 {
        return Err(format!("confirm: {} {}", confirmed.status, confirmed.text).into());
    }
    let codes: Vec<String> = confirmed.body["backup_codes"]
        .as_array()
        .map(|codes| {
            codes
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if codes.len() != 10 || codes.iter().any(|c| c.len() < 16) {
        return Err(format!("confirm: backup codes {codes:?}").into());
    }
    Ok((app, codes))
}

/// The claims of an access token (unverified: the edge and the origin verify them).
fn claims(access: &str) -> Result<Value, BoxError> {
    let payload = access.split('.').nth(1).ok_or("not a JWT")?;
    Ok(serde_json::from_slice(&B64.decode(payload)?)?)
}

fn amr(access: &str) -> Result<Vec<String>, BoxError> {
    Ok(claims(access)?["amr"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default())
}

/// The first step of a sign-in of an account with TOTP on: its `mfa_ticket`.
async fn password_step(api: &Api, s: &Session) -> Result<String, BoxError> {
    let reply = api.login(&s.user.email, &s.user.password).await?;
    if reply.status != 401 || reply.code() != "mfa_required" {
        return Err(format!(
            "login: expected mfa_required, got {} {}",
            reply.status, reply.text
        )
        .into());
    }
    let methods = &reply.body["error"]["methods"];
    if *methods != json!(["totp", "backup_code"]) {
        return Err(format!("login: methods {methods}").into());
    }
    if reply.body.get("access_token").is_some() || !reply.set_cookies().is_empty() {
        return Err(format!("the password step signed in: {:?}", reply.set_cookies()).into());
    }
    reply.body["error"]["mfa_ticket"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("login: no mfa_ticket in {}", reply.text).into())
}

async fn second_step(api: &Api, ticket: &str, factor: (&str, &str)) -> Result<Reply, BoxError> {
    api.post(
        "/api/login/mfa",
        None,
        json!({ "mfa_ticket": ticket, factor.0: factor.1 }),
    )
    .await
}

async fn totp_signs_in_with_a_code_or_a_backup_code_each_once(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    check!(
        amr(&s.access)? == ["pwd"],
        "a password sign-in: {:?}",
        amr(&s.access)?
    );
    let (mut app, backup) = turn_on_totp(&api, &s).await?;
    let again = api
        .post("/api/mfa/totp/enroll", Some(&s.access), json!({}))
        .await?;
    check!(
        again.status == 409,
        "enroll twice: {} {}",
        again.status,
        again.text
    );

    // The password alone no longer signs in; the confirmation's code is spent.
    let ticket = password_step(&api, &s).await?;
    let replayed = second_step(&api, &ticket, ("code", &app.last_code()?)).await?;
    check!(
        replayed.status == 401 && replayed.code() == "invalid_credentials",
        "a code already used in its step: {} {}",
        replayed.status,
        replayed.text
    );
    let signed_in = second_step(&api, &ticket, ("code", &app.next_code()?)).await?;
    check!(
        signed_in.status == 200,
        "code: {} {}",
        signed_in.status,
        signed_in.text
    );
    let (access, _) = signed_in.tokens()?;
    check!(
        amr(&access)? == ["mfa", "otp", "pwd"],
        "amr after password and code: {:?}",
        amr(&access)?
    );
    let auth_time = claims(&access)?["auth_time"].as_u64().unwrap_or(0);
    check!(now()?.abs_diff(auth_time) < 60, "auth_time {auth_time}");
    check!(
        api.get("/api/profile", Some(&access)).await?.status == 200,
        "the two-step session works"
    );
    // The ticket signed in once.
    let used = second_step(&api, &ticket, ("backup_code", &backup[0])).await?;
    check!(
        used.status == 400 && used.code() == "invalid_or_expired_token",
        "a used ticket: {} {}",
        used.status,
        used.text
    );
    let forged = second_step(&api, &B64.encode([7u8; 32]), ("code", "123456")).await?;
    check!(
        forged.status == 400,
        "an unknown ticket: {} {}",
        forged.status,
        forged.text
    );

    // A backup code works once, in any spelling.
    let ticket = password_step(&api, &s).await?;
    let spelled = backup[0].to_uppercase().replace('-', " ");
    let by_backup = second_step(&api, &ticket, ("backup_code", &spelled)).await?;
    check!(
        by_backup.status == 200,
        "backup code: {} {}",
        by_backup.status,
        by_backup.text
    );
    check!(
        amr(&by_backup.tokens()?.0)?.contains(&"otp".to_owned()),
        "backup amr"
    );
    let ticket = password_step(&api, &s).await?;
    let second_use = second_step(&api, &ticket, ("backup_code", &backup[0])).await?;
    check!(
        second_use.status == 401 && second_use.code() == "invalid_credentials",
        "a backup code's second use: {} {}",
        second_use.status,
        second_use.text
    );
    let other = second_step(&api, &ticket, ("backup_code", &backup[1])).await?;
    check!(
        other.status == 200,
        "another backup code: {} {}",
        other.status,
        other.text
    );
    Ok(())
}

async fn wrong_codes_meet_the_sign_in_lockout(stack: &'static Stack) -> Outcome {
    let owner = Api::new(&stack.edge);
    let s = owner.new_session().await?;
    let (mut app, _backup) = turn_on_totp(&owner, &s).await?;
    // Someone with the password, from another address, guesses codes.
    let thief = Api::new(&stack.edge);
    let ticket = password_step(&thief, &s).await?;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let reply = second_step(&thief, &ticket, ("code", &app.wrong_code()?)).await?;
        statuses.push(reply.status);
    }
    check!(
        statuses == [401, 401, 401, 401, 401, 429],
        "five wrong codes, then the lock: {statuses:?}"
    );
    // Locked: even the right code is refused from there, and so is the password.
    is_limited(&second_step(&thief, &ticket, ("code", &app.peek_code()?)).await?)?;
    is_limited(&thief.login(&s.user.email, &s.user.password).await?)?;
    // The owner's address is not locked.
    let ticket = password_step(&owner, &s).await?;
    let reply = second_step(&owner, &ticket, ("code", &app.next_code()?)).await?;
    check!(
        reply.status == 200,
        "the owner: {} {}",
        reply.status,
        reply.text
    );
    Ok(())
}

async fn an_mfa_rule_refuses_a_password_session_until_it_steps_up(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    let (mut app, _backup) = turn_on_totp(&api, &s).await?;
    let refused = api.get("/e2e/echo-mfa/x", Some(&s.access)).await?;
    check!(
        refused.status == 403 && refused.code() == "step_up_required",
        "a password-only session at an mfa rule: {} {}",
        refused.status,
        refused.text
    );
    // Turning TOTP off needs a recent second factor too.
    let off = api
        .call(Method::DELETE, "/api/mfa/totp", Some(&s.access), None)
        .await?;
    check!(
        off.status == 403 && off.code() == "step_up_required",
        "turning TOTP off from a password session: {} {}",
        off.status,
        off.text
    );
    let wrong = api
        .post(
            "/api/reauthenticate",
            Some(&s.access),
            json!({ "code": app.wrong_code()? }),
        )
        .await?;
    check!(
        wrong.status == 401,
        "a wrong step-up code: {} {}",
        wrong.status,
        wrong.text
    );
    let both = api
        .post(
            "/api/reauthenticate",
            Some(&s.access),
            json!({ "code": "123456", "password": s.user.password }),
        )
        .await?;
    check!(
        both.status == 400,
        "two factors at once: {} {}",
        both.status,
        both.text
    );

    let stepped = api
        .post(
            "/api/reauthenticate",
            Some(&s.access),
            json!({ "code": app.next_code()? }),
        )
        .await?;
    check!(
        stepped.status == 200,
        "step-up: {} {}",
        stepped.status,
        stepped.text
    );
    let (access, refresh) = stepped.tokens()?;
    check!(
        claims(&access)?["sid"] == claims(&s.access)?["sid"],
        "the step-up keeps the session"
    );
    check!(
        amr(&access)? == ["mfa", "otp", "pwd"],
        "amr {:?}",
        amr(&access)?
    );
    let passed = api.get("/e2e/echo-mfa/x", Some(&access)).await?;
    check!(
        passed.status == 200,
        "after the step-up: {} {}",
        passed.status,
        passed.text
    );
    // The session's old refresh chain ended; the new one carries the assurance forward.
    check!(
        api.refresh(&s.refresh).await?.status == 401,
        "the pre-step-up refresh token still works"
    );
    let refreshed = api.refresh(&refresh).await?;
    let (renewed, _) = refreshed.tokens()?;
    check!(
        amr(&renewed)? == amr(&access)?
            && claims(&renewed)?["auth_time"] == claims(&access)?["auth_time"],
        "refresh changed the assurance: {:?} vs {:?}",
        claims(&renewed)?,
        claims(&access)?
    );
    check!(
        api.get("/e2e/echo-mfa/x", Some(&renewed)).await?.status == 200,
        "the refreshed token lost the step-up"
    );
    let off = api
        .call(Method::DELETE, "/api/mfa/totp", Some(&renewed), None)
        .await?;
    check!(
        off.status == 204,
        "turning TOTP off: {} {}",
        off.status,
        off.text
    );
    check!(
        api.sign_in(&s.user).await.is_ok(),
        "with TOTP off the password signs in alone"
    );
    Ok(())
}

/// An access token of `s`'s session, signed with the stack's key, claiming `assurance`.
fn token_with(stack: &Stack, s: &Session, assurance: &Assurance) -> Result<String, BoxError> {
    let sid = claims(&s.access)?["sid"]
        .as_str()
        .ok_or("no sid")?
        .to_owned();
    let policy = TokenPolicy::new(&stack.issuer, &stack.audience);
    let grant = AccessGrant {
        user_id: &s.user_id,
        session_id: &sid,
        token_id: "mfa-e2e",
        now: now()?,
        session_expires_at: u64::MAX,
    };
    Ok(issue_access_token_with(stack.signing_keys.active(), &policy, &grant, assurance)?.token)
}

async fn max_age_rules_and_sensitive_actions_need_a_recent_sign_in(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    check!(
        api.get("/e2e/echo-recent/x", Some(&s.access)).await?.status == 200,
        "a fresh sign-in at a max_age rule"
    );
    let old = token_with(stack, &s, &Assurance::new(&["pwd", "otp"], now()? - 3600))?;
    let refused = api.get("/e2e/echo-recent/x", Some(&old)).await?;
    check!(
        refused.status == 403 && refused.code() == "step_up_required",
        "an hour-old authentication at max_age 300: {} {}",
        refused.status,
        refused.text
    );
    let recent = token_with(stack, &s, &Assurance::new(&["pwd"], now()? - 60))?;
    check!(
        api.get("/e2e/echo-recent/x", Some(&recent)).await?.status == 200,
        "a minute-old authentication"
    );
    let none = token_with(stack, &s, &Assurance::default())?;
    check!(
        api.get("/e2e/echo-recent/x", Some(&none)).await?.status == 403,
        "a token without auth_time"
    );

    // The session authenticated long ago: a password change needs a step-up first.
    let sid = claims(&s.access)?["sid"]
        .as_str()
        .ok_or("no sid")?
        .to_owned();
    stack
        .redis(&["HSET", &format!("ea:s:{sid}"), "auth_time", "1000"])
        .await?;
    let enroll = api
        .post("/api/mfa/totp/enroll", Some(&s.access), json!({}))
        .await?;
    check!(
        enroll.status == 403 && enroll.code() == "step_up_required",
        "TOTP enrolment on a stale session: {} {}",
        enroll.status,
        enroll.text
    );
    let new_password = "a freshly minted harbour lantern";
    let change = json!({ "current_password": s.user.password, "new_password": new_password });
    let stale = api
        .post("/api/password", Some(&s.access), change.clone())
        .await?;
    check!(
        stale.status == 403 && stale.code() == "step_up_required",
        "password change on a stale session: {} {}",
        stale.status,
        stale.text
    );
    let stepped = api
        .post(
            "/api/reauthenticate",
            Some(&s.access),
            json!({ "password": s.user.password }),
        )
        .await?;
    check!(
        stepped.status == 200,
        "password step-up: {} {}",
        stepped.status,
        stepped.text
    );
    check!(
        amr(&stepped.tokens()?.0)? == ["pwd"],
        "password step-up amr"
    );
    let changed = api.post("/api/password", Some(&s.access), change).await?;
    check!(
        changed.status == 204,
        "after the step-up: {} {}",
        changed.status,
        changed.text
    );
    Ok(())
}

fn encode_form(fields: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A form POST as Chromium sends it from the edge's own page (`Referrer-Policy: no-referrer`).
async fn submit(api: &Api, form: &[(&str, &str)]) -> Result<Reply, BoxError> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let response = http
        .post(format!("{}/auth/sign-in", api.base))
        .header("cf-connecting-ip", &api.client_ip)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .body(encode_form(form))
        .send()
        .await?;
    Api::read(response).await
}

/// The value of the hidden `mfa_ticket` field of the code step.
fn hidden_ticket(page: &str) -> Option<String> {
    let rest = page.split(r#"name="mfa_ticket" value=""#).nth(1)?;
    Some(rest.split('"').next()?.to_owned()).filter(|t| !t.is_empty())
}

async fn the_hosted_sign_in_asks_for_the_code(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    let (mut app, _backup) = turn_on_totp(&api, &s).await?;
    let password = submit(
        &api,
        &[
            ("email", &s.user.email),
            ("password", &s.user.password),
            ("next", "/notes/"),
        ],
    )
    .await?;
    check!(
        password.status == 200 && password.set_cookies().is_empty(),
        "the password step: {} {:?}",
        password.status,
        password.set_cookies()
    );
    let ticket = hidden_ticket(&password.text)
        .ok_or_else(|| format!("no ticket field in the code step: {}", password.text))?;
    check!(
        password.text.contains(r#"autocomplete="one-time-code""#)
            && !password.text.contains("<script"),
        "the code step: {}",
        password.text
    );
    let wrong = submit(
        &api,
        &[
            ("mfa_ticket", &ticket),
            ("code", &app.wrong_code()?),
            ("next", "/notes/"),
        ],
    )
    .await?;
    check!(
        wrong.status == 401 && hidden_ticket(&wrong.text).as_deref() == Some(ticket.as_str()),
        "a wrong code shows the step again: {} {}",
        wrong.status,
        wrong.text
    );
    let signed_in = submit(
        &api,
        &[
            ("mfa_ticket", &ticket),
            ("code", &app.next_code()?),
            ("next", "/notes/"),
        ],
    )
    .await?;
    check!(
        signed_in.status == 303 && signed_in.header("location") == Some("/notes/"),
        "the code step: {} {:?}",
        signed_in.status,
        signed_in.headers
    );
    check!(
        signed_in
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("__Host-edgeauth_at=")),
        "no access cookie: {:?}",
        signed_in.set_cookies()
    );
    Ok(())
}
