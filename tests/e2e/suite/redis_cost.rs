//! What an authenticated request costs in Redis: exactly one command at the edge (the session
//! check), counted with Redis's own counters over many requests while nothing else runs; and one
//! round trip at the origin (the nonce claim and the caller's account in one pipeline), counted
//! with the origin's own per-call metric. The benchmark reports the same figures under load;
//! this holds them in `make test`.

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
    let trips_before = origin_round_trips(stack).await?;
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
    let origin_trips = origin_round_trips(stack).await? - trips_before;
    check!(
        origin_trips == N,
        "{N} signed profile requests cost the origin {origin_trips} Redis round trips, not one each"
    );
    // The one round trip carries two commands: the nonce's SET NX and the account's HGETALL.
    check!(
        origin_only == 2 * N,
        "{N} signed profile requests cost the origin {origin_only} Redis commands, not 2 each"
    );
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

/// Redis calls the origin has made so far (each one HTTP round trip to the bridge): the sum of
/// its `edgeauth_redis_call_duration_seconds_count` series over every operation.
async fn origin_round_trips(stack: &Stack) -> Result<u64, edgeauth_e2e::stack::BoxError> {
    let text = reqwest::get(format!("{}/metrics", stack.admin))
        .await?
        .error_for_status()?
        .text()
        .await?;
    let mut calls = 0.0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("edgeauth_redis_call_duration_seconds_count") {
            let value = rest.rsplit(' ').next().unwrap_or("");
            calls += value
                .parse::<f64>()
                .map_err(|e| format!("/metrics line {line:?}: {e}"))?;
        }
    }
    Ok(calls as u64)
}
