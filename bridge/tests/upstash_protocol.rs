//! End-to-end: the edgeauth-upstash client against the bridge in front of a real redis-server.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use edgeauth_bridge::{Bridge, Config};
use edgeauth_upstash::{cmd, Arg, Error, Script, UpstashClient, Value};

const TOKEN: &str = "test-token";

/// A throwaway redis-server on a free port, killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port)
    }

    fn start_on(port: u16) -> Self {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Process::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (or set REDIS_SERVER)");
        let server = RedisServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        server
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(&mut self) {
        self.stop();
        *self = RedisServer::start_on(self.port);
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// redis-server + an in-process bridge + clients for it.
struct Stack {
    redis: RedisServer,
    url: String,
}

impl Stack {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let redis = RedisServer::start();
        let mut config = Config::new(TOKEN);
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.redis_url = redis.url();
        tweak(&mut config);
        let bridge = Bridge::bind(&config).await.unwrap();
        let url = format!("http://{}", bridge.local_addr().unwrap());
        tokio::spawn(bridge.serve(std::future::pending()));
        Stack { redis, url }
    }

    fn client(&self) -> UpstashClient {
        UpstashClient::new(&self.url, TOKEN).unwrap()
    }

    fn plain_client(&self) -> UpstashClient {
        UpstashClient::builder(&self.url, TOKEN)
            .base64(false)
            .build()
            .unwrap()
    }

    async fn raw(
        &self,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

const AUTH: (&str, &str) = ("Authorization", "Bearer test-token");

#[tokio::test]
async fn set_get_with_expiry_and_basic_types() {
    let stack = Stack::start().await;
    let redis = stack.client();

    let set = redis
        .execute(&cmd("SET").arg("session").arg("alive").arg("EX").arg(100))
        .await
        .unwrap();
    assert!(set.is_ok());
    let got = redis.execute(&cmd("GET").arg("session")).await.unwrap();
    assert_eq!(got.as_str(), Some("alive"));
    let ttl = redis.execute(&cmd("TTL").arg("session")).await.unwrap();
    assert!((1..=100).contains(&ttl.into_i64().unwrap()));

    assert!(redis
        .execute(&cmd("GET").arg("missing"))
        .await
        .unwrap()
        .is_nil());
    assert_eq!(
        redis
            .execute(&cmd("INCRBY").arg("n").arg(41))
            .await
            .unwrap(),
        Value::Int(41)
    );
    assert_eq!(
        redis.execute(&cmd("GET").arg("n")).await.unwrap().as_i64(),
        Some(41)
    );

    let json = r#"{"user":"ada","tags":["a","b"],"quote":"\"hi\"\n"}"#;
    redis
        .execute(&cmd("SET").arg("doc").arg(json))
        .await
        .unwrap();
    let back = redis
        .execute(&cmd("GET").arg("doc"))
        .await
        .unwrap()
        .into_string()
        .unwrap();
    assert_eq!(back, json);

    redis
        .execute(&cmd("RPUSH").arg("list").args(["x", "y"]))
        .await
        .unwrap();
    let list = redis
        .execute(&cmd("LRANGE").arg("list").arg(0).arg(-1))
        .await
        .unwrap();
    assert_eq!(
        list,
        Value::Array(vec![
            Value::Bytes(b"x".to_vec()),
            Value::Bytes(b"y".to_vec())
        ])
    );
    redis.ping().await.unwrap();

    let err = redis
        .execute(&cmd("HSET").arg("doc").arg("f").arg("v"))
        .await
        .unwrap_err();
    assert_eq!(
        err.redis_error().map(|e| e.code()),
        Some("WRONGTYPE"),
        "{err}"
    );
}

#[tokio::test]
async fn base64_on_and_off_agree_and_base64_is_binary_safe() {
    let stack = Stack::start().await;
    let value = "héllo wörld ✓ OK";
    stack
        .client()
        .execute(&cmd("SET").arg("k").arg(value))
        .await
        .unwrap();
    for client in [stack.client(), stack.plain_client()] {
        let got = client.execute(&cmd("GET").arg("k")).await.unwrap();
        assert_eq!(got.as_str(), Some(value));
        assert!(client
            .execute(&cmd("SET").arg("k2").arg("OK"))
            .await
            .unwrap()
            .is_ok());
        assert_eq!(
            client
                .execute(&cmd("GET").arg("k2"))
                .await
                .unwrap()
                .as_str(),
            Some("OK")
        );
        assert_eq!(
            client
                .execute(&cmd("TYPE").arg("k"))
                .await
                .unwrap()
                .as_str(),
            Some("string")
        );
    }

    // Bytes that are not UTF-8 survive only with base64.
    let binary = Script::new(
        "redis.call('SET', KEYS[1], string.char(255, 0, 1)) return redis.call('GET', KEYS[1])",
    );
    let got = stack
        .client()
        .eval_script(&binary, ["bin"], [0u8; 0])
        .await
        .unwrap();
    assert_eq!(got, Value::Bytes(vec![255, 0, 1]));

    let (status, body) = stack
        .raw(
            "/",
            r#"["GET","k2"]"#,
            &[AUTH, ("Upstash-Encoding", "base64")],
        )
        .await;
    assert_eq!((status, body), (200, serde_json::json!({"result": "T0s="})));
    let (status, body) = stack
        .raw(
            "/",
            r#"["SET","k2","x"]"#,
            &[AUTH, ("Upstash-Encoding", "base64")],
        )
        .await;
    assert_eq!((status, body), (200, serde_json::json!({"result": "OK"})));
}

#[tokio::test]
async fn pipeline_is_ordered_with_per_command_errors() {
    let stack = Stack::start().await;
    let redis = stack.client();
    let results = redis
        .pipeline(&[
            cmd("SET").arg("p").arg("1"),
            cmd("INCR").arg("p"),
            cmd("LPUSH").arg("p").arg("x"),
            cmd("GET").arg("p"),
            cmd("GET").arg("nothing"),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 5);
    assert!(results[0].as_ref().unwrap().is_ok());
    assert_eq!(results[1], Ok(Value::Int(2)));
    assert_eq!(results[2].as_ref().unwrap_err().code(), "WRONGTYPE");
    assert_eq!(results[3].as_ref().unwrap().as_str(), Some("2"));
    assert!(results[4].as_ref().unwrap().is_nil());
    assert!(redis.pipeline(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn multi_exec_is_atomic() {
    let stack = Stack::start().await;
    let redis = stack.client();

    let results = redis
        .multi_exec(&[
            cmd("SET").arg("m").arg("1"),
            cmd("INCR").arg("m"),
            cmd("LPUSH").arg("m").arg("x"),
        ])
        .await
        .unwrap();
    assert!(results[0].as_ref().unwrap().is_ok());
    assert_eq!(results[1], Ok(Value::Int(2)));
    assert_eq!(results[2].as_ref().unwrap_err().code(), "WRONGTYPE");

    // A command rejected while queueing discards the whole transaction.
    let err = redis
        .multi_exec(&[cmd("SET").arg("m").arg("changed"), cmd("GET")])
        .await
        .unwrap_err();
    assert_eq!(
        err.redis_error().map(|e| e.code()),
        Some("EXECABORT"),
        "{err}"
    );
    assert_eq!(
        redis.execute(&cmd("GET").arg("m")).await.unwrap().as_str(),
        Some("2")
    );

    // Concurrent transactions never interleave: each sees two consecutive values.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let redis = redis.clone();
            tokio::spawn(async move {
                let results = redis
                    .multi_exec(&[cmd("INCR").arg("c"), cmd("INCR").arg("c")])
                    .await
                    .unwrap();
                let first = results[0].clone().unwrap().into_i64().unwrap();
                let second = results[1].clone().unwrap().into_i64().unwrap();
                assert_eq!(second, first + 1);
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        redis.execute(&cmd("GET").arg("c")).await.unwrap().as_i64(),
        Some(40)
    );
}

#[tokio::test]
async fn scripts_fall_back_from_evalsha_to_eval() {
    let stack = Stack::start().await;
    let redis = stack.client();
    let script = Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");

    let raw = redis
        .execute(&cmd("EVALSHA").arg(script.sha1()).arg(1).arg("s").arg(1))
        .await
        .unwrap_err();
    assert!(raw.redis_error().is_some_and(|e| e.is_noscript()), "{raw}");
    assert_eq!(
        raw.redis_error().map(|e| e.message()),
        Some("NOSCRIPT No matching script. Please use EVAL.")
    );

    // Not loaded yet: EVALSHA → NOSCRIPT → EVAL, which also loads it.
    assert_eq!(
        redis.eval_script(&script, ["s"], [5]).await.unwrap(),
        Value::Int(5)
    );
    let exists = redis
        .execute(&cmd("SCRIPT").arg("EXISTS").arg(script.sha1()))
        .await
        .unwrap();
    assert_eq!(exists, Value::Array(vec![Value::Int(1)]));
    assert_eq!(
        redis.eval_script(&script, ["s"], [5]).await.unwrap(),
        Value::Int(10)
    );

    // Inside a pipeline, after the cache is flushed.
    redis.execute(&cmd("SCRIPT").arg("FLUSH")).await.unwrap();
    let results = redis
        .pipeline(&[
            script.invoke(["s"], [1]),
            cmd("GET").arg("s"),
            script.invoke(["t"], [Arg::from(2)]),
        ])
        .await
        .unwrap();
    assert_eq!(results[0], Ok(Value::Int(11)));
    assert_eq!(results[2], Ok(Value::Int(2)));

    // In a transaction scripts go as EVAL.
    redis.execute(&cmd("SCRIPT").arg("FLUSH")).await.unwrap();
    let results = redis
        .multi_exec(&[script.invoke(["s"], [1])])
        .await
        .unwrap();
    assert_eq!(results[0], Ok(Value::Int(12)));

    let loaded = redis.execute(&script.load()).await.unwrap();
    assert_eq!(loaded.as_str(), Some(script.sha1()));
}

#[tokio::test]
async fn rejects_bad_tokens_and_bad_requests() {
    let stack = Stack::start_with(|config| config.max_body_bytes = 1024).await;

    let wrong = UpstashClient::new(&stack.url, "wrong-token").unwrap();
    let err = wrong.execute(&cmd("PING")).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert!(!err.is_unavailable());
    let (status, body) = stack.raw("/", r#"["PING"]"#, &[]).await;
    assert_eq!(
        (status, body),
        (401, serde_json::json!({"error": "Unauthorized"}))
    );
    let (status, _) = stack
        .raw(
            "/pipeline",
            r#"[["PING"]]"#,
            &[("Authorization", "Bearer x")],
        )
        .await;
    assert_eq!(status, 401);

    for bad in ["not json", r#"{"cmd":"PING"}"#, "[]", r#"["SET","k",null]"#] {
        let (status, body) = stack.raw("/", bad, &[AUTH]).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["error"].is_string(), "{bad}");
    }
    let (status, _) = stack.raw("/pipeline", r#"["PING"]"#, &[AUTH]).await;
    assert_eq!(status, 400);
    let (status, body) = stack.raw("/", r#"["SUBSCRIBE","c"]"#, &[AUTH]).await;
    assert_eq!(status, 400, "{body}");

    let huge = format!(r#"["SET","k","{}"]"#, "a".repeat(2048));
    let (status, body) = stack.raw("/", &huge, &[AUTH]).await;
    assert_eq!(status, 413, "{body}");
    let err = stack
        .client()
        .execute(&cmd("SET").arg("k").arg("a".repeat(2048)))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(413), "{err}");
}

#[tokio::test]
async fn path_style_commands() {
    let stack = Stack::start().await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        http.get(format!("{}{path}", stack.url))
            .header(AUTH.0, AUTH.1)
            .send()
    };
    let body: serde_json::Value = get("/set/greeting/hello%20there?EX=100")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, serde_json::json!({"result": "OK"}));
    let body: serde_json::Value = get("/get/greeting").await.unwrap().json().await.unwrap();
    assert_eq!(body, serde_json::json!({"result": "hello there"}));
    let ttl = stack
        .client()
        .execute(&cmd("TTL").arg("greeting"))
        .await
        .unwrap();
    assert!(ttl.into_i64().unwrap() > 0);
}

#[tokio::test]
async fn redis_down_fails_fast_then_recovers() {
    let mut stack = Stack::start_with(|config| config.redis_timeout_ms = 1000).await;
    let redis = stack.client();
    let http = reqwest::Client::new();
    let healthz = format!("{}/healthz", stack.url);
    redis.execute(&cmd("SET").arg("k").arg("v")).await.unwrap();
    assert_eq!(http.get(&healthz).send().await.unwrap().status(), 200);

    stack.redis.stop();

    for _ in 0..3 {
        let started = Instant::now();
        let err = redis.execute(&cmd("GET").arg("k")).await.unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(http.get(&healthz).send().await.unwrap().status(), 503);

    stack.redis.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match redis.execute(&cmd("PING")).await {
            Ok(_) => break,
            Err(err) if err.is_unavailable() && Instant::now() < deadline => continue,
            Err(err) => panic!("bridge did not recover: {err}"),
        }
    }
    assert!(redis
        .execute(&cmd("SET").arg("k").arg("again"))
        .await
        .unwrap()
        .is_ok());
    assert_eq!(http.get(&healthz).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn client_timeout_is_reported_as_unavailable() {
    // A listener that accepts but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let redis = UpstashClient::builder(url, TOKEN)
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = Instant::now();
    let err: Error = redis.execute(&cmd("PING")).await.unwrap_err();
    assert!(err.is_timeout() && err.is_unavailable(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(silent);
}
