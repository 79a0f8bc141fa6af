//! Forged refresh tokens against a session rotated several times. The session id is public (it is
//! in every access token), so the ancestry walk and the grace path decide whether a stranger can
//! end someone's session or obtain its tokens: a forgery must be merely invalid, and a genuine
//! old token must still be caught as a reuse.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_e2e::client::Session;
use edgeauth_e2e::observe::session_of;
use edgeauth_e2e::{Api, Stack};

use super::Outcome;
use crate::{check, tests};

tests![forged_refresh_tokens_against_a_rotated_session_change_nothing];

/// Rotations before the forgeries: generations 0 to 4 exist, 4 is current.
const ROTATIONS: u64 = 4;

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    let _ = getrandom::fill(&mut bytes);
    B64.encode(bytes)
}

/// The secret part of a refresh token.
fn secret_of(token: &str) -> &str {
    token.rsplit('.').next().unwrap_or("")
}

async fn forged_refresh_tokens_against_a_rotated_session_change_nothing(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let session: Session = api.new_session().await?;
    let sid = session_of(&session.refresh)?;
    let mut chain = vec![session.refresh.clone()];
    let mut access = session.access.clone();
    for generation in 1..=ROTATIONS {
        let reply = api.refresh(chain.last().map_or("", String::as_str)).await?;
        check!(reply.status == 200, "rotation {generation}: {}", reply.text);
        let (a, r) = reply.tokens()?;
        check!(
            r.starts_with(&format!("rt1.{sid}.{generation}.")),
            "rotation {generation} gave {r}"
        );
        access = a;
        chain.push(r);
    }
    let victim = api.new_session().await?;

    // Every generation the session has had, one past it, and one far ahead, each with a random
    // secret; genuine secrets moved to another generation; and a genuine secret of this session
    // under another session's id. The newest rotation is a moment old, so generation 3 goes
    // through the grace path (which must recompute, not trust, the successor) and the older
    // ones through the ancestry walk.
    // (Generations near u64::MAX belong to the generation-bounds work, issue 15.)
    let mut forgeries: Vec<(String, String)> = (0..=ROTATIONS + 1)
        .chain([ROTATIONS + 1000])
        .map(|generation| {
            (
                format!("random secret, generation {generation}"),
                format!("rt1.{sid}.{generation}.{}", random_secret()),
            )
        })
        .collect();
    for (from, to) in [(2usize, 1u64), (4, 3), (3, 2), (1, 4), (0, 1)] {
        forgeries.push((
            format!("the secret of generation {from} as generation {to}"),
            format!("rt1.{sid}.{to}.{}", secret_of(&chain[from])),
        ));
    }
    let victim_sid = session_of(&victim.refresh)?;
    for (from, generation) in [(0usize, 0u64), (4, 4)] {
        forgeries.push((
            format!("generation {from}'s secret for another session"),
            format!("rt1.{victim_sid}.{generation}.{}", secret_of(&chain[from])),
        ));
    }
    for (name, token) in &forgeries {
        let reply = api.refresh(token).await?;
        check!(
            reply.status == 401 && reply.code() == "invalid_refresh_token",
            "{name}: {} {}",
            reply.status,
            reply.text
        );
    }

    // Nothing changed: both sessions work and rotate on.
    for (what, token) in [
        ("the rotated session", &access),
        ("the other session", &victim.access),
    ] {
        let profile = api.get("/api/profile", Some(token)).await?;
        check!(
            profile.status == 200,
            "{what} after the forgeries: {}",
            profile.text
        );
    }
    let sessions = api.get("/api/sessions", Some(&access)).await?;
    check!(
        sessions.body["sessions"].as_array().map(Vec::len) == Some(1),
        "one session: {}",
        sessions.text
    );
    let next = api.refresh(chain.last().map_or("", String::as_str)).await?;
    check!(
        next.status == 200,
        "the current token still rotates: {}",
        next.text
    );
    let (access, _) = next.tokens()?;
    check!(
        api.refresh(&victim.refresh).await?.status == 200,
        "the other session still rotates"
    );

    // The same walk does catch a genuine ancestor: generation 1, four rotations old.
    let reused = api.refresh(&chain[1]).await?;
    check!(
        reused.status == 401 && reused.code() == "refresh_token_reused",
        "a genuine old token: {} {}",
        reused.status,
        reused.text
    );
    let profile = api.get("/api/profile", Some(&access)).await?;
    check!(
        profile.status == 401,
        "the reuse revoked the session: {}",
        profile.text
    );
    Ok(())
}
