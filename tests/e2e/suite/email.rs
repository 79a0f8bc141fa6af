//! Mail-backed flows through the edge, with the mails read from the stack's maildev: address
//! verification, password reset, email change, notices, limits, the outbox's behaviour while
//! SMTP is down, and what Redis holds of link tokens.

use std::time::{Duration, Instant};

use edgeauth_e2e::client::{Session, TestUser};
use edgeauth_e2e::mailbox::{Inbox, Mail};
use edgeauth_e2e::observe::every_key;
use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::{Api, Stack};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{extra, Outcome};
use crate::{check, tests};

tests![
    registration_mails_a_link_that_verifies_the_address,
    required_verification_refuses_unverified_sign_in,
    forgot_password_answers_alike_and_mails_only_known_addresses,
    a_reset_link_works_once_and_ends_every_session,
    a_newer_reset_link_supersedes_the_older_one,
    expired_wrong_purpose_and_garbage_tokens_get_one_answer,
    email_change_round_trip_notifies_the_old_address,
    a_password_change_sends_a_notice,
    mail_limits_429_per_address_and_stay_silent_per_email,
    redis_holds_nothing_a_link_token_can_be_rebuilt_from;
    exclusive: mail_queued_while_smtp_is_down_arrives_once
];

/// Generous: a debug origin on a loaded two-core machine.
const MAIL_WAIT: Duration = Duration::from_secs(20);

pub(super) fn inbox(stack: &Stack) -> Result<Inbox, BoxError> {
    let base = stack
        .maildev
        .as_deref()
        .ok_or("the stack runs without maildev")?;
    Ok(Inbox::new(base))
}

fn canonical(email: &str) -> String {
    email.to_lowercase()
}

pub(super) async fn one_mail(inbox: &Inbox, to: &str, subject: &str) -> Result<Mail, BoxError> {
    let mails = inbox
        .wait_for(&canonical(to), subject, 1, MAIL_WAIT)
        .await?;
    mails.into_iter().last().ok_or_else(|| "no mail".into())
}

pub(super) fn token_of(mail: &Mail, screen: &str) -> Result<String, BoxError> {
    mail.link_token(screen)
        .ok_or_else(|| format!("no #{screen}= link in {:?}", mail.text).into())
}

async fn profile(api: &Api, session: &Session) -> Result<Value, BoxError> {
    let reply = api.get("/api/profile", Some(&session.access)).await?;
    check!(
        reply.status == 200,
        "profile: {} {}",
        reply.status,
        reply.text
    );
    Ok(reply.body["user"].clone())
}

async fn registration_mails_a_link_that_verifies_the_address(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let inbox = inbox(stack)?;
    let session = api.new_session().await?;
    check!(
        profile(&api, &session).await?["email_verified"] == false,
        "a new account is unverified"
    );
    let mail = one_mail(&inbox, &session.user.email, "Confirm your email address").await?;
    let link = mail.link("verify").ok_or("no verify link")?;
    check!(
        link.starts_with(&format!("{}/#verify=", stack.edge)),
        "the link points at the demo page, token in the fragment: {link}"
    );
    check!(
        mail.html.contains(&token_of(&mail, "verify")?),
        "the HTML part carries the same link"
    );
    let token = token_of(&mail, "verify")?;
    let verify = api
        .post("/api/email/verify", None, json!({ "token": token }))
        .await?;
    check!(
        verify.status == 204,
        "verify: {} {}",
        verify.status,
        verify.text
    );
    check!(
        profile(&api, &session).await?["email_verified"] == true,
        "the profile says verified"
    );
    let again = api
        .post("/api/email/verify", None, json!({ "token": token }))
        .await?;
    check!(
        again.status == 400 && again.code() == "invalid_or_expired_token",
        "a used link: {} {}",
        again.status,
        again.text
    );
    // A verified address gets no further verification mail, with the same answer.
    let resend = api
        .post(
            "/api/email/verify/resend",
            None,
            json!({ "email": session.user.email }),
        )
        .await?;
    check!(
        resend.status == 202,
        "resend: {} {}",
        resend.status,
        resend.text
    );
    stack.mail_settled().await?;
    let mails = inbox.to(&canonical(&session.user.email)).await?;
    check!(
        mails
            .iter()
            .filter(|m| m.subject.contains("Confirm your email"))
            .count()
            == 1,
        "a verified address got another verification mail"
    );
    Ok(())
}

async fn required_verification_refuses_unverified_sign_in(stack: &'static Stack) -> Outcome {
    let required = extra::start(
        stack,
        "verification-required",
        &[("EDGEAUTH_EMAIL_VERIFICATION", "required".to_owned())],
    )
    .await?;
    let outcome: Outcome = async {
        let api = Api::new(&required.edge);
        let inbox = inbox(stack)?;
        let user = TestUser::unique();
        let reg = api.register(&user).await?;
        check!(reg.status == 201, "register: {} {}", reg.status, reg.text);
        let refused = api.login(&user.email, &user.password).await?;
        check!(
            refused.status == 403 && refused.code() == "email_unverified",
            "unverified sign-in: {} {}",
            refused.status,
            refused.text
        );
        // A wrong password still gets the usual answer: the 403 needs the right password.
        let wrong = api.login(&user.email, "not the password at all").await?;
        check!(
            wrong.status == 401,
            "wrong password: {} {}",
            wrong.status,
            wrong.text
        );
        // Without a session, the user asks for the link again; the newest one works.
        let resend = api
            .post(
                "/api/email/verify/resend",
                None,
                json!({ "email": user.email }),
            )
            .await?;
        check!(
            resend.status == 202,
            "resend: {} {}",
            resend.status,
            resend.text
        );
        let mails = inbox
            .wait_for(
                &canonical(&user.email),
                "Confirm your email address",
                2,
                MAIL_WAIT,
            )
            .await?;
        let first = token_of(&mails[0], "verify")?;
        let newest = token_of(&mails[1], "verify")?;
        let old = api
            .post("/api/email/verify", None, json!({ "token": first }))
            .await?;
        let new = api
            .post("/api/email/verify", None, json!({ "token": newest }))
            .await?;
        // maildev lists mails in arrival order; either way exactly one of the two works.
        check!(
            (old.status == 400) != (new.status == 400) && (old.status == 204 || new.status == 204),
            "only the newest link works: {} / {}",
            old.status,
            new.status
        );
        let signed_in = api.login(&user.email, &user.password).await?;
        check!(
            signed_in.status == 200 && signed_in.body["user"]["email_verified"] == true,
            "after verifying: {} {}",
            signed_in.status,
            signed_in.text
        );
        Ok(())
    }
    .await;
    extra::stop(stack, &required).await?;
    outcome
}

async fn forgot_password_answers_alike_and_mails_only_known_addresses(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let inbox = inbox(stack)?;
    let session = api.new_session().await?;
    let stranger = TestUser::unique();
    let mut answers = Vec::new();
    for email in [&session.user.email, &stranger.email] {
        let started = Instant::now();
        let reply = api
            .post("/api/password/forgot", None, json!({ "email": email }))
            .await?;
        answers.push((reply.status, reply.text.clone(), started.elapsed()));
    }
    let (known, unknown) = (&answers[0], &answers[1]);
    check!(known.0 == 202, "known: {} {}", known.0, known.1);
    check!(
        known.0 == unknown.0 && known.1 == unknown.1,
        "the answers differ: {known:?} / {unknown:?}"
    );
    one_mail(&inbox, &session.user.email, "Reset your password").await?;
    stack.mail_settled().await?;
    check!(
        inbox.to(&canonical(&stranger.email)).await?.is_empty(),
        "an unknown address got mail"
    );
    let resets = inbox
        .to(&canonical(&session.user.email))
        .await?
        .into_iter()
        .filter(|m| m.subject.contains("Reset"))
        .count();
    check!(resets == 1, "{resets} reset mails for one request");
    Ok(())
}

async fn a_reset_link_works_once_and_ends_every_session(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let inbox = inbox(stack)?;
    let first = api.new_session().await?;
    let second = api.sign_in(&first.user).await?;
    let forgot = api
        .post(
            "/api/password/forgot",
            None,
            json!({ "email": first.user.email }),
        )
        .await?;
    check!(
        forgot.status == 202,
        "forgot: {} {}",
        forgot.status,
        forgot.text
    );
    let mail = one_mail(&inbox, &first.user.email, "Reset your password").await?;
    let token = token_of(&mail, "reset")?;
    let weak = api
        .post(
            "/api/password/reset",
            None,
            json!({ "token": token, "new_password": "password" }),
        )
        .await?;
    check!(
        weak.status == 400 && weak.code() == "validation_failed",
        "a weak password: {} {}",
        weak.status,
        weak.text
    );
    let new_password = format!("{} renewed", first.user.password);
    let reset = api
        .post(
            "/api/password/reset",
            None,
            json!({ "token": token, "new_password": new_password }),
        )
        .await?;
    check!(
        reset.status == 204,
        "reset: {} {}",
        reset.status,
        reset.text
    );
    for session in [&first, &second] {
        let profile = api.get("/api/profile", Some(&session.access)).await?;
        check!(
            profile.status == 401,
            "an old access token still works: {}",
            profile.status
        );
        let refresh = api.refresh(&session.refresh).await?;
        check!(
            refresh.status == 401,
            "an old refresh token still works: {}",
            refresh.status
        );
    }
    let old = api.login(&first.user.email, &first.user.password).await?;
    check!(old.status == 401, "the old password: {}", old.status);
    let new = api.login(&first.user.email, &new_password).await?;
    check!(
        new.status == 200,
        "the new password: {} {}",
        new.status,
        new.text
    );
    let again = api
        .post(
            "/api/password/reset",
            None,
            json!({ "token": token, "new_password": format!("{new_password} again") }),
        )
        .await?;
    check!(
        again.status == 400 && again.code() == "invalid_or_expired_token",
        "a used link: {} {}",
        again.status,
        again.text
    );
    one_mail(&inbox, &first.user.email, "Your password was changed").await?;
    Ok(())
}

async fn a_newer_reset_link_supersedes_the_older_one(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let inbox = inbox(stack)?;
    let session = api.new_session().await?;
    for _ in 0..2 {
        let forgot = api
            .post(
                "/api/password/forgot",
                None,
                json!({ "email": session.user.email }),
            )
            .await?;
        check!(forgot.status == 202, "forgot: {}", forgot.status);
        // One at a time, so the order of the mails is the order of the requests.
        stack.mail_settled().await?;
    }
    let mails = inbox
        .wait_for(
            &canonical(&session.user.email),
            "Reset your password",
            2,
            MAIL_WAIT,
        )
        .await?;
    let (older, newer) = (token_of(&mails[0], "reset")?, token_of(&mails[1], "reset")?);
    check!(older != newer, "two requests, one token");
    let password = format!("{} superseded", session.user.password);
    let old = api
        .post(
            "/api/password/reset",
            None,
            json!({ "token": older, "new_password": password }),
        )
        .await?;
    check!(
        old.status == 400 && old.code() == "invalid_or_expired_token",
        "the superseded link: {} {}",
        old.status,
        old.text
    );
    let new = api
        .post(
            "/api/password/reset",
            None,
            json!({ "token": newer, "new_password": password }),
        )
        .await?;
    check!(
        new.status == 204,
        "the newest link: {} {}",
        new.status,
        new.text
    );
    Ok(())
}

async fn expired_wrong_purpose_and_garbage_tokens_get_one_answer(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let inbox = inbox(stack)?;
    let session = api.new_session().await?;
    let verify_mail = one_mail(&inbox, &session.user.email, "Confirm your email address").await?;
    let verify_token = token_of(&verify_mail, "verify")?;
    api.post(
        "/api/password/forgot",
        None,
        json!({ "email": session.user.email }),
    )
    .await?;
    let reset_mail = one_mail(&inbox, &session.user.email, "Reset your password").await?;
    let reset_token = token_of(&reset_mail, "reset")?;
    // Expire the reset token where it lives: its record's expiry, in Redis.
    let record = format!("ea:et:{}", sha256_hex(&reset_token));
    let exists = stack.redis(&["EXISTS", &record]).await?;
    check!(exists == 1, "the reset token's record {record} is missing");
    stack.redis(&["HSET", &record, "exp", "1"]).await?;
    let password = format!("{} expired", session.user.password);
    let mut answers = Vec::new();
    for (what, path, body) in [
        (
            "expired",
            "/api/password/reset",
            json!({ "token": reset_token, "new_password": password }),
        ),
        (
            "a verify token for a reset",
            "/api/password/reset",
            json!({ "token": verify_token, "new_password": password }),
        ),
        (
            "a verify token for an email change",
            "/api/email/change/confirm",
            json!({ "token": verify_token }),
        ),
        (
            "an unknown token",
            "/api/password/reset",
            json!({ "token": "A".repeat(43), "new_password": password }),
        ),
        ("garbage", "/api/email/verify", json!({ "token": "x" })),
    ] {
        let reply = api.post(path, None, body).await?;
        check!(
            reply.status == 400 && reply.code() == "invalid_or_expired_token",
            "{what}: {} {}",
            reply.status,
            reply.text
        );
        answers.push(reply.text);
    }
    check!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "the refusals differ: {answers:?}"
    );
    // The wrong-purpose attempts consumed nothing: the verify link still works.
    let verify = api
        .post("/api/email/verify", None, json!({ "token": verify_token }))
        .await?;
    check!(
        verify.status == 204,
        "verify after misuse: {} {}",
        verify.status,
        verify.text
    );
    Ok(())
}

async fn email_change_round_trip_notifies_the_old_address(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let inbox = inbox(stack)?;
    let session = api.new_session().await?;
    let new_email = TestUser::unique().email;
    let wrong = api
        .post(
            "/api/email/change",
            Some(&session.access),
            json!({ "new_email": new_email, "current_password": "wrong password here" }),
        )
        .await?;
    check!(
        wrong.status == 401 && wrong.code() == "invalid_credentials",
        "wrong password: {} {}",
        wrong.status,
        wrong.text
    );
    let unauthenticated = api
        .post(
            "/api/email/change",
            None,
            json!({ "new_email": new_email, "current_password": session.user.password }),
        )
        .await?;
    check!(
        unauthenticated.status == 401,
        "no token: {}",
        unauthenticated.status
    );
    let change = api
        .post(
            "/api/email/change",
            Some(&session.access),
            json!({ "new_email": new_email, "current_password": session.user.password }),
        )
        .await?;
    check!(
        change.status == 202,
        "change: {} {}",
        change.status,
        change.text
    );
    let notice = one_mail(
        &inbox,
        &session.user.email,
        "A change of your email address",
    )
    .await?;
    check!(
        notice.text.contains(&canonical(&new_email))
            && notice.link_token("confirm-email").is_none(),
        "the notice names the new address and carries no link: {}",
        notice.text
    );
    // Nothing changes before the link is used.
    check!(
        profile(&api, &session).await?["email"] == canonical(&session.user.email).as_str(),
        "the address changed before confirmation"
    );
    let confirm = one_mail(&inbox, &new_email, "Confirm your new email address").await?;
    let token = token_of(&confirm, "confirm-email")?;
    let done = api
        .post("/api/email/change/confirm", None, json!({ "token": token }))
        .await?;
    check!(done.status == 204, "confirm: {} {}", done.status, done.text);
    let user = profile(&api, &session).await?;
    check!(
        user["email"] == canonical(&new_email).as_str() && user["email_verified"] == true,
        "after the change: {user}"
    );
    let old = api
        .login(&session.user.email, &session.user.password)
        .await?;
    check!(
        old.status == 401,
        "the old address still signs in: {}",
        old.status
    );
    let new = api.login(&new_email, &session.user.password).await?;
    check!(
        new.status == 200,
        "the new address: {} {}",
        new.status,
        new.text
    );
    one_mail(
        &inbox,
        &session.user.email,
        "Your email address was changed",
    )
    .await?;
    let again = api
        .post("/api/email/change/confirm", None, json!({ "token": token }))
        .await?;
    check!(
        again.status == 400 && again.code() == "invalid_or_expired_token",
        "a used link: {}",
        again.status
    );
    // The address is checked again at confirmation: a change to an address someone registered
    // meanwhile is refused.
    let other = TestUser::unique();
    let change = api
        .post(
            "/api/email/change",
            Some(&session.access),
            json!({ "new_email": other.email, "current_password": session.user.password }),
        )
        .await?;
    check!(
        change.status == 202,
        "second change: {} {}",
        change.status,
        change.text
    );
    let confirm = one_mail(&inbox, &other.email, "Confirm your new email address").await?;
    let reg = api.register(&other).await?;
    check!(reg.status == 201, "register the address: {}", reg.status);
    let late = api
        .post(
            "/api/email/change/confirm",
            None,
            json!({ "token": token_of(&confirm, "confirm-email")? }),
        )
        .await?;
    check!(
        late.status == 409 && late.code() == "conflict",
        "confirming a taken address: {} {}",
        late.status,
        late.text
    );
    Ok(())
}

async fn a_password_change_sends_a_notice(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let inbox = inbox(stack)?;
    let session = api.new_session().await?;
    let change = api
        .post(
            "/api/password",
            Some(&session.access),
            json!({
                "current_password": session.user.password,
                "new_password": format!("{} changed", session.user.password)
            }),
        )
        .await?;
    check!(
        change.status == 204,
        "change: {} {}",
        change.status,
        change.text
    );
    let notice = one_mail(&inbox, &session.user.email, "Your password was changed").await?;
    check!(
        !notice.text.contains("http") && !notice.html.contains("<img"),
        "a notice carries no link and no tracking: {}",
        notice.text
    );
    Ok(())
}

async fn mail_limits_429_per_address_and_stay_silent_per_email(stack: &'static Stack) -> Outcome {
    let inbox = inbox(stack)?;
    // Per email: the fourth request within the hour still gets 202, but no fourth mail.
    let session = Api::new(&stack.edge).new_session().await?;
    for _ in 0..4 {
        let reply = Api::new(&stack.edge)
            .post(
                "/api/password/forgot",
                None,
                json!({ "email": session.user.email }),
            )
            .await?;
        check!(
            reply.status == 202,
            "per-email budget: {} {}",
            reply.status,
            reply.text
        );
    }
    inbox
        .wait_for(
            &canonical(&session.user.email),
            "Reset your password",
            3,
            MAIL_WAIT,
        )
        .await?;
    stack.mail_settled().await?;
    let resets = inbox
        .to(&canonical(&session.user.email))
        .await?
        .into_iter()
        .filter(|m| m.subject.contains("Reset"))
        .count();
    check!(
        resets == 3,
        "{resets} reset mails; the per-email budget is 3"
    );
    // Per address: the eleventh request from one address is refused, whatever the email.
    let api = Api::new(&stack.edge);
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let reply = api
            .post(
                "/api/password/forgot",
                None,
                json!({ "email": TestUser::unique().email }),
            )
            .await?;
        statuses.push((reply.status, reply.header("retry-after").map(str::to_owned)));
    }
    check!(
        statuses[..10].iter().all(|(s, _)| *s == 202),
        "within the budget: {statuses:?}"
    );
    check!(
        statuses[10].0 == 429 && statuses[10].1.is_some(),
        "over the per-address budget: {:?}",
        statuses[10]
    );
    Ok(())
}

async fn redis_holds_nothing_a_link_token_can_be_rebuilt_from(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let inbox = inbox(stack)?;
    let session = api.new_session().await?;
    api.post(
        "/api/password/forgot",
        None,
        json!({ "email": session.user.email }),
    )
    .await?;
    let mail = one_mail(&inbox, &session.user.email, "Reset your password").await?;
    let token = token_of(&mail, "reset")?;
    let verify = token_of(
        &one_mail(&inbox, &session.user.email, "Confirm your email address").await?,
        "verify",
    )?;
    // Every key and every value in Redis, as text.
    let mut everything = String::new();
    for (key, value) in every_key(stack).await? {
        everything.push_str(&key);
        everything.push_str(&value.to_string());
    }
    check!(
        everything.contains(&sha256_hex(&token)),
        "the reset token's hash is not stored (the scan is blind?)"
    );
    for (what, secret) in [("reset", &token), ("verify", &verify)] {
        check!(
            !everything.contains(secret.as_str()),
            "Redis holds the {what} token"
        );
    }
    // The queued mail itself carries no link: only its id, from which the token is derived with
    // a key Redis never sees.
    check!(
        !everything.contains("#reset=") && !everything.contains("#verify="),
        "Redis holds a link"
    );
    Ok(())
}

/// SMTP down for a while: requests still answer at once, the mail waits in the outbox with
/// retries, and arrives exactly once when the server is back.
async fn mail_queued_while_smtp_is_down_arrives_once(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    stack.mail_settled().await?;
    let failures_before = metric(stack, "edgeauth_mail_failures_total").await?;
    tokio::task::spawn_blocking(move || stack.stop_maildev()).await??;
    let outcome: Outcome = async {
        let started = Instant::now();
        let forgot = api
            .post(
                "/api/password/forgot",
                None,
                json!({ "email": session.user.email }),
            )
            .await?;
        let took = started.elapsed();
        check!(
            forgot.status == 202,
            "forgot while SMTP is down: {}",
            forgot.status
        );
        check!(
            took < Duration::from_secs(2),
            "the request waited for SMTP: {took:?}"
        );
        // Delivery fails and is retried (base 300 ms, doubling, at most 1.5 s apart).
        let deadline = Instant::now() + Duration::from_secs(15);
        while metric(stack, "edgeauth_mail_failures_total").await? < failures_before + 2.0 {
            check!(
                Instant::now() < deadline,
                "no failed deliveries were retried"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let depth = stack.redis(&["ZCARD", "ea:outbox"]).await?;
        check!(
            depth.as_i64().unwrap_or(0) >= 1,
            "the mail is not in the outbox: {depth}"
        );
        Ok(())
    }
    .await;
    // Starting waits for maildev's API with a blocking client.
    tokio::task::spawn_blocking(move || stack.start_maildev()).await??;
    outcome?;
    let inbox = inbox(stack)?;
    one_mail(&inbox, &session.user.email, "Reset your password").await?;
    stack.mail_settled().await?;
    // Well past the next retries: still one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let resets = inbox
        .to(&canonical(&session.user.email))
        .await?
        .into_iter()
        .filter(|m| m.subject.contains("Reset"))
        .count();
    check!(resets == 1, "{resets} copies of one reset mail");
    Ok(())
}

async fn metric(stack: &Stack, name: &str) -> Result<f64, BoxError> {
    let text = reqwest::get(format!("{}/metrics", stack.admin))
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
