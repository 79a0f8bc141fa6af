//! Running `wrk` with a Lua scenario script and reading its summary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use edgeauth_e2e::stack::BoxError;
use serde_json::Value;

const COMMON: &str = include_str!("../lua/common.lua");
const SCRIPTS: &[(&str, &str)] = &[
    ("get.lua", include_str!("../lua/get.lua")),
    ("post_json.lua", include_str!("../lua/post_json.lua")),
    (
        "refresh_chains.lua",
        include_str!("../lua/refresh_chains.lua"),
    ),
];

/// What one wrk run measured.
#[derive(Debug, Clone, Default)]
pub struct WrkResult {
    pub requests: u64,
    pub seconds: f64,
    /// Responses other than 2xx/3xx.
    pub status_errors: u64,
    /// Connect, read, write errors and timeouts.
    pub socket_errors: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl WrkResult {
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.requests as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// One load run: `connections` connections over `threads` threads for `duration`.
pub struct Load<'a> {
    pub url: &'a str,
    pub script: &'a str,
    pub args: &'a [&'a str],
    pub connections: u32,
    pub threads: u32,
    pub duration: Duration,
    /// wrk's per-request timeout (a slower response counts as a timeout error).
    pub timeout: Duration,
}

/// The scripts written out once for wrk to load.
pub struct Wrk {
    dir: tempfile::TempDir,
}

impl Wrk {
    pub fn new() -> Result<Self, BoxError> {
        let status = Command::new("wrk").arg("--version").output();
        if status.is_err() {
            return Err(
                "wrk is not installed (apt-get install wrk; scripts/setup.sh does it)".into(),
            );
        }
        let dir = tempfile::tempdir()?;
        for (name, body) in SCRIPTS {
            std::fs::write(dir.path().join(name), format!("{COMMON}\n{body}"))?;
        }
        Ok(Self { dir })
    }

    /// Where scenario scripts and their data files live.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn script(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn run(&self, load: &Load<'_>) -> Result<WrkResult, BoxError> {
        let output = Command::new("wrk")
            .arg("-t")
            .arg(load.threads.to_string())
            .arg("-c")
            .arg(load.connections.to_string())
            .arg("-d")
            .arg(format!("{}s", load.duration.as_secs().max(1)))
            .arg("--timeout")
            .arg(format!("{}s", load.timeout.as_secs().max(1)))
            .arg("--latency")
            .arg("-s")
            .arg(self.script(load.script))
            .arg(load.url)
            .arg("--")
            .args(load.args)
            .output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !stderr.trim().is_empty() {
            eprintln!("wrk: {}", stderr.trim());
        }
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("WRK_JSON "))
            .ok_or_else(|| {
                format!(
                    "wrk printed no summary (exit {}): {}{}",
                    output.status,
                    stdout,
                    String::from_utf8_lossy(&output.stderr)
                )
            })?;
        let v: Value = serde_json::from_str(line)?;
        let n = |k: &str| v[k].as_f64().unwrap_or(0.0);
        Ok(WrkResult {
            requests: n("requests") as u64,
            seconds: n("duration_us") / 1e6,
            status_errors: n("status_errors") as u64,
            socket_errors: (n("connect_errors")
                + n("read_errors")
                + n("write_errors")
                + n("timeouts")) as u64,
            p50_ms: n("p50_us") / 1e3,
            p90_ms: n("p90_us") / 1e3,
            p99_ms: n("p99_us") / 1e3,
            max_ms: n("max_us") / 1e3,
        })
    }
}
