//! The demo page in a real browser: runs the Node tests in `tests/browser/` (Debian's Chromium
//! through playwright-core) against this stack's edge.
//!
//! Exclusive: Chromium needs the machine's two cores to itself for stable timings, and the page's
//! cross-tab behaviour is easier to read in the logs without other tests' traffic.
//!
//! For `navigation.test.mjs` it also starts an extra origin and edge whose access tokens live
//! [`SHORT_ACCESS_SECS`] (`EDGEAUTH_SHORT_ACCESS_EDGE_URL`): the silent-refresh test waits for the
//! browser's own expiry of the access cookie there instead of deleting the cookie.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use edgeauth_e2e::Stack;

use super::Outcome;
use crate::tests;

tests![; exclusive: chromium_drives_the_demo_page];

/// Far above the suite's ~30 s, far below CI's patience.
const LIMIT: Duration = Duration::from_secs(300);

/// Access-token lifetime of the extra edge the navigation tests wait out: long enough for a
/// sign-in to land on the page before it expires, short enough that waiting three times costs
/// seconds.
const SHORT_ACCESS_SECS: u64 = 3;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// The Node the Makefile names (setup.sh's pick, Node ≥ 22.12), else the one on PATH.
fn node() -> PathBuf {
    std::env::var_os("EDGEAUTH_NODE_BIN_DIR")
        .map(|dir| PathBuf::from(dir).join("node"))
        .filter(|node| node.exists())
        .unwrap_or_else(|| PathBuf::from("node"))
}

async fn chromium_drives_the_demo_page(stack: &'static Stack) -> Outcome {
    let chromium =
        std::env::var("EDGEAUTH_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Err(format!(
            "{chromium} is missing: install it with scripts/setup.sh (apt-get install chromium)"
        )
        .into());
    }
    let repo = repo();
    let mut files: Vec<String> = std::fs::read_dir(repo.join("tests/browser"))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".test.mjs"))
        // `EDGEAUTH_BROWSER_ONLY=navigation` runs only the files whose name contains it.
        .filter(|name| {
            std::env::var("EDGEAUTH_BROWSER_ONLY").map_or(true, |only| name.contains(&only))
        })
        .map(|name| format!("tests/browser/{name}"))
        .collect();
    files.sort();
    let short = if files.iter().any(|f| f.contains("navigation")) {
        Some(
            super::extra::start(
                stack,
                "short-access",
                &[("EDGEAUTH_ACCESS_TTL_SECS", SHORT_ACCESS_SECS.to_string())],
            )
            .await?,
        )
    } else {
        None
    };
    let outcome = run_node(stack, &repo, &chromium, &files, short.as_ref()).await;
    if let Some(short) = &short {
        super::extra::stop(stack, short).await?;
    }
    outcome
}

async fn run_node(
    stack: &'static Stack,
    repo: &Path,
    chromium: &str,
    files: &[String],
    short: Option<&super::extra::Extra>,
) -> Outcome {
    let log_path = stack.log_dir.join("browser.log");
    let log = std::fs::File::create(&log_path)?;
    let mut child = tokio::process::Command::new(node())
        .current_dir(repo)
        .args(["--test", "--test-reporter=spec", "--test-concurrency=1"])
        .args(files)
        .env("EDGEAUTH_EDGE_URL", &stack.edge)
        .env(
            "EDGEAUTH_SHORT_ACCESS_EDGE_URL",
            short.map_or("", |s| s.edge.as_str()),
        )
        .env(
            "EDGEAUTH_MAILDEV_URL",
            stack.maildev.as_deref().unwrap_or_default(),
        )
        .env("EDGEAUTH_CHROMIUM", chromium)
        .env("EDGEAUTH_ARTIFACTS_DIR", repo.join("tests/artifacts"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run node: {e}"))?;
    let pid = child.id().ok_or("node exited at once")?;
    let status = match tokio::time::timeout(LIMIT, child.wait()).await {
        Ok(status) => status?,
        Err(_) => {
            // SIGTERM lets playwright close Chromium (which it runs in a process group of its
            // own) before node exits.
            // SAFETY: signalling the process group of our own child.
            unsafe {
                libc::kill(-(pid as i32), libc::SIGTERM);
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
            return Err(format!(
                "the browser tests did not finish within {LIMIT:?}; see {}",
                log_path.display()
            )
            .into());
        }
    };
    let out = std::fs::read_to_string(&log_path).unwrap_or_default();
    if !status.success() {
        return Err(format!(
            "node --test {} failed ({status}); full output in {}:\n{out}",
            files.join(" "),
            log_path.display()
        )
        .into());
    }
    // A skipped test proves nothing: the suite gives every test what it needs.
    if let Some(skipped) = out.lines().find(|l| {
        l.trim_start()
            .strip_prefix("ℹ skipped ")
            .is_some_and(|n| n.trim() != "0")
    }) {
        return Err(format!(
            "node --test skipped tests ({}); full output in {}",
            skipped.trim(),
            log_path.display()
        )
        .into());
    }
    for line in out.lines().filter(|l| {
        let l = l.trim_start();
        l.starts_with('✔') || l.starts_with("screenshots:") || l.starts_with("ℹ screenshots:")
    }) {
        eprintln!("    browser: {}", line.trim());
    }
    Ok(())
}
