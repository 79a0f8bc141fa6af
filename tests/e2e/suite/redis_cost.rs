//! What an authenticated request costs in Redis: exactly one command at the edge (the session
//! check), counted with Redis's own counters over many requests while nothing else runs. The
//! benchmark reports the same figure under load; this holds it in `make test`.

use edgeauth_core::edge_signature::EdgeSecret;
use edgeauth_e2e::observe::session_of;
use edgeauth_e2e::signed::EdgeCall;
use edgeauth_e2e::{Api, Stack};
use reqwest::Method;

use super::Outcome;
use crate::{check, tests};

tests![; exclusive: an_authenticated_request_costs_the_edge_exactly_one_redis_command];

/// Requests per measurement.
const N: u64 = 25;

async fn an_authenticated_request_costs_the_edge_exactly_one_redis_command(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let sid = session_of(&session.refresh)?;

    // Through the edge: the edge's commands plus the origin's.
    let before = stack.redis_commands().await?;
    let hget_before = hgets(stack).await?;
    for i in 0..N {
        let reply = api.get("/api/profile", Some(&session.access)).await?;
        check!(
            reply.status == 200,
            "request {i}: {} {}",
            reply.status,
            reply.text
        );
    }
    let through_edge = stack.redis_commands().await? - before;
    let session_checks = hgets(stack).await? - hget_before;

    // The same requests signed as the edge signs them, straight to the origin: the origin's
    // share alone.
    let secret = EdgeSecret::from_base64(&stack.edge_secret)?;
    let before = stack.redis_commands().await?;
    for i in 0..N {
        let reply = EdgeCall::new("GET", "/api/profile")
            .as_caller(&session.user_id, &sid)
            .send(&stack.origin, &secret)
            .await?;
        check!(
            reply.status == 200,
            "direct request {i}: {} {}",
            reply.status,
            reply.text
        );
    }
    let origin_only = stack.redis_commands().await? - before;
    check!(
        through_edge == origin_only + N,
        "{N} requests through the edge cost {through_edge} Redis commands, the origin alone \
         {origin_only}: the edge spent {} per request, not 1",
        (through_edge as f64 - origin_only as f64) / N as f64
    );
    check!(
        session_checks == N,
        "{N} requests made {session_checks} HMGETs (the edge's session check)"
    );

    // A revoked session: the edge's one command answers it, and the origin is never asked.
    let out = api
        .call(Method::POST, "/api/logout", Some(&session.access), None)
        .await?;
    check!(out.status == 204, "logout: {}", out.text);
    let before = stack.redis_commands().await?;
    for i in 0..N {
        let reply = api.get("/api/profile", Some(&session.access)).await?;
        check!(
            reply.status == 401,
            "revoked request {i}: {} {}",
            reply.status,
            reply.text
        );
    }
    let revoked = stack.redis_commands().await? - before;
    check!(
        revoked == N,
        "{N} requests with a revoked session cost {revoked} Redis commands"
    );
    Ok(())
}

/// `HMGET`s so far.
async fn hgets(stack: &Stack) -> Result<u64, edgeauth_e2e::stack::BoxError> {
    Ok(stack
        .redis_command_counts()
        .await?
        .get("hmget")
        .copied()
        .unwrap_or(0))
}
