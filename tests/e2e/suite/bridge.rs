//! The dev bridge is safe by default: the edge's read-only token cannot write, and the bridge
//! refuses to listen beyond loopback unless told to.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::{Api, Stack};
use serde_json::{json, Value};

use super::Outcome;
use crate::{check, tests};

tests![
    the_edges_token_reads_and_cannot_write,
    the_bridge_listens_beyond_loopback_only_when_told,
];

async fn bridge_call(
    stack: &Stack,
    token: &str,
    path: &str,
    body: Value,
) -> Result<(u16, Value), BoxError> {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", stack.bridge))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

async fn the_edges_token_reads_and_cannot_write(stack: &'static Stack) -> Outcome {
    // The edge works with its read-only token: an authenticated request is checked in Redis.
    let api = Api::new(&stack.edge);
    let s = api.new_session().await?;
    check!(
        api.get("/api/profile", Some(&s.access)).await?.status == 200,
        "the edge's read-only token serves authenticated requests"
    );
    let ro = &stack.bridge_readonly_token;
    let key = format!("ea:test:ro:{}", s.user_id);
    let (status, reply) = bridge_call(
        stack,
        ro,
        "/",
        json!(["HMGET", format!("ea:s:x{key}"), "uid", "roles"]),
    )
    .await?;
    check!(
        status == 200 && reply == json!({"result": [null, null]}),
        "HMGET: {status} {reply}"
    );
    let (status, reply) = bridge_call(stack, ro, "/", json!(["PING"])).await?;
    check!(status == 200, "PING: {status} {reply}");
    let set_path = format!("/set/{key}/v");
    for (path, body) in [
        ("/", json!(["SET", key, "v"])),
        ("/", json!(["DEL", format!("ea:u:{}", s.user_id)])),
        (
            "/",
            json!([
                "EVAL",
                format!("return redis.call('SET', '{key}', 'v')"),
                "0"
            ]),
        ),
        ("/", json!(["FLUSHALL"])),
        ("/", json!(["GET", key])),
        ("/pipeline", json!([["HMGET", key, "f"], ["SET", key, "v"]])),
        ("/multi-exec", json!([["SET", key, "v"]])),
        (set_path.as_str(), json!(null)),
    ] {
        let (status, reply) = bridge_call(stack, ro, path, body.clone()).await?;
        check!(
            status == 400
                && reply["error"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("NOPERM")),
            "{path} {body} with the read-only token: {status} {reply}"
        );
    }
    // Nothing was written; the full token still writes (the origin's).
    check!(
        stack.redis(&["EXISTS", &key]).await? == json!(0),
        "a write got through"
    );
    check!(
        stack
            .redis(&["EXISTS", &format!("ea:u:{}", s.user_id)])
            .await?
            == json!(1),
        "the user was deleted"
    );
    let (status, _) = bridge_call(
        stack,
        &stack.bridge_token,
        "/",
        json!(["SET", key, "v", "EX", 60]),
    )
    .await?;
    check!(status == 200, "the full token writes");
    let (status, _) = bridge_call(stack, "not-a-token", "/", json!(["PING"])).await?;
    check!(status == 401, "a wrong token: {status}");
    Ok(())
}

/// Runs the bridge binary on `listen` until it prints its address or exits; the first line of
/// its output or its exit status.
fn start_bridge(
    stack: &Stack,
    listen: &str,
    allow: bool,
) -> Result<(Option<i32>, String), BoxError> {
    let mut command = Command::new(stack.binary("edgeauth-bridge"));
    command
        .env_clear()
        .env("BRIDGE_LISTEN", listen)
        .env("BRIDGE_REDIS_URL", "redis://127.0.0.1:1")
        .env("UPSTASH_REDIS_REST_TOKEN", "t")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if allow {
        command.env("BRIDGE_ALLOW_NON_LOOPBACK", "true");
    }
    let mut child = command.spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    // The bridge prints its address once it listens; a refusal exits before that.
    BufReader::new(stdout).read_line(&mut line)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status.code().unwrap_or(-1));
        }
        if !line.is_empty() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
    }
    Ok((status, format!("{line}{stderr}")))
}

async fn the_bridge_listens_beyond_loopback_only_when_told(stack: &'static Stack) -> Outcome {
    let (status, output) = start_bridge(stack, "0.0.0.0:0", false)?;
    check!(
        status.is_some_and(|s| s != 0) && output.contains("BRIDGE_ALLOW_NON_LOOPBACK"),
        "0.0.0.0 without consent: exit {status:?}, {output}"
    );
    let (status, output) = start_bridge(stack, "0.0.0.0:0", true)?;
    check!(
        status.is_none() && output.contains("listening on http://0.0.0.0:"),
        "0.0.0.0 with consent: exit {status:?}, {output}"
    );
    let (status, output) = start_bridge(stack, "127.0.0.1:0", false)?;
    check!(
        status.is_none() && output.contains("listening on http://127.0.0.1:"),
        "loopback: exit {status:?}, {output}"
    );
    Ok(())
}
