//! Edge → origin trust from the outside: every origin route refuses a request the edge did not
//! sign, a valid signature does not carry over to another method, path, query or body, and the
//! edge's `/healthz` tells when the origin is down. (The origin's default listen address is
//! checked in `origin/tests/startup.rs`.)

use std::time::{Duration, Instant};

use edgeauth_core::edge_signature::EdgeSecret;
use edgeauth_core::headers;
use edgeauth_core::redis_layout as layout;
use edgeauth_e2e::client::{Reply, TestUser};
use edgeauth_e2e::observe::{session_field, session_of, wait_until};
use edgeauth_e2e::signed::{send_raw, EdgeCall, CLIENT_IP};
use edgeauth_e2e::{Api, Stack};
use serde_json::{json, Value};

use super::extra;
use super::headers::api_headers_hold;
use super::Outcome;
use crate::{check, tests};

tests![
    every_origin_route_refuses_unsigned_requests,
    a_signature_covers_method_path_query_and_body,
    the_edge_reports_a_down_origin,
];

fn refused(reply: &Reply, what: &str) -> Outcome {
    check!(
        reply.status == 401 && reply.code() == "invalid_signature",
        "{what}: {} {}",
        reply.status,
        reply.text
    );
    Ok(())
}

async fn every_origin_route_refuses_unsigned_requests(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let victim = api.new_session().await?;
    let sid = session_of(&victim.refresh)?;
    let stranger = TestUser::unique();

    // Every route the origin documents, plus what it answers without a route.
    let doc = api.get("/openapi.json", None).await?;
    let paths = doc.body["paths"]
        .as_object()
        .ok_or("the OpenAPI document has no paths")?;
    let mut routes: Vec<(String, String)> = Vec::new();
    for (path, operations) in paths {
        for method in operations
            .as_object()
            .map(|o| o.keys())
            .into_iter()
            .flatten()
        {
            // Path parameters name the victim's session.
            let path: Vec<&str> = path
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        sid.as_str()
                    } else {
                        segment
                    }
                })
                .collect();
            routes.push((method.to_ascii_uppercase(), path.join("/")));
        }
    }
    check!(
        routes.len() >= 12,
        "only {} routes documented",
        routes.len()
    );
    // The hosted pages are HTML, not API, so the document does not list them.
    for (method, path) in [
        ("GET", "/no-such-route"),
        ("PUT", "/api/login"),
        ("GET", "/auth/sign-in"),
        ("POST", "/auth/sign-in"),
        ("POST", "/auth/register"),
        ("POST", "/auth/sign-out"),
        ("GET", "/auth/signed-out"),
    ] {
        routes.push((method.to_owned(), path.to_owned()));
    }
    // Bodies that would do harm if the origin acted on them.
    let body_for = |path: &str| -> Value {
        match path {
            "/api/register" => json!({
                "username": stranger.username, "email": stranger.email, "password": stranger.password
            }),
            "/api/login" => json!({ "email": victim.user.email, "password": victim.user.password }),
            "/api/refresh" | "/api/logout" => json!({ "refresh_token": victim.refresh }),
            "/api/password" => json!({
                "current_password": victim.user.password, "new_password": "taken over by a stranger"
            }),
            _ => Value::Null,
        }
    };

    for (method, path) in &routes {
        let body = match body_for(path) {
            Value::Null => Vec::new(),
            body => body.to_string().into_bytes(),
        };
        // The victim's identity, claimed without a signature, then with a made-up one.
        let identity = vec![
            (headers::USER_ID, victim.user_id.clone()),
            (headers::SESSION_ID, sid.clone()),
            (headers::CLIENT_IP, CLIENT_IP.to_owned()),
        ];
        let unsigned = send_raw(&stack.origin, method, path, &body, &identity).await?;
        refused(&unsigned, &format!("unsigned {method} {path}"))?;
        let mut forged = identity;
        forged.extend([
            (headers::TIMESTAMP, now().to_string()),
            (headers::NONCE, format!("forged-{method}-{path}")),
            (headers::SIGNATURE, format!("v1={}", "0".repeat(64))),
        ]);
        let forged = send_raw(&stack.origin, method, path, &body, &forged).await?;
        refused(&forged, &format!("forged signature on {method} {path}"))?;
    }

    // None of it happened: the session lives on unrotated, no account was created, and the
    // password is unchanged.
    let profile = api.get("/api/profile", Some(&victim.access)).await?;
    check!(
        profile.status == 200,
        "the victim's session: {}",
        profile.text
    );
    let generation = session_field(stack, &sid, "gen").await?;
    check!(
        generation.as_deref() == Some("0"),
        "the victim's session was rotated: generation {generation:?}"
    );
    let email = layout::user_by_email(&stranger.email.to_lowercase());
    check!(
        stack.redis(&["EXISTS", &email]).await? == 0,
        "an unsigned registration created an account"
    );
    let login = api.login(&victim.user.email, &victim.user.password).await?;
    check!(login.status == 200, "the victim's password: {}", login.text);
    Ok(())
}

async fn a_signature_covers_method_path_query_and_body(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let victim = api.new_session().await?;
    let other = api.sign_in(&victim.user).await?;
    let (sid, other_sid) = (session_of(&victim.refresh)?, session_of(&other.refresh)?);
    let secret = EdgeSecret::from_base64(&stack.edge_secret)?;
    let caller = |call: EdgeCall, session: &str| call.as_caller(&victim.user_id, session);

    // (what was signed, what is sent instead: method, path and query, body)
    let password = |new: &str| {
        json!({ "current_password": victim.user.password, "new_password": new }).to_string()
    };
    let cases: Vec<(EdgeCall, &str, String, String)> = vec![
        (
            caller(EdgeCall::new("GET", "/api/sessions"), &sid),
            "method",
            "POST".into(),
            "/api/sessions".into(),
        ),
        (
            caller(EdgeCall::new("GET", "/api/profile"), &sid),
            "method and path",
            "POST".into(),
            "/api/logout-all".into(),
        ),
        (
            caller(
                EdgeCall::new("DELETE", &format!("/api/sessions/{other_sid}")),
                &sid,
            ),
            "path",
            "DELETE".into(),
            format!("/api/sessions/{sid}"),
        ),
        (
            caller(EdgeCall::new("GET", "/api/sessions?page=1"), &sid),
            "query",
            "GET".into(),
            "/api/sessions?page=2".into(),
        ),
        (
            caller(EdgeCall::new("GET", "/api/profile"), &sid),
            "an added query",
            "GET".into(),
            "/api/profile?x=1".into(),
        ),
    ];
    for (signed, what, method, path) in &cases {
        let tampered = send_raw(
            &stack.origin,
            method,
            path,
            &signed.body,
            &signed.headers(&secret),
        )
        .await?;
        refused(
            &tampered,
            &format!("another {what} under a valid signature"),
        )?;
    }
    let signed_body = password("a perfectly ordinary renewal");
    let body_call = caller(
        EdgeCall::new("POST", "/api/password").json(&serde_json::from_str(&signed_body)?),
        &sid,
    );
    let tampered = send_raw(
        &stack.origin,
        "POST",
        "/api/password",
        password("chosen by whoever changed the body").as_bytes(),
        &body_call.headers(&secret),
    )
    .await?;
    refused(&tampered, "another body under a valid signature")?;

    // Nothing happened, and the genuine requests (same signatures, same nonces: refusals claim
    // none) are served.
    for (token, what) in [
        (&victim.access, "this session"),
        (&other.access, "the other session"),
    ] {
        let profile = api.get("/api/profile", Some(token)).await?;
        check!(
            profile.status == 200,
            "{what} after the tampering: {}",
            profile.text
        );
    }
    for (signed, what, _, _) in cases.iter().filter(|(c, ..)| c.method == "GET") {
        let genuine = signed.send(&stack.origin, &secret).await?;
        check!(
            genuine.status == 200,
            "the genuine request behind the {what} case: {} {}",
            genuine.status,
            genuine.text
        );
    }
    let login = api.login(&victim.user.email, &victim.user.password).await?;
    check!(login.status == 200, "the password changed: {}", login.text);
    Ok(())
}

/// An origin of its own behind an edge of its own: frozen, then stopped. `/healthz` answers 503
/// naming the origin (with the security headers), and comes back when the origin does.
async fn the_edge_reports_a_down_origin(stack: &'static Stack) -> Outcome {
    let pair = extra::start(stack, "down", &[]).await?;
    let outcome = down_origin_on(stack, &pair).await;
    extra::stop(stack, &pair).await?;
    outcome
}

async fn down_origin_on(stack: &'static Stack, pair: &extra::Extra) -> Outcome {
    let api = Api::new(&pair.edge);
    let session = api.new_session().await?;
    let health = api.get("/healthz", None).await?;
    check!(
        health.status == 200,
        "healthz with the origin up: {}",
        health.text
    );
    let unavailable = json!({ "status": "unavailable", "redis": true, "origin": false });

    stack.pause(&pair.origin_name, true)?;
    let started = Instant::now();
    let frozen = api.get("/healthz", None).await;
    let took = started.elapsed();
    stack.pause(&pair.origin_name, false)?;
    let frozen = frozen?;
    check!(
        frozen.status == 503 && frozen.body == unavailable,
        "healthz with the origin frozen: {} {}",
        frozen.status,
        frozen.text
    );
    check!(
        took < Duration::from_secs(4),
        "a frozen origin held /healthz for {took:?}"
    );
    api_headers_hold(&frozen, "healthz, origin frozen")?;
    let api_ref = &api;
    wait_until(
        "healthz to recover",
        Duration::from_secs(15),
        || async move { Ok(api_ref.get("/healthz", None).await?.status == 200) },
    )
    .await?;

    let name = pair.origin_name.clone();
    tokio::task::spawn_blocking(move || stack.stop_process(&name)).await??;
    let stopped = api.get("/healthz", None).await?;
    check!(
        stopped.status == 503 && stopped.body == unavailable,
        "healthz with the origin stopped: {} {}",
        stopped.status,
        stopped.text
    );
    api_headers_hold(&stopped, "healthz, origin stopped")?;
    let profile = api.get("/api/profile", Some(&session.access)).await?;
    check!(
        profile.status == 503 && profile.code() == "service_unavailable",
        "a request for the stopped origin: {} {}",
        profile.status,
        profile.text
    );
    check!(
        profile.header("retry-after") == Some("1"),
        "503 without Retry-After"
    );
    api_headers_hold(&profile, "origin stopped")?;
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
