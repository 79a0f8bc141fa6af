//! The load generators: `oha` for plain requests, `wrk` for the one scenario that needs a script
//! (each connection presenting the refresh token its previous rotation returned).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use edgeauth_e2e::stack::BoxError;
use serde_json::Value;

const COMMON: &str = include_str!("../lua/common.lua");
const REFRESH_CHAINS: &str = include_str!("../lua/refresh_chains.lua");

/// What one load run measured.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    /// Requests sent, answered or not.
    pub requests: u64,
    pub seconds: f64,
    /// Answers with another status than the run expects ([`Load::expect`]; wrk's scripted runs
    /// count every status ≥ 400).
    pub status_errors: u64,
    /// Connect, read, write errors and timeouts.
    pub socket_errors: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LoadResult {
    /// Requests that failed: a wrong status, or no answer at all.
    pub fn errors(&self) -> u64 {
        self.status_errors + self.socket_errors
    }

    /// Requests answered as expected.
    pub fn successes(&self) -> u64 {
        self.requests.saturating_sub(self.errors())
    }

    /// Successful requests per second: a failed request is never counted as work done.
    pub fn rate(&self) -> f64 {
        per_second(self.successes(), self.seconds)
    }

    /// Requests in flight on average by Little's law (all requests per second × mean latency).
    /// In a closed loop it cannot exceed the connections; when it does, the generator's latencies
    /// are not to be trusted (wrk 4.1's are not, against workerd: it reported a mean 10× what
    /// its own throughput allows).
    pub fn implied_concurrency(&self) -> f64 {
        per_second(self.requests, self.seconds) * self.mean_ms / 1000.0
    }
}

fn per_second(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// What each connection sends.
pub enum Traffic<'a> {
    /// `GET`, with a bearer token if given.
    Get { bearer: Option<&'a str> },
    /// `GET` with these header lines (`name: value`), e.g. a browser navigation's cookie and
    /// fetch metadata.
    GetWithHeaders { headers: &'a [String] },
    /// `POST` of a fixed JSON body.
    PostJson { body: &'a str },
    /// `POST /api/refresh` chains: `bench/lua/refresh_chains.lua` with its token file.
    RefreshChains { tokens: &'a Path, threads: u32 },
}

/// One closed-loop load run: `connections` connections, each sending its next request when the
/// previous one is answered, for `duration`.
pub struct Load<'a> {
    pub url: &'a str,
    pub traffic: Traffic<'a>,
    pub connections: u32,
    pub duration: Duration,
    /// Per-request timeout (a slower response counts as an error).
    pub timeout: Duration,
    /// The status every answer must have (anything else counts as an error).
    pub expect: u16,
}

/// The load generators, with wrk's script written out once.
pub struct Generators {
    dir: tempfile::TempDir,
}

impl Generators {
    pub fn new() -> Result<Self, BoxError> {
        for (tool, install) in [
            (
                "oha",
                "cargo install oha --locked (scripts/setup.sh --bench does it)",
            ),
            ("wrk", "apt-get install wrk (scripts/setup.sh does it)"),
        ] {
            if Command::new(tool).arg("--version").output().is_err() {
                return Err(format!("{tool} is not installed: {install}").into());
            }
        }
        let dir = tempfile::tempdir()?;
        std::fs::write(
            dir.path().join("refresh_chains.lua"),
            format!("{COMMON}\n{REFRESH_CHAINS}"),
        )?;
        Ok(Self { dir })
    }

    /// Where scenario data files live.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn run(&self, load: &Load<'_>) -> Result<LoadResult, BoxError> {
        let result = match load.traffic {
            Traffic::Get { bearer } => {
                let headers: Vec<String> = bearer
                    .map(|token| format!("authorization: Bearer {token}"))
                    .into_iter()
                    .collect();
                self.oha(load, "GET", &headers, None)
            }
            Traffic::GetWithHeaders { headers } => self.oha(load, "GET", headers, None),
            Traffic::PostJson { body } => self.oha(load, "POST", &[], Some(body)),
            Traffic::RefreshChains { tokens, threads } => self.wrk(load, tokens, threads),
        }?;
        if result.errors() > 0 {
            eprintln!(
                "bench: {} of {} requests to {} failed ({} with another status than {}, {} \
                 without an answer)",
                result.errors(),
                result.requests,
                load.url,
                result.status_errors,
                load.expect,
                result.socket_errors
            );
        }
        Ok(result)
    }

    fn oha(
        &self,
        load: &Load<'_>,
        method: &str,
        headers: &[String],
        body: Option<&str>,
    ) -> Result<LoadResult, BoxError> {
        let mut command = Command::new("oha");
        command
            .args(["--no-tui", "--output-format", "json", "-w"])
            .args(["-m", method])
            .arg("-c")
            .arg(load.connections.to_string())
            .arg("-z")
            .arg(format!("{}s", load.duration.as_secs().max(1)))
            .arg("-t")
            .arg(format!("{}s", load.timeout.as_secs().max(1)));
        for header in headers {
            command.arg("-H").arg(header);
        }
        if let Some(body) = body {
            command.args(["-T", "application/json", "-d", body]);
        }
        let output = command.arg(load.url).output()?;
        if !output.status.success() {
            return Err(format!(
                "oha failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )
            .into());
        }
        parse_oha(&output.stdout, load.expect)
    }

    fn wrk(&self, load: &Load<'_>, tokens: &Path, threads: u32) -> Result<LoadResult, BoxError> {
        let output = Command::new("wrk")
            .arg("-t")
            .arg(threads.to_string())
            .arg("-c")
            .arg(load.connections.to_string())
            .arg("-d")
            .arg(format!("{}s", load.duration.as_secs().max(1)))
            .arg("--timeout")
            .arg(format!("{}s", load.timeout.as_secs().max(1)))
            .arg("--latency")
            .arg("-s")
            .arg(self.script())
            .arg(load.url)
            .arg("--")
            .arg(tokens)
            .arg(threads.to_string())
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
                    "wrk printed no summary (exit {}): {stdout}{stderr}",
                    output.status
                )
            })?;
        let v: Value = serde_json::from_str(line)?;
        let n = |k: &str| v[k].as_f64().unwrap_or(0.0);
        Ok(LoadResult {
            requests: n("requests") as u64,
            seconds: n("duration_us") / 1e6,
            status_errors: n("status_errors") as u64,
            socket_errors: (n("connect_errors")
                + n("read_errors")
                + n("write_errors")
                + n("timeouts")) as u64,
            mean_ms: n("mean_us") / 1e3,
            p50_ms: n("p50_us") / 1e3,
            p90_ms: n("p90_us") / 1e3,
            p99_ms: n("p99_us") / 1e3,
            max_ms: n("max_us") / 1e3,
        })
    }

    fn script(&self) -> PathBuf {
        self.dir.path().join("refresh_chains.lua")
    }
}

/// oha's `--output-format json` summary: times in seconds, status codes counted by code, and
/// failed requests (timeouts, resets) by error text. Answers other than `expect` are errors.
fn parse_oha(stdout: &[u8], expect: u16) -> Result<LoadResult, BoxError> {
    let v: Value =
        serde_json::from_slice(stdout).map_err(|e| format!("oha printed no JSON summary ({e})"))?;
    let secs = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let ms = |v: &Value| secs(v) * 1000.0;
    let counts = |key: &str| -> Vec<(String, u64)> {
        v[key]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let statuses = counts("statusCodeDistribution");
    let failures: u64 = counts("errorDistribution").iter().map(|(_, n)| n).sum();
    let answered: u64 = statuses.iter().map(|(_, n)| n).sum();
    let expected = expect.to_string();
    let status_errors = statuses
        .iter()
        .filter(|(code, _)| *code != expected)
        .map(|(_, n)| n)
        .sum();
    let p = &v["latencyPercentiles"];
    Ok(LoadResult {
        requests: answered + failures,
        seconds: secs(&v["summary"]["total"]),
        status_errors,
        socket_errors: failures,
        mean_ms: ms(&v["summary"]["average"]),
        p50_ms: ms(&p["p50"]),
        p90_ms: ms(&p["p90"]),
        p99_ms: ms(&p["p99"]),
        max_ms: ms(&v["summary"]["slowest"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oha_summary_is_read() {
        let json = br#"{"summary":{"successRate":1.0,"total":8.0,"slowest":0.09,"fastest":0.001,
            "average":0.025,"requestsPerSec":1250.0},
            "latencyPercentiles":{"p50":0.024,"p90":0.03,"p99":0.05},
            "statusCodeDistribution":{"200":9990,"503":5},"errorDistribution":{"timeout":5}}"#;
        let r = parse_oha(json, 200).expect("parses");
        assert_eq!(
            (r.requests, r.status_errors, r.socket_errors),
            (10_000, 5, 5)
        );
        assert!((r.p99_ms - 50.0).abs() < 1e-9 && (r.max_ms - 90.0).abs() < 1e-9);
        // Only the 9,990 answers with the expected status count toward the rate.
        assert!((r.rate() - 1248.75).abs() < 1e-9);
        assert!((r.implied_concurrency() - 31.25).abs() < 1e-9);
        // A run that expects refusals counts the 200s as its errors.
        let refused = parse_oha(json, 503).expect("parses");
        assert_eq!((refused.status_errors, refused.successes()), (9_990, 5));
    }
}
