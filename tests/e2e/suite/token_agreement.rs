//! The edge's token verdicts against the reference: jwt-simple, natively, must agree with the
//! edge (policy checks in Rust, signatures through WebCrypto in workerd) on every token of a
//! corpus of valid, crafted, mangled and forged EdDSA and ES256 tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_core::keys::{SigningKey, VerificationKeys};
use edgeauth_core::token::{verify_access_token, TokenPolicy};
use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::workerd::Heap;
use edgeauth_e2e::{Api, Stack};
use futures_util::stream::{self, StreamExt};
use jwt_simple::prelude::{Claims, Duration, ES256KeyPair, HS256Key, MACLike};
use serde_json::{json, Value};

use super::Outcome;
use crate::{check, tests};

tests![edge_and_jwt_simple_agree_on_every_token];

/// Requests in flight at once while replaying the corpus.
const PARALLEL: usize = 8;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Signs arbitrary header and claims JSON (tokens the origin would never issue, but a verifier
/// must judge) with a private JWK.
fn sign_raw(private_jwk: &Value, header: &Value, claims: &Value) -> Result<String, BoxError> {
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let part = |name: &str| -> Result<Vec<u8>, BoxError> {
        let text = private_jwk[name].as_str().ok_or("JWK lacks a member")?;
        Ok(B64.decode(text)?)
    };
    let signature = match private_jwk["kty"].as_str() {
        Some("OKP") => {
            let key = ed25519_compact::SecretKey::from_slice(&[part("d")?, part("x")?].concat())?;
            key.sign(&input, None).to_vec()
        }
        _ => {
            use p256::ecdsa::signature::Signer;
            let key = p256::ecdsa::SigningKey::from_slice(&part("d")?)?;
            let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
            signature.to_bytes().to_vec()
        }
    };
    Ok(format!("{input}.{}", B64.encode(signature)))
}

/// `obj` with the members of `changes` set (`null` members removed when `remove_nulls`).
fn with(obj: &Value, changes: &Value, remove_nulls: bool) -> Value {
    let mut out = obj.clone();
    if let (Some(out), Some(changes)) = (out.as_object_mut(), changes.as_object()) {
        for (k, v) in changes {
            if v.is_null() && remove_nulls {
                out.remove(k);
            } else {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// ECDSA malleability: (r, s) → (r, n − s) is also valid for the same message.
fn negate_s(signature: &[u8]) -> Vec<u8> {
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    let Some(s) = signature.get(32..64) else {
        return signature.to_vec();
    };
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    [&signature[..32], &out].concat()
}

/// Valid tokens of one key, and every variation of them the corpus judges.
fn corpus_for(
    private_jwk: &Value,
    kid: &str,
    alg: &str,
    good_claims: &Value,
    t: u64,
) -> Result<Vec<String>, BoxError> {
    let header = json!({"alg": alg, "typ": "at+jwt", "kid": kid});
    let mut headers = vec![header.clone()];
    for change in [
        json!({"typ": "AT+JWT"}),
        json!({"typ": "At+Jwt"}),
        json!({"typ": "JWT"}),
        json!({"typ": null}),
        json!({"typ": 1}),
        json!({"crit": []}),
        json!({"crit": ["exp"]}),
        json!({"salt": "AAAA"}),
        json!({"salt": "!!"}),
        json!({"jwk": {"kty": "OKP"}}),
        json!({"x5c": "not a list"}),
        json!({"kid": "no-such-key"}),
        json!({"kid": 7}),
        json!({"alg": if alg == "EdDSA" { "ES256" } else { "EdDSA" }}),
        json!({"alg": "Ed25519"}),
        json!({"alg": "HS256"}),
        json!({"alg": "none"}),
        json!({"cty": "JWT"}),
        json!({"extra": [1, 2, 3]}),
    ] {
        headers.push(with(&header, &change, false));
    }
    headers.push(with(&header, &json!({"typ": null}), true));
    headers.push(with(&header, &json!({"kid": null}), true));

    let mut claims = vec![good_claims.clone()];
    for change in [
        json!({"aud": ["other", good_claims["aud"].clone()]}),
        json!({"aud": ["other"]}),
        json!({"aud": 5}),
        json!({"iss": "https://impostor.example"}),
        json!({"exp": t - 100}),
        json!({"exp": t - 10}),
        json!({"exp": (t + 600) as f64 + 0.5}),
        json!({"exp": "later"}),
        json!({"exp": -1}),
        json!({"iat": t + 100}),
        json!({"iat": t + 10}),
        json!({"nbf": t + 100}),
        json!({"nbf": t + 10}),
        json!({"sub": ""}),
        json!({"sid": ""}),
        json!({"jti": ""}),
        json!({"nonce": "n"}),
        json!({"extra": {"nested": true}}),
    ] {
        claims.push(with(good_claims, &change, false));
    }
    for missing in ["iss", "aud", "exp", "iat", "nbf", "sid", "jti"] {
        claims.push(with(good_claims, &json!({ missing: null }), true));
    }

    let mut tokens = Vec::new();
    for h in &headers {
        for c in &claims {
            tokens.push(sign_raw(private_jwk, h, c)?);
        }
    }
    // Byte-level damage to a valid token, its signature, its shape.
    let valid = sign_raw(private_jwk, &header, good_claims)?;
    let bytes = valid.as_bytes();
    for position in (0..bytes.len()).step_by(5) {
        for replacement in [b'A', b'_', b'.'] {
            let mut mangled = bytes.to_vec();
            mangled[position] = replacement;
            if let Ok(text) = String::from_utf8(mangled) {
                tokens.push(text);
            }
        }
    }
    for cut in [0, 1, 20, valid.len() / 2, valid.len() - 1] {
        tokens.push(valid[..cut].to_owned());
    }
    let (input, signature) = valid.rsplit_once('.').ok_or("no signature")?;
    let raw = B64.decode(signature)?;
    let mut reversed = raw.clone();
    reversed.reverse();
    for tweaked in [reversed, vec![0; 64], raw[..63].to_vec(), negate_s(&raw)] {
        tokens.push(format!("{input}.{}", B64.encode(tweaked)));
    }
    tokens.push(format!("{valid}A"));
    tokens.push(format!("{valid}.A"));
    tokens.push(format!("{input}."));
    tokens.push(valid);
    Ok(tokens)
}

async fn edge_and_jwt_simple_agree_on_every_token(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let payload: Value =
        serde_json::from_slice(&B64.decode(session.access.split('.').nth(1).unwrap_or(""))?)?;
    let sid = payload["sid"].as_str().ok_or("access token has no sid")?;

    // A second edge in plain workerd that also trusts an ES256 key, so both algorithms and
    // both WebCrypto paths are judged; same origin, Redis, issuer and audience. The origin does
    // not publish that key, so this edge trusts its pin alone (with the origin's JWKS in use,
    // its first fetch would retire the key), and judges with exactly the set jwt-simple gets.
    let es256 = SigningKey::es256("agreement-es256", ES256KeyPair::generate());
    let mut jwks = stack.signing_keys.public_jwks();
    if let Some(keys) = jwks["keys"].as_array_mut() {
        keys.push(es256.to_public_jwk());
    }
    let overrides = [
        ("EDGEAUTH_JWKS".to_owned(), jwks.to_string()),
        ("EDGEAUTH_JWKS_FROM_ORIGIN".to_owned(), "false".to_owned()),
    ];
    // Starting and stopping processes blocks (it polls until the edge answers).
    let edge = tokio::task::spawn_blocking(move || {
        stack.start_workerd_edge("workerd-agreement", &overrides, Heap::Production)
    })
    .await??;
    let outcome = judge_corpus(stack, &edge, &jwks, &es256, &session.user_id, sid).await;
    tokio::task::spawn_blocking(move || stack.stop_process("workerd-agreement")).await??;
    outcome
}

async fn judge_corpus(
    stack: &'static Stack,
    edge: &str,
    jwks: &Value,
    es256: &SigningKey,
    user_id: &str,
    sid: &str,
) -> Outcome {
    let keys = VerificationKeys::from_json(&jwks.to_string())?;
    let policy = TokenPolicy::new(&stack.issuer, &stack.audience);
    let t = now();
    let good_claims = json!({
        "iss": stack.issuer, "aud": stack.audience, "sub": user_id, "sid": sid,
        "jti": "agreement", "iat": t, "nbf": t, "exp": t + 600,
    });
    let ed25519 = stack.signing_keys.active();
    let mut corpus = corpus_for(
        &ed25519.to_private_jwk(),
        ed25519.kid(),
        "EdDSA",
        &good_claims,
        t,
    )?;
    corpus.extend(corpus_for(
        &es256.to_private_jwk(),
        es256.kid(),
        "ES256",
        &good_claims,
        t,
    )?);
    // Foreign keys under our kids, and HS256 keyed with the public key (algorithm confusion).
    let stranger = SigningKey::ed25519(
        ed25519.kid(),
        jwt_simple::prelude::Ed25519KeyPair::generate(),
    );
    corpus.push(sign_raw(
        &stranger.to_private_jwk(),
        &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": ed25519.kid()}),
        &good_claims,
    )?);
    let public_x = B64.decode(
        ed25519.to_public_jwk()["x"]
            .as_str()
            .ok_or("public JWK lacks x")?,
    )?;
    let confused = HS256Key::from_bytes(&public_x).with_key_id(ed25519.kid());
    corpus.push(confused.authenticate(Claims::create(Duration::from_mins(5)))?);

    let client = Api::new(edge);
    let verdicts: Vec<Result<(String, bool, u16), BoxError>> = stream::iter(corpus)
        .map(|token| {
            let client = client.clone();
            let reference = verify_access_token(&keys, &policy, &token, now()).is_ok();
            async move {
                let reply = client.get("/api/profile", Some(&token)).await?;
                Ok((token, reference, reply.status))
            }
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;

    let (mut accepted, mut total) = (0, 0);
    for verdict in verdicts {
        let (token, reference, status) = verdict?;
        total += 1;
        accepted += usize::from(reference);
        let expected = if reference { 200 } else { 401 };
        check!(
            status == expected,
            "jwt-simple {} but the edge answered {status}: {token}",
            if reference { "accepts" } else { "refuses" }
        );
    }
    // Both verdicts are well represented (about 130 of 1,650 tokens are valid; a broken EdDSA or
    // ES256 path at the edge shows up above as a valid token answered 401).
    check!(
        accepted >= 20 && accepted * 4 < total,
        "{accepted} of {total} tokens accepted: the corpus is lopsided"
    );
    Ok(())
}
