//! Security headers by value, on errors as on successes, whoever produced the answer (the edge or
//! the origin behind it), and `WWW-Authenticate` on every kind of refused access token.

use edgeauth_e2e::client::{Reply, TestUser};
use edgeauth_e2e::stack::{BoxError, ALLOWED_ORIGIN};
use edgeauth_e2e::{Api, Stack};
use reqwest::Method;

use super::Outcome;
use crate::{check, tests};

tests![every_status_carries_the_security_headers];

/// The headers of every API answer, exactly (SPEC "Hardening at the edge").
pub const API_HEADERS: &[(&str, &str)] = &[
    (
        "strict-transport-security",
        "max-age=63072000; includeSubDomains",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    ("cache-control", "no-store"),
];

/// RFC 6750 §3: the challenge on every 401 about an access token.
pub const BEARER_CHALLENGE: &str = r#"Bearer realm="edgeauth", error="invalid_token""#;

/// Checks an API answer's security headers (each exactly once, with exactly its value), its
/// request id, that nothing names the server software, and that a failure is JSON.
pub fn api_headers_hold(reply: &Reply, what: &str) -> Outcome {
    for (name, value) in API_HEADERS {
        let values: Vec<&str> = reply
            .headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        check!(
            values == [*value],
            "{what} ({}): {name} is {values:?}, not {value:?}",
            reply.status
        );
    }
    check!(
        reply
            .header("x-request-id")
            .is_some_and(|id| !id.is_empty()),
        "{what} ({}): no x-request-id",
        reply.status
    );
    for name in ["server", "x-powered-by"] {
        check!(
            reply.header(name).is_none(),
            "{what} ({}): {name} is sent",
            reply.status
        );
    }
    if reply.status >= 400 {
        check!(
            reply
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{what} ({}): content type {:?}",
            reply.status,
            reply.header("content-type")
        );
    }
    Ok(())
}

fn challenged(reply: &Reply, what: &str) -> Outcome {
    check!(
        reply.status == 401 && reply.code() == "invalid_token",
        "{what}: {} {}",
        reply.status,
        reply.text
    );
    check!(
        reply.header("www-authenticate") == Some(BEARER_CHALLENGE),
        "{what}: WWW-Authenticate {:?}",
        reply.header("www-authenticate")
    );
    Ok(())
}

async fn send(
    api: &Api,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, String)>,
) -> Result<Reply, BoxError> {
    let mut request = api.http.request(method, format!("{}{path}", api.base));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some((content_type, body)) = body {
        request = request.header("content-type", content_type).body(body);
    }
    Api::read(request.send().await?).await
}

async fn every_status_carries_the_security_headers(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let mut seen: Vec<(u16, &str, Reply)> = Vec::new();

    let ok = api.get("/api/profile", Some(&session.access)).await?;
    seen.push((200, "profile", ok));
    let missing = api.get("/api/profile", None).await?;
    challenged(&missing, "no Authorization header")?;
    seen.push((401, "no credentials", missing));
    let empty = send(
        &api,
        Method::GET,
        "/api/profile",
        &[("authorization", "Bearer")],
        None,
    )
    .await?;
    challenged(&empty, "an empty Bearer")?;
    seen.push((401, "empty Bearer", empty));
    let bad_json = send(
        &api,
        Method::POST,
        "/api/login",
        &[],
        Some(("application/json", "{not json".into())),
    )
    .await?;
    seen.push((400, "malformed JSON", bad_json));
    let cookie = format!("__Host-edgeauth_rt={}", session.refresh);
    let csrf = send(
        &api,
        Method::POST,
        "/api/refresh",
        &[
            ("cookie", cookie.as_str()),
            ("origin", "https://evil.example"),
        ],
        None,
    )
    .await?;
    seen.push((403, "cookie from another site", csrf));
    let preflight = send(
        &api,
        Method::OPTIONS,
        "/api/profile",
        &[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "GET"),
        ],
        None,
    )
    .await?;
    seen.push((403, "preflight from another origin", preflight));
    let allowed_preflight = send(
        &api,
        Method::OPTIONS,
        "/api/profile",
        &[
            ("origin", ALLOWED_ORIGIN),
            ("access-control-request-method", "GET"),
        ],
        None,
    )
    .await?;
    seen.push((204, "allowed preflight", allowed_preflight));
    let nowhere = api.get("/nope", None).await?;
    seen.push((404, "no such path (edge)", nowhere));
    let no_session = api
        .call(
            Method::DELETE,
            "/api/sessions/no-such-session",
            Some(&session.access),
            None,
        )
        .await?;
    seen.push((404, "no such session (origin)", no_session));
    let wrong_method = api.call(Method::PUT, "/api/login", None, None).await?;
    check!(
        wrong_method.header("allow") == Some("POST"),
        "405: Allow {:?}",
        wrong_method.header("allow")
    );
    seen.push((405, "wrong method", wrong_method));
    let mut taken = TestUser::unique();
    taken.email = session.user.email.clone();
    let conflict = api.register(&taken).await?;
    seen.push((409, "email taken", conflict));
    let oversized = send(
        &api,
        Method::POST,
        "/api/register",
        &[],
        Some((
            "application/json",
            format!(r#"{{"username":"{}"}}"#, "a".repeat(17 * 1024)),
        )),
    )
    .await?;
    seen.push((413, "body over 16 KiB", oversized));
    let form = send(
        &api,
        Method::POST,
        "/api/register",
        &[],
        Some(("application/x-www-form-urlencoded", "username=a".into())),
    )
    .await?;
    seen.push((415, "form body", form));
    // An unknown account from one address: locked after five failures, like any other.
    let ghost = format!("ghost-{}", session.user.email);
    for attempt in 1..=5 {
        let reply = api.login(&ghost, "not a password of anyone").await?;
        check!(reply.status == 401, "failure {attempt}: {}", reply.text);
    }
    let limited = api.login(&ghost, "not a password of anyone").await?;
    check!(
        limited.header("retry-after").is_some(),
        "429 without Retry-After"
    );
    seen.push((429, "locked out", limited));
    let logout = api
        .call(Method::POST, "/api/logout", Some(&session.access), None)
        .await?;
    seen.push((204, "logout", logout));
    let revoked = api.get("/api/profile", Some(&session.access)).await?;
    challenged(&revoked, "a revoked session's token")?;
    seen.push((401, "revoked session", revoked));

    // (503 is checked where the stack is made to fail: origin_trust::the_edge_reports_a_down_origin.)
    for (status, what, reply) in &seen {
        check!(
            reply.status == *status,
            "{what}: expected {status}, got {} {}",
            reply.status,
            reply.text
        );
        api_headers_hold(reply, what)?;
        check!(
            reply.status < 400
                || (!reply.code().is_empty() && reply.body["error"]["message"].is_string()),
            "{what} ({}): not the error shape: {}",
            reply.status,
            reply.text
        );
    }
    Ok(())
}
