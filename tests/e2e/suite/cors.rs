//! CORS at the edge: an explicit allow-list, preflights answered without the origin,
//! credentials only for allowed origins.

use edgeauth_e2e::stack::ALLOWED_ORIGIN;
use edgeauth_e2e::{Api, Stack};
use reqwest::Method;

use super::Outcome;
use crate::{check, tests};

tests![
    preflights_are_answered_at_the_edge_for_allowed_origins_only,
    responses_carry_cors_headers_only_for_allowed_origins;
    exclusive: preflights_never_reach_redis_or_the_origin,
];

async fn preflight(
    api: &Api,
    origin: &str,
) -> Result<reqwest::Response, edgeauth_e2e::stack::BoxError> {
    Ok(api
        .http
        .request(Method::OPTIONS, format!("{}/api/profile", api.base))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await?)
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn preflights_are_answered_at_the_edge_for_allowed_origins_only(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let ok = preflight(&api, ALLOWED_ORIGIN).await?;
    check!(
        ok.status().as_u16() == 204,
        "allowed preflight: {}",
        ok.status()
    );
    check!(
        header(&ok, "access-control-allow-origin") == Some(ALLOWED_ORIGIN),
        "{:?}",
        ok.headers()
    );
    check!(
        header(&ok, "access-control-allow-credentials") == Some("true"),
        "{:?}",
        ok.headers()
    );
    let methods = header(&ok, "access-control-allow-methods").unwrap_or("");
    check!(methods.contains("GET"), "methods: {methods}");
    let allowed_headers = header(&ok, "access-control-allow-headers")
        .unwrap_or("")
        .to_ascii_lowercase();
    check!(
        allowed_headers.contains("authorization"),
        "headers: {allowed_headers}"
    );
    check!(
        header(&ok, "strict-transport-security").is_some(),
        "security headers on preflights too"
    );

    for foreign in [
        "https://evil.example",
        "null",
        "https://app.example.evil.example",
    ] {
        let no = preflight(&api, foreign).await?;
        check!(no.status().as_u16() == 403, "{foreign}: {}", no.status());
        check!(
            header(&no, "access-control-allow-origin").is_none(),
            "{foreign}: allow-origin leaked"
        );
        check!(
            header(&no, "access-control-allow-credentials").is_none(),
            "{foreign}: credentials leaked"
        );
    }
    Ok(())
}

async fn responses_carry_cors_headers_only_for_allowed_origins(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let get = |origin: &'static str| {
        api.http
            .get(format!("{}/api/profile", stack.edge))
            .bearer_auth(&session.access)
            .header("origin", origin)
            .send()
    };
    let allowed = get(ALLOWED_ORIGIN).await?;
    check!(allowed.status().as_u16() == 200, "{}", allowed.status());
    check!(
        header(&allowed, "access-control-allow-origin") == Some(ALLOWED_ORIGIN),
        "{:?}",
        allowed.headers()
    );
    check!(
        header(&allowed, "access-control-allow-credentials") == Some("true"),
        "{:?}",
        allowed.headers()
    );
    check!(
        header(&allowed, "vary").is_some_and(|v| v.to_ascii_lowercase().contains("origin")),
        "Vary: Origin"
    );
    let foreign = get("https://evil.example").await?;
    check!(
        header(&foreign, "access-control-allow-origin").is_none(),
        "{:?}",
        foreign.headers()
    );
    check!(
        header(&foreign, "access-control-allow-credentials").is_none(),
        "{:?}",
        foreign.headers()
    );
    Ok(())
}

async fn preflights_never_reach_redis_or_the_origin(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let before = stack.redis_commands().await?;
    for (origin, status) in [(ALLOWED_ORIGIN, 204), ("https://evil.example", 403)] {
        let reply = preflight(&api, origin).await?;
        check!(
            reply.status().as_u16() == status,
            "preflight from {origin}: {}",
            reply.status()
        );
    }
    let after = stack.redis_commands().await?;
    check!(
        before == after,
        "preflights cost {} Redis commands",
        after - before
    );
    Ok(())
}
