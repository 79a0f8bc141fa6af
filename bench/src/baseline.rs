//! The yardstick: the classic Express + jsonwebtoken + Redis + bcryptjs tutorial server
//! (`bench/baseline/`), started next to edgeauth with a redis-server of its own, so every ratio
//! in the table compares two figures of the same run on the same machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::Stack;

/// Process names given to [`Stack::launch`] (each leads its own process group).
pub const NODE: &str = "baseline-node";
pub const REDIS: &str = "baseline-redis";

/// The running baseline.
pub struct Baseline {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// Holds the baseline's Redis data until the bench ends.
    _dir: tempfile::TempDir,
}

impl Baseline {
    /// Starts the baseline's redis-server (persisted as edgeauth's is in the bench: AOF,
    /// `appendfsync everysec`) and the Node server, and waits until it answers.
    pub fn start(stack: &Stack, repo: &Path) -> Result<Self, BoxError> {
        let app = repo.join("bench/baseline");
        if !app.join("node_modules/express").exists() {
            return Err(format!(
                "{} has no node_modules: run `make bench` (scripts/setup.sh --bench installs them)",
                app.display()
            )
            .into());
        }
        let dir = tempfile::tempdir()?;
        let redis_port = free_port()?;
        let mut redis = Command::new(
            std::env::var_os("EDGEAUTH_REDIS_SERVER").unwrap_or_else(|| "redis-server".into()),
        );
        redis
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir.path())
            .args(["--appendonly", "yes", "--appendfsync", "everysec"])
            .args(["--save", ""]);
        stack.launch(REDIS, redis)?;
        wait_for(
            || std::net::TcpStream::connect(("127.0.0.1", redis_port)).is_ok(),
            "the baseline's redis-server",
        )?;

        let port = free_port()?;
        let mut secret = [0u8; 32];
        std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut secret)?;
        let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let mut node = Command::new(node_binary(repo));
        node.arg(app.join("server.js"))
            .current_dir(&app)
            .env("PORT", port.to_string())
            .env("REDIS_URL", format!("redis://127.0.0.1:{redis_port}"))
            .env("JWT_SECRET", secret)
            .env("NODE_ENV", "production");
        stack.launch(NODE, node)?;
        let url = format!("http://127.0.0.1:{port}");
        wait_for(
            || healthz(port),
            "the baseline (node bench/baseline/server.js)",
        )?;
        Ok(Self { url, _dir: dir })
    }
}

/// The Node the rest of the tooling uses (`.dev/node-bin-dir`, written by scripts/setup.sh),
/// else the one on `PATH`.
fn node_binary(repo: &Path) -> PathBuf {
    std::fs::read_to_string(repo.join(".dev/node-bin-dir"))
        .ok()
        .map(|dir| PathBuf::from(dir.trim()).join("node"))
        .filter(|node| node.exists())
        .unwrap_or_else(|| PathBuf::from("node"))
}

fn free_port() -> Result<u16, BoxError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Whether `GET /healthz` answers 200.
fn healthz(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
    let mut head = [0u8; 12];
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_exact(&mut head).is_ok()
        && head.starts_with(b"HTTP/1.1 200")
}

fn wait_for(ready: impl Fn() -> bool, what: &str) -> Result<(), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("{what} did not come up within 30 s (logs: target/e2e-logs)").into())
}
