//! edgeauth-verify against a real JWKS server on a local port (`testing::TestEdge`), with keys
//! generated here: the verifier, the tower layers, the extractor, and jose (npm) verifying the
//! same assertions. One test binary, as the workspace's other integration tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edgeauth_verify::testing::{public_jwk, sign_with, unix_now, TestAssertion, TestEdge};
use edgeauth_verify::{
    require_role, AssertionLayer, Identity, Rejection, Verifier, VerifierConfig,
};
use jwt_simple::prelude::{Claims, Ed25519KeyPair, HS256Key, HeaderOptions, MACLike};
use serde_json::{json, Value};
use tower::ServiceExt;

async fn edge() -> TestEdge {
    TestEdge::start().await.expect("start the JWKS server")
}

fn verifier(config: VerifierConfig) -> Arc<Verifier> {
    Arc::new(Verifier::new(config).expect("valid config"))
}

/// An app with one protected route echoing the identity, one admin route, one optional route.
fn app(verifier: Arc<Verifier>) -> Router {
    let admin = Router::new()
        .route("/admin", get(|| async { "admin ok" }))
        .route_layer(require_role("admin"));
    let protected = Router::new()
        .route("/whoami", get(|id: Identity| async move { Json(id) }))
        .merge(admin)
        .route_layer(AssertionLayer::new(verifier.clone()));
    let optional = Router::new()
        .route(
            "/hello",
            get(|id: Option<Identity>| async move { Json(json!({"sub": id.map(|i| i.sub)})) }),
        )
        .route_layer(AssertionLayer::optional(verifier));
    protected.merge(optional)
}

async fn call(app: &Router, path: &str, assertions: &[&str]) -> (StatusCode, Value) {
    let mut request = Request::get(path);
    for assertion in assertions {
        request = request.header("edgeauth-assertion", *assertion);
    }
    let response: Response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let body = to_bytes(response.into_body(), 1 << 20).await.expect("body");
    let json = serde_json::from_slice(&body)
        .unwrap_or(Value::String(String::from_utf8_lossy(&body).into()));
    (status, json)
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn a_valid_assertion_reaches_the_handler_and_keys_are_cached() {
    let edge = edge().await;
    let app = app(verifier(edge.config("notes")));
    let token = edge.assertion("notes", "user-1", &["admin", "ops"]);
    let (status, body) = call(&app, "/whoami", &[&token]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sub"], "user-1");
    assert_eq!(body["sid"], "sid-user-1");
    assert_eq!(body["aud"], "notes");
    assert_eq!(body["iss"], edge.issuer.as_str());
    assert_eq!(body["roles"], json!(["admin", "ops"]));
    for _ in 0..5 {
        assert_eq!(call(&app, "/whoami", &[&token]).await.0, StatusCode::OK);
    }
    assert_eq!(
        edge.jwks_requests(),
        1,
        "the JWKS is fetched once and cached"
    );
}

#[tokio::test]
async fn missing_duplicate_and_expired_assertions_are_401_json() {
    let edge = edge().await;
    let app = app(verifier(edge.config("notes")));
    let (status, body) = call(&app, "/whoami", &[]).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, "missing_assertion")
    );

    let token = edge.assertion("notes", "u", &[]);
    let (status, body) = call(&app, "/whoami", &[&token, &token]).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_assertion")
    );

    let mut expired = TestAssertion::new(&edge.issuer, "notes", "u");
    expired.iat = unix_now() - 70;
    expired.exp = unix_now() - 10;
    let (status, body) = call(&app, "/whoami", &[&edge.sign(&expired)]).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_assertion")
    );

    let mut too_long = TestAssertion::new(&edge.issuer, "notes", "u");
    too_long.exp = too_long.iat + 3600;
    assert_eq!(
        call(&app, "/whoami", &[&edge.sign(&too_long)]).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_assertion_for_app_a_is_refused_by_app_b() {
    let edge = edge().await;
    let app_a = app(verifier(edge.config("app-a")));
    let app_b = app(verifier(edge.config("app-b")));
    let for_a = edge.assertion("app-a", "u", &["admin"]);
    assert_eq!(call(&app_a, "/whoami", &[&for_a]).await.0, StatusCode::OK);
    let (status, body) = call(&app_b, "/whoami", &[&for_a]).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_assertion")
    );
}

#[tokio::test]
async fn another_issuer_or_another_key_is_refused() {
    let edge = edge().await;
    let app = app(verifier(edge.config("notes")));
    let foreign = TestAssertion::new("https://other-edge.example", "notes", "u");
    assert_eq!(
        call(&app, "/whoami", &[&edge.sign(&foreign)]).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A key the edge never published, claiming the published kid.
    let impostor = Ed25519KeyPair::generate().with_key_id("test-1");
    let forged = sign_with(&impostor, &TestAssertion::new(&edge.issuer, "notes", "u"));
    assert_eq!(
        call(&app, "/whoami", &[&forged]).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The genuine key still works, so the refusals above are about the token.
    assert_eq!(
        call(&app, "/whoami", &[&edge.assertion("notes", "u", &[])])
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_rotated_key_is_fetched_when_its_kid_first_appears() {
    let mut edge = edge().await;
    let mut config = edge.config("notes");
    config.jwks_min_refetch_interval = Duration::ZERO;
    let app = app(verifier(config));
    assert_eq!(
        call(&app, "/whoami", &[&edge.assertion("notes", "u", &[])])
            .await
            .0,
        StatusCode::OK
    );
    edge.rotate(true);
    let (status, body) = call(&app, "/whoami", &[&edge.assertion("notes", "u", &[])]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        edge.jwks_requests(),
        2,
        "the unknown kid caused exactly one refetch"
    );
}

#[tokio::test]
async fn a_flood_of_unknown_kids_fetches_the_jwks_at_most_once_per_interval() {
    let edge = edge().await;
    let app = app(verifier(edge.config("notes"))); // default: one fetch per 10 s
    assert_eq!(
        call(&app, "/whoami", &[&edge.assertion("notes", "u", &[])])
            .await
            .0,
        StatusCode::OK
    );
    let forged: Vec<String> = (0..50)
        .map(|i| {
            let key = Ed25519KeyPair::generate().with_key_id(&format!("bogus-{i}"));
            sign_with(&key, &TestAssertion::new(&edge.issuer, "notes", "u"))
        })
        .collect();
    let mut calls = tokio::task::JoinSet::new();
    for token in forged {
        let app = app.clone();
        calls.spawn(async move { call(&app, "/whoami", &[&token]).await.0 });
    }
    while let Some(status) = calls.join_next().await {
        assert_eq!(status.expect("join"), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        edge.jwks_requests(),
        1,
        "no refetch within the interval of the first fetch"
    );
}

#[tokio::test]
async fn unknown_kids_refetch_again_only_after_the_interval() {
    let edge = edge().await;
    let mut config = edge.config("notes");
    config.jwks_min_refetch_interval = Duration::from_millis(300);
    let verifier = verifier(config);
    let bogus = Ed25519KeyPair::generate().with_key_id("bogus");
    let token = sign_with(&bogus, &TestAssertion::new(&edge.issuer, "notes", "u"));
    for _ in 0..10 {
        assert_eq!(
            verifier.verify(&token).await,
            Err(Rejection::UnknownKey("bogus".into()))
        );
    }
    assert_eq!(edge.jwks_requests(), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    for _ in 0..10 {
        assert!(verifier.verify(&token).await.is_err());
    }
    assert_eq!(edge.jwks_requests(), 2);
}

fn forge(header: Value, payload: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

#[tokio::test]
async fn alg_none_and_hs256_forgeries_are_refused_without_fetching() {
    let edge = edge().await;
    let app = app(verifier(edge.config("notes")));
    let now = unix_now();
    let payload = json!({"iss": edge.issuer, "aud": "notes", "sub": "attacker", "sid": "s",
                         "roles": ["admin"], "iat": now, "exp": now + 30});
    let typ = "edgeauth-assertion+jwt";
    let none_empty = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": typ, "kid": "test-1"}).to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let none_sig = forge(
        json!({"alg": "none", "typ": typ, "kid": "test-1"}),
        &payload,
        b"x",
    );
    // The classic confusion: HS256 keyed with the published public key's bytes.
    let hs256 = HS256Key::from_bytes(&edge.key().public_key().to_bytes())
        .with_key_id("test-1")
        .authenticate_with_options(
            Claims::with_custom_claims(
                json!({"sid": "s", "roles": ["admin"]}),
                jwt_simple::prelude::Duration::from_secs(30),
            )
            .with_issuer(&edge.issuer)
            .with_subject("attacker")
            .with_audience("notes"),
            &HeaderOptions {
                signature_type: Some(typ.into()),
                content_type: None,
            },
        )
        .expect("mac");
    let eddsa_no_typ = forge(json!({"alg": "EdDSA", "kid": "test-1"}), &payload, &[0; 64]);
    for forged in [&none_empty, &none_sig, &hs256, &eddsa_no_typ] {
        let (status, body) = call(&app, "/admin", &[forged]).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNAUTHORIZED, "invalid_assertion"),
            "{forged}"
        );
    }
    assert_eq!(edge.jwks_requests(), 0, "refused on the header alone");
}

#[tokio::test]
async fn oversized_and_garbage_headers_are_refused() {
    let edge = edge().await;
    let app = app(verifier(edge.config("notes")));
    let huge = "a".repeat(64 * 1024);
    for bad in [huge.as_str(), "", "not-a-jwt", "a.b.c", "ééé"] {
        let (status, body) = call(&app, "/whoami", &[bad]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad:.20}: {body}");
        assert_eq!(error_code(&body), "invalid_assertion");
    }
    assert_eq!(edge.jwks_requests(), 0);
}

#[tokio::test]
async fn roles_are_enforced_and_optional_routes_pass_without_an_assertion() {
    let edge = edge().await;
    let app = app(verifier(edge.config("notes")));
    let (status, body) = call(&app, "/admin", &[&edge.assertion("notes", "u", &["ops"])]).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let (status, _) = call(&app, "/admin", &[&edge.assertion("notes", "u", &["admin"])]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&app, "/hello", &[]).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"sub": null})));
    let (status, body) = call(&app, "/hello", &[&edge.assertion("notes", "u", &[])]).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"sub": "u"})));
    let (status, _) = call(&app, "/hello", &["forged.to.fail"]).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a present assertion must be valid"
    );
}

#[tokio::test]
async fn a_jwks_server_that_is_down_fails_closed() {
    let mut edge = edge().await;
    let token = edge.assertion("notes", "u", &[]);
    let app = app(verifier(edge.config("notes")));
    edge.stop().await;
    let (status, body) = call(&app, "/whoami", &[&token]).await;
    assert_eq!(
        (status, error_code(&body)),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "assertion_keys_unavailable"
        )
    );
}

#[tokio::test]
async fn stale_keys_serve_while_the_edge_is_down_but_only_for_the_grace_period() {
    let edge = edge().await;
    let mut config = edge.config("notes");
    config.jwks_ttl = Duration::from_millis(100);
    config.jwks_max_stale = Duration::from_millis(400);
    config.jwks_min_refetch_interval = Duration::ZERO;
    let verifier = verifier(config);
    let token = edge.assertion("notes", "u", &[]);
    assert!(verifier.verify(&token).await.is_ok());
    edge.set_failing(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        verifier.verify(&token).await.is_ok(),
        "within the grace period"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(matches!(
        verifier.verify(&token).await,
        Err(Rejection::KeysUnavailable(_))
    ));
    edge.set_failing(false);
    assert!(
        verifier.verify(&token).await.is_ok(),
        "recovers once the edge answers"
    );
}

#[tokio::test]
async fn a_slow_refresh_does_not_hold_up_requests_with_a_usable_key() {
    let edge = edge().await;
    let mut config = edge.config("notes");
    config.jwks_ttl = Duration::from_millis(100);
    config.jwks_min_refetch_interval = Duration::ZERO;
    let verifier = verifier(config);
    let token = edge.assertion("notes", "u", &[]);
    assert!(verifier.verify(&token).await.is_ok());
    tokio::time::sleep(Duration::from_millis(150)).await;
    edge.set_delay(Duration::from_millis(1500));
    let refreshing = {
        let (verifier, token) = (verifier.clone(), token.clone());
        tokio::spawn(async move { verifier.verify(&token).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    assert!(verifier.verify(&token).await.is_ok());
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "served from the stale cache, not after the refresh: {:?}",
        started.elapsed()
    );
    assert!(refreshing.await.expect("join").is_ok());
    assert_eq!(edge.jwks_requests(), 2);
}

#[tokio::test]
async fn bad_configurations_are_refused() {
    let ok = || VerifierConfig::new("https://edge.example/jwks", "https://edge.example", "notes");
    assert!(Verifier::new(ok()).is_ok());
    let mut c = ok();
    c.jwks_url = "ftp://edge.example/jwks".into();
    assert!(Verifier::new(c).is_err());
    let mut c = ok();
    c.audience = String::new();
    assert!(Verifier::new(c).is_err());
    let mut c = ok();
    c.header_name = "bad header".into();
    assert!(Verifier::new(c).is_err());
    let c = VerifierConfig::for_edge("https://edge.example/", "notes");
    assert_eq!(
        c.jwks_url,
        "https://edge.example/.well-known/edgeauth/assertion-jwks.json"
    );
}

// ---------------------------------------------------------------- jose (npm) interop

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Node: `EDGEAUTH_NODE_BIN_DIR` (set by the Makefile), else the one `make setup` recorded in
/// `.dev/node-bin-dir`, else `node` on PATH. `None` when none runs.
fn node() -> Option<PathBuf> {
    let from_dir = |dir: &str| Path::new(dir.trim()).join("node");
    let candidates = [
        std::env::var("EDGEAUTH_NODE_BIN_DIR")
            .ok()
            .map(|d| from_dir(&d)),
        std::fs::read_to_string(repo_root().join(".dev/node-bin-dir"))
            .ok()
            .map(|d| from_dir(&d)),
        Some(PathBuf::from("node")),
    ];
    candidates.into_iter().flatten().find(|node| {
        Command::new(node)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn run_jose(
    node: &Path,
    jwks: &str,
    issuer: &str,
    audience: &str,
    token: &str,
) -> Result<Value, String> {
    let dir = repo_root().join("tests/verify-js");
    let output = Command::new(node)
        .current_dir(&dir)
        .args([
            "verify.mjs",
            "--jwks",
            jwks,
            "--issuer",
            issuer,
            "--audience",
            audience,
            token,
        ])
        .output()
        .map_err(|e| format!("cannot run node: {e}"))?;
    if output.status.success() {
        serde_json::from_slice(&output.stdout).map_err(|e| format!("not JSON: {e}"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[tokio::test]
async fn jose_verifies_the_same_assertions() {
    let Some(node) = node() else {
        eprintln!("SKIPPED jose_verifies_the_same_assertions: no node found (EDGEAUTH_NODE_BIN_DIR, .dev/node-bin-dir, PATH)");
        return;
    };
    let dir = repo_root().join("tests/verify-js");
    if !dir.join("node_modules/jose").exists() {
        let status = Command::new("npm")
            .current_dir(&dir)
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .status()
            .expect("npm is needed to install tests/verify-js (npm ci)");
        assert!(status.success(), "npm ci in tests/verify-js failed");
    }
    let edge = edge().await;
    let token = edge.assertion("notes", "user-42", &["admin"]);
    let rust = Verifier::new(edge.config("notes"))
        .expect("config")
        .verify(&token)
        .await
        .expect("Rust accepts");

    let jwks = edge.jwks_url();
    let (node2, jwks2, iss2, token2) = (
        node.clone(),
        jwks.clone(),
        edge.issuer.clone(),
        token.clone(),
    );
    let claims =
        tokio::task::spawn_blocking(move || run_jose(&node2, &jwks2, &iss2, "notes", &token2))
            .await
            .expect("join")
            .expect("jose accepts what Rust accepts");
    assert_eq!(
        claims,
        serde_json::to_value(&rust).expect("identity as JSON")
    );

    // jose also refuses what Rust refuses: another audience, a foreign key, alg none.
    let foreign = sign_with(
        &Ed25519KeyPair::generate().with_key_id("test-1"),
        &TestAssertion::new(&edge.issuer, "notes", "u"),
    );
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"edgeauth-assertion+jwt","kid":"test-1"}"#),
        token.split('.').nth(1).unwrap_or_default()
    );
    let jwks_file = tempfile_with(&json!({"keys": [public_jwk(edge.key())]}).to_string());
    for (audience, token) in [
        ("other-app", token.as_str()),
        ("notes", &foreign),
        ("notes", &none),
    ] {
        let (node, jwks, issuer, token) = (
            node.clone(),
            jwks.clone(),
            edge.issuer.clone(),
            token.to_owned(),
        );
        let audience = audience.to_owned();
        let verdict =
            tokio::task::spawn_blocking(move || run_jose(&node, &jwks, &issuer, &audience, &token))
                .await
                .expect("join");
        assert!(verdict.is_err(), "jose must refuse it: {verdict:?}");
    }
    // The JWKS may also come from a file.
    let claims = run_jose(
        &node,
        jwks_file.to_str().unwrap_or_default(),
        &edge.issuer,
        "notes",
        &token,
    )
    .expect("jose accepts with a JWKS file");
    assert_eq!(claims["sub"], "user-42");
}

fn tempfile_with(contents: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("edgeauth-verify-jwks-{}.json", std::process::id()));
    std::fs::write(&path, contents).expect("write the JWKS file");
    path
}
