//! Refresh tokens and passwords under stress: a sign-in racing a password change, a lost refresh
//! response, an empty body token, and malformed generations.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_e2e::client::Reply;
use edgeauth_e2e::{Api, Stack};
use futures_util::future::join_all;
use serde_json::{json, Value};

use super::limits::is_limited;
use edgeauth_e2e::observe::{session_of, wait_for_grace_end, wait_for_recovery_end};

use super::sessions::profile_status;
use super::Outcome;
use crate::{check, tests};

tests![
    a_sign_in_racing_a_password_change_leaves_no_session,
    a_lost_refresh_answer_is_recovered_until_the_successor_is_used,
    the_recovery_window_ends,
    an_empty_body_token_is_no_token_at_the_edge_and_the_origin,
    malformed_generations_are_401_and_logouts_spend_the_refresh_budget,
];

const NEW_PASSWORD: &str = "a brand new harbour lantern 77";

async fn a_sign_in_racing_a_password_change_leaves_no_session(stack: &'static Stack) -> Outcome {
    let owner = Api::new(&stack.edge);
    let s = owner.new_session().await?;
    // Sign-ins with the old password from six devices, spread over the moment of the change,
    // each from its own address. The change's own hashing and the sign-ins' share the origin's
    // two hashing slots, so some sign-ins check the old password before the change lands and
    // finish after it.
    let sign_ins = join_all((0..6u64).map(|n| {
        let user = s.user.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(30 * n)).await;
            let api = Api::new(&stack.edge);
            let reply = api.login(&user.email, &user.password).await?;
            Ok::<_, edgeauth_e2e::stack::BoxError>((api, reply))
        }
    }));
    let change = async {
        tokio::time::sleep(Duration::from_millis(40)).await;
        owner
            .post(
                "/api/password",
                Some(&s.access),
                json!({ "current_password": s.user.password, "new_password": NEW_PASSWORD }),
            )
            .await
    };
    let (sign_ins, changed) = tokio::join!(sign_ins, change);
    let changed = changed?;
    check!(
        changed.status == 204,
        "change: {} {}",
        changed.status,
        changed.text
    );
    let mut signed_in = 0;
    for outcome in sign_ins {
        let (api, reply) = outcome?;
        match reply.status {
            200 => {
                signed_in += 1;
                let (access, refresh) = reply.tokens()?;
                check!(
                    profile_status(&api, &access).await? == 401,
                    "a sign-in with the old password kept a session after the change"
                );
                check!(
                    api.refresh(&refresh).await?.status == 401,
                    "its refresh token still works"
                );
            }
            401 => check!(reply.code() == "invalid_credentials", "{}", reply.text),
            other => return Err(format!("sign-in: {other} {}", reply.text).into()),
        }
    }
    let listed = owner.get("/api/sessions", Some(&s.access)).await?;
    check!(
        listed.body["sessions"].as_array().map(Vec::len) == Some(1),
        "only the changer's session is left ({signed_in} sign-ins had succeeded): {}",
        listed.text
    );
    let old = Api::new(&stack.edge)
        .login(&s.user.email, &s.user.password)
        .await?;
    check!(old.status == 401, "the old password: {}", old.text);
    Ok(())
}

async fn a_lost_refresh_answer_is_recovered_until_the_successor_is_used(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    // The client sends a refresh and never sees the answer.
    let lost = api.refresh(&s.refresh).await?;
    check!(lost.status == 200, "{}", lost.text);
    let (_, successor) = lost.tokens()?;
    // After the grace window for racing tabs, it tries again with the token it still has.
    wait_for_grace_end(stack, &session_of(&s.refresh)?).await?;
    let again = api.refresh(&s.refresh).await?;
    check!(
        again.status == 200,
        "a retry after a lost answer ended the session: {} {}",
        again.status,
        again.text
    );
    let (access, refresh) = again.tokens()?;
    check!(refresh == successor, "the retry gets the same successor");
    check!(profile_status(&api, &access).await? == 200, "and it works");
    // Once the successor has been used, the old token is reuse again: the session ends.
    let used = api.refresh(&successor).await?;
    check!(used.status == 200, "{}", used.text);
    let (newest_access, newest) = used.tokens()?;
    let replayed = api.refresh(&s.refresh).await?;
    check!(
        replayed.status == 401 && replayed.code() == "refresh_token_reused",
        "{} {}",
        replayed.status,
        replayed.text
    );
    check!(
        profile_status(&api, &newest_access).await? == 401,
        "session revoked"
    );
    check!(api.refresh(&newest).await?.status == 401, "session revoked");
    Ok(())
}

async fn the_recovery_window_ends(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    let first = api.refresh(&s.refresh).await?;
    check!(first.status == 200, "{}", first.text);
    let (access, _) = first.tokens()?;
    wait_for_recovery_end(stack, &session_of(&s.refresh)?).await?;
    let late = api.refresh(&s.refresh).await?;
    check!(
        late.status == 401 && late.code() == "refresh_token_reused",
        "{} {}",
        late.status,
        late.text
    );
    check!(
        profile_status(&api, &access).await? == 401,
        "session revoked"
    );
    Ok(())
}

/// A cookie-carrying POST from a foreign page, with `body` as JSON.
async fn from_foreign_page(
    api: &Api,
    path: &str,
    refresh: &str,
    body: Value,
) -> Result<Reply, edgeauth_e2e::stack::BoxError> {
    let cookie = format!("__Host-edgeauth_rt={refresh}");
    api.post_with(
        path,
        &[("cookie", &cookie), ("origin", "https://evil.example")],
        body,
    )
    .await
}

async fn an_empty_body_token_is_no_token_at_the_edge_and_the_origin(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    for path in ["/api/refresh", "/api/logout"] {
        for body in [
            json!({ "refresh_token": "" }),
            json!({ "refresh_token": "   " }),
        ] {
            let reply = from_foreign_page(&api, path, &s.refresh, body.clone()).await?;
            check!(
                reply.status == 403 && reply.code() == "forbidden",
                "{path} {body} with the cookie from a foreign page: {} {}",
                reply.status,
                reply.text
            );
        }
    }
    check!(
        profile_status(&api, &s.access).await? == 200,
        "the session is untouched"
    );
    // Without a cookie, an empty token is no token at all.
    let none = api
        .post("/api/refresh", None, json!({ "refresh_token": "" }))
        .await?;
    check!(
        none.status == 401 && none.code() == "invalid_refresh_token",
        "{} {}",
        none.status,
        none.text
    );
    check!(
        api.refresh(&s.refresh).await?.status == 200,
        "the real token works"
    );
    Ok(())
}

async fn malformed_generations_are_401_and_logouts_spend_the_refresh_budget(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    let session_id = s.refresh.split('.').nth(1).ok_or("no session id")?;
    let secret = B64.encode([7u8; 32]);
    for generation in [
        "18446744073709551615",
        "18446744073709551614",
        "18446744073709551616",
        "4294967296",
        "9007199254740993",
        "99999999999999999999999999",
    ] {
        let forged = format!("rt1.{session_id}.{generation}.{secret}");
        let refreshed = api.refresh(&forged).await?;
        let logout = api
            .post("/api/logout", None, json!({ "refresh_token": forged }))
            .await?;
        check!(
            refreshed.status == 401 && refreshed.code() == "invalid_refresh_token",
            "refresh with generation {generation}: {} {}",
            refreshed.status,
            refreshed.text
        );
        // A logout without a usable token is told to sign in.
        check!(
            logout.status == 401 && logout.code() == "invalid_token",
            "logout with generation {generation}: {} {}",
            logout.status,
            logout.text
        );
    }
    check!(
        profile_status(&api, &s.access).await? == 200,
        "the session is untouched"
    );
    // Logouts by refresh token spend the address's refresh budget, like refreshes.
    let prober = Api::new(&stack.edge);
    let forged = format!("rt1.{session_id}.0.{secret}");
    for n in 0..stack.options.refresh_per_ip {
        let reply = prober
            .post("/api/logout", None, json!({ "refresh_token": forged }))
            .await?;
        check!(
            reply.status == 401,
            "logout {n}: {} {}",
            reply.status,
            reply.text
        );
    }
    is_limited(
        &prober
            .post("/api/logout", None, json!({ "refresh_token": forged }))
            .await?,
    )?;
    check!(
        profile_status(&api, &s.access).await? == 200,
        "the session is untouched"
    );
    Ok(())
}
