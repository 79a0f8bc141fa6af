//! CSRF at the edge: cookie-authenticated requests pass only from the edge's own origin or an
//! allowed one; Bearer and body-token requests are unaffected.

use edgeauth_e2e::client::Reply;
use edgeauth_e2e::stack::{BoxError, ALLOWED_ORIGIN};
use edgeauth_e2e::{Api, Stack};
use reqwest::Method;
use serde_json::json;

use super::Outcome;
use crate::{check, tests};

tests![
    cookie_requests_from_other_pages_are_refused,
    cookie_requests_from_the_edge_itself_or_allowed_origins_pass,
    bearer_and_body_token_requests_are_unaffected;
    exclusive: refusals_reach_neither_redis_nor_the_origin,
];

const COOKIE: &str = "__Host-edgeauth_rt";

/// A POST that carries the refresh cookie, with the given request headers.
async fn with_cookie(
    api: &Api,
    path: &str,
    refresh_token: &str,
    headers: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> Result<Reply, BoxError> {
    let mut request = api
        .http
        .request(Method::POST, format!("{}{path}", api.base))
        .header("cookie", format!("theme=dark; {COOKIE}={refresh_token}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    Api::read(request.send().await?).await
}

fn refused(reply: &Reply, what: &str) -> Outcome {
    check!(
        reply.status == 403 && reply.code() == "forbidden",
        "{what}: expected 403 forbidden, got {} {}",
        reply.status,
        reply.text
    );
    check!(
        reply.set_cookies().is_empty(),
        "{what}: a refusal must not touch the cookie: {:?}",
        reply.set_cookies()
    );
    check!(
        reply.header("access-control-allow-origin").is_none(),
        "{what}: no CORS grant on a refusal"
    );
    Ok(())
}

async fn cookie_requests_from_other_pages_are_refused(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    // Another port of the same host is the same *site* (so SameSite=Strict sends the cookie)
    // but another origin; only the Origin check stops it.
    let same_site_other_port = stack
        .edge
        .rsplit_once(':')
        .map_or(String::new(), |(host, _)| format!("{host}:1"));
    let foreign: [&[(&str, &str)]; 7] = [
        &[("origin", "https://evil.example")],
        &[("origin", same_site_other_port.as_str())],
        &[("origin", "null")],
        &[("origin", "https://app.example.evil.example")],
        // No Origin: only fetch metadata can vouch for the request, and here it does not.
        &[],
        &[("sec-fetch-site", "same-site")],
        &[("sec-fetch-site", "cross-site")],
    ];
    for headers in foreign {
        for path in ["/api/refresh", "/api/logout", "/api/login"] {
            let reply = with_cookie(&api, path, &s.refresh, headers, None).await?;
            refused(&reply, &format!("{path} {headers:?}"))?;
        }
    }
    // A foreign Origin beats a same-origin Sec-Fetch-Site claim.
    let both = [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "same-origin"),
    ];
    refused(
        &with_cookie(&api, "/api/refresh", &s.refresh, &both, None).await?,
        "foreign origin with same-origin fetch metadata",
    )?;
    // A body that does not name a token leaves the cookie in charge: still refused.
    let empty = with_cookie(
        &api,
        "/api/refresh",
        &s.refresh,
        &[("origin", "https://evil.example")],
        Some(json!({})),
    )
    .await?;
    refused(&empty, "cookie with an empty JSON body")?;

    // The session was never touched: its refresh token still works, and its access token too.
    let refreshed = api.refresh(&s.refresh).await?;
    check!(
        refreshed.status == 200,
        "refresh after the refusals: {} {}",
        refreshed.status,
        refreshed.text
    );
    let profile = api.get("/api/profile", Some(&s.access)).await?;
    check!(profile.status == 200, "profile: {}", profile.text);
    Ok(())
}

async fn cookie_requests_from_the_edge_itself_or_allowed_origins_pass(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    let own_origin = stack.edge.as_str();

    let mut token = s.refresh.clone();
    let allowed: [&[(&str, &str)]; 4] = [
        &[("origin", own_origin)],
        &[("origin", ALLOWED_ORIGIN)],
        // What Chromium sends when it omits Origin on a same-origin request.
        &[("sec-fetch-site", "same-origin")],
        // What it sends on a same-origin form POST under `Referrer-Policy: no-referrer`.
        &[("origin", "null"), ("sec-fetch-site", "same-origin")],
    ];
    for headers in allowed {
        let reply = with_cookie(&api, "/api/refresh", &token, headers, None).await?;
        check!(
            reply.status == 200,
            "refresh by cookie with {headers:?}: {} {}",
            reply.status,
            reply.text
        );
        let cookie = reply.set_cookies().join("\n");
        check!(
            cookie.contains(&format!("{COOKIE}=rt1.")),
            "the rotated token comes back as the cookie: {cookie}"
        );
        token = reply.body["refresh_token"]
            .as_str()
            .ok_or("no refresh_token")?
            .to_owned();
    }
    let allowed_reply = with_cookie(
        &api,
        "/api/refresh",
        &token,
        &[("origin", ALLOWED_ORIGIN)],
        None,
    )
    .await?;
    check!(
        allowed_reply.header("access-control-allow-origin") == Some(ALLOWED_ORIGIN)
            && allowed_reply.header("access-control-allow-credentials") == Some("true"),
        "an allowed origin gets its CORS grant: {:?}",
        allowed_reply.headers
    );
    let token = allowed_reply.body["refresh_token"]
        .as_str()
        .ok_or("no refresh_token")?;

    let logout = with_cookie(&api, "/api/logout", token, &[("origin", own_origin)], None).await?;
    check!(
        logout.status == 204,
        "logout by cookie from the edge's own page: {} {}",
        logout.status,
        logout.text
    );
    check!(api.refresh(token).await?.status == 401, "the session ended");
    Ok(())
}

async fn bearer_and_body_token_requests_are_unaffected(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    let evil = [("origin", "https://evil.example")];

    // JSON clients that name the token in the body: the cookie is not what authenticates.
    let by_body = with_cookie(
        &api,
        "/api/refresh",
        &s.refresh,
        &evil,
        Some(json!({ "refresh_token": s.refresh })),
    )
    .await?;
    check!(
        by_body.status == 200,
        "refresh by body token: {} {}",
        by_body.status,
        by_body.text
    );
    let access = by_body.body["access_token"].as_str().ok_or("no token")?;

    // Bearer requests: a page can only send Authorization after a CORS preflight, so the
    // cookie riding along does not make them cross-site forgeries.
    let mut request = api
        .http
        .post(format!("{}/api/logout", stack.edge))
        .bearer_auth(access)
        .header("cookie", format!("{COOKIE}=whatever"));
    for (name, value) in evil {
        request = request.header(name, value);
    }
    let logout = Api::read(request.send().await?).await?;
    check!(
        logout.status == 204,
        "Bearer logout with a cookie and a foreign Origin: {} {}",
        logout.status,
        logout.text
    );

    // And no cookie at all: nothing ambient to abuse, nothing checked (the API client case).
    let other = api.new_session().await?;
    let plain = api
        .post(
            "/api/refresh",
            None,
            json!({ "refresh_token": other.refresh }),
        )
        .await?;
    check!(plain.status == 200, "plain refresh: {}", plain.text);
    Ok(())
}

async fn refusals_reach_neither_redis_nor_the_origin(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    let before = stack.redis_commands().await?;
    for path in ["/api/refresh", "/api/logout", "/api/register"] {
        let reply = with_cookie(
            &api,
            path,
            &s.refresh,
            &[("origin", "https://evil.example")],
            Some(json!({})),
        )
        .await?;
        refused(&reply, path)?;
    }
    let after = stack.redis_commands().await?;
    // Every origin request costs Redis commands (at least its nonce), so zero proves the
    // origin never saw them either.
    check!(
        before == after,
        "refused requests cost {} Redis commands",
        after - before
    );
    Ok(())
}
