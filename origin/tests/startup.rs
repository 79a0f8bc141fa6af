//! The `edgeauth-origin` binary refuses bad configuration at start-up, naming the setting, and its
//! `keys` commands rotate and retire keys as documented.

use std::net::TcpListener;
use std::process::{Command, Output};

use edgeauth_core::keys::SigningKeyRing;

const BIN: &str = env!("CARGO_BIN_EXE_edgeauth-origin");
const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

/// Runs the binary with exactly `env` (nothing inherited) in an empty directory (no `.env`).
fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut command = Command::new(BIN);
    command.args(args).current_dir(dir.path()).env_clear();
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
        ("EDGEAUTH_REFRESH_SECRET", SECRET.to_owned()),
        ("EDGEAUTH_LISTEN", "127.0.0.1:0".to_owned()),
        ("EDGEAUTH_ADMIN_LISTEN", "127.0.0.1:0".to_owned()),
    ]
}

fn serve_with(overrides: &[(&'static str, &str)]) -> Output {
    let keys = generated_keys();
    let mut env = valid_env(&keys);
    for (name, value) in overrides {
        env.retain(|(n, _)| n != name);
        env.push((name, (*value).to_owned()));
    }
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
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"short"}]}"#,
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
        assert!(!err.contains(SECRET), "a secret was echoed: {err}");
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
