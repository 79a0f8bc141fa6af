//! A small HTTP client for the edge's API, with helpers for the common flows.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

use crate::stack::BoxError;

/// An answer from the edge: status, headers and the body (JSON when it parses, else a string).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `error.code` of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// The access and refresh tokens of a `TokenResponse`; an error when either is missing, so a
    /// test can never go on with an empty token (which every check would refuse, vacuously).
    pub fn tokens(&self) -> Result<(String, String), BoxError> {
        let field = |name: &str| {
            self.body[name]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| format!("no {name} in {} {}", self.status, self.text))
        };
        Ok((field("access_token")?, field("refresh_token")?))
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }
}

/// A user the tests create; unique per call so tests never share accounts.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub username: String,
    pub email: String,
    pub password: String,
}

impl TestUser {
    pub fn unique() -> Self {
        let mut bytes = [0u8; 9];
        let _ = getrandom::fill(&mut bytes);
        let tag: String = B64
            .encode(bytes)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        Self {
            username: format!("u_{tag}"),
            email: format!("{tag}@Example.com"),
            password: format!("lantern orbit {tag} meadow"),
        }
    }
}

/// A signed-in session as the client holds it.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: TestUser,
    pub user_id: String,
    pub access: String,
    pub refresh: String,
}

/// A client of the edge. Each one claims its own client address through `CF-Connecting-IP`
/// (Cloudflare sets that header in production; `wrangler dev` passes the client's through),
/// so per-address rate limits of parallel tests never interfere.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub client_ip: String,
}

impl Api {
    pub fn new(base: &str) -> Self {
        let mut octets = [0u8; 3];
        let _ = getrandom::fill(&mut octets);
        // 198.18.0.0/15 is reserved for benchmarking (RFC 2544).
        Self::with_ip(
            base,
            &format!("198.{}.{}.{}", 18 + (octets[0] & 1), octets[1], octets[2]),
        )
    }

    pub fn with_ip(base: &str, client_ip: &str) -> Self {
        let mut headers = HeaderMap::new();
        if let Ok(value) = client_ip.parse() {
            headers.insert("cf-connecting-ip", value);
        }
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .default_headers(headers)
                .user_agent("edgeauth-e2e")
                .build()
                .unwrap_or_default(),
            client_ip: client_ip.to_owned(),
        }
    }

    /// Sends a request; `body` is sent as JSON when given.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Result<Reply, BoxError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::read(request.send().await?).await
    }

    pub async fn read(response: reqwest::Response) -> Result<Reply, BoxError> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
        Ok(Reply {
            status,
            headers,
            body,
            text,
        })
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Result<Reply, BoxError> {
        self.call(Method::GET, path, bearer, None).await
    }

    pub async fn post(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: Value,
    ) -> Result<Reply, BoxError> {
        self.call(Method::POST, path, bearer, Some(body)).await
    }

    /// `POST` with extra headers (a `Cookie`, an `Origin`) and a JSON body.
    pub async fn post_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Value,
    ) -> Result<Reply, BoxError> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::read(request.send().await?).await
    }

    pub async fn register(&self, user: &TestUser) -> Result<Reply, BoxError> {
        self.post(
            "/api/register",
            None,
            json!({ "username": user.username, "email": user.email, "password": user.password }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<Reply, BoxError> {
        self.post(
            "/api/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<Reply, BoxError> {
        self.post(
            "/api/refresh",
            None,
            json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    /// Registers a fresh user and signs in once.
    pub async fn new_session(&self) -> Result<Session, BoxError> {
        let user = TestUser::unique();
        let reply = self.register(&user).await?;
        if reply.status != 201 {
            return Err(format!("register: {} {}", reply.status, reply.text).into());
        }
        self.sign_in(&user).await
    }

    /// Signs an existing user in again (a new session).
    pub async fn sign_in(&self, user: &TestUser) -> Result<Session, BoxError> {
        let reply = self.login(&user.email, &user.password).await?;
        if reply.status != 200 {
            return Err(format!("login: {} {}", reply.status, reply.text).into());
        }
        let (access, refresh) = reply.tokens()?;
        let user_id = reply.body["user"]["id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| format!("login: no user id in {}", reply.text))?
            .to_owned();
        Ok(Session {
            user: user.clone(),
            user_id,
            access,
            refresh,
        })
    }
}
