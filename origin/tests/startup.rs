//! The `edgeauth-origin` binary refuses bad configuration at start-up, naming the setting; it reads
//! `.env` only where the docs say, writes only JSON lines to standard output, and its `keys`
//! commands rotate and retire keys as documented.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use edgeauth_core::keys::SigningKeyRing;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_edgeauth-origin");
/// Random fixtures: configured secrets must look random, and differ by role.
const SECRET: &str = "jM2tV32u8zkm_gnJaYE5WSRYtka2576I7ZkJv_zrB-w";
const REFRESH_SECRET: &str = "Q99_1QO4A7YPAIlGE4hETHj4EuK4cJvCKDyZ59Qp-PU";
const MFA_KEY: &str = "Iy8QUIJUZ9D6MP_j3FXldQ600UGpQ_q6njK4tARcLbc";

/// Runs the binary with exactly `env` (nothing inherited) in an empty directory (no `.env`).
fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let dir = tempfile::tempdir().expect("a temporary directory");
    run_in(dir.path(), args, env, stdin)
}

/// [`run`] in the directory `dir`.
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).current_dir(dir).env_clear();
    for (name, value) in env {
        command.env(name, value);
    }
    match stdin {
        None => command.output().expect("the binary runs"),
        Some(input) => {
            use std::io::Write;
            command
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = command.spawn().expect("the binary runs");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
            child.wait_with_output().expect("the binary finishes")
        }
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn generated_keys() -> String {
    let out = run(&["keys", "generate", "--kid", "k1"], &[], None);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("a JSON key set")
        .to_owned()
}

/// A complete, valid configuration whose Redis is unreachable (start-up does not need it).
fn valid_env(keys: &str) -> Vec<(&'static str, String)> {
    vec![
        ("UPSTASH_REDIS_REST_URL", "http://127.0.0.1:9".to_owned()),
        ("UPSTASH_REDIS_REST_TOKEN", "token".to_owned()),
        ("EDGEAUTH_SIGNING_KEYS", keys.to_owned()),
        ("EDGEAUTH_EDGE_SECRET", SECRET.to_owned()),
        ("EDGEAUTH_REFRESH_SECRET", REFRESH_SECRET.to_owned()),
        ("EDGEAUTH_MFA_KEY", MFA_KEY.to_owned()),
        ("EDGEAUTH_LISTEN", "127.0.0.1:0".to_owned()),
        ("EDGEAUTH_ADMIN_LISTEN", "127.0.0.1:0".to_owned()),
    ]
}

/// [`valid_env`] with some settings replaced.
fn env_with(overrides: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let keys = generated_keys();
    let mut env = valid_env(&keys);
    for (name, value) in overrides {
        env.retain(|(n, _)| n != name);
        env.push((name, (*value).to_owned()));
    }
    env
}

fn serve_with(overrides: &[(&'static str, &str)]) -> Output {
    let env = env_with(overrides);
    let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (*n, v.as_str())).collect();
    run(&["serve"], &env, None)
}

#[test]
fn missing_settings_are_all_named_and_the_start_fails() {
    let out = run(&["serve"], &[], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for setting in [
        "UPSTASH_REDIS_REST_URL",
        "UPSTASH_REDIS_REST_TOKEN",
        "EDGEAUTH_SIGNING_KEYS",
        "EDGEAUTH_EDGE_SECRET",
        "EDGEAUTH_REFRESH_SECRET",
    ] {
        assert!(
            err.contains(&format!("{setting}: is not set")),
            "{setting}: {err}"
        );
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_values_fail_the_start_naming_the_setting() {
    let cases: &[(&'static str, &str, &str)] = &[
        (
            "EDGEAUTH_SIGNING_KEYS",
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"short","d":"short"}]}"#,
            "EDGEAUTH_SIGNING_KEYS: key \"k\"",
        ),
        (
            "EDGEAUTH_SIGNING_KEYS",
            "not json",
            "EDGEAUTH_SIGNING_KEYS: not valid JSON",
        ),
        ("EDGEAUTH_EDGE_SECRET", "c2hvcnQ", "EDGEAUTH_EDGE_SECRET: "),
        (
            "EDGEAUTH_REFRESH_SECRET",
            "AAAA",
            "EDGEAUTH_REFRESH_SECRET: ",
        ),
        // 32 zero bytes: long enough, not random.
        (
            "EDGEAUTH_EDGE_SECRET",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "EDGEAUTH_EDGE_SECRET: is one byte repeated, not random bytes",
        ),
        (
            "EDGEAUTH_REFRESH_SECRET",
            SECRET,
            "EDGEAUTH_REFRESH_SECRET: must differ from EDGEAUTH_EDGE_SECRET",
        ),
        (
            "EDGEAUTH_ACCESS_TTL_SECS",
            "0",
            "EDGEAUTH_ACCESS_TTL_SECS: must be greater than 0",
        ),
        (
            "EDGEAUTH_SESSION_IDLE_SECS",
            "0",
            "EDGEAUTH_SESSION_IDLE_SECS: must be greater than 0",
        ),
        (
            "EDGEAUTH_ARGON2_MEMORY_KIB",
            "1024",
            "EDGEAUTH_ARGON2_MEMORY_KIB: below the OWASP minimum",
        ),
        (
            "UPSTASH_REDIS_REST_URL",
            "redis://127.0.0.1:6379",
            "UPSTASH_REDIS_REST_URL: must be",
        ),
        (
            "EDGEAUTH_ADMIN_LISTEN",
            "everywhere",
            "EDGEAUTH_ADMIN_LISTEN: must be host:port",
        ),
    ];
    for (setting, value, expected) in cases {
        let out = serve_with(&[(setting, value)]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{setting}={value}: {err}");
        assert!(
            err.contains("invalid configuration"),
            "{setting}={value}: {err}"
        );
        assert!(err.contains(expected), "{setting}={value}: {err}");
        assert!(
            !err.contains(SECRET) && !err.contains(REFRESH_SECRET),
            "a secret was echoed: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn unparsable_numbers_name_the_environment_variable() {
    let out = serve_with(&[("EDGEAUTH_ACCESS_TTL_SECS", "fifteen minutes")]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("EDGEAUTH_ACCESS_TTL_SECS"), "{err}");
}

/// The default of a setting, as `serve --help` prints it under the setting's variable.
fn documented_default(help: &str, env: &str) -> String {
    let after = help
        .split(&format!("[env: {env}="))
        .nth(1)
        .unwrap_or_else(|| panic!("{env} is not in the help:\n{help}"));
    let default = after
        .split("[default: ")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| panic!("{env} has no default"));
    default.to_owned()
}

#[test]
fn by_default_both_listeners_are_on_loopback() {
    let out = run(&["serve", "--help"], &[], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let help = stdout(&out);
    for env in ["EDGEAUTH_LISTEN", "EDGEAUTH_ADMIN_LISTEN"] {
        let default = documented_default(&help, env);
        let addr: std::net::SocketAddr = default
            .parse()
            .unwrap_or_else(|e| panic!("{env}'s default {default:?}: {e}"));
        assert!(addr.ip().is_loopback(), "{env} defaults to {addr}");
    }
}

#[test]
fn a_taken_admin_port_fails_the_start() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = taken.local_addr().expect("its address").to_string();
    let out = serve_with(&[
        ("EDGEAUTH_ADMIN_LISTEN", &addr),
        ("EDGEAUTH_REDIS_TIMEOUT_MS", "200"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("EDGEAUTH_ADMIN_LISTEN") && err.contains(&addr),
        "{err}"
    );
}

#[test]
fn rotate_then_retire_keeps_the_documented_order() {
    let first = generated_keys();
    let rotated = run(
        &["keys", "rotate", "--kid", "k2", "--env"],
        &[("EDGEAUTH_SIGNING_KEYS", &first)],
        None,
    );
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let env_lines = stdout(&rotated);
    assert!(
        env_lines.starts_with("EDGEAUTH_SIGNING_KEYS='{"),
        "{env_lines}"
    );
    assert!(env_lines.contains("\nEDGEAUTH_JWKS='{"), "{env_lines}");

    // The --env output is valid input for the next command (standard input).
    let jwks = run(&["keys", "jwks", "--file", "-"], &[], Some(&env_lines));
    assert!(jwks.status.success(), "{}", stderr(&jwks));
    let published: serde_json::Value = serde_json::from_str(stdout(&jwks).trim()).expect("JSON");
    let kids: Vec<&str> = published["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids, ["k2", "k1"], "new key first, old key still published");
    assert!(!stdout(&jwks).contains("\"d\""), "the JWKS is public only");

    let signer = run(
        &["keys", "retire", "--kid", "k2", "--file", "-"],
        &[],
        Some(&env_lines),
    );
    assert_eq!(signer.status.code(), Some(1));
    assert!(
        stderr(&signer).contains("signing key"),
        "{}",
        stderr(&signer)
    );

    let retired = run(
        &["keys", "retire", "--kid", "k1", "--env", "--file", "-"],
        &[],
        Some(&env_lines),
    );
    assert!(retired.status.success(), "{}", stderr(&retired));
    let set = stdout(&retired);
    let json = set
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("EDGEAUTH_SIGNING_KEYS='"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("the private set line");
    let ring = SigningKeyRing::from_json(json).expect("a usable set");
    let kids: Vec<&str> = ring.keys().iter().map(|k| k.kid()).collect();
    assert_eq!(kids, ["k2"]);
}

/// A running `edgeauth-origin serve` whose standard output is collected line by line.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    fn start(env: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .envs(env.iter().map(|(n, v)| (*n, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the binary runs");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for the log line whose `fields` has `field`, and returns that field's value.
    fn logged(&mut self, field: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no {field} logged; output so far: {:?}", self.seen));
            self.seen.push(line.clone());
            let value = serde_json::from_str::<Value>(&line)
                .ok()
                .and_then(|v| v["fields"][field].as_str().map(str::to_owned));
            if let Some(value) = value {
                return value;
            }
        }
    }

    /// SIGTERM, then every line of standard output and all of standard error.
    fn stop(mut self) -> (Vec<String>, String) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().expect("the origin exits");
        assert!(status.success(), "graceful shutdown exits 0: {status}");
        self.seen.extend(self.lines.iter());
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        (self.seen, stderr)
    }
}

/// One HTTP/1.1 GET; the status code.
fn http_status(addr: &str, path: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).expect("connects");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("sends");
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// The guide's `journalctl … | jq` recipe reads every line of the origin's output as JSON: a run
/// (start-up, requests, a Redis that is not there, shutdown) writes nothing else. Host names in
/// `EDGEAUTH_LISTEN` resolve, and with port 0 the log names the port actually bound.
#[test]
fn a_run_writes_only_json_lines_and_logs_the_bound_addresses() {
    let env = env_with(&[
        ("EDGEAUTH_LISTEN", "localhost:0"),
        ("EDGEAUTH_REDIS_TIMEOUT_MS", "200"),
    ]);
    let mut server = Server::start(&env);
    let listen = server.logged("listen");
    let admin = server.logged("admin_listen");
    for addr in [&listen, &admin] {
        let addr: SocketAddr = addr.parse().expect("a socket address");
        assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    }
    assert!(
        listen.starts_with("127.0.0.1:"),
        "localhost → IPv4 first: {listen}"
    );
    assert_eq!(http_status(&listen, "/healthz"), 401, "unsigned: refused");
    assert_eq!(http_status(&admin, "/healthz"), 200);
    assert_eq!(http_status(&admin, "/readyz"), 503, "no Redis: not ready");
    let (lines, stderr) = server.stop();
    assert!(lines.len() >= 4, "{lines:?}");
    for line in &lines {
        let parsed: Result<Value, _> = serde_json::from_str(line);
        assert!(
            parsed.is_ok_and(|v| v.is_object()),
            "not a JSON line: {line}"
        );
    }
    assert!(
        stderr.is_empty(),
        "a normal run writes nothing to stderr: {stderr}"
    );
}

/// `.env` is read from the working directory only — not from a parent (a binary run inside a
/// checkout must not pick up the developer's file) — and not at all with `--no-env-file`.
#[test]
fn dotenv_is_read_from_the_working_directory_only() {
    let parent = tempfile::tempdir().expect("a temporary directory");
    let child = parent.path().join("child");
    std::fs::create_dir(&child).expect("a subdirectory");
    let keys = generated_keys();
    let mut dotenv = format!("EDGEAUTH_SIGNING_KEYS='{keys}'\n");
    for (name, value) in valid_env(&keys) {
        if name != "EDGEAUTH_SIGNING_KEYS" {
            dotenv.push_str(&format!("{name}={value}\n"));
        }
    }
    std::fs::write(parent.path().join(".env"), dotenv).expect("writes .env");

    let here = run_in(parent.path(), &["keys", "jwks"], &[], None);
    assert!(here.status.success(), "{}", stderr(&here));
    assert!(stdout(&here).contains("\"keys\""), "{}", stdout(&here));

    let below = run_in(&child, &["keys", "jwks"], &[], None);
    assert_eq!(below.status.code(), Some(1));
    assert!(
        stderr(&below).contains("no current key set"),
        "{}",
        stderr(&below)
    );
    let serve_below = run_in(&child, &["serve"], &[], None);
    assert_eq!(serve_below.status.code(), Some(1));
    assert!(
        stderr(&serve_below).contains("EDGEAUTH_SIGNING_KEYS: is not set"),
        "{}",
        stderr(&serve_below)
    );

    for args in [
        &["--no-env-file", "keys", "jwks"][..],
        &["keys", "jwks", "--no-env-file"][..],
    ] {
        let skipped = run_in(parent.path(), args, &[], None);
        assert_eq!(skipped.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&skipped).contains("no current key set"),
            "{}",
            stderr(&skipped)
        );
    }

    std::fs::write(parent.path().join(".env"), "NOT A DOTENV LINE\n").expect("writes .env");
    let broken = run_in(parent.path(), &["keys", "jwks"], &[], None);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        stderr(&broken).contains("cannot read .env"),
        "{}",
        stderr(&broken)
    );
}

#[test]
fn algorithms_are_accepted_as_the_docs_spell_them() {
    for (alg, kty) in [
        ("EdDSA", "OKP"),
        ("ES256", "EC"),
        ("eddsa", "OKP"),
        ("es256", "EC"),
    ] {
        let out = run(&["keys", "generate", "--alg", alg], &[], None);
        assert!(out.status.success(), "--alg {alg}: {}", stderr(&out));
        assert!(
            stdout(&out).contains(&format!("\"kty\":\"{kty}\"")),
            "{alg}"
        );
    }
    let help = run(&["keys", "generate", "--help"], &[], None);
    assert!(stdout(&help).contains("EdDSA") && stdout(&help).contains("ES256"));
}

#[test]
fn retire_without_a_choice_names_both_options() {
    let keys = generated_keys();
    let out = run(
        &["keys", "retire"],
        &[("EDGEAUTH_SIGNING_KEYS", &keys)],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("--kid") && err.contains("--keep"), "{err}");
}

/// `keys … | head -1`: the reader goes away; the command ends quietly.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let keys = generated_keys();
    for args in [
        &["keys", "generate"][..],
        &["keys", "jwks"][..],
        &["keys", "rotate", "--env"][..],
        &["openapi"][..],
    ] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let out = Command::new(BIN)
            .args(args)
            .env_clear()
            .env("EDGEAUTH_SIGNING_KEYS", &keys)
            .current_dir(std::env::temp_dir())
            .stdout(writer)
            .output()
            .expect("the binary runs");
        let err = stderr(&out);
        assert!(out.status.success(), "{args:?}: {:?} {err}", out.status);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
    }
}

/// The published JWKS where the private set belongs is named for what it is.
#[test]
fn a_public_key_set_is_refused_as_signing_keys() {
    let ring = SigningKeyRing::from_json(&generated_keys()).expect("a key set");
    let public = ring.public_jwks().to_string();
    let wanted = "this is a public key set; signing needs the private keys";

    let out = serve_with(&[("EDGEAUTH_SIGNING_KEYS", &public)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("EDGEAUTH_SIGNING_KEYS: {wanted}")),
        "{}",
        stderr(&out)
    );
    let jwks_line = format!("EDGEAUTH_JWKS='{public}'\n");
    for input in [public.as_str(), jwks_line.as_str()] {
        let out = run(&["keys", "rotate", "--file", "-"], &[], Some(input));
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains(wanted), "{}", stderr(&out));
    }
}

/// A kid may start with `-` (older random kids could): `--kid -x…` is a value, not an option.
#[test]
fn a_kid_starting_with_a_hyphen_is_taken_as_a_value() {
    let generated = run(&["keys", "generate", "--kid", "-1lead", "--env"], &[], None);
    assert!(generated.status.success(), "{}", stderr(&generated));
    let rotated = run(
        &["keys", "rotate", "--kid", "k2", "--env", "--file", "-"],
        &[],
        Some(&stdout(&generated)),
    );
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let retired = run(
        &["keys", "retire", "--kid", "-1lead", "--file", "-"],
        &[],
        Some(&stdout(&rotated)),
    );
    assert!(retired.status.success(), "{}", stderr(&retired));
    assert!(
        stderr(&retired).contains("published keys now: k2"),
        "{}",
        stderr(&retired)
    );
}
