//! `make bench`: edgeauth measured on the real runtime. Starts the stack (release origin and
//! bridge, the edge in plain `workerd serve` with a production-sized isolate heap), drives each
//! scenario with oha (wrk for the scripted refresh chains), and prints one table plus a JSON file.
//! Build first (`make bench` does): release binaries and the worker.
//!
//! Environment: `EDGEAUTH_BENCH_SECS` (seconds per load run, default 8),
//! `EDGEAUTH_BENCH_OUT` (JSON path, default `target/bench/results.json`),
//! `EDGEAUTH_BENCH_SKIP_WRANGLER=1` (skip the `wrangler dev` comparison),
//! `EDGEAUTH_BENCH_ONLY=hello,reference,rejections,profile,cores,heap,wrangler,login,refresh,app,navigation,transfer,startup,baseline`
//! (a subset), `EDGEAUTH_BENCH_WRK_THREADS` (wrk threads for the refresh chains, default 2), `EDGEAUTH_WORKER_BUILD` (another worker build to
//! measure, e.g. for A/B comparisons), `EDGEAUTH_WORKERD_V8_FLAGS` (e.g. `--perf-basic-prof`),
//! `EDGEAUTH_BENCH_HOLD=1` (start the stack, print the URLs of the edge and the JS reference
//! edge and a token, and wait for a line on stdin: for probing or profiling by hand).

mod baseline;
mod load;
mod procfs;
mod report;
mod scenarios;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::{EdgeRuntime, Stack, StackOptions};

use report::Report;
use scenarios::Bench;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

fn run() -> Result<(), BoxError> {
    let repo = repo();
    let secs = std::env::var("EDGEAUTH_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(8);
    let out = std::env::var_os("EDGEAUTH_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target/bench/results.json"));
    let with_wrangler = std::env::var("EDGEAUTH_BENCH_SKIP_WRANGLER").map_or(true, |v| v != "1");
    let bin_dir = repo.join("target/release");
    for bin in ["edgeauth-origin", "edgeauth-bridge"] {
        if !bin_dir.join(bin).exists() {
            return Err(format!(
                "{} is missing: run `make bench` (it builds release binaries)",
                bin_dir.join(bin).display()
            )
            .into());
        }
    }

    eprintln!(
        "bench: starting redis-server, bridge, origin (release) and the edge in workerd serve"
    );
    let options = StackOptions {
        edge_runtime: EdgeRuntime::Workerd,
        bin_dir: Some(bin_dir),
        redis_timeout_ms: 1_500,
        access_ttl_secs: 3_600,
        // Every scenario comes from one address: rate limits must not be what is measured.
        refresh_per_ip: 10_000_000,
        refresh_grace_ms: 10_000,
        refresh_recovery_ms: 300_000,
        lockout_base_secs: 30,
        sessions_per_user: 50,
        login_ip_successes: 1_000_000,
        origin_env: [
            // The login budgets of the hardening round (core/src/rate_limit.rs): the bench signs
            // in from one address over and over, and must measure hashing, not 429s.
            ("EDGEAUTH_REGISTER_PER_IP", "1000000"),
            ("EDGEAUTH_LOGIN_IP_FAILURES", "1000000"),
            ("EDGEAUTH_LOGIN_ACCOUNT_FAILURES", "1000000"),
            // The login scenario signs one account in from one address on 32 connections: it
            // measures hashing, not the sign-in budgets or the per-address hashing share.
            ("EDGEAUTH_LOGIN_ACCOUNT_SUCCESSES", "1000000"),
            ("EDGEAUTH_HASHING_PER_IP", "1000000"),
            ("RUST_LOG", "warn"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        // The benchmark measures the edge: an fsync per Redis write (as `make dev` runs) would
        // add this shared machine's disk latency to every origin request (docs/performance.md).
        appendfsync: "everysec",
    };
    let stack = Stack::start(options)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut bench = Bench::new(&stack, &runtime, Duration::from_secs(secs), repo.clone())?;
    let only: Vec<String> = std::env::var("EDGEAUTH_BENCH_ONLY")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let outcome = bench.run_all(with_wrangler, &only);
    stack.stop();
    let report: Report = bench.into_report();
    outcome?;

    let table = report.table();
    println!("\n{table}\n");
    let meta = serde_json::json!({
        "machine": procfs::machine(),
        "seconds_per_run": secs,
        "unix_time": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    });
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report.to_json(meta))?)?;
    println!("machine: {}", procfs::machine());
    println!("results: {}", out.display());
    Ok(())
}
