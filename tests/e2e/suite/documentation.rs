//! The docs run as written: the README's curl walkthrough against the stack's edge, and every
//! local step of the deploy guide (`scripts/check-deploy-guide.sh`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::Stack;

use super::Outcome;
use crate::{check, tests};

tests![
    readme_walkthrough_runs_as_written,
    deploy_guide_local_steps_run_as_written,
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The code block after `<!-- readme-check: NAME -->` in README.md, as written.
fn readme_block(name: &str) -> Result<String, BoxError> {
    let readme = std::fs::read_to_string(repo().join("README.md"))?;
    let marker = format!("<!-- readme-check: {name} -->");
    let after = readme
        .split_once(&marker)
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("README.md has no {marker}"))?;
    let body = after
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(code, _)| code.to_owned())
        .ok_or_else(|| format!("no sh block after {marker}"))?;
    Ok(body)
}

/// Runs `command` with a time limit; exit status, standard output and standard error.
async fn output_within(
    mut command: tokio::process::Command,
    limit: Duration,
) -> Result<(bool, String, String), BoxError> {
    command
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null());
    let out = tokio::time::timeout(limit, command.output())
        .await
        .map_err(|_| format!("still running after {limit:?}"))??;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The README's walkthrough (register → login → profile → refresh → logout, with tokens in the
/// body and then with the cookie), run by bash exactly as printed, with `EDGE` pointing at the
/// test stack. Every status code a line's comment promises is the one printed, and any failing
/// command fails the test (`-e`, `pipefail`, `curl --fail-with-body`).
async fn readme_walkthrough_runs_as_written(stack: &'static Stack) -> Outcome {
    let script = format!(
        "{}\n{}",
        readme_block("walkthrough")?,
        readme_block("walkthrough-cookie")?
    );
    let promised: Vec<&str> = script
        .lines()
        .filter_map(|line| line.rsplit_once("# ").map(|(_, comment)| comment.trim()))
        .filter(|comment| comment.len() == 3 && comment.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    check!(
        promised.len() >= 5,
        "the walkthrough promises codes: {promised:?}"
    );

    let dir = tempfile::tempdir()?;
    let mut bash = tokio::process::Command::new("bash");
    bash.args(["-euo", "pipefail", "-c", &script])
        .env("EDGE", &stack.edge)
        .current_dir(dir.path());
    let (ok, stdout, stderr) = output_within(bash, Duration::from_secs(120)).await?;
    check!(
        ok,
        "the walkthrough failed:\n{stdout}\n{stderr}\nscript:\n{script}"
    );
    let printed: Vec<&str> = stdout
        .lines()
        .filter(|line| line.len() == 3 && line.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    check!(
        printed == promised,
        "status codes printed {printed:?}, the README promises {promised:?}:\n{stdout}"
    );
    check!(
        stdout.contains(r#"{"user":{"#) && stdout.contains(r#""session_id":"#),
        "register and profile print the user: {stdout}"
    );
    check!(
        stdout.lines().any(|line| line == "Bearer"),
        "the cookie refresh printed a token pair: {stdout}"
    );
    Ok(())
}

/// `scripts/check-deploy-guide.sh` runs every locally runnable block of docs/deploy.md (secrets,
/// the edge's dry-run deploy and secrets, the origin's check and readiness, the systemd unit as it
/// would start, rotation, retirement, revocation of a compromised key, the audit-log recipe) with
/// this suite's binaries.
async fn deploy_guide_local_steps_run_as_written(stack: &'static Stack) -> Outcome {
    let origin = stack.bin("edgeauth-origin");
    let bin_dir = origin.parent().ok_or("the binaries' directory")?;
    let mut script = tokio::process::Command::new("bash");
    script
        .arg(repo().join("scripts/check-deploy-guide.sh"))
        .arg("--no-build")
        .env("EDGEAUTH_BIN_DIR", bin_dir)
        .current_dir(repo());
    let (ok, stdout, stderr) = output_within(script, Duration::from_secs(300)).await?;
    let log = stack.log_dir.join("check-deploy-guide.log");
    std::fs::write(&log, format!("{stdout}\n{stderr}"))?;
    let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
    check!(
        ok && stdout.contains("every local step of docs/deploy.md ran as written"),
        "the deploy guide's check failed (full output: {}):\n{}",
        log.display(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    Ok(())
}
