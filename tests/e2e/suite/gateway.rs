//! The edge as an auth gateway for apps: route rules, policies and roles, the identity
//! assertion (verified by the notes app with `edgeauth-verify` and by `jose` in Node), and
//! proxying like a gateway (streams, WebSocket, limits, dead and slow upstreams). Upstreams:
//! the notes example app at `/notes/` (the dev route table), and the stack's test upstreams
//! (`echo`, `dead`, `hang`; `Stack::routes_table`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_e2e::client::{Reply, Session};
use edgeauth_e2e::observe::session_of;
use edgeauth_e2e::stack::{BoxError, ECHO_BODY_LIMIT, HANG_TIMEOUT_MS};
use edgeauth_e2e::{Api, Stack};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::Outcome;
use crate::{check, tests};

tests![
    public_app_routes_need_no_token,
    protected_app_routes_need_a_live_session,
    whoami_shows_the_verified_identity,
    client_identity_never_reaches_the_app,
    roles_take_effect_on_the_next_request,
    an_assertion_is_refused_by_another_app,
    jose_verifies_the_edges_assertions,
    server_sent_events_arrive_as_they_are_sent,
    websockets_are_authenticated_then_proxied,
    large_bodies_stream_through_and_limits_hold,
    dead_and_hanging_upstreams_fail_fast,
    deny_rules_and_methods_are_enforced,
    bad_route_tables_are_refused,
];

const ASSERTION: &str = "edgeauth-assertion";

/// What the echo upstream received: the request head, verbatim.
struct Echoed {
    head: String,
    body_bytes: u64,
}

impl Echoed {
    fn from(reply: &Reply) -> Result<Self, BoxError> {
        let head = reply.body["head"]
            .as_str()
            .ok_or_else(|| format!("not an echo: {} {}", reply.status, reply.text))?;
        Ok(Self {
            head: head.to_owned(),
            body_bytes: reply.body["body_bytes"].as_u64().unwrap_or(0),
        })
    }

    /// Every value of a header, names compared case-insensitively.
    fn header(&self, name: &str) -> Vec<&str> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect()
    }
}

fn claims_of(token: &str) -> Result<Value, BoxError> {
    let payload = token.split('.').nth(1).ok_or("not a JWS")?;
    Ok(serde_json::from_slice(&B64.decode(payload)?)?)
}

async fn echo(api: &Api, path: &str, session: Option<&Session>) -> Result<Echoed, BoxError> {
    let reply = api.get(path, session.map(|s| s.access.as_str())).await?;
    check!(
        reply.status == 200,
        "{path}: {} {}",
        reply.status,
        reply.text
    );
    Echoed::from(&reply)
}

async fn public_app_routes_need_no_token(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let reply = api.get("/notes/public/hello", None).await?;
    check!(reply.status == 200, "{} {}", reply.status, reply.text);
    // Edge security headers on app responses.
    check!(
        reply.header("strict-transport-security").is_some()
            && reply.header("x-content-type-options") == Some("nosniff"),
        "{:?}",
        reply.headers
    );
    Ok(())
}

async fn protected_app_routes_need_a_live_session(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    for path in [
        "/notes/api/whoami",
        "/notes/api/notes",
        "/notes/api/admin/stats",
    ] {
        let reply = api.get(path, None).await?;
        check!(
            reply.status == 401
                && reply.code() == "invalid_token"
                && reply.header("www-authenticate").is_some(),
            "{path} without a token: {} {:?} {}",
            reply.status,
            reply.headers,
            reply.text
        );
    }
    // Logout ends access through the edge at once.
    let session = api.new_session().await?;
    let before = api.get("/notes/api/whoami", Some(&session.access)).await?;
    check!(before.status == 200, "{} {}", before.status, before.text);
    let out = api
        .call(Method::POST, "/api/logout", Some(&session.access), None)
        .await?;
    check!(out.status == 204, "logout: {} {}", out.status, out.text);
    let after = api.get("/notes/api/whoami", Some(&session.access)).await?;
    check!(
        after.status == 401 && after.code() == "invalid_token",
        "after logout: {} {}",
        after.status,
        after.text
    );
    Ok(())
}

async fn whoami_shows_the_verified_identity(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let sid = session_of(&session.refresh)?;
    let reply = api.get("/notes/api/whoami", Some(&session.access)).await?;
    check!(reply.status == 200, "{} {}", reply.status, reply.text);
    let claims = &reply.body["claims"];
    check!(
        claims["sub"] == session.user_id.as_str()
            && claims["sid"] == sid.as_str()
            && claims["roles"] == json!([])
            && claims["aud"] == "notes"
            && claims["iss"] == stack.issuer.as_str()
            && claims["preferred_username"] == session.user.username.as_str(),
        "{}",
        reply.text
    );
    let lifetime = claims["exp"].as_u64().unwrap_or(0) - claims["iat"].as_u64().unwrap_or(0);
    check!(lifetime == 60, "lifetime {lifetime}: {}", reply.text);

    // The notes app keeps each caller's notes apart, by the assertion's `sub`.
    let created = api
        .call(
            Method::POST,
            "/notes/api/notes",
            Some(&session.access),
            Some(json!({"text": "behind the edge"})),
        )
        .await?;
    check!(created.status == 201, "{} {}", created.status, created.text);
    let other = api.new_session().await?;
    let mine = api.get("/notes/api/notes", Some(&session.access)).await?;
    let theirs = api.get("/notes/api/notes", Some(&other.access)).await?;
    check!(
        mine.body["notes"].as_array().map(Vec::len) == Some(1)
            && theirs.body["notes"].as_array().map(Vec::len) == Some(0),
        "{} / {}",
        mine.text,
        theirs.text
    );

    // The published keys are the edge's assertion keys, public halves only.
    let jwks = api
        .get("/.well-known/edgeauth/assertion-jwks.json", None)
        .await?;
    check!(
        jwks.status == 200
            && jwks.body["keys"][0]["kid"] == stack.assertion_keys.current().kid.as_str()
            && jwks.body["keys"][0]["kty"] == "OKP"
            && jwks.body["keys"][0].get("d").is_none(),
        "{}",
        jwks.text
    );
    Ok(())
}

async fn client_identity_never_reaches_the_app(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.";
    let send = |path: &str, bearer: Option<&str>| {
        let mut request = api
            .http
            .get(format!("{}{path}", stack.edge))
            .header("Edgeauth-Assertion", forged)
            .header("Edgeauth-User", "admin")
            .header("X-Edgeauth-User", "admin")
            .header("X-Forwarded-For", "10.9.8.7")
            .header(
                "Cookie",
                "theme=dark; __Host-edgeauth_rt=rt1.secret; __Host-edgeauth_device=dev",
            );
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for (path, bearer) in [
        ("/e2e/echo/public", None),
        ("/e2e/echo-auth/private", Some(session.access.as_str())),
    ] {
        let reply = Api::read(send(path, bearer).await?).await?;
        check!(
            reply.status == 200,
            "{path}: {} {}",
            reply.status,
            reply.text
        );
        let seen = Echoed::from(&reply)?;
        let assertions = seen.header(ASSERTION);
        check!(
            !assertions.contains(&forged),
            "{path}: the client's assertion reached the app:\n{}",
            seen.head
        );
        check!(
            assertions.len() == usize::from(bearer.is_some()),
            "{path}: {} assertions:\n{}",
            assertions.len(),
            seen.head
        );
        for name in ["edgeauth-user", "x-edgeauth-user", "authorization"] {
            check!(
                seen.header(name).is_empty(),
                "{path}: {name} reached the app:\n{}",
                seen.head
            );
        }
        check!(
            seen.header("cookie") == ["theme=dark"]
                && seen.header("x-forwarded-for") != ["10.9.8.7"],
            "{path}:\n{}",
            seen.head
        );
        // The app cannot set edgeauth's cookies, and does not name its server.
        let cookies = reply.set_cookies();
        check!(
            cookies.iter().all(|c| !c.starts_with("__Host-edgeauth"))
                && cookies.iter().any(|c| c.starts_with("echo=1"))
                && reply.header("server").is_none()
                && reply.header("x-frame-options") == Some("DENY"),
            "{path}: {cookies:?} {:?}",
            reply.headers
        );
    }

    // Signing is amortised: the next request of the same session reuses the assertion.
    let first = echo(&api, "/e2e/echo-auth/a", Some(&session)).await?;
    let second = echo(&api, "/e2e/echo-auth/b", Some(&session)).await?;
    check!(
        first.header(ASSERTION) == second.header(ASSERTION),
        "two requests a moment apart got different assertions"
    );
    let other = api.new_session().await?;
    let theirs = echo(&api, "/e2e/echo-auth/a", Some(&other)).await?;
    check!(
        theirs.header(ASSERTION) != first.header(ASSERTION),
        "two sessions shared an assertion"
    );
    Ok(())
}

/// Runs `edgeauth-origin users role ...` as an operator would.
async fn role(stack: &Stack, args: &[&str]) -> Result<String, BoxError> {
    let out = tokio::process::Command::new(stack.bin("edgeauth-origin"))
        .arg("--no-env-file")
        .args(["users", "role"])
        .args(args)
        .env("UPSTASH_REDIS_REST_URL", &stack.bridge)
        .env("UPSTASH_REDIS_REST_TOKEN", &stack.bridge_token)
        .output()
        .await?;
    check!(
        out.status.success(),
        "users role {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn roles_take_effect_on_the_next_request(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let second = api.sign_in(&session.user).await?;
    let email = session.user.email.as_str();
    let admin = "/notes/api/admin/stats";

    let before = api.get(admin, Some(&session.access)).await?;
    check!(
        before.status == 403 && before.code() == "forbidden",
        "before the grant: {} {}",
        before.status,
        before.text
    );
    role(stack, &["add", email, "admin"]).await?;
    // Every live session of the user, on its next request, with no new token.
    for (name, s) in [("first", &session), ("second", &second)] {
        let granted = api.get(admin, Some(&s.access)).await?;
        check!(
            granted.status == 200,
            "{name} after the grant: {} {}",
            granted.status,
            granted.text
        );
    }
    let whoami = api.get("/notes/api/whoami", Some(&session.access)).await?;
    check!(
        whoami.body["claims"]["roles"] == json!(["admin"]),
        "{}",
        whoami.text
    );
    check!(
        role(stack, &["list", email]).await?.trim() == "admin",
        "list"
    );

    // A session created after the grant starts with the roles.
    let third = api.sign_in(&session.user).await?;
    let fresh = api.get(admin, Some(&third.access)).await?;
    check!(
        fresh.status == 200,
        "new session: {} {}",
        fresh.status,
        fresh.text
    );

    role(stack, &["remove", email, "admin"]).await?;
    for (name, s) in [("first", &session), ("third", &third)] {
        let removed = api.get(admin, Some(&s.access)).await?;
        check!(
            removed.status == 403 && removed.code() == "forbidden",
            "{name} after the removal: {} {}",
            removed.status,
            removed.text
        );
    }
    check!(
        role(stack, &["list", email]).await?.trim().is_empty(),
        "list after removal"
    );

    // Unknown users and bad role names are refused with a reason.
    let out = tokio::process::Command::new(stack.bin("edgeauth-origin"))
        .args(["--no-env-file", "users", "role", "add", email, "Not A Role"])
        .env("UPSTASH_REDIS_REST_URL", &stack.bridge)
        .env("UPSTASH_REDIS_REST_TOKEN", &stack.bridge_token)
        .output()
        .await?;
    check!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not a role name"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

async fn an_assertion_is_refused_by_another_app(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let seen = echo(&api, "/e2e/echo-auth/x", Some(&session)).await?;
    let token = seen
        .header(ASSERTION)
        .first()
        .map(|t| (*t).to_owned())
        .ok_or("no assertion")?;
    check!(claims_of(&token)?["aud"] == "echo", "{token}");
    // Replayed straight to the notes app: a genuine assertion, but for another audience.
    let replay = api
        .http
        .get(format!("{}/notes/api/whoami", stack.notes))
        .header("Edgeauth-Assertion", &token)
        .send()
        .await?;
    let replay = Api::read(replay).await?;
    check!(
        replay.status == 401,
        "replayed to notes: {} {}",
        replay.status,
        replay.text
    );
    // The notes app itself accepts nothing without an assertion either.
    let bare = Api::read(
        api.http
            .get(format!("{}/notes/api/whoami", stack.notes))
            .send()
            .await?,
    )
    .await?;
    check!(
        bare.status == 401,
        "no assertion: {} {}",
        bare.status,
        bare.text
    );
    Ok(())
}

/// `node tests/verify-js/verify.mjs`: the documented jose recipe.
async fn jose(
    stack: &Stack,
    token: &str,
    audience: &str,
) -> Result<std::process::Output, BoxError> {
    Ok(tokio::process::Command::new(stack.node())
        .arg(stack.repo().join("tests/verify-js/verify.mjs"))
        .args([
            "--jwks",
            &format!("{}/.well-known/edgeauth/assertion-jwks.json", stack.edge),
        ])
        .args(["--issuer", &stack.issuer, "--audience", audience])
        .arg(token)
        .output()
        .await?)
}

async fn jose_verifies_the_edges_assertions(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let seen = echo(&api, "/e2e/echo-auth/jose", Some(&session)).await?;
    let token = seen
        .header(ASSERTION)
        .first()
        .map(|t| (*t).to_owned())
        .ok_or("no assertion")?;
    let ok = jose(stack, &token, "echo").await?;
    let claims: Value = serde_json::from_slice(&ok.stdout).unwrap_or(Value::Null);
    check!(
        ok.status.success() && claims["sub"] == session.user_id.as_str(),
        "jose refused the edge's assertion: {} {}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    let wrong = jose(stack, &token, "notes").await?;
    check!(
        !wrong.status.success(),
        "jose accepted an assertion for another audience"
    );
    Ok(())
}

async fn server_sent_events_arrive_as_they_are_sent(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let started = Instant::now();
    let response = api
        .http
        .get(format!(
            "{}/notes/api/events?count=3&interval_ms=1500",
            stack.edge
        ))
        .bearer_auth(&session.access)
        .send()
        .await?;
    check!(response.status() == 200, "{}", response.status());
    check!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream")),
        "{:?}",
        response.headers()
    );
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = stream
            .next()
            .await
            .ok_or("the stream ended before an event")??;
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let first_at = started.elapsed();
    // The stream takes ≥ 3 s in all; the first event must not wait for its end.
    check!(
        first_at < Duration::from_millis(2500) && text.contains("event: tick"),
        "first event after {first_at:?}: {text:?}"
    );
    while let Some(chunk) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk?));
    }
    check!(
        text.matches("event: tick").count() == 3
            && started.elapsed() >= Duration::from_millis(3000),
        "{text:?}"
    );
    Ok(())
}

/// A minimal WebSocket client (RFC 6455) on a blocking socket: the handshake with `extra`
/// header lines (each ending in CRLF), one masked text frame, one frame back. Returns the
/// handshake's status line, and the echoed text if upgraded.
pub(super) fn websocket_echo(
    edge: &str,
    path: &str,
    extra: &str,
    message: &str,
) -> Result<(String, Option<String>), BoxError> {
    let authority = edge.trim_start_matches("http://");
    let mut socket = TcpStream::connect(authority)?;
    socket.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        socket,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head.lines().next().unwrap_or("").to_owned();
    if !status.contains(" 101 ") {
        return Ok((status, None));
    }
    let payload = message.as_bytes();
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81, 0x80 | u8::try_from(payload.len())?];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    socket.write_all(&frame)?;
    let mut header = [0u8; 2];
    socket.read_exact(&mut header)?;
    let mut body = vec![0u8; usize::from(header[1] & 0x7f)];
    socket.read_exact(&mut body)?;
    Ok((status, Some(String::from_utf8_lossy(&body).into_owned())))
}

async fn websockets_are_authenticated_then_proxied(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let edge = stack.edge.clone();
    let auth = format!("Authorization: Bearer {}\r\n", session.access);
    let (status, echoed) = tokio::task::spawn_blocking(move || {
        websocket_echo(&edge, "/notes/ws", &auth, "hello through the edge")
    })
    .await??;
    check!(
        echoed.as_deref() == Some("hello through the edge"),
        "{status}: {echoed:?}"
    );
    let edge = stack.edge.clone();
    let (status, echoed) =
        tokio::task::spawn_blocking(move || websocket_echo(&edge, "/notes/ws", "", "x")).await??;
    check!(
        status.contains(" 401 ") && echoed.is_none(),
        "without a token: {status}"
    );
    Ok(())
}

async fn large_bodies_stream_through_and_limits_hold(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    const MIB: usize = 1024 * 1024;
    let body: Vec<u8> = (0..50 * MIB).map(|i| (i % 253) as u8).collect();
    let want = format!("{:x}", Sha256::digest(&body));
    let reply = api
        .http
        .post(format!("{}/notes/api/upload", stack.edge))
        .bearer_auth(&session.access)
        .body(body)
        .send()
        .await?;
    let reply = Api::read(reply).await?;
    check!(
        reply.status == 200
            && reply.body["bytes"] == 50 * MIB
            && reply.body["sha256"] == want.as_str(),
        "upload: {} {}",
        reply.status,
        reply.text
    );

    let response = api
        .http
        .get(format!("{}/notes/api/download?mb=50", stack.edge))
        .bearer_auth(&session.access)
        .send()
        .await?;
    check!(response.status() == 200, "download: {}", response.status());
    // The app declared the length: the client gets it too, not a chunked body (the runtime keeps
    // the length of an app body the edge passes through unchanged; wrapping it in a stream of
    // its own would lose it), and the bytes still stream.
    let length = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    check!(
        length.as_deref() == Some("52428800"),
        "download: Content-Length {length:?}, the app sent 52428800"
    );
    let mut stream = response.bytes_stream();
    let mut total = 0usize;
    let mut wrong = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if wrong.is_none() {
            wrong = chunk
                .iter()
                .enumerate()
                .find(|(i, b)| **b != ((total + i) % 251) as u8)
                .map(|(i, _)| total + i);
        }
        total += chunk.len();
    }
    check!(
        total == 50 * MIB && wrong.is_none(),
        "download: {total} bytes, first wrong at {wrong:?}"
    );

    // Over a rule's limit: refused before the app sees it (declared length) ...
    let limit = usize::try_from(ECHO_BODY_LIMIT)?;
    let over = api
        .http
        .post(format!("{}/e2e/echo/limit", stack.edge))
        .body(vec![b'x'; limit + 1])
        .send()
        .await?;
    let over = Api::read(over).await?;
    check!(
        over.status == 413 && over.code() == "payload_too_large",
        "declared: {} {}",
        over.status,
        over.text
    );
    // ... or counted on the way when no length is declared (chunked).
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..(limit / 1024 + 8))
        .map(|_| Ok(vec![b'y'; 1024]))
        .collect();
    let streamed = api
        .http
        .post(format!("{}/e2e/echo/limit", stack.edge))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await?;
    let streamed = Api::read(streamed).await?;
    check!(
        streamed.status == 413 && streamed.code() == "payload_too_large",
        "chunked: {} {}",
        streamed.status,
        streamed.text
    );
    // Under the limit, both ways arrive whole.
    let small: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..4).map(|_| Ok(vec![b'z'; 1000])).collect();
    let fine = api
        .http
        .post(format!("{}/e2e/echo/small", stack.edge))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            small,
        )))
        .send()
        .await?;
    let fine = Api::read(fine).await?;
    check!(
        fine.status == 200 && Echoed::from(&fine)?.body_bytes == 4000,
        "{} {}",
        fine.status,
        fine.text
    );
    Ok(())
}

async fn dead_and_hanging_upstreams_fail_fast(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let started = Instant::now();
    let dead = api.get("/e2e/dead/x", None).await?;
    check!(
        dead.status == 502
            && dead.code() == "upstream_unavailable"
            && started.elapsed() < Duration::from_secs(3),
        "dead upstream: {} {} after {:?}",
        dead.status,
        dead.text,
        started.elapsed()
    );
    let started = Instant::now();
    let hang = api.get("/e2e/hang/x", None).await?;
    let took = started.elapsed();
    check!(
        hang.status == 504
            && hang.code() == "upstream_timeout"
            && took >= Duration::from_millis(u64::from(HANG_TIMEOUT_MS) - 100)
            && took < Duration::from_millis(u64::from(HANG_TIMEOUT_MS) + 3000),
        "hanging upstream: {} {} after {took:?}",
        hang.status,
        hang.text
    );
    Ok(())
}

async fn deny_rules_and_methods_are_enforced(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let denied = api
        .get("/notes/internal/secrets", Some(&session.access))
        .await?;
    check!(
        denied.status == 404 && denied.code() == "not_found",
        "{} {}",
        denied.status,
        denied.text
    );
    // The admin rule is more specific than /notes/*: POST under it does not fall back.
    let post = api
        .call(
            Method::POST,
            "/notes/api/admin/stats",
            Some(&session.access),
            Some(json!({})),
        )
        .await?;
    check!(
        post.status == 405 && post.header("allow") == Some("GET"),
        "{} {:?} {}",
        post.status,
        post.headers,
        post.text
    );
    let missing = api.get("/nowhere", None).await?;
    check!(missing.status == 404, "{} {}", missing.status, missing.text);
    Ok(())
}

async fn bad_route_tables_are_refused(stack: &'static Stack) -> Outcome {
    let bad = r#"{"routes": [{"name": "broken-rule", "path": "no-slash", "handler": "origin", "policy": "public"}]}"#;
    // The edge: every request 503, the log names the rule.
    let edge = stack.start_workerd_edge_unchecked(
        "workerd-bad-routes",
        &[("EDGEAUTH_ROUTES".to_owned(), bad.to_owned())],
    )?;
    let api = Api::new(&edge);
    for path in ["/healthz", "/api/profile", "/notes/public/hello"] {
        let reply = api.get(path, None).await?;
        check!(
            reply.status == 503 && reply.code() == "service_unavailable",
            "{path}: {} {}",
            reply.status,
            reply.text
        );
    }
    let log = std::fs::read_to_string(stack.log_dir.join("workerd-bad-routes.log"))?;
    stack.stop_process("workerd-bad-routes")?;
    check!(
        log.contains("EDGEAUTH_ROUTES")
            && log.contains("broken-rule")
            && log.contains("must start with /"),
        "the log does not name the bad rule:\n{log}"
    );

    // The check command: the repository's table passes, bad ones fail naming the rule.
    let dir = tempfile::tempdir()?;
    let check = |path: std::path::PathBuf| {
        tokio::process::Command::new(stack.bin("edgeauth-origin"))
            .args(["--no-env-file", "check-edge-config"])
            .arg(path)
            .output()
    };
    let good = check(stack.repo().join("wrangler.toml")).await?;
    check!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let ambiguous = r#"{"upstreams": [{"id": "a", "url": "http://127.0.0.1:9"}], "routes": [
        {"name": "one", "path": "/x/*", "handler": "app:a", "policy": "public"},
        {"name": "two", "path": "/x/*", "methods": ["GET"], "handler": "app:a", "policy": "authenticated"}]}"#;
    for (table, named, problem) in [
        (bad, "broken-rule", "must start with /"),
        (ambiguous, "two", "ambiguous"),
    ] {
        let path = dir.path().join("wrangler.toml");
        std::fs::write(
            &path,
            format!("name = \"x\"\n[vars]\nEDGEAUTH_ROUTES = '''\n{table}\n'''\n"),
        )?;
        let out = check(path).await?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        check!(
            !out.status.success() && stderr.contains(named) && stderr.contains(problem),
            "check-edge-config on {table}: {stderr}"
        );
    }
    Ok(())
}
