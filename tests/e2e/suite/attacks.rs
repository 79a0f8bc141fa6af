//! Hostile input from the outside: forged tokens at the edge, unsigned or replayed calls to the
//! origin, spoofed identity headers.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_core::edge_signature::EdgeSecret;
use edgeauth_core::headers;
use edgeauth_core::keys::SigningKey;
use edgeauth_core::token::{issue_access_token, AccessGrant, TokenPolicy};
use edgeauth_e2e::observe::session_of;
use edgeauth_e2e::signed::{send_raw, EdgeCall};
use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::{Api, Stack};
use jwt_simple::prelude::*;
use reqwest::Method;

use super::Outcome;
use crate::{check, tests};

tests![
    origin_refuses_unsigned_tampered_stale_and_replayed_calls,
    a_replayed_refresh_is_refused_though_its_nonce_is_claimed_by_the_rotation,
    spoofed_identity_headers_are_ignored;
    exclusive: forged_tokens_die_at_the_edge_without_touching_redis_or_origin,
];

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn mint(
    key: &SigningKey,
    policy: &TokenPolicy,
    user: &str,
    sid: &str,
    at: u64,
) -> Result<String, BoxError> {
    let grant = AccessGrant {
        user_id: user,
        session_id: sid,
        token_id: "attack-jti",
        now: at,
        session_expires_at: u64::MAX,
    };
    Ok(issue_access_token(key, policy, &grant)?.token)
}

fn with_part(token: &str, index: usize, replacement: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    if let Some(part) = parts.get_mut(index) {
        *part = replacement.to_owned();
    }
    parts.join(".")
}

async fn forged_tokens_die_at_the_edge_without_touching_redis_or_origin(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let policy = TokenPolicy::new(&stack.issuer, &stack.audience);
    let key = stack.signing_keys.active();
    let sid = "forged-session";
    let good = mint(key, &policy, &session.user_id, sid, now())?;
    let payload: serde_json::Value =
        serde_json::from_slice(&B64.decode(good.split('.').nth(1).unwrap_or(""))?)?;

    let mut cases: Vec<(&str, String)> = Vec::new();
    let none_header = B64.encode(r#"{"alg":"none","typ":"at+jwt"}"#);
    cases.push((
        "alg none",
        format!("{none_header}.{}.", good.split('.').nth(1).unwrap_or("")),
    ));
    // HS256 keyed with the public key bytes: the classic algorithm-confusion attack.
    let public = stack.signing_keys.verification_keys()?;
    let public_bytes = public
        .get(key.kid())
        .map(|k| k.raw().to_vec())
        .filter(|bytes| !bytes.is_empty())
        .ok_or("the active key has no public key to confuse")?;
    let claims = Claims::create(Duration::from_mins(5))
        .with_issuer(&stack.issuer)
        .with_audience(&stack.audience)
        .with_subject(&session.user_id);
    let hs = HS256Key::from_bytes(&public_bytes).with_key_id(key.kid());
    cases.push(("HS256 with the public key", hs.authenticate(claims)?));
    let stranger = SigningKey::ed25519(key.kid(), Ed25519KeyPair::generate());
    cases.push((
        "right kid, wrong key",
        mint(&stranger, &policy, &session.user_id, sid, now())?,
    ));
    // An unknown kid on an otherwise plausible token may cost one JWKS fetch per interval, by
    // design (key rotation): `operations::a_flood_of_unknown_kids_costs_at_most_one_jwks_fetch`.
    let mut tampered = payload.clone();
    tampered["sub"] = "someone-else".into();
    cases.push((
        "tampered payload",
        with_part(&good, 1, &B64.encode(tampered.to_string())),
    ));
    cases.push((
        "tampered header",
        with_part(
            &good,
            0,
            &B64.encode(r#"{"alg":"EdDSA","typ":"JWT","kid":"x"}"#),
        ),
    ));
    let sig = good.split('.').nth(2).unwrap_or("");
    // Flip one character of the signature (keeping it valid base64url).
    let flipped: String = sig
        .char_indices()
        .map(|(i, c)| {
            if i == 0 {
                if c == 'A' {
                    'B'
                } else {
                    'A'
                }
            } else {
                c
            }
        })
        .collect();
    cases.push(("tampered signature", with_part(&good, 2, &flipped)));
    cases.push((
        "expired",
        mint(key, &policy, &session.user_id, sid, now() - 3600)?,
    ));
    cases.push((
        "not yet valid",
        mint(key, &policy, &session.user_id, sid, now() + 3600)?,
    ));
    let mut other_iss = policy.clone();
    other_iss.issuer = "https://evil.example".into();
    cases.push((
        "wrong iss",
        mint(key, &other_iss, &session.user_id, sid, now())?,
    ));
    let mut other_aud = policy.clone();
    other_aud.audience = "another-api".into();
    cases.push((
        "wrong aud",
        mint(key, &other_aud, &session.user_id, sid, now())?,
    ));
    let mut big = payload.clone();
    big["pad"] = "x".repeat(5000).into();
    cases.push((
        "oversized",
        with_part(&good, 1, &B64.encode(big.to_string())),
    ));
    cases.push(("garbage", "definitely.not.ajwt".into()));
    cases.push(("empty", String::new()));

    let before = stack.redis_commands().await?;
    for (name, token) in &cases {
        let reply = api
            .http
            .get(format!("{}/api/profile", stack.edge))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await?;
        let reply = Api::read(reply).await?;
        check!(
            reply.status == 401,
            "{name}: {} {}",
            reply.status,
            reply.text
        );
        check!(reply.code() == "invalid_token", "{name}: {}", reply.text);
        let challenge = reply.header("www-authenticate").unwrap_or("");
        check!(
            challenge.contains("error=\"invalid_token\""),
            "{name}: WWW-Authenticate {challenge:?}"
        );
    }
    for header in ["Basic dXNlcjpwYXNz", "Bearer", "Token abc", ""] {
        let reply = api
            .http
            .get(format!("{}/api/profile", stack.edge))
            .header("authorization", header)
            .send()
            .await?;
        check!(
            reply.status().as_u16() == 401,
            "authorization {header:?}: {}",
            reply.status()
        );
    }
    let after = stack.redis_commands().await?;
    // Every origin request claims a nonce in Redis, so an unchanged count also proves that
    // none of these reached the origin.
    check!(
        after == before,
        "rejected tokens cost {} Redis commands",
        after - before
    );

    // And the genuine token for the real session still works, so the cases above failed for
    // the reason they were built for.
    let ok = api.get("/api/profile", Some(&session.access)).await?;
    check!(ok.status == 200, "control: {}", ok.text);
    Ok(())
}

async fn origin_refuses_unsigned_tampered_stale_and_replayed_calls(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let sid = session_of(&session.refresh)?;
    let secret = EdgeSecret::from_base64(&stack.edge_secret)?;
    let call = || EdgeCall::new("GET", "/api/profile").as_caller(&session.user_id, &sid);
    let send = |headers: Vec<(&'static str, String)>| {
        let origin = stack.origin.clone();
        async move { send_raw(&origin, "GET", "/api/profile", b"", &headers).await }
    };

    let unsigned = send(vec![
        (headers::USER_ID, session.user_id.clone()),
        (headers::SESSION_ID, sid.clone()),
    ])
    .await?;
    check!(
        unsigned.status == 401 && unsigned.code() == "invalid_signature",
        "unsigned: {}",
        unsigned.text
    );

    let wrong_key = EdgeSecret::from_bytes(vec![7; 32])?;
    let forged = call().send(&stack.origin, &wrong_key).await?;
    check!(forged.status == 401, "wrong secret: {}", forged.text);

    let mut tampered = call().headers(&secret);
    tampered.retain(|(name, _)| *name != headers::USER_ID);
    tampered.push((headers::USER_ID, "someone-else".into()));
    let tampered = send(tampered).await?;
    check!(
        tampered.status == 401,
        "tampered identity: {}",
        tampered.text
    );

    let mut stale = call();
    stale.timestamp = now() - 120;
    let stale = stale.send(&stack.origin, &secret).await?;
    check!(stale.status == 401, "stale: {}", stale.text);

    let genuine = call();
    let first = genuine.send(&stack.origin, &secret).await?;
    check!(
        first.status == 200,
        "a correctly signed call works: {} {}",
        first.status,
        first.text
    );
    let replay = genuine.send(&stack.origin, &secret).await?;
    check!(
        replay.status == 401 && replay.code() == "invalid_signature",
        "replay: {}",
        replay.text
    );
    Ok(())
}

/// The refresh route claims its nonce inside the rotation script (one Redis round trip, not two):
/// a replayed refresh call must still be refused as a replay, not answered from the grace window
/// with the same successor, and must not spend the session's next rotation.
async fn a_replayed_refresh_is_refused_though_its_nonce_is_claimed_by_the_rotation(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let secret = EdgeSecret::from_base64(&stack.edge_secret)?;
    let call = EdgeCall::new("POST", "/api/refresh")
        .json(&serde_json::json!({ "refresh_token": session.refresh }));
    let first = call.send(&stack.origin, &secret).await?;
    check!(
        first.status == 200,
        "signed refresh: {} {}",
        first.status,
        first.text
    );
    let successor = first.body["refresh_token"]
        .as_str()
        .ok_or("no refresh_token in the reply")?
        .to_owned();
    let replay = call.send(&stack.origin, &secret).await?;
    check!(
        replay.status == 401 && replay.code() == "invalid_signature",
        "replayed refresh: {} {}",
        replay.status,
        replay.text
    );
    // A fresh signature over the same body is no replay: the grace window answers it with the
    // same successor (the lost-response recovery), so the nonce check is what refused the replay.
    let again = EdgeCall::new("POST", "/api/refresh")
        .json(&serde_json::json!({ "refresh_token": session.refresh }))
        .send(&stack.origin, &secret)
        .await?;
    check!(
        again.status == 200 && again.body["refresh_token"].as_str() == Some(successor.as_str()),
        "newly signed retry within the grace window: {} {}",
        again.status,
        again.text
    );
    let next = api.refresh(&successor).await?;
    check!(
        next.status == 200,
        "the successor rotates: {} {}",
        next.status,
        next.text
    );
    Ok(())
}

/// Every edge→origin header a client might try to send itself.
fn spoofed(victim_user: &str, victim_session: &str) -> [(&'static str, String); 7] {
    [
        (headers::USER_ID, victim_user.to_owned()),
        (headers::SESSION_ID, victim_session.to_owned()),
        (headers::SIGNATURE, format!("v1={}", "0".repeat(64))),
        (headers::TIMESTAMP, now().to_string()),
        (headers::NONCE, "spoofed-nonce".to_owned()),
        (headers::REQUEST_ID, "spoofed-request".to_owned()),
        (headers::CLIENT_IP, "203.0.113.9".to_owned()),
    ]
}

async fn spoofed_identity_headers_are_ignored(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let victim = api.new_session().await?;
    let victim_sid = session_of(&victim.refresh)?;
    let attacker = api.new_session().await?;
    let with_spoof = |method: Method, path: &str, bearer: Option<&str>| {
        let mut request = api.http.request(method, format!("{}{path}", stack.edge));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        for (name, value) in spoofed(&victim.user_id, &victim_sid) {
            request = request.header(name, value);
        }
        async move { Api::read(request.send().await?).await }
    };

    // With a token: identity comes from the token only.
    let reply = with_spoof(Method::GET, "/api/profile", Some(&attacker.access)).await?;
    check!(reply.status == 200, "{}", reply.text);
    check!(
        reply.body["user"]["id"] == attacker.user_id.as_str(),
        "identity comes from the token only: {}",
        reply.text
    );

    // Without one, on routes the edge forwards anonymously. Had the edge passed the spoofed
    // headers on, the origin would have refused its signature (or, worse, believed them).
    let jwks = with_spoof(Method::GET, "/.well-known/jwks.json", None).await?;
    check!(
        jwks.status == 200,
        "an anonymous forward with spoofed headers: {} {}",
        jwks.status,
        jwks.text
    );
    let logout = with_spoof(Method::POST, "/api/logout", None).await?;
    check!(
        logout.status == 401 && logout.code() == "invalid_token",
        "logout by spoofed identity: {} {}",
        logout.status,
        logout.text
    );
    let profile = api.get("/api/profile", Some(&victim.access)).await?;
    check!(
        profile.status == 200,
        "the victim's session survived: {}",
        profile.text
    );

    // And a Bearer route still needs a token, whatever the headers say.
    let anonymous = with_spoof(Method::GET, "/api/profile", None).await?;
    check!(
        anonymous.status == 401 && anonymous.code() == "invalid_token",
        "headers alone never authenticate: {}",
        anonymous.text
    );
    Ok(())
}
