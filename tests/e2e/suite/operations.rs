//! Operating edgeauth: key rotation under live sessions, retiring a key until the edge refuses it,
//! the JWKS fetch throttle, logs (request ids, audit events, no secrets), metrics and readiness,
//! and the OpenAPI document — checked by schemathesis against the running stack.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_core::keys::{SigningKey, SigningKeyRing};
use edgeauth_core::token::{issue_access_token, AccessGrant, TokenPolicy};
use edgeauth_e2e::client::{Session, TestUser};
use edgeauth_e2e::observe::{session_of, wait_for_grace_end, wait_until};
use edgeauth_e2e::stack::{BoxError, JWKS_MIN_REFETCH_SECS};
use edgeauth_e2e::workerd::Heap;
use edgeauth_e2e::{Api, Stack};
use futures_util::future::join_all;
use jwt_simple::prelude::Ed25519KeyPair;
use serde_json::{json, Value};

use super::Outcome;
use crate::{check, tests};

tests![
    origin_logs_carry_request_ids_and_audit_events_but_no_secrets,
    admin_listener_serves_metrics_liveness_and_readiness,
    openapi_document_is_served_through_the_edge,
    schemathesis_finds_no_server_errors_or_schema_violations;
    exclusive: key_rotation_keeps_every_session_working,
    a_retired_key_is_refused_at_the_edge_even_where_it_was_pinned,
    a_flood_of_unknown_kids_costs_at_most_one_jwks_fetch,
    readiness_follows_redis,
];

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn random_tag() -> String {
    let mut bytes = [0u8; 6];
    let _ = getrandom::fill(&mut bytes);
    B64.encode(bytes).replace(['-', '_'], "x")
}

/// The `kid` in a JWT's header.
fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap_or("");
    B64.decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|h| h["kid"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn profile_status(api: &Api, access: &str) -> Result<u16, BoxError> {
    Ok(api.get("/api/profile", Some(access)).await?.status)
}

/// The operator's rotation: `keys rotate` (new key first, old keys kept) and a restart of the
/// stateless origin. Sessions that were live before keep working throughout.
async fn key_rotation_keeps_every_session_working(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let before: Session = api.new_session().await?;
    let old_kid = stack.signing_keys.active().kid().to_owned();
    check!(kid_of(&before.access) == old_kid, "signed by the first key");

    let new_kid = format!("rotated-{}", random_tag());
    let rotated = SigningKeyRing::from_json(&stack.signing_keys.to_private_json())?
        .rotated(SigningKey::ed25519(&new_kid, Ed25519KeyPair::generate()))?;
    stack.restart_origin_with_keys(&rotated)?;

    let outcome = async {
        check!(
            profile_status(&api, &before.access).await? == 200,
            "an access token from before the rotation still works"
        );
        let refreshed = api.refresh(&before.refresh).await?;
        check!(
            refreshed.status == 200,
            "refresh across the rotation: {} {}",
            refreshed.status,
            refreshed.text
        );
        let (access, refresh) = refreshed.tokens()?;
        check!(
            kid_of(&access) == new_kid,
            "the new token carries the new kid"
        );
        // The edge has never seen this kid: it fetches the origin's JWKS (at most once per
        // refetch interval, which an earlier test may have just used).
        let limit = Duration::from_secs(JWKS_MIN_REFETCH_SECS + 5);
        wait_until("the edge to accept the new kid", limit, || async {
            Ok(profile_status(&api, &access).await? == 200)
        })
        .await?;

        let fresh = api.sign_in(&before.user).await?;
        check!(
            kid_of(&fresh.access) == new_kid,
            "new logins use the new key"
        );
        check!(
            profile_status(&api, &fresh.access).await? == 200,
            "new login works"
        );
        check!(
            profile_status(&api, &before.access).await? == 200,
            "the old token still works after the edge refreshed its keys"
        );
        let jwks = api.get("/.well-known/jwks.json", None).await?;
        for kid in [&new_kid, &old_kid] {
            check!(
                jwks.text.contains(kid.as_str()),
                "JWKS publishes {kid}: {}",
                jwks.text
            );
        }
        let again = api.refresh(&refresh).await?;
        check!(
            again.status == 200,
            "the refresh chain goes on: {}",
            again.text
        );
        let edge_log = std::fs::read_to_string(stack.log_dir.join("wrangler.log"))?;
        check!(
            edge_log.contains("fetched the origin's JWKS") && edge_log.contains(&new_kid),
            "the edge logged fetching the new key"
        );
        Ok::<_, BoxError>(access)
    }
    .await;

    // Put the stack's first key back in charge for the other tests, keeping the rotated key
    // published: tokens it signed keep working, as after any rotation.
    let rolled_back = SigningKeyRing::from_json(&rotated.to_private_json())?.promoted(&old_kid)?;
    stack.restart_origin_with_keys(&rolled_back)?;
    let rotated_token = outcome?;
    check!(
        profile_status(&api, &rotated_token).await? == 200,
        "a token of the rotated key survives the roll-back"
    );
    let back = api.sign_in(&before.user).await?;
    check!(kid_of(&back.access) == old_kid, "the first key signs again");
    Ok(())
}

/// The claims of a JWT, unverified (the tests read their own tokens).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap_or("");
    B64.decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}

/// Runs `edgeauth-origin keys ARGS` as an operator would, `stdin` on standard input; the exit
/// code, standard output and standard error.
async fn keys_command(
    stack: &Stack,
    args: &[&str],
    stdin: &str,
) -> Result<(Option<i32>, String, String), BoxError> {
    use std::io::{Seek, Write};
    let mut input = tempfile::tempfile()?;
    input.write_all(stdin.as_bytes())?;
    input.rewind()?;
    let out = tokio::process::Command::new(stack.bin("edgeauth-origin"))
        .arg("--no-env-file")
        .arg("keys")
        .args(args)
        .stdin(input)
        .kill_on_drop(true)
        .output()
        .await?;
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The guide's retirement (docs/deploy.md, step 7) against an edge that pinned the key in
/// `EDGEAUTH_JWKS`, where it used to stay trusted for as long as the pin lived: `keys retire`,
/// the origin restarted with the new set, and a token of a live session signed by the retired
/// key is refused at that edge within its JWKS TTL — without touching the pin. An edge given the
/// new set (the guide's `wrangler secret put EDGEAUTH_JWKS`) refuses it at once, and
/// `keys check-edge` tells the two states apart.
async fn a_retired_key_is_refused_at_the_edge_even_where_it_was_pinned(
    stack: &'static Stack,
) -> Outcome {
    let retiring = format!("retiring-{}", random_tag());
    let before = SigningKeyRing::from_json(&stack.signing_keys.to_private_json())?
        .staged(SigningKey::ed25519(&retiring, Ed25519KeyPair::generate()))?;
    let dir = tempfile::tempdir()?;
    let before_file = dir.path().join("origin.env");
    std::fs::write(
        &before_file,
        format!("EDGEAUTH_SIGNING_KEYS='{}'\n", before.to_private_json()),
    )?;
    let before_file = before_file.to_string_lossy().into_owned();
    stack.restart_origin_with_keys(&before)?;
    let pinned_jwks = before.public_jwks().to_string();
    let pinned = [
        ("EDGEAUTH_JWKS".to_owned(), pinned_jwks),
        ("EDGEAUTH_JWKS_TTL_SECS".to_owned(), "2".to_owned()),
        ("EDGEAUTH_JWKS_MIN_REFETCH_SECS".to_owned(), "1".to_owned()),
    ];
    let edge = tokio::task::spawn_blocking(move || {
        stack.start_workerd_edge("workerd-pinned", &pinned, Heap::Production)
    })
    .await??;

    let outcome = async {
        let api = Api::new(&edge);
        let session = api.new_session().await?;
        let claims = claims_of(&session.access);
        let (user_id, session_id) = (
            claims["sub"].as_str().unwrap_or(""),
            claims["sid"].as_str().unwrap_or(""),
        );
        let key = before
            .keys()
            .iter()
            .find(|k| k.kid() == retiring)
            .ok_or("the staged key")?;
        let grant = AccessGrant {
            user_id,
            session_id,
            token_id: "signed-by-the-retiring-key",
            now: now(),
            session_expires_at: u64::MAX,
        };
        let probe = issue_access_token(
            key,
            &TokenPolicy::new(&stack.issuer, &stack.audience),
            &grant,
        )?
        .token;
        check!(
            profile_status(&api, &probe).await? == 200,
            "while published and pinned, the key is trusted"
        );
        let check_edge = [
            "check-edge",
            "--edge",
            &edge,
            "--kid",
            &retiring,
            "--file",
            &before_file,
        ];
        let (code, _, err) = keys_command(stack, &check_edge, &session.access).await?;
        check!(
            code == Some(1) && err.contains("still accepts"),
            "check-edge while the key is trusted: {code:?} {err}"
        );

        // The guide: `keys retire --kid OLD --env --file …`, install, restart the origin.
        let (code, retired_env, err) = keys_command(
            stack,
            &[
                "retire",
                "--kid",
                &retiring,
                "--env",
                "--file",
                &before_file,
            ],
            "",
        )
        .await?;
        check!(code == Some(0), "keys retire: {err}");
        let after = retired_env
            .lines()
            .find_map(|line| line.strip_prefix("EDGEAUTH_SIGNING_KEYS='"))
            .and_then(|rest| rest.strip_suffix('\''))
            .ok_or_else(|| format!("no EDGEAUTH_SIGNING_KEYS line in: {retired_env}"))?;
        let after = SigningKeyRing::from_json(after)?;
        check!(
            after.keys().iter().all(|k| k.kid() != retiring),
            "the retired set lacks the key"
        );
        stack.restart_origin_with_keys(&after)?;

        // The pin still names the key; the next fetch (at most one TTL away) drops it.
        wait_until(
            "the pinned edge refuses the retired key within its TTL",
            Duration::from_secs(15),
            || async { Ok(profile_status(&api, &probe).await? == 401) },
        )
        .await?;
        check!(
            profile_status(&api, &session.access).await? == 200,
            "tokens of the current key still work"
        );
        let (code, out, err) = keys_command(stack, &check_edge, &session.access).await?;
        check!(
            code == Some(0) && out.contains("refuses tokens signed by"),
            "check-edge after the retirement: {code:?} {out} {err}"
        );
        let log = std::fs::read_to_string(stack.log_dir.join("workerd-pinned.log"))?;
        check!(
            log.contains("no longer published by the origin") && log.contains(&retiring),
            "the edge warned that its pin names a retired key"
        );

        // The guide's last step: the new set on the edge. A fresh edge with it refuses at once.
        let updated = [("EDGEAUTH_JWKS".to_owned(), after.public_jwks().to_string())];
        let fresh = tokio::task::spawn_blocking(move || {
            stack.start_workerd_edge("workerd-updated-pin", &updated, Heap::Production)
        })
        .await??;
        let fresh_api = Api::new(&fresh);
        check!(
            profile_status(&fresh_api, &probe).await? == 401,
            "an edge with the updated pin refuses the retired key on the first request"
        );
        check!(
            profile_status(&fresh_api, &session.access).await? == 200,
            "and accepts the current key"
        );
        Ok::<_, BoxError>(())
    }
    .await;

    tokio::task::spawn_blocking(move || {
        stack.stop_process("workerd-pinned")?;
        stack.stop_process("workerd-updated-pin")?;
        stack.restart_origin_with_keys(&stack.signing_keys)
    })
    .await??;
    outcome
}

fn forged(policy: &TokenPolicy, kid: &str) -> Result<String, BoxError> {
    let key = SigningKey::ed25519(kid, Ed25519KeyPair::generate());
    let grant = AccessGrant {
        user_id: "nobody",
        session_id: "no-session",
        token_id: kid,
        now: now(),
        session_expires_at: u64::MAX,
    };
    Ok(issue_access_token(&key, policy, &grant)?.token)
}

/// Plausible tokens with random kids, all at once: every one is refused, and the edge asks the
/// origin for keys at most once per refetch interval.
async fn a_flood_of_unknown_kids_costs_at_most_one_jwks_fetch(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let policy = TokenPolicy::new(&stack.issuer, &stack.audience);
    let tokens: Vec<String> = (0..40)
        .map(|i| forged(&policy, &format!("forged-{i}-{}", random_tag())))
        .collect::<Result<_, _>>()?;
    let before = stack.redis_commands().await?;
    let started = Instant::now();
    let replies = join_all(
        tokens
            .iter()
            .map(|token| api.get("/api/profile", Some(token))),
    )
    .await;
    let elapsed = started.elapsed();
    let after = stack.redis_commands().await?;
    for reply in replies {
        let reply = reply?;
        check!(
            reply.status == 401 && reply.code() == "invalid_token",
            "forged kid: {} {}",
            reply.status,
            reply.text
        );
    }
    // A JWKS fetch is one origin request, which claims one nonce in Redis; the refused tokens
    // themselves cost nothing.
    let fetches = after - before;
    let allowed = 1 + elapsed.as_secs() / JWKS_MIN_REFETCH_SECS;
    check!(
        fetches <= allowed,
        "{} forged kids caused {fetches} origin requests in {elapsed:?} (allowed {allowed})",
        tokens.len()
    );
    Ok(())
}

/// A log file's text; a missing or empty log is an error, never a clean scan.
fn read_log(path: &std::path::Path) -> Result<String, BoxError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    if text.trim().is_empty() {
        return Err(format!("{} is empty", path.display()).into());
    }
    Ok(text)
}

/// Parsed JSON lines of a log file (other lines, e.g. plain start-up text, are skipped).
fn json_lines(path: PathBuf) -> Result<Vec<Value>, BoxError> {
    let text = read_log(&path)?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .collect())
}

/// Runs every security-relevant flow, then reads the origin's and the edge's logs: each action
/// has its audit event, every line of a request carries the edge's request id, and no password,
/// token or secret appears anywhere.
async fn origin_logs_carry_request_ids_and_audit_events_but_no_secrets(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let user = TestUser::unique();
    let registered = api.register(&user).await?;
    check!(registered.status == 201, "register: {}", registered.text);
    let user_id = registered.body["user"]["id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let login = api.login(&user.email, &user.password).await?;
    check!(login.status == 200, "login: {}", login.text);
    let login_request = login.header("x-request-id").unwrap_or("").to_owned();
    let (access, first_refresh) = login.tokens()?;

    // Rotation, then reuse of the rotated token after the grace window: the session dies.
    let refreshed = api.refresh(&first_refresh).await?;
    check!(refreshed.status == 200, "refresh: {}", refreshed.text);
    let (second_access, second_refresh) = refreshed.tokens()?;
    wait_for_grace_end(stack, &session_of(&first_refresh)?).await?;
    let reused = api.refresh(&first_refresh).await?;
    check!(
        reused.code() == "refresh_token_reused",
        "reuse: {}",
        reused.text
    );

    // Failed logins from one address until the (account, address) pair locks.
    let attacker = Api::new(&stack.edge);
    let wrong_password = format!("not {} at all", user.password);
    for _ in 0..5 {
        attacker.login(&user.email, &wrong_password).await?;
    }
    let locked = attacker.login(&user.email, &wrong_password).await?;
    check!(
        locked.status == 429,
        "locked: {} {}",
        locked.status,
        locked.text
    );

    // A password change (other sessions revoked), a session deleted, a logout.
    let session = api.sign_in(&user).await?;
    let other = api.sign_in(&user).await?;
    let new_password = format!("{} renewed", user.password);
    let changed = api
        .post(
            "/api/password",
            Some(&session.access),
            json!({ "current_password": user.password, "new_password": new_password }),
        )
        .await?;
    check!(
        changed.status == 204,
        "password: {} {}",
        changed.status,
        changed.text
    );
    let renewed = TestUser {
        password: new_password.clone(),
        ..user.clone()
    };
    let third = api.sign_in(&renewed).await?;
    let sessions = api.get("/api/sessions", Some(&session.access)).await?;
    let third_id = sessions.body["sessions"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["current"] == false))
        .and_then(|s| s["id"].as_str())
        .unwrap_or("")
        .to_owned();
    let deleted = api
        .call(
            reqwest::Method::DELETE,
            &format!("/api/sessions/{third_id}"),
            Some(&session.access),
            None,
        )
        .await?;
    check!(deleted.status == 204, "delete session: {}", deleted.text);
    let logout = api
        .post("/api/logout", Some(&session.access), json!({}))
        .await?;
    check!(logout.status == 204, "logout: {}", logout.text);

    let lines = json_lines(stack.log_dir.join("origin.log"))?;
    let audits: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["audit"].is_string())
        .collect();
    let has = |event: &str, pred: &dyn Fn(&Value) -> bool| {
        audits
            .iter()
            .any(|l| l["fields"]["audit"] == event && pred(&l["fields"]))
    };
    let of_user = |f: &Value| f["user_id"] == user_id.as_str();
    let from_attacker = |f: &Value| f["client_ip"] == attacker.client_ip.as_str();
    for (event, found) in [
        ("user_registered", has("user_registered", &of_user)),
        ("login_succeeded", has("login_succeeded", &of_user)),
        ("login_failed", has("login_failed", &from_attacker)),
        ("lockout", has("lockout", &from_attacker)),
        (
            "refresh_token_reused",
            has("refresh_token_reused", &of_user),
        ),
        ("password_changed", has("password_changed", &of_user)),
        (
            "session_revoked (deleted)",
            has("session_revoked", &|f| {
                of_user(f) && f["reason"] == "deleted"
            }),
        ),
        (
            "session_revoked (logout)",
            has("session_revoked", &|f| {
                of_user(f) && f["reason"] == "logout"
            }),
        ),
    ] {
        check!(found, "no audit event {event} in origin.log");
    }

    // Every origin line written while handling the login carries the edge's request id.
    check!(!login_request.is_empty(), "the edge returned no request id");
    let of_login: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["request_id"] == login_request.as_str())
        .collect();
    let messages: Vec<String> = of_login
        .iter()
        .map(|l| {
            l["fields"]["audit"]
                .as_str()
                .or(l["fields"]["message"].as_str())
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    check!(
        messages.iter().any(|m| m == "login_succeeded")
            && messages.iter().any(|m| m == "request finished"),
        "lines of request {login_request}: {messages:?}"
    );
    check!(
        of_login.iter().all(|l| l["span"]["route"] == "/api/login"),
        "the span names the route"
    );

    // The edge's own line for the same request, found by the same id.
    let edge_log = stack.log_dir.join("wrangler.log");
    let (edge_log, login_id) = (&edge_log, login_request.as_str());
    wait_until(
        &format!("the edge's log line for request {login_request}"),
        Duration::from_secs(15),
        || async move {
            Ok(read_log(edge_log)?
                .lines()
                .any(|l| l.contains(login_id) && l.contains("\"route\":\"/api/login\"")))
        },
    )
    .await?;

    let mut secrets: Vec<(&str, String)> = vec![
        ("password", user.password.clone()),
        ("wrong password", wrong_password),
        ("new password", new_password),
        ("edge secret", stack.edge_secret.clone()),
        ("bridge token", stack.bridge_token.clone()),
    ];
    for (name, token) in [
        ("access token", &access),
        ("refresh token", &first_refresh),
        ("second access token", &second_access),
        ("second refresh token", &second_refresh),
        ("session refresh token", &session.refresh),
        ("other refresh token", &other.refresh),
        ("third refresh token", &third.refresh),
    ] {
        secrets.push((name, token.clone()));
        // The part after the last dot alone is the secret half of a refresh token and the
        // signature of an access token.
        if let Some(tail) = token.rsplit('.').next().filter(|t| t.len() >= 16) {
            secrets.push((name, tail.to_owned()));
        }
    }
    for key in stack.signing_keys.keys() {
        if let Some(d) = key.to_private_jwk()["d"].as_str() {
            secrets.push(("private signing key", d.to_owned()));
        }
    }
    for file in ["origin.log", "wrangler.log", "bridge.log"] {
        let text = read_log(&stack.log_dir.join(file))?;
        for (name, secret) in &secrets {
            check!(!text.contains(secret.as_str()), "{file} contains a {name}");
        }
    }
    Ok(())
}

async fn admin_listener_serves_metrics_liveness_and_readiness(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    check!(
        profile_status(&api, &session.access).await? == 200,
        "profile"
    );
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let url = format!("{}{path}", stack.admin);
        let http = http.clone();
        async move { Api::read(http.get(url).send().await?).await }
    };
    let live = get("/healthz").await?;
    check!(
        live.status == 200 && live.body["status"] == "ok",
        "healthz: {}",
        live.text
    );
    let ready = get("/readyz").await?;
    check!(
        ready.status == 200 && ready.body["redis"] == true,
        "readyz: {}",
        ready.text
    );
    let metrics = get("/metrics").await?;
    check!(metrics.status == 200, "metrics: {}", metrics.status);
    for series in [
        r#"edgeauth_http_requests_total{method="POST",route="/api/login",status="200"}"#,
        r#"edgeauth_http_requests_total{method="GET",route="/api/profile",status="200"}"#,
        r#"edgeauth_http_request_duration_seconds_bucket{method="POST",route="/api/login",status="200",le="0.5"}"#,
        r#"edgeauth_redis_call_duration_seconds_bucket{op="login_gate","#,
        r#"edgeauth_redis_call_duration_seconds_count{op="SET"}"#,
        "edgeauth_argon2_queue_depth ",
        "# TYPE edgeauth_http_request_duration_seconds histogram",
    ] {
        check!(metrics.text.contains(series), "no {series} in /metrics");
    }
    let through_edge = api.get("/metrics", None).await?;
    check!(
        through_edge.status == 404,
        "the admin listener is not public"
    );
    Ok(())
}

/// Liveness stays up while Redis is down (restarting the origin would not help); readiness
/// follows Redis, and the failures are counted.
async fn readiness_follows_redis(stack: &'static Stack) -> Outcome {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let status = |path: &'static str| {
        let http = http.clone();
        let url = format!("{}{path}", stack.admin);
        async move { Ok::<u16, BoxError>(http.get(url).send().await?.status().as_u16()) }
    };
    stack.stop_redis()?;
    let outcome = async {
        check!(status("/readyz").await? == 503, "not ready without Redis");
        check!(status("/healthz").await? == 200, "still live without Redis");
        let metrics = http
            .get(format!("{}/metrics", stack.admin))
            .send()
            .await?
            .text()
            .await?;
        check!(
            metrics.contains(r#"edgeauth_redis_errors_total{op="PING"}"#),
            "Redis errors are counted"
        );
        Ok::<_, BoxError>(())
    }
    .await;
    stack.start_redis()?;
    outcome?;
    wait_until(
        "ready again once Redis is back",
        Duration::from_secs(20),
        || async { Ok(status("/readyz").await? == 200) },
    )
    .await?;
    Ok(())
}

async fn openapi_document_is_served_through_the_edge(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let doc = api.get("/openapi.json", None).await?;
    check!(
        doc.status == 200,
        "openapi.json: {} {}",
        doc.status,
        doc.text
    );
    check!(
        doc.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "content type"
    );
    check!(
        doc.body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "OpenAPI 3.1: {}",
        doc.body["openapi"]
    );
    for path in [
        "/api/register",
        "/api/login",
        "/api/refresh",
        "/api/logout",
        "/api/logout-all",
        "/api/profile",
        "/api/sessions",
        "/api/sessions/{id}",
        "/api/password",
        "/.well-known/jwks.json",
        "/healthz",
        "/openapi.json",
    ] {
        check!(
            doc.body["paths"].get(path).is_some(),
            "{path} is not documented"
        );
    }
    let schemas = &doc.body["components"]["schemas"];
    for name in ["ErrorResponse", "TokenResponse", "User", "SessionInfo"] {
        check!(schemas.get(name).is_some(), "schema {name} missing");
    }
    let schemes = &doc.body["components"]["securitySchemes"];
    check!(
        schemes["bearer"]["scheme"] == "bearer" && schemes["refresh_cookie"]["in"] == "cookie",
        "security schemes: {schemes}"
    );
    Ok(())
}

/// Where `scripts/setup.sh` installs schemathesis (overridable with `EDGEAUTH_SCHEMATHESIS`).
fn schemathesis() -> PathBuf {
    std::env::var_os("EDGEAUTH_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.dev/venv/bin/schemathesis")
        })
}

/// schemathesis generates requests from `/openapi.json` — valid and invalid ones, as a signed-in
/// client — and fails on any 5xx and on any response the document does not describe. Two runs,
/// so the session-ending operations cannot revoke the token the other operations are tested
/// with.
async fn schemathesis_finds_no_server_errors_or_schema_violations(
    stack: &'static Stack,
) -> Outcome {
    let bin = schemathesis();
    check!(
        bin.exists(),
        "{} is missing: run scripts/setup.sh (it installs schemathesis into .dev/venv)",
        bin.display()
    );
    let ending = ["/api/logout", "/api/logout-all"];
    let mut keep_session = Vec::new();
    let mut end_session = Vec::new();
    for path in ending {
        keep_session.extend(["--exclude-path", path]);
        end_session.extend(["--include-path", path]);
    }
    run_schemathesis(stack, "schemathesis", &keep_session, 60).await?;
    run_schemathesis(stack, "schemathesis-logout", &end_session, 20).await
}

async fn run_schemathesis(
    stack: &Stack,
    name: &str,
    filter: &[&str],
    max_examples: u32,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let log = stack.log_dir.join(format!("{name}.log"));
    let mut command = tokio::process::Command::new(schemathesis());
    command
        .arg("run")
        .arg(format!("{}/openapi.json", stack.edge))
        .args(filter)
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            &max_examples.to_string(),
            "--workers",
            "2",
            "--request-timeout",
            "15",
            "--seed",
            "20261127",
            "--no-color",
            "--suppress-health-check",
            "all",
        ])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", session.access),
        ])
        // Its own client address, so its rate limits never meet other tests'.
        .args(["--header", &format!("CF-Connecting-IP: {}", api.client_ip)])
        .arg("--report-dir")
        .arg(stack.log_dir.join(name))
        .current_dir(&stack.log_dir)
        .kill_on_drop(true)
        .env("NO_COLOR", "1");
    let output = match tokio::time::timeout(Duration::from_secs(240), command.output()).await {
        Ok(output) => output?,
        Err(_) => return Err(format!("{name} ran longer than 240 s").into()),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(&log, &text)?;
    let tail: Vec<&str> = text.lines().rev().take(80).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    check!(
        output.status.success(),
        "{name} failed (full output: {}):\n{}",
        log.display(),
        tail.join("\n")
    );
    Ok(())
}
