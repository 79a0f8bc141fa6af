//! The notes app served on a real local port, with assertions signed by a test edge whose JWKS
//! is served over HTTP (`edgeauth_verify::testing::TestEdge`): every route as the edge's
//! end-to-end tests will call it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use edgeauth_example_notes::{app, download_byte, Settings};
use edgeauth_verify::testing::TestEdge;
use edgeauth_verify::Verifier;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

struct Notes {
    edge: TestEdge,
    base: String,
    http: reqwest::Client,
}

impl Notes {
    async fn start(settings: Settings) -> Self {
        let edge = TestEdge::start().await.expect("JWKS server");
        let verifier = Arc::new(Verifier::new(edge.config("notes")).expect("verifier"));
        let router = app(&settings, verifier).expect("router");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            edge,
            base,
            http: reqwest::Client::new(),
        }
    }

    async fn default() -> Self {
        Self::start(Settings::default()).await
    }

    fn get(&self, path: &str, assertion: Option<&str>) -> reqwest::RequestBuilder {
        self.with(self.http.get(format!("{}{path}", self.base)), assertion)
    }

    fn post(&self, path: &str, assertion: Option<&str>) -> reqwest::RequestBuilder {
        self.with(self.http.post(format!("{}{path}", self.base)), assertion)
    }

    fn with(
        &self,
        request: reqwest::RequestBuilder,
        assertion: Option<&str>,
    ) -> reqwest::RequestBuilder {
        match assertion {
            Some(token) => request.header("Edgeauth-Assertion", token),
            None => request,
        }
    }

    fn user(&self, sub: &str, roles: &[&str]) -> String {
        self.edge.assertion("notes", sub, roles)
    }
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn public_hello_and_healthz_need_no_assertion() {
    let notes = Notes::default().await;
    let (status, body) = json_of(
        notes
            .get("/notes/public/hello", None)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["signed_in_as"], Value::Null);
    let alice = notes.user("alice", &[]);
    let (_, body) = json_of(
        notes
            .get("/notes/public/hello", Some(&alice))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(body["signed_in_as"], "alice");
    let (status, body) = json_of(notes.get("/healthz", None).send().await.expect("send")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
}

#[tokio::test]
async fn every_protected_route_refuses_a_missing_or_foreign_assertion() {
    let notes = Notes::default().await;
    let for_other_app = notes.edge.assertion("billing", "alice", &["admin"]);
    for path in [
        "/notes/api/whoami",
        "/notes/api/notes",
        "/notes/api/admin/stats",
        "/notes/api/events",
        "/notes/api/download?mb=1",
        "/notes/ws",
    ] {
        for assertion in [None, Some(for_other_app.as_str())] {
            let (status, body) =
                json_of(notes.get(path, assertion).send().await.expect("send")).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {body}");
            assert!(
                body["error"]["code"].is_string(),
                "{path}: JSON error, got {body}"
            );
        }
    }
    let response = notes
        .post("/notes/api/upload", None)
        .body("x")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn whoami_shows_the_verified_claims() {
    let notes = Notes::default().await;
    let token = notes.user("alice", &["admin"]);
    let (status, body) = json_of(
        notes
            .get("/notes/api/whoami", Some(&token))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = &body["claims"];
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["sid"], "sid-alice");
    assert_eq!(claims["aud"], "notes");
    assert_eq!(claims["roles"], json!(["admin"]));
    assert_eq!(claims["iss"], notes.edge.issuer.as_str());
    assert!(claims["exp"].as_u64() > claims["iat"].as_u64());
}

#[tokio::test]
async fn notes_belong_to_their_author_and_input_is_validated() {
    let notes = Notes::default().await;
    let (alice, bob) = (notes.user("alice", &[]), notes.user("bob", &[]));
    let (status, body) = json_of(
        notes
            .post("/notes/api/notes", Some(&alice))
            .json(&json!({"text": "  buy milk "}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["note"]["text"], "buy milk");

    let (_, body) = json_of(
        notes
            .get("/notes/api/notes", Some(&alice))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(body["notes"].as_array().map(Vec::len), Some(1));
    let (_, body) = json_of(
        notes
            .get("/notes/api/notes", Some(&bob))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(body["notes"], json!([]), "bob does not see alice's notes");

    let long = "x".repeat(1001);
    let cases = [
        (
            json!({"text": ""}).to_string(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
        (
            json!({"text": "   "}).to_string(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
        (
            json!({"text": long}).to_string(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
        (
            json!({"text": 5}).to_string(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
        (
            json!({"text": "a", "extra": 1}).to_string(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
        (
            "{not json".to_owned(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "text=a".to_owned(),
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            format!("{{\"text\": \"{}\"}}", "y".repeat(20_000)),
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (body, content_type, status, code) in cases {
        let response = notes
            .post("/notes/api/notes", Some(&alice))
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .expect("send");
        let (got, error) = json_of(response).await;
        assert_eq!(
            (got, error["error"]["code"].as_str()),
            (status, Some(code)),
            "{body:.40}"
        );
    }
}

#[tokio::test]
async fn admin_stats_need_the_admin_role() {
    let notes = Notes::default().await;
    let (status, body) = json_of(
        notes
            .get("/notes/api/admin/stats", Some(&notes.user("bob", &["ops"])))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, body) = json_of(
        notes
            .get(
                "/notes/api/admin/stats",
                Some(&notes.user("root", &["admin"])),
            )
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["users"].is_u64() && body["notes"].is_u64());
}

#[tokio::test]
async fn events_arrive_one_by_one_before_the_stream_ends() {
    let notes = Notes::default().await;
    let token = notes.user("alice", &[]);
    let started = Instant::now();
    let mut response = notes
        .get("/notes/api/events", Some(&token))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    let mut arrivals = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        text.push_str(&String::from_utf8_lossy(&chunk));
        while arrivals.len() < text.matches("tick").count() {
            arrivals.push(started.elapsed());
        }
    }
    let ended = started.elapsed();
    assert_eq!(arrivals.len(), 3, "{text}");
    assert!(text.contains(r#""sub":"alice""#), "{text}");
    assert!(
        ended >= Duration::from_millis(600),
        "three events 300 ms apart: {ended:?}"
    );
    assert!(
        arrivals[0] + Duration::from_millis(400) <= ended,
        "the first event came before the end: {arrivals:?} {ended:?}"
    );
    let (status, _) = json_of(
        notes
            .get("/notes/api/events?count=500", Some(&token))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_websocket_echoes_and_needs_an_assertion() {
    let notes = Notes::default().await;
    let url = format!("{}/notes/ws", notes.base.replacen("http", "ws", 1));
    let mut request = url.as_str().into_client_request().expect("request");
    request.headers_mut().insert(
        "edgeauth-assertion",
        notes.user("alice", &[]).parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade accepted");
    socket.send(Message::text("hello")).await.expect("send");
    let reply = socket.next().await.expect("a reply").expect("no error");
    assert_eq!(reply, Message::text("hello"));
    socket
        .send(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("send");
    let reply = socket.next().await.expect("a reply").expect("no error");
    assert_eq!(reply, Message::binary(vec![1u8, 2, 3]));
    socket.close(None).await.expect("close");

    let refused = tokio_tungstenite::connect_async(url.as_str()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED.as_u16());
        }
        other => panic!("an upgrade without an assertion must be refused with 401, got {other:?}"),
    }
}

#[tokio::test]
async fn uploads_are_hashed_as_they_stream_and_bounded() {
    let notes = Notes::start(Settings {
        max_upload_bytes: 3 * 1024 * 1024,
        ..Settings::default()
    })
    .await;
    let token = notes.user("alice", &[]);
    let body: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(31) % 256) as u8)
        .collect();
    let expected = format!("{:x}", Sha256::digest(&body));
    let (status, answer) = json_of(
        notes
            .post("/notes/api/upload", Some(&token))
            .body(body.clone())
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({"bytes": body.len(), "sha256": expected}));

    let mut too_big = body;
    too_big.push(0);
    let (status, answer) = json_of(
        notes
            .post("/notes/api/upload", Some(&token))
            .body(too_big)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
}

#[tokio::test]
async fn downloads_stream_the_documented_bytes_and_are_bounded() {
    let notes = Notes::default().await;
    let token = notes.user("alice", &[]);
    let mut response = notes
        .get("/notes/api/download?mb=3", Some(&token))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.content_length(), Some(3 * 1024 * 1024));
    let mut offset = 0u64;
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        for byte in chunk.iter() {
            assert_eq!(*byte, download_byte(offset), "byte {offset}");
            offset += 1;
        }
    }
    assert_eq!(offset, 3 * 1024 * 1024);
    for bad in ["mb=257", "mb=-1", "mb=abc"] {
        let (status, body) = json_of(
            notes
                .get(&format!("/notes/api/download?{bad}"), Some(&token))
                .send()
                .await
                .expect("send"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

#[tokio::test]
async fn the_prefix_is_configurable_and_unknown_routes_are_json_404() {
    let notes = Notes::start(Settings {
        prefix: "/apps/notes".to_owned(),
        ..Settings::default()
    })
    .await;
    let token = notes.user("alice", &[]);
    let response = notes
        .get("/apps/notes/api/whoami", Some(&token))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body) = json_of(
        notes
            .get("/notes/api/whoami", Some(&token))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, body) = json_of(
        notes
            .http
            .delete(format!("{}/healthz", notes.base))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[tokio::test]
async fn the_html_page_lists_the_callers_notes_under_their_username() {
    let notes = Notes::default().await;
    let alice = notes.edge.sign(
        &edgeauth_verify::testing::TestAssertion::new(&notes.edge.issuer, "notes", "u-alice")
            .with_username("alice_l"),
    );
    let page = |assertion: Option<String>| {
        let request = notes.http.get(format!("{}/notes/", notes.base));
        let request = match assertion {
            Some(a) => request.header("Edgeauth-Assertion", a),
            None => request,
        };
        async move { request.send().await.expect("send") }
    };
    let signed_out = page(None).await;
    assert_eq!(signed_out.status(), StatusCode::UNAUTHORIZED);

    let empty = page(Some(alice.clone())).await;
    assert_eq!(empty.status(), StatusCode::OK);
    let content_type = empty.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let csp = empty.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("form-action 'self'"),
        "{csp}"
    );
    let html = empty.text().await.unwrap();
    assert!(html.contains("<strong>alice_l</strong>"), "{html}");
    assert!(html.contains("No notes yet."), "{html}");
    assert!(
        html.contains(r#"<form method="post" action="&#x2f;notes&#x2f;">"#),
        "{html}"
    );

    // The form adds a note (escaped when shown) and answers 303 back to the page.
    let added = no_redirects()
        .post(format!("{}/notes/", notes.base))
        .header("Edgeauth-Assertion", &alice)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("text=%3Cb%3Ehello%3C%2Fb%3E+world")
        .send()
        .await
        .expect("send");
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    assert_eq!(added.headers()["location"], "/notes/");
    let html = page(Some(alice.clone())).await.text().await.unwrap();
    assert!(
        html.contains("&lt;b&gt;hello&lt;&#x2f;b&gt; world"),
        "{html}"
    );
    assert!(!html.contains("<b>hello"), "{html}");

    // The JSON API sees the same note; another user sees none of it, by `sub`.
    let (_, listed) = json_of(
        notes
            .get("/notes/api/notes", Some(&alice))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(listed["notes"][0]["text"], "<b>hello</b> world");
    let bob = notes.user("u-bob", &[]);
    let html = page(Some(bob)).await.text().await.unwrap();
    assert!(
        html.contains("<strong>u-bob</strong>") && html.contains("No notes yet."),
        "{html}"
    );
}

#[tokio::test]
async fn a_bad_note_form_shows_the_page_with_the_reason() {
    let notes = Notes::default().await;
    let alice = notes.user("alice", &[]);
    for (body, content_type, status, reason) in [
        (
            "text=+++",
            "application/x-www-form-urlencoded",
            StatusCode::BAD_REQUEST,
            "must not be empty",
        ),
        (
            "{\"text\":\"x\"}",
            "application/json",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "could not be read",
        ),
    ] {
        let response = no_redirects()
            .post(format!("{}/notes/", notes.base))
            .header("Edgeauth-Assertion", &alice)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), status, "{body}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains(reason) && html.contains(r#"role="alert""#),
            "{html}"
        );
    }
    let unsigned = no_redirects()
        .post(format!("{}/notes/", notes.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("text=x")
        .send()
        .await
        .expect("send");
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
}
