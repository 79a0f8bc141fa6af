//! Sessions that really end: rotation, grace, reuse detection, logout variants, session
//! management, password change, and Redis faults and restarts.

use std::time::{Duration, Instant};

use edgeauth_e2e::client::Session;
use edgeauth_e2e::observe::{session_of, wait_for_recovery_end};
use edgeauth_e2e::{Api, Stack};
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;

use super::Outcome;
use crate::{check, tests};

tests![
    refresh_rotates_and_reuse_after_grace_revokes_the_session,
    concurrent_refreshes_within_grace_share_one_successor,
    an_older_generation_is_detected_as_reuse,
    a_forged_refresh_token_revokes_nothing,
    logout_revokes_access_and_refresh_at_once,
    logout_works_with_only_a_refresh_token,
    logout_all_ends_every_session,
    a_second_login_keeps_the_first_device,
    sessions_are_listed_and_deleted_only_by_their_owner,
    password_change_keeps_this_session_and_ends_the_others,
    relogin_in_the_same_second_gets_a_fresh_token;
    exclusive: redis_down_fails_closed_then_recovers,
    redis_stalled_fails_closed_within_the_bound,
    a_hung_origin_is_answered_in_time,
    redis_restart_keeps_users_sessions_and_revocations,
    origin_warns_when_redis_may_evict,
];

pub(crate) async fn profile_status(
    api: &Api,
    access: &str,
) -> Result<u16, edgeauth_e2e::stack::BoxError> {
    Ok(api.get("/api/profile", Some(access)).await?.status)
}

/// One authenticated `GET /api/profile` while the stack's process `name` is frozen (SIGSTOP),
/// with how long it took; the process is thawed before the reply is looked at.
async fn profile_while_frozen(
    stack: &Stack,
    name: &str,
    api: &Api,
    access: &str,
) -> Result<(edgeauth_e2e::client::Reply, Duration), edgeauth_e2e::stack::BoxError> {
    stack.pause(name, true)?;
    let started = Instant::now();
    let reply = api.get("/api/profile", Some(access)).await;
    let took = started.elapsed();
    stack.pause(name, false)?;
    Ok((reply?, took))
}

async fn refresh_rotates_and_reuse_after_grace_revokes_the_session(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    let first = api.refresh(&s.refresh).await?;
    check!(
        first.status == 200,
        "refresh: {} {}",
        first.status,
        first.text
    );
    let (access1, refresh1) = first.tokens()?;
    check!(
        refresh1 != s.refresh && access1 != s.access,
        "both tokens rotate"
    );
    check!(
        first.body["user"]["id"] == s.user_id.as_str(),
        "{}",
        first.text
    );
    check!(
        profile_status(&api, &access1).await? == 200,
        "new access token works"
    );

    wait_for_recovery_end(stack, &session_of(&s.refresh)?).await?;
    let reused = api.refresh(&s.refresh).await?;
    check!(
        reused.status == 401 && reused.code() == "refresh_token_reused",
        "{} {}",
        reused.status,
        reused.text
    );
    // The whole session is gone: its newest refresh token and every access token.
    check!(
        profile_status(&api, &access1).await? == 401,
        "access token of the revoked session"
    );
    check!(
        profile_status(&api, &s.access).await? == 401,
        "older access token"
    );
    let newest = api.refresh(&refresh1).await?;
    check!(
        newest.status == 401,
        "newest refresh token: {}",
        newest.text
    );
    Ok(())
}

async fn concurrent_refreshes_within_grace_share_one_successor(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    let replies = join_all((0..20).map(|_| api.refresh(&s.refresh))).await;
    let mut successors = std::collections::HashSet::new();
    let mut accesses = Vec::new();
    for reply in replies {
        let reply = reply?;
        check!(
            reply.status == 200,
            "a racing refresh failed: {} {}",
            reply.status,
            reply.text
        );
        let (access, refresh) = reply.tokens()?;
        successors.insert(refresh);
        accesses.push(access);
    }
    check!(
        successors.len() == 1,
        "all racers get the same successor: {}",
        successors.len()
    );
    for access in &accesses {
        check!(
            profile_status(&api, access).await? == 200,
            "every racer's access token works"
        );
    }
    let sessions = api.get("/api/sessions", Some(&accesses[0])).await?;
    check!(
        sessions.body["sessions"].as_array().map(Vec::len) == Some(1),
        "still one session: {}",
        sessions.text
    );
    let next = api
        .refresh(successors.iter().next().map_or("", String::as_str))
        .await?;
    check!(
        next.status == 200,
        "the shared successor refreshes: {}",
        next.text
    );
    Ok(())
}

async fn an_older_generation_is_detected_as_reuse(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    let (_, r1) = api.refresh(&s.refresh).await?.tokens()?;
    let (a2, r2) = api.refresh(&r1).await?.tokens()?;
    let (a3, _) = api.refresh(&r2).await?.tokens()?;
    check!(profile_status(&api, &a3).await? == 200, "chain works");
    // Generation 0 after three rotations: even inside the grace window this is a reuse.
    let reused = api.refresh(&s.refresh).await?;
    check!(
        reused.code() == "refresh_token_reused",
        "{} {}",
        reused.status,
        reused.text
    );
    check!(profile_status(&api, &a3).await? == 401, "session revoked");
    check!(profile_status(&api, &a2).await? == 401, "session revoked");
    Ok(())
}

async fn a_forged_refresh_token_revokes_nothing(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    let mut parts: Vec<&str> = s.refresh.split('.').collect();
    let forged_secret = "A".repeat(43);
    parts[3] = &forged_secret;
    let forged = api.refresh(&parts.join(".")).await?;
    check!(
        forged.status == 401 && forged.code() == "invalid_refresh_token",
        "{}",
        forged.text
    );
    for junk in ["", "garbage", "rt1.x.y.z"] {
        let reply = api.refresh(junk).await?;
        check!(reply.status == 401, "{junk:?}: {}", reply.text);
    }
    check!(
        profile_status(&api, &s.access).await? == 200,
        "the real session is untouched"
    );
    check!(
        api.refresh(&s.refresh).await?.status == 200,
        "and its refresh token works"
    );
    Ok(())
}

async fn logout_revokes_access_and_refresh_at_once(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    let out = api
        .call(Method::POST, "/api/logout", Some(&s.access), None)
        .await?;
    check!(out.status == 204, "logout: {} {}", out.status, out.text);
    check!(
        out.set_cookies().iter().any(|c| c.contains("Max-Age=0")),
        "cookie cleared"
    );
    check!(
        profile_status(&api, &s.access).await? == 401,
        "access token dies at once"
    );
    check!(
        api.refresh(&s.refresh).await?.status == 401,
        "refresh token dies too"
    );
    let again = api
        .call(Method::POST, "/api/logout", Some(&s.access), None)
        .await?;
    check!(again.status == 401, "second logout: {}", again.text);
    Ok(())
}

async fn logout_works_with_only_a_refresh_token(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    let out = api
        .post("/api/logout", None, json!({ "refresh_token": s.refresh }))
        .await?;
    check!(
        out.status == 204,
        "logout by refresh token: {} {}",
        out.status,
        out.text
    );
    check!(
        profile_status(&api, &s.access).await? == 401,
        "its access token dies"
    );
    let cookie_only = api.new_session().await?;
    let reply = api
        .http
        .post(format!("{}/api/logout", stack.edge))
        .header(
            "cookie",
            format!("__Host-edgeauth_rt={}", cookie_only.refresh),
        )
        .header("origin", &stack.edge)
        .send()
        .await?;
    check!(
        reply.status().as_u16() == 204,
        "logout by cookie: {}",
        reply.status()
    );
    check!(
        profile_status(&api, &cookie_only.access).await? == 401,
        "cookie session ended"
    );
    let nothing = api.call(Method::POST, "/api/logout", None, None).await?;
    check!(
        nothing.status == 401,
        "logout with nothing: {}",
        nothing.text
    );
    Ok(())
}

async fn logout_all_ends_every_session(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let a = api.new_session().await?;
    let b = api.sign_in(&a.user).await?;
    let out = api
        .call(Method::POST, "/api/logout-all", Some(&a.access), None)
        .await?;
    check!(out.status == 204, "logout-all: {} {}", out.status, out.text);
    for s in [&a, &b] {
        check!(
            profile_status(&api, &s.access).await? == 401,
            "access token survived logout-all"
        );
        check!(
            api.refresh(&s.refresh).await?.status == 401,
            "refresh token survived logout-all"
        );
    }
    Ok(())
}

async fn a_second_login_keeps_the_first_device(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let first = api.new_session().await?;
    let second = api.sign_in(&first.user).await?;
    check!(
        profile_status(&api, &first.access).await? == 200,
        "first device access"
    );
    check!(
        profile_status(&api, &second.access).await? == 200,
        "second device access"
    );
    check!(
        api.refresh(&first.refresh).await?.status == 200,
        "first device can still refresh"
    );
    Ok(())
}

async fn sessions_are_listed_and_deleted_only_by_their_owner(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let a = api.new_session().await?;
    let b = api.sign_in(&a.user).await?;
    let stranger = api.new_session().await?;
    let list = api.get("/api/sessions", Some(&a.access)).await?;
    check!(list.status == 200, "{}", list.text);
    let sessions = list.body["sessions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    check!(sessions.len() == 2, "two sessions: {}", list.text);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    check!(current.len() == 1, "exactly one current: {}", list.text);
    for field in ["id", "created_at", "last_used_at", "user_agent", "ip"] {
        check!(
            sessions[0].get(field).is_some(),
            "{field} listed: {}",
            list.text
        );
    }
    let b_id = sessions
        .iter()
        .find(|s| s["current"] == false)
        .and_then(|s| s["id"].as_str())
        .unwrap_or("")
        .to_owned();

    let theirs = api
        .call(
            Method::DELETE,
            &format!("/api/sessions/{b_id}"),
            Some(&stranger.access),
            None,
        )
        .await?;
    check!(
        theirs.status == 404 && theirs.code() == "not_found",
        "someone else's session: {}",
        theirs.text
    );
    check!(
        profile_status(&api, &b.access).await? == 200,
        "untouched by the stranger"
    );
    let missing = api
        .call(
            Method::DELETE,
            "/api/sessions/does-not-exist",
            Some(&a.access),
            None,
        )
        .await?;
    check!(missing.status == 404, "{}", missing.text);

    let mine = api
        .call(
            Method::DELETE,
            &format!("/api/sessions/{b_id}"),
            Some(&a.access),
            None,
        )
        .await?;
    check!(
        mine.status == 204,
        "delete own: {} {}",
        mine.status,
        mine.text
    );
    check!(
        profile_status(&api, &b.access).await? == 401,
        "deleted session's token dies"
    );
    check!(
        profile_status(&api, &a.access).await? == 200,
        "the caller's session lives"
    );
    let list = api.get("/api/sessions", Some(&a.access)).await?;
    check!(
        list.body["sessions"].as_array().map(Vec::len) == Some(1),
        "{}",
        list.text
    );
    Ok(())
}

async fn password_change_keeps_this_session_and_ends_the_others(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let a = api.new_session().await?;
    let b = api.sign_in(&a.user).await?;
    let new_password = format!("{} renewed", a.user.password);
    let change = |current: String, new: String| {
        api.post(
            "/api/password",
            Some(&a.access),
            json!({ "current_password": current, "new_password": new }),
        )
    };
    let wrong = change("not my password".into(), new_password.clone()).await?;
    check!(
        wrong.status == 401 && wrong.code() == "invalid_credentials",
        "{}",
        wrong.text
    );
    let weak = change(a.user.password.clone(), "password1".into()).await?;
    check!(
        weak.status == 400 && weak.code() == "validation_failed",
        "{}",
        weak.text
    );
    check!(
        profile_status(&api, &b.access).await? == 200,
        "failed attempts change nothing"
    );

    let ok = change(a.user.password.clone(), new_password.clone()).await?;
    check!(ok.status == 204, "{} {}", ok.status, ok.text);
    check!(
        profile_status(&api, &a.access).await? == 200,
        "this session stays"
    );
    check!(
        profile_status(&api, &b.access).await? == 401,
        "the other session ends"
    );
    check!(
        api.refresh(&b.refresh).await?.status == 401,
        "and cannot refresh"
    );
    check!(
        api.login(&a.user.email, &a.user.password).await?.status == 401,
        "old password"
    );
    check!(
        api.login(&a.user.email, &new_password).await?.status == 200,
        "new password"
    );
    Ok(())
}

async fn relogin_in_the_same_second_gets_a_fresh_token(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let first: Session = api.new_session().await?;
    let out = api
        .call(Method::POST, "/api/logout", Some(&first.access), None)
        .await?;
    check!(out.status == 204, "{}", out.text);
    let again = api.sign_in(&first.user).await?;
    check!(again.access != first.access, "every token has its own jti");
    check!(
        profile_status(&api, &again.access).await? == 200,
        "the new token works"
    );
    check!(
        profile_status(&api, &first.access).await? == 401,
        "the old one stays dead"
    );
    Ok(())
}

async fn redis_down_fails_closed_then_recovers(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    stack.stop_redis()?;
    let outcome: Outcome = async {
        let started = Instant::now();
        let reply = api.get("/api/profile", Some(&s.access)).await?;
        let took = started.elapsed();
        check!(
            reply.status == 503 && reply.code() == "revocation_unavailable",
            "{} {}",
            reply.status,
            reply.text
        );
        check!(took < Duration::from_secs(3), "answered in {took:?}");
        let forged = api.get("/api/profile", Some("a.b.c")).await?;
        check!(
            forged.status == 401,
            "forged tokens still die without Redis: {}",
            forged.status
        );
        let health = api.get("/healthz", None).await?;
        check!(
            health.status == 503,
            "health reports the outage: {}",
            health.text
        );
        let login = api.login(&s.user.email, &s.user.password).await?;
        check!(
            login.status == 503,
            "login cannot proceed without the store: {} {}",
            login.status,
            login.text
        );
        Ok(())
    }
    .await;
    stack.start_redis()?;
    outcome?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = profile_status(&api, &s.access).await?;
        if status == 200 {
            return Ok(());
        }
        check!(
            Instant::now() < deadline,
            "no recovery after Redis returned (last status {status})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn redis_stalled_fails_closed_within_the_bound(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    let (reply, took) = profile_while_frozen(stack, "redis-server", &api, &s.access).await?;
    check!(
        reply.status == 503 && reply.code() == "revocation_unavailable",
        "{} {}",
        reply.status,
        reply.text
    );
    check!(
        took < Duration::from_millis(stack.options.redis_timeout_ms + 1500),
        "answered in {took:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while profile_status(&api, &s.access).await? != 200 {
        check!(Instant::now() < deadline, "no recovery after the stall");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// The edge bounds its origin call (`ORIGIN_TIMEOUT_MS`): a frozen origin costs the client one
/// timely 503, and the next request after it thaws is served again.
async fn a_hung_origin_is_answered_in_time(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    let (reply, took) = profile_while_frozen(stack, "origin", &api, &s.access).await?;
    check!(
        reply.status == 503 && reply.code() == "service_unavailable",
        "{} {}",
        reply.status,
        reply.text
    );
    let bound = Duration::from_millis(edgeauth_e2e::stack::ORIGIN_TIMEOUT_MS);
    check!(
        took >= bound - Duration::from_millis(100) && took < bound + Duration::from_millis(1500),
        "answered in {took:?}, the bound is {bound:?}"
    );
    check!(
        profile_status(&api, &s.access).await? == 200,
        "not served after the origin thawed"
    );
    Ok(())
}

async fn redis_restart_keeps_users_sessions_and_revocations(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let revoked = api.new_session().await?;
    let live = api.sign_in(&revoked.user).await?;
    let out = api
        .call(Method::POST, "/api/logout", Some(&revoked.access), None)
        .await?;
    check!(out.status == 204, "{}", out.text);
    stack.stop_redis()?;
    stack.start_redis()?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while profile_status(&api, &live.access).await? != 200 {
        check!(
            Instant::now() < deadline,
            "the live session did not survive the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    check!(
        profile_status(&api, &revoked.access).await? == 401,
        "a revocation was lost"
    );
    check!(
        api.refresh(&revoked.refresh).await?.status == 401,
        "a revoked refresh token came back"
    );
    check!(
        api.refresh(&live.refresh).await?.status == 200,
        "the live refresh token works"
    );
    check!(
        api.sign_in(&live.user).await.is_ok(),
        "the user can still log in"
    );
    Ok(())
}

/// An auth store must never silently evict sessions: the origin says so at start-up when the
/// Redis it reaches is configured to evict.
async fn origin_warns_when_redis_may_evict(stack: &'static Stack) -> Outcome {
    stack
        .redis(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"])
        .await?;
    let outcome = async {
        let warned = start_origin_and_read_log(stack).await?;
        check!(
            warned.contains("maxmemory-policy") && warned.contains("allkeys-lru"),
            "no eviction warning in: {warned}"
        );
        Ok::<_, edgeauth_e2e::stack::BoxError>(())
    }
    .await;
    stack
        .redis(&["CONFIG", "SET", "maxmemory-policy", "noeviction"])
        .await?;
    outcome?;
    let quiet = start_origin_and_read_log(stack).await?;
    check!(
        !quiet.contains("maxmemory-policy is not noeviction"),
        "warned with noeviction: {quiet}"
    );
    Ok(())
}

/// Starts a second origin against the stack's Redis, waits until it listens, stops it and
/// returns what it logged.
async fn start_origin_and_read_log(stack: &Stack) -> Result<String, edgeauth_e2e::stack::BoxError> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = tokio::process::Command::from(stack.origin_command(port))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        check!(Instant::now() < deadline, "the second origin did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.start_kill()?;
    let output = child.wait_with_output().await?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}
