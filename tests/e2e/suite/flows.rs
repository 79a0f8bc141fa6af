//! The happy paths and input handling of the public API, through the edge.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_core::keys::VerificationKeys;
use edgeauth_core::token::{verify_access_token, TokenPolicy};
use edgeauth_e2e::client::TestUser;
use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::{Api, Stack};
use serde_json::json;

use super::Outcome;
use crate::{check, tests};

tests![
    register_login_profile_through_the_edge,
    access_token_verifies_against_the_published_jwks,
    refresh_secrets_are_256_random_bits,
    registration_enforces_the_input_rules,
    duplicates_conflict_case_insensitively,
    login_failures_look_the_same,
    bad_bodies_get_the_error_shape,
    health_and_security_headers,
];

async fn register_login_profile_through_the_edge(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let user = TestUser::unique();
    let reg = api.register(&user).await?;
    check!(reg.status == 201, "register: {} {}", reg.status, reg.text);
    let u = &reg.body["user"];
    check!(u["username"] == user.username.as_str(), "username: {u}");
    check!(
        u["email"] == user.email.to_lowercase().as_str(),
        "email is normalised: {u}"
    );
    check!(u["id"].as_str().is_some_and(|id| id.len() >= 16), "id: {u}");
    check!(u["created_at"].as_u64().is_some(), "created_at: {u}");
    check!(
        !reg.text.contains("argon2") && u.get("password").is_none(),
        "no hash leaks: {}",
        reg.text
    );

    let login = api
        .login(&user.email.to_uppercase(), &user.password)
        .await?;
    check!(
        login.status == 200,
        "login: {} {}",
        login.status,
        login.text
    );
    let b = &login.body;
    check!(b["token_type"] == "Bearer", "{b}");
    check!(b["expires_in"] == 900, "{b}");
    check!(b["user"]["id"] == u["id"], "{b}");
    let refresh = b["refresh_token"].as_str().unwrap_or("");
    check!(
        secret_bits(refresh)? >= 256,
        "refresh token's secret carries ≥256 bits: {refresh}"
    );
    let cookie = login.set_cookies().join("\n");
    for attr in [
        "__Host-edgeauth_rt=",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/",
    ] {
        check!(cookie.contains(attr), "cookie lacks {attr}: {cookie}");
    }

    let access = b["access_token"].as_str().unwrap_or("");
    let profile = api.get("/api/profile", Some(access)).await?;
    check!(
        profile.status == 200,
        "profile: {} {}",
        profile.status,
        profile.text
    );
    check!(profile.body["user"] == *u, "profile user: {}", profile.text);
    check!(
        profile.body["session_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{}",
        profile.text
    );
    check!(
        profile.header("x-request-id").is_some(),
        "the edge returns its request id"
    );
    Ok(())
}

/// The size of a refresh token's secret part (`rt1.<sid>.<gen>.<secret>`), in bits.
fn secret_bits(refresh_token: &str) -> Result<usize, BoxError> {
    let secret = match refresh_token.split('.').collect::<Vec<_>>()[..] {
        ["rt1", _, _, secret] => secret,
        _ => return Err(format!("not a refresh token: {refresh_token:?}").into()),
    };
    Ok(B64.decode(secret)?.len() * 8)
}

/// The secret parts of refresh tokens from separate logins look like independent uniform
/// random bits: every one is 256 bits, no two share a byte at the same position more often than
/// chance allows, and about half of all their bits are set.
async fn refresh_secrets_are_256_random_bits(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let first = api.new_session().await?;
    let mut secrets = Vec::new();
    for login in 0..8 {
        let session = if login == 0 {
            first.clone()
        } else {
            api.sign_in(&first.user).await?
        };
        check!(secret_bits(&session.refresh)? == 256, "login {login}");
        let secret = session.refresh.rsplit('.').next().unwrap_or_default();
        secrets.push(B64.decode(secret)?);
    }
    for (i, a) in secrets.iter().enumerate() {
        for b in &secrets[i + 1..] {
            // Two random 32-byte strings agree in a given position with probability 1/256.
            let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
            check!(same <= 4, "two secrets agree in {same} of 32 bytes");
        }
    }
    let bits: u32 = secrets.iter().flatten().map(|b| b.count_ones()).sum();
    let total = (secrets.len() * 256) as f64;
    // 2048 fair bits: the share of ones is 0.5 ± 0.011 (one standard deviation).
    let share = f64::from(bits) / total;
    check!(
        (0.44..=0.56).contains(&share),
        "{bits} of {total} secret bits are set"
    );
    Ok(())
}

async fn access_token_verifies_against_the_published_jwks(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let jwks = api.get("/.well-known/jwks.json", None).await?;
    check!(jwks.status == 200, "jwks: {} {}", jwks.status, jwks.text);
    check!(
        !jwks.text.contains("\"d\""),
        "no private parts: {}",
        jwks.text
    );
    let keys = VerificationKeys::from_json(&jwks.text)?;
    let policy = TokenPolicy::new(&stack.issuer, &stack.audience);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let token = verify_access_token(&keys, &policy, &session.access, now)?;
    check!(token.user_id == session.user_id, "sub");
    check!(stack.signing_keys.active().kid() == token.kid, "kid");
    check!(token.expires_at - token.issued_at == 900, "lifetime");
    let header = session.access.split('.').next().unwrap_or("");
    let header: serde_json::Value = serde_json::from_slice(&base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        header,
    )?)?;
    check!(
        header["typ"] == "at+jwt" && header["alg"] == "EdDSA",
        "header: {header}"
    );
    Ok(())
}

async fn registration_enforces_the_input_rules(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let bad = api
        .post(
            "/api/register",
            None,
            json!({ "username": "x!", "email": "not-an-email", "password": "short" }),
        )
        .await?;
    check!(
        bad.status == 400 && bad.code() == "validation_failed",
        "{} {}",
        bad.status,
        bad.text
    );
    let fields: Vec<&str> = bad.body["error"]["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    check!(
        fields == ["username", "email", "password"],
        "fields: {}",
        bad.text
    );

    let mut weak = TestUser::unique();
    weak.password = "password123".into();
    let reply = api.register(&weak).await?;
    check!(
        reply.status == 400,
        "weak password: {} {}",
        reply.status,
        reply.text
    );
    check!(
        reply.text.contains("too easy to guess"),
        "clear message: {}",
        reply.text
    );

    let mut long = TestUser::unique();
    long.password = "a-very-long-passphrase ".repeat(6); // 138 characters
    let reply = api.register(&long).await?;
    check!(
        reply.status == 400,
        "129+ characters are refused, not truncated: {}",
        reply.text
    );
    Ok(())
}

async fn duplicates_conflict_case_insensitively(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let user = TestUser::unique();
    check!(
        api.register(&user).await?.status == 201,
        "first registration"
    );
    let mut same_email = TestUser::unique();
    same_email.email = user.email.to_uppercase();
    let reply = api.register(&same_email).await?;
    check!(
        reply.status == 409 && reply.code() == "conflict",
        "{} {}",
        reply.status,
        reply.text
    );
    let mut same_name = TestUser::unique();
    same_name.username = user.username.to_uppercase();
    let reply = api.register(&same_name).await?;
    check!(
        reply.status == 409 && reply.code() == "conflict",
        "{} {}",
        reply.status,
        reply.text
    );
    Ok(())
}

async fn login_failures_look_the_same(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let wrong = api
        .login(&session.user.email, "not the right password")
        .await?;
    let unknown = api
        .login("nobody-here@example.com", "not the right password")
        .await?;
    check!(
        wrong.status == 401 && wrong.code() == "invalid_credentials",
        "{}",
        wrong.text
    );
    check!(
        unknown.status == wrong.status && unknown.text == wrong.text,
        "{} vs {}",
        unknown.text,
        wrong.text
    );
    Ok(())
}

async fn bad_bodies_get_the_error_shape(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let url = format!("{}/api/register", stack.edge);
    let send = |body: String, content_type: &'static str| {
        let request = api
            .http
            .post(&url)
            .header("content-type", content_type)
            .body(body);
        async move { Api::read(request.send().await?).await }
    };
    let cases = [
        (send("{not json".into(), "application/json").await?, 400),
        (
            send(
                r#"{"username": 5, "email": [], "password": null}"#.into(),
                "application/json",
            )
            .await?,
            400,
        ),
        (
            send(
                r#"{"username":"abc","email":"a@b.co","password":"x","extra":1}"#.into(),
                "application/json",
            )
            .await?,
            400,
        ),
        (
            send("username=a".into(), "application/x-www-form-urlencoded").await?,
            415,
        ),
        (
            send(
                format!(r#"{{"username":"{}"}}"#, "a".repeat(17 * 1024)),
                "application/json",
            )
            .await?,
            413,
        ),
    ];
    for (reply, status) in cases {
        check!(
            reply.status == status,
            "expected {status}, got {} {}",
            reply.status,
            reply.text
        );
        check!(!reply.code().is_empty(), "error shape: {}", reply.text);
    }
    Ok(())
}

async fn health_and_security_headers(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let health = api.get("/healthz", None).await?;
    check!(
        health.status == 200 && health.body["status"] == "ok",
        "{}",
        health.text
    );
    let missing = api.get("/nope", None).await?;
    check!(
        missing.status == 404 && missing.code() == "not_found",
        "{}",
        missing.text
    );
    let unauth = api.get("/api/profile", None).await?;
    check!(unauth.status == 401, "{}", unauth.text);
    for reply in [&health, &missing, &unauth] {
        for header in [
            "strict-transport-security",
            "x-content-type-options",
            "referrer-policy",
            "content-security-policy",
        ] {
            check!(
                reply.header(header).is_some(),
                "{header} missing on {}",
                reply.status
            );
        }
    }
    Ok(())
}
