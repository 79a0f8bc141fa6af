//! Requests signed the way the edge signs them, sent straight to the origin: for tests of the
//! edge⇄origin trust, and for counting what the origin itself costs without an edge in front.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_core::edge_signature::{sign, EdgeSecret, SignedRequest};
use edgeauth_core::headers;

use crate::client::{Api, Reply};
use crate::stack::BoxError;

/// The client address every signed test call claims.
pub const CLIENT_IP: &str = "127.0.0.1";
/// The request id every signed test call carries.
pub const REQUEST_ID: &str = "test-request";

/// One request as the edge would sign it.
#[derive(Debug, Clone)]
pub struct EdgeCall {
    pub method: String,
    pub path_and_query: String,
    pub body: Vec<u8>,
    /// `(user id, session id)` the edge vouches for; `None` on anonymous routes.
    pub caller: Option<(String, String)>,
    pub timestamp: u64,
    pub nonce: String,
}

impl EdgeCall {
    /// An anonymous call without a body, signed now with a fresh random nonce.
    pub fn new(method: &str, path_and_query: &str) -> Self {
        let mut bytes = [0u8; 12];
        let _ = getrandom::fill(&mut bytes);
        Self {
            method: method.to_owned(),
            path_and_query: path_and_query.to_owned(),
            body: Vec::new(),
            caller: None,
            timestamp: now_secs(),
            nonce: format!("test-{}", B64.encode(bytes)),
        }
    }

    pub fn json(mut self, body: &serde_json::Value) -> Self {
        self.body = body.to_string().into_bytes();
        self
    }

    pub fn as_caller(mut self, user_id: &str, session_id: &str) -> Self {
        self.caller = Some((user_id.to_owned(), session_id.to_owned()));
        self
    }

    /// The headers the edge would add: request id, client address, identity, timestamp, nonce
    /// and the signature over exactly these and the body.
    pub fn headers(&self, secret: &EdgeSecret) -> Vec<(&'static str, String)> {
        let (user_id, session_id) = match &self.caller {
            Some((u, s)) => (Some(u.as_str()), Some(s.as_str())),
            None => (None, None),
        };
        let request = SignedRequest {
            method: &self.method,
            path_and_query: &self.path_and_query,
            timestamp: self.timestamp,
            nonce: &self.nonce,
            user_id,
            session_id,
            request_id: REQUEST_ID,
            client_ip: CLIENT_IP,
            body: &self.body,
        };
        let mut out = vec![
            (headers::TIMESTAMP, self.timestamp.to_string()),
            (headers::NONCE, self.nonce.clone()),
            (headers::REQUEST_ID, REQUEST_ID.to_owned()),
            (headers::CLIENT_IP, CLIENT_IP.to_owned()),
            (headers::SIGNATURE, sign(secret, &request)),
        ];
        if let (Some(u), Some(s)) = (user_id, session_id) {
            out.push((headers::USER_ID, u.to_owned()));
            out.push((headers::SESSION_ID, s.to_owned()));
        }
        out
    }

    /// Sends this call, signed with `secret`, to the origin at `origin`.
    pub async fn send(&self, origin: &str, secret: &EdgeSecret) -> Result<Reply, BoxError> {
        send_raw(
            origin,
            &self.method,
            &self.path_and_query,
            &self.body,
            &self.headers(secret),
        )
        .await
    }
}

/// Sends exactly this request to the origin at `origin`, whatever was signed (tampering tests
/// send one request under another's signature). A non-empty body is sent as JSON.
pub async fn send_raw(
    origin: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    headers: &[(&'static str, String)],
) -> Result<Reply, BoxError> {
    let method = reqwest::Method::from_bytes(method.as_bytes())?;
    let mut request = reqwest::Client::new().request(method, format!("{origin}{path_and_query}"));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    if !body.is_empty() {
        request = request
            .header("content-type", "application/json")
            .body(body.to_vec());
    }
    Api::read(request.send().await?).await
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
