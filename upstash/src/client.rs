//! The HTTP side: `UpstashClient`, its builder, and the `/`, `/pipeline` and `/multi-exec` calls.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};

use crate::command::Command;
use crate::error::{Error, RedisError};
use crate::value::Value;
use crate::Result;

/// How long a request may take, unless the builder says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest timeout `setTimeout` accepts (about 24.8 days); longer ones are clamped.
const MAX_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

/// Environment variable holding the REST URL (read by [`UpstashClient::from_env`]).
#[cfg(not(target_arch = "wasm32"))]
const URL_ENV: &str = "UPSTASH_REDIS_REST_URL";
/// Environment variable holding the bearer token (read by [`UpstashClient::from_env`]).
#[cfg(not(target_arch = "wasm32"))]
const TOKEN_ENV: &str = "UPSTASH_REDIS_REST_TOKEN";

/// A Redis client over the Upstash REST protocol. Cheap to clone (shares the HTTP client).
#[derive(Clone)]
pub struct UpstashClient {
    http: reqwest::Client,
    // Parsed once: reqwest would otherwise parse the URL string on every request.
    single_url: reqwest::Url,
    pipeline_url: reqwest::Url,
    multi_exec_url: reqwest::Url,
    authorization: HeaderValue,
    base64: bool,
    timeout: Option<Duration>,
}

/// Options for an [`UpstashClient`].
#[derive(Clone)]
pub struct UpstashClientBuilder {
    url: String,
    token: String,
    base64: bool,
    timeout: Option<Duration>,
    http: Option<reqwest::Client>,
}

impl UpstashClientBuilder {
    /// Bounds each HTTP request, including reading the body (default [`DEFAULT_TIMEOUT`]).
    /// On wasm32 reqwest implements this with `AbortController` and `setTimeout`,
    /// which Cloudflare Workers provide.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        // reqwest on wasm32 hands the timeout to `setTimeout` as i32 milliseconds.
        self.timeout = Some(timeout.min(MAX_TIMEOUT));
        self
    }

    /// Lets requests run unbounded; the caller then bounds the time itself.
    #[must_use]
    pub fn no_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// Asks for `Upstash-Encoding: base64` responses (default on, like the official SDK),
    /// which keeps binary values intact.
    #[must_use]
    pub fn base64(mut self, enabled: bool) -> Self {
        self.base64 = enabled;
        self
    }

    /// Reuses an existing `reqwest::Client` (connection pool, TLS settings).
    #[must_use]
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Checks the URL and token and builds the client.
    pub fn build(self) -> Result<UpstashClient> {
        let url = reqwest::Url::parse(&self.url)
            .map_err(|err| Error::Config(format!("REST URL {:?} is not a URL: {err}", self.url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::Config(format!(
                "REST URL {:?} must be http(s)://host[:port]",
                self.url
            )));
        }
        let token = self.token.trim();
        if token.is_empty() {
            return Err(Error::Config("the REST token is empty".into()));
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                Error::Config(
                    "the REST token contains characters not allowed in an HTTP header".into(),
                )
            })?;
        authorization.set_sensitive(true);
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .build()
                .map_err(|err| Error::Config(format!("cannot build the HTTP client: {err}")))?,
        };
        let base = self.url.trim_end_matches('/');
        let endpoint = |path: &str| {
            reqwest::Url::parse(&format!("{base}{path}"))
                .map_err(|err| Error::Config(format!("REST URL {:?}: {err}", self.url)))
        };
        Ok(UpstashClient {
            http,
            single_url: endpoint("/")?,
            pipeline_url: endpoint("/pipeline")?,
            multi_exec_url: endpoint("/multi-exec")?,
            authorization,
            base64: self.base64,
            timeout: self.timeout,
        })
    }
}

impl fmt::Debug for UpstashClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstashClientBuilder")
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .field("base64", &self.base64)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl fmt::Debug for UpstashClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstashClient")
            .field("url", &self.single_url.as_str())
            .field("base64", &self.base64)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl UpstashClient {
    /// A client with default options for the REST URL and bearer token.
    pub fn new(url: impl Into<String>, token: impl Into<String>) -> Result<Self> {
        Self::builder(url, token).build()
    }

    /// Options for a client of the REST URL with the bearer token.
    pub fn builder(url: impl Into<String>, token: impl Into<String>) -> UpstashClientBuilder {
        UpstashClientBuilder {
            url: url.into(),
            token: token.into(),
            base64: true,
            timeout: Some(DEFAULT_TIMEOUT),
            http: None,
        }
    }

    /// A client for `UPSTASH_REDIS_REST_URL` and `UPSTASH_REDIS_REST_TOKEN`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_env() -> Result<Self> {
        Self::builder_from_env()?.build()
    }

    /// Options for a client of `UPSTASH_REDIS_REST_URL` and `UPSTASH_REDIS_REST_TOKEN`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn builder_from_env() -> Result<UpstashClientBuilder> {
        Ok(Self::builder(env_var(URL_ENV)?, env_var(TOKEN_ENV)?))
    }

    /// Runs one command (`POST /`). An `EVALSHA` from [`Script::invoke`](crate::Script::invoke)
    /// that fails with `NOSCRIPT` is retried once as `EVAL`.
    pub async fn execute(&self, command: &Command) -> Result<Value> {
        match self.execute_once(command).await {
            Err(Error::Redis(err)) if err.is_noscript() => match command.eval_fallback() {
                Some(eval) => self.execute_once(&eval).await,
                None => Err(Error::Redis(err)),
            },
            other => other,
        }
    }

    /// Runs a script by SHA1, falling back to sending its source on `NOSCRIPT`.
    pub async fn eval_script<K, A>(&self, script: &crate::Script, keys: K, args: A) -> Result<Value>
    where
        K: IntoIterator,
        K::Item: Into<crate::Arg>,
        A: IntoIterator,
        A::Item: Into<crate::Arg>,
    {
        self.execute(&script.invoke(keys, args)).await
    }

    /// Checks that Redis answers `PING`.
    pub async fn ping(&self) -> Result<()> {
        let reply = self.execute(&crate::cmd("PING")).await?;
        match reply.as_bytes() {
            Some(b"PONG") => Ok(()),
            _ => Err(Error::Decode {
                url: self.single_url.to_string(),
                reason: format!("PING answered a {} other than PONG", reply.kind()),
            }),
        }
    }

    /// Sends commands in one round trip (`POST /pipeline`). Not atomic: each command
    /// succeeds or fails on its own, in order. Script commands that fail with `NOSCRIPT`
    /// are re-sent as `EVAL` in a second round trip (so they run after the others).
    pub async fn pipeline(&self, commands: &[Command]) -> Result<Vec<Result<Value, RedisError>>> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let mut results = self.batch(&self.pipeline_url, commands).await?;
        let (slots, retries): (Vec<usize>, Vec<Command>) = results
            .iter()
            .zip(commands)
            .enumerate()
            .filter_map(|(slot, (result, command))| match result {
                Err(err) if err.is_noscript() => command.eval_fallback().map(|eval| (slot, eval)),
                _ => None,
            })
            .unzip();
        if !retries.is_empty() {
            let retried = self.batch(&self.pipeline_url, &retries).await?;
            for (slot, result) in slots.into_iter().zip(retried) {
                if let Some(entry) = results.get_mut(slot) {
                    *entry = result;
                }
            }
        }
        Ok(results)
    }

    /// Runs commands as one transaction (`POST /multi-exec`): all or nothing, no other
    /// client's commands in between. Script commands are sent as `EVAL` here, since a
    /// `NOSCRIPT` retry would break atomicity. A command Redis rejects before running
    /// (unknown command, wrong arity) aborts the whole transaction with `Error::Redis`.
    pub async fn multi_exec(&self, commands: &[Command]) -> Result<Vec<Result<Value, RedisError>>> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let commands: Vec<Command> = commands
            .iter()
            .map(|command| command.eval_fallback().unwrap_or_else(|| command.clone()))
            .collect();
        self.batch(&self.multi_exec_url, &commands).await
    }

    async fn execute_once(&self, command: &Command) -> Result<Value> {
        let body = encode(command)?;
        let url = &self.single_url;
        let (status, body) = self.post(url, body).await?;
        let json = self.parse_success(url.as_str(), status, &body)?;
        self.entry(url.as_str(), json)?.map_err(Error::Redis)
    }

    async fn batch(
        &self,
        endpoint: &reqwest::Url,
        commands: &[Command],
    ) -> Result<Vec<Result<Value, RedisError>>> {
        let mut body = b"[".to_vec();
        for (i, command) in commands.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend(encode(command)?);
        }
        body.push(b']');
        let (status, body) = self.post(endpoint, body).await?;
        let url = endpoint.as_str();
        let entries = match self.parse_success(url, status, &body)? {
            serde_json::Value::Array(entries) => entries,
            other => return Err(decode_error(url, format!("expected an array, got {other}"))),
        };
        if entries.len() != commands.len() {
            return Err(decode_error(
                url,
                format!("{} results for {} commands", entries.len(), commands.len()),
            ));
        }
        entries
            .into_iter()
            .map(|entry| self.entry(url, entry))
            .collect()
    }

    async fn post(&self, url: &reqwest::Url, body: Vec<u8>) -> Result<(u16, Vec<u8>)> {
        let transport = |source| Error::Transport {
            url: url.to_string(),
            source,
        };
        let mut request = self
            .http
            .post(url.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if self.base64 {
            request = request.header("Upstash-Encoding", "base64");
        }
        if let Some(timeout) = self.timeout {
            request = request.timeout(timeout);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport)?;
        Ok((status, body.to_vec()))
    }

    /// The JSON of a 2xx response; a Redis error for a 400 `{"error": …}`; an HTTP error otherwise.
    fn parse_success(&self, url: &str, status: u16, body: &[u8]) -> Result<serde_json::Value> {
        let json = serde_json::from_slice::<serde_json::Value>(body);
        if (200..300).contains(&status) {
            return json.map_err(|err| decode_error(url, format!("body is not JSON ({err})")));
        }
        let message = json
            .ok()
            .and_then(|json| json.get("error")?.as_str().map(str::to_owned));
        match message {
            Some(message) if status == 400 => Err(Error::Redis(RedisError::new(message))),
            Some(message) => Err(Error::Http {
                url: url.to_owned(),
                status,
                message,
            }),
            None => Err(Error::Http {
                url: url.to_owned(),
                status,
                message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            }),
        }
    }

    /// One `{"result": …}` or `{"error": "…"}` object.
    fn entry(&self, url: &str, json: serde_json::Value) -> Result<Result<Value, RedisError>> {
        let serde_json::Value::Object(mut entry) = json else {
            return Err(decode_error(url, format!("expected an object, got {json}")));
        };
        if let Some(error) = entry.remove("error") {
            let message = match error {
                serde_json::Value::String(message) => message,
                other => other.to_string(),
            };
            return Ok(Err(RedisError::new(message)));
        }
        let Some(result) = entry.remove("result") else {
            return Err(decode_error(
                url,
                "object has neither result nor error".into(),
            ));
        };
        Value::from_json(result, self.base64)
            .map(Ok)
            .map_err(|reason| decode_error(url, reason))
    }
}

fn encode(command: &Command) -> Result<Vec<u8>> {
    serde_json::to_vec(command).map_err(|err| Error::InvalidArgument {
        command: command.name().to_owned(),
        reason: err.to_string(),
    })
}

fn decode_error(url: &str, reason: String) -> Error {
    Error::Decode {
        url: url.to_owned(),
        reason,
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn env_var(name: &'static str) -> Result<String> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Err(Error::Env {
            name,
            problem: "empty",
        }),
        Ok(value) => Ok(value),
        Err(std::env::VarError::NotPresent) => Err(Error::Env {
            name,
            problem: "not set",
        }),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::Env {
            name,
            problem: "not valid Unicode",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client(base64: bool) -> UpstashClient {
        UpstashClient::builder("http://127.0.0.1:1/", "t0ken")
            .base64(base64)
            .build()
            .unwrap()
    }

    #[test]
    fn builds_endpoint_urls_and_validates_config() {
        let c = client(true);
        assert_eq!(c.single_url.as_str(), "http://127.0.0.1:1/");
        assert_eq!(c.pipeline_url.as_str(), "http://127.0.0.1:1/pipeline");
        assert_eq!(c.multi_exec_url.as_str(), "http://127.0.0.1:1/multi-exec");
        assert!(!format!("{c:?}").contains("t0ken"));
        let forever = UpstashClient::builder("http://h", "t")
            .timeout(Duration::MAX)
            .build()
            .unwrap();
        assert_eq!(forever.timeout, Some(MAX_TIMEOUT));
        assert!(matches!(
            UpstashClient::new("not a url", "t"),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            UpstashClient::new("ftp://host", "t"),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            UpstashClient::new("http://host", " "),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            UpstashClient::new("http://host", "a\nb"),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn decodes_result_and_error_entries() {
        let c = client(true);
        let url = "u";
        assert_eq!(
            c.entry(url, json!({"result": "aGk="})).unwrap(),
            Ok(Value::Bytes(b"hi".to_vec()))
        );
        assert_eq!(
            c.entry(url, json!({"result": null})).unwrap(),
            Ok(Value::Nil)
        );
        let err = c
            .entry(
                url,
                json!({"error": "NOSCRIPT No matching script. Please use EVAL."}),
            )
            .unwrap()
            .unwrap_err();
        assert!(err.is_noscript());
        assert!(matches!(c.entry(url, json!({})), Err(Error::Decode { .. })));
        assert!(matches!(
            c.entry(url, json!([1])),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(
            c.entry(url, json!({"result": "%%%"})),
            Err(Error::Decode { .. })
        ));
        assert_eq!(
            client(false).entry(url, json!({"result": "aGk="})).unwrap(),
            Ok(Value::Bytes(b"aGk=".to_vec()))
        );
    }

    #[test]
    fn maps_http_statuses() {
        let c = client(true);
        let url = "u";
        assert!(c.parse_success(url, 200, br#"{"result":1}"#).is_ok());
        assert!(matches!(
            c.parse_success(url, 200, b"<html>"),
            Err(Error::Decode { .. })
        ));
        let redis = c
            .parse_success(
                url,
                400,
                br#"{"error":"WRONGTYPE Operation against a key"}"#,
            )
            .unwrap_err();
        assert_eq!(redis.redis_error().map(RedisError::code), Some("WRONGTYPE"));
        let unauthorized = c
            .parse_success(url, 401, br#"{"error":"Unauthorized"}"#)
            .unwrap_err();
        assert!(unauthorized.is_unauthorized());
        assert!(unauthorized.to_string().contains("Unauthorized"));
        let bad_gateway = c.parse_success(url, 502, b"upstream down").unwrap_err();
        assert!(bad_gateway.is_unavailable());
        assert!(bad_gateway.to_string().contains("upstream down"));
        let odd = c.parse_success(url, 400, b"plain text").unwrap_err();
        assert_eq!(odd.status(), Some(400));
    }

    #[test]
    fn refuses_to_encode_binary_args() {
        let err = encode(&crate::cmd("SET").arg("k").arg(vec![0xffu8])).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { ref command, .. } if command == "SET"));
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[tokio::test]
    async fn connection_refused_is_unavailable() {
        let err = client(true).execute(&crate::cmd("PING")).await.unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert!(!err.is_timeout());
        assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn from_env_names_the_missing_variable() {
        // Only this test touches these variables in this test binary.
        std::env::remove_var(URL_ENV);
        let err = UpstashClient::from_env().unwrap_err();
        assert!(err.to_string().contains(URL_ENV), "{err}");
    }
}
