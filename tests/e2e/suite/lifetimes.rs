//! Session lifetimes, on the short-lived extra origin (idle 2 s, absolute 5 s): a session left
//! alone for its idle lifetime is gone for access and refresh alike, each refresh gives it a full
//! idle lifetime again, and one refreshed every second still ends at its absolute lifetime.

use std::time::Duration;

use edgeauth_core::redis_layout as layout;
use edgeauth_e2e::observe::{server_now_ms, session_field, session_of, wait_until};
use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::{Api, Stack};

use super::extra::{self, ABSOLUTE_SECS, IDLE_SECS};
use super::Outcome;
use crate::{check, tests};

tests![
    an_idle_session_ends_for_access_and_refresh,
    a_session_refreshed_every_second_ends_at_its_absolute_lifetime,
];

/// Milliseconds until the key expires; negative when it has no expiry (-1) or is gone (-2).
async fn pttl(stack: &Stack, key: &str) -> Result<i64, BoxError> {
    stack
        .redis(&["PTTL", key])
        .await?
        .as_i64()
        .ok_or_else(|| "PTTL did not answer a number".into())
}

/// When the key expires, Unix milliseconds on Redis's clock (independent of how long the asking
/// took, unlike a TTL).
async fn expires_at(stack: &Stack, key: &str) -> Result<u64, BoxError> {
    let at = stack.redis(&["PEXPIRETIME", key]).await?;
    at.as_u64()
        .ok_or_else(|| format!("{key} has no expiry ({at})").into())
}

/// A number field of a session hash.
async fn session_number(stack: &Stack, sid: &str, field: &str) -> Result<u64, BoxError> {
    session_field(stack, sid, field)
        .await?
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("session {sid} has no {field}").into())
}

async fn an_idle_session_ends_for_access_and_refresh(stack: &'static Stack) -> Outcome {
    let api = Api::new(&extra::short_lived(stack).await?.edge);
    let session = api.new_session().await?;
    let sid = session_of(&session.refresh)?;
    let key = layout::session(&sid);
    let profile = api.get("/api/profile", Some(&session.access)).await?;
    check!(
        profile.status == 200,
        "a fresh session works: {}",
        profile.text
    );
    let idle_ms = IDLE_SECS * 1000;

    // Sliding: once half the idle lifetime is gone, a refresh gives back a whole one, counted
    // from the rotation.
    let key_ref = key.as_str();
    wait_until(
        "half the idle lifetime to pass",
        Duration::from_secs(5),
        || async move {
            let left = pttl(stack, key_ref).await?;
            Ok((0..i64::try_from(idle_ms / 2)?).contains(&left))
        },
    )
    .await?;
    let before = expires_at(stack, &key).await?;
    let refreshed = api.refresh(&session.refresh).await?;
    check!(refreshed.status == 200, "refresh: {}", refreshed.text);
    let (access, refresh) = refreshed.tokens()?;
    let after = expires_at(stack, &key).await?;
    let rotated_at = session_number(stack, &sid, "rotated_at_ms").await?;
    check!(
        after > before,
        "the refresh did not extend the session (expiry {before} → {after})"
    );
    // Whole seconds from the rotation (the key's expiry is set in seconds).
    check!(
        (rotated_at + idle_ms - 50..=rotated_at + idle_ms + 1000).contains(&after),
        "rotated at {rotated_at} ms, the session expires at {after} ms: not one idle lifetime later"
    );

    // Then nothing: the session ends one idle lifetime after its last use.
    wait_until(
        "the idle session to expire",
        Duration::from_secs(IDLE_SECS + 5),
        || async move { Ok(pttl(stack, key_ref).await? == -2) },
    )
    .await?;
    // The access token is still valid on its claims (the edge's leeway), so the session check
    // is what refuses it.
    let profile = api.get("/api/profile", Some(&access)).await?;
    check!(
        profile.status == 401 && profile.code() == "invalid_token",
        "access after the idle lifetime: {} {}",
        profile.status,
        profile.text
    );
    let again = api.refresh(&refresh).await?;
    check!(
        again.status == 401 && again.code() == "invalid_refresh_token",
        "refresh after the idle lifetime: {} {}",
        again.status,
        again.text
    );
    Ok(())
}

async fn a_session_refreshed_every_second_ends_at_its_absolute_lifetime(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&extra::short_lived(stack).await?.edge);
    let session = api.new_session().await?;
    let sid = session_of(&session.refresh)?;
    let created_at = session_number(stack, &sid, "created_at").await?;
    let abs_exp = session_number(stack, &sid, "abs_exp").await?;
    check!(
        abs_exp == created_at + ABSOLUTE_SECS,
        "absolute end {abs_exp} for a session created at {created_at}"
    );
    let end_ms = abs_exp * 1000;

    let (mut access, mut refresh) = (session.access, session.refresh);
    let mut rotations = 0;
    let key = layout::session(&sid);
    let start = tokio::time::Instant::now();
    loop {
        // The cadence under test, whatever the checks cost: well inside the idle lifetime, so
        // only the absolute one can end the session.
        tokio::time::sleep_until(start + Duration::from_secs(rotations + 1)).await;
        let reply = api.refresh(&refresh).await?;
        if reply.status != 200 {
            let now = server_now_ms(stack).await?;
            check!(
                reply.status == 401 && reply.code() == "invalid_refresh_token",
                "refresh {rotations}: {} {}",
                reply.status,
                reply.text
            );
            check!(
                now >= end_ms,
                "refused at {now} ms, before the absolute end at {end_ms} ms"
            );
            break;
        }
        (access, refresh) = reply.tokens()?;
        rotations += 1;
        let rotated_at = session_number(stack, &sid, "rotated_at_ms").await?;
        check!(
            rotated_at < end_ms,
            "a rotation at {rotated_at} ms, after the absolute end at {end_ms} ms"
        );
        // Each rotation renews the idle lifetime, but never past the absolute end (the key's
        // expiry is whole seconds from the origin's now: at most a second's overhang).
        let expires = expires_at(stack, &key).await?;
        check!(
            expires <= end_ms + 1000,
            "rotation {rotations}: the session key expires at {expires} ms, after the absolute end at {end_ms} ms"
        );
        check!(
            rotations <= ABSOLUTE_SECS + 1,
            "still refreshing after {rotations} rotations"
        );
    }
    check!(
        rotations + 2 >= ABSOLUTE_SECS,
        "only {rotations} rotations before the end: the cadence did not hold"
    );
    let profile = api.get("/api/profile", Some(&access)).await?;
    check!(
        profile.status == 401,
        "access after the absolute end: {} {}",
        profile.status,
        profile.text
    );
    check!(
        pttl(stack, &key).await? == -2,
        "the session key outlived the absolute end"
    );
    Ok(())
}
