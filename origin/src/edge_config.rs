//! Operator commands for the edge's gateway settings: `check-edge-config wrangler.toml`
//! validates the route table with the very code the edge runs, and `assertion-keys generate`
//! / `assertion-keys rotate` produce the `EDGEAUTH_ASSERTION_KEYS` secret.

use std::io::Read;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use clap::Subcommand;
use edgeauth_core::assertion::{AssertionKey, AssertionKeys};
use edgeauth_core::routes::{Handler, RouteTable};
use jwt_simple::prelude::Ed25519KeyPair;

/// The `[vars]` entry holding the deployment's route table.
pub const ROUTES_VAR: &str = "EDGEAUTH_ROUTES";
/// The secret holding the assertion signing keys.
pub const ASSERTION_KEYS_ENV: &str = "EDGEAUTH_ASSERTION_KEYS";

/// Validates the route table of a wrangler.toml; returns a summary for the operator.
pub fn check_edge_config(path: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
    let doc: toml::Table = toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let routes = match doc
        .get("vars")
        .and_then(|vars| vars.as_table())
        .and_then(|vars| vars.get(ROUTES_VAR))
    {
        None => "",
        Some(toml::Value::String(text)) => text.as_str(),
        Some(_) => return Err(format!("{path}: [vars] {ROUTES_VAR} must be a string")),
    };
    let table =
        RouteTable::with_builtin(routes).map_err(|e| format!("{path}: {ROUTES_VAR}: {e}"))?;
    let apps = table
        .rules()
        .iter()
        .filter(|r| matches!(r.handler, Handler::App(_)))
        .count();
    Ok(format!(
        "{path}: route table ok: {} rules ({apps} to apps), {} upstreams ({})",
        table.rules().len(),
        table.upstreams().len(),
        table
            .upstreams()
            .iter()
            .map(|u| format!("{} → {}", u.id, u.url))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[derive(Subcommand)]
pub enum AssertionKeysCommand {
    /// Print a fresh EDGEAUTH_ASSERTION_KEYS secret (one Ed25519 key).
    Generate {
        /// Print `EDGEAUTH_ASSERTION_KEYS='…'` (dotenv) instead of the bare JSON.
        #[arg(long)]
        env: bool,
    },
    /// Read the current secret (from the environment or standard input with `--file -`),
    /// make a fresh key the signer and keep the old ones published; drop a retired key with
    /// `--retire KID` once every assertion it signed has expired (60 s, plus apps' JWKS cache).
    Rotate {
        /// Read the current secret from this file ("-": standard input) instead of the
        /// environment variable.
        #[arg(long)]
        file: Option<String>,
        /// Drop this key instead of adding one.
        #[arg(long)]
        retire: Option<String>,
        #[arg(long)]
        env: bool,
    },
}

pub fn run_assertion_keys(command: AssertionKeysCommand) -> Result<String, String> {
    let (keys, env) = match command {
        AssertionKeysCommand::Generate { env } => (AssertionKeys::new(vec![fresh_key()?])?, env),
        AssertionKeysCommand::Rotate { file, retire, env } => {
            let text = match file.as_deref() {
                Some("-") => {
                    let mut text = String::new();
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .map_err(|e| format!("reading standard input: {e}"))?;
                    text
                }
                Some(path) => {
                    std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?
                }
                None => std::env::var(ASSERTION_KEYS_ENV)
                    .map_err(|_| format!("{ASSERTION_KEYS_ENV} is not set (or use --file)"))?,
            };
            let current =
                AssertionKeys::parse(&text).map_err(|e| format!("{ASSERTION_KEYS_ENV} {e}"))?;
            let old: Vec<AssertionKey> = current.all().to_vec();
            let keys = match retire {
                Some(kid) if kid == current.current().kid => {
                    return Err(format!("{kid} signs; rotate first, then retire it"))
                }
                Some(kid) => {
                    let kept: Vec<AssertionKey> = std::iter::once(current.current().clone())
                        .chain(
                            old.into_iter()
                                .filter(|k| k.kid != kid && k.kid != current.current().kid),
                        )
                        .collect();
                    AssertionKeys::new(kept)?
                }
                None => AssertionKeys::new(std::iter::once(fresh_key()?).chain(old).collect())?,
            };
            (keys, env)
        }
    };
    let secret = keys.to_secret();
    Ok(if env {
        format!("{ASSERTION_KEYS_ENV}='{secret}'\n")
    } else {
        format!("{secret}\n")
    })
}

fn fresh_key() -> Result<AssertionKey, String> {
    let mut id = [0u8; 6];
    getrandom::fill(&mut id).map_err(|e| format!("no randomness: {e}"))?;
    let bytes = Ed25519KeyPair::generate().to_bytes();
    Ok(AssertionKey {
        kid: format!("a-{}", B64.encode(id)),
        d: B64.encode(&bytes[..32]),
        x: B64.encode(&bytes[32..]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_wrangler_toml_passes() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../wrangler.toml");
        let summary = check_edge_config(path).unwrap();
        assert!(summary.contains("route table ok"), "{summary}");
    }

    #[test]
    fn generated_and_rotated_keys_parse() {
        let text = run_assertion_keys(AssertionKeysCommand::Generate { env: false }).unwrap();
        let first = AssertionKeys::parse(text.trim()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys.json");
        std::fs::write(&file, text.trim()).unwrap();
        let rotated = run_assertion_keys(AssertionKeysCommand::Rotate {
            file: Some(file.display().to_string()),
            retire: None,
            env: false,
        })
        .unwrap();
        let rotated = AssertionKeys::parse(rotated.trim()).unwrap();
        assert_ne!(rotated.current().kid, first.current().kid);
        assert_eq!(rotated.all().len(), 2);
        std::fs::write(&file, rotated.to_secret()).unwrap();
        let retired = run_assertion_keys(AssertionKeysCommand::Rotate {
            file: Some(file.display().to_string()),
            retire: Some(first.current().kid.clone()),
            env: true,
        })
        .unwrap();
        let retired = AssertionKeys::parse(
            retired
                .trim()
                .trim_start_matches("EDGEAUTH_ASSERTION_KEYS='")
                .trim_end_matches('\''),
        )
        .unwrap();
        assert_eq!(retired.all().len(), 1);
        assert_eq!(retired.current().kid, rotated.current().kid);
    }
}
