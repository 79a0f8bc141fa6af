//! `edgeauth-origin keys …`: generate, rotate, promote, retire and publish signing keys.
//!
//! Every command reads the current private key set (except `generate`), changes it with the
//! core's pure [`SigningKeyRing`] operations and prints the new set; nothing is written in
//! place, so the operator decides where the output goes (`.env`, a secret store, a systemd
//! `EnvironmentFile`).

use std::io::{Read, Write};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use edgeauth_core::keys::{SigningKey, SigningKeyRing};
use jwt_simple::prelude::{ES256KeyPair, Ed25519KeyPair};

/// The environment variable holding the private key set.
pub const SIGNING_KEYS_ENV: &str = "EDGEAUTH_SIGNING_KEYS";

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Print a fresh signing key set (one key) and its public JWKS.
    Generate {
        #[command(flatten)]
        new_key: NewKey,
        #[command(flatten)]
        output: Output,
    },
    /// Put a fresh key first (it signs from now on) and keep every current key published, so
    /// tokens signed by the old keys keep working until they expire. With --stage the new
    /// key is only published (added last) until `keys promote` makes it the signer.
    Rotate {
        #[command(flatten)]
        new_key: NewKey,
        /// Publish the new key without signing with it yet (zero-downtime rotation across
        /// several origin copies and edges that pin EDGEAUTH_JWKS).
        #[arg(long)]
        stage: bool,
        #[command(flatten)]
        input: Input,
        #[command(flatten)]
        output: Output,
    },
    /// Make a published key (usually a staged one) the signing key.
    Promote {
        /// Key id to sign with from now on.
        #[arg(long, allow_hyphen_values = true)]
        kid: String,
        #[command(flatten)]
        input: Input,
        #[command(flatten)]
        output: Output,
    },
    /// Stop publishing old keys. Safe only once every token they signed has expired: keep a
    /// key for at least EDGEAUTH_ACCESS_TTL_SECS + the edge's EDGEAUTH_LEEWAY_SECS (default
    /// 900 + 30 s) after it stopped signing — or at once, to revoke a compromised key.
    #[command(group(ArgGroup::new("which").required(true).args(["kid", "keep"])))]
    Retire {
        /// Drop this key (never the signing key).
        #[arg(long, allow_hyphen_values = true)]
        kid: Option<String>,
        /// Keep only the signing key and the N-1 keys right after it.
        #[arg(long)]
        keep: Option<usize>,
        #[command(flatten)]
        input: Input,
        #[command(flatten)]
        output: Output,
    },
    /// Print the public JWKS of the current set (for the edge's EDGEAUTH_JWKS).
    Jwks {
        #[command(flatten)]
        input: Input,
    },
    /// Prove that the edge no longer trusts a key: reads a current access token (of any live
    /// session) from standard input, sends it to the edge (it must be accepted) and the same
    /// session signed with the key KID (it must be refused). Exit status 0 only when refused.
    CheckEdge {
        /// The edge's public base URL, e.g. https://auth.example.com.
        #[arg(long)]
        edge: String,
        /// The key that must no longer be trusted.
        #[arg(long, allow_hyphen_values = true)]
        kid: String,
        /// A private key set that still holds KID (the set from before you retired it).
        #[arg(long, value_name = "PATH")]
        file: String,
    },
}

#[derive(Args)]
pub struct NewKey {
    /// Algorithm of the new key (any letter case).
    #[arg(long, value_enum, ignore_case = true, default_value_t = Alg::Eddsa)]
    alg: Alg,
    /// Key id of the new key ([A-Za-z0-9._-], at most 64 characters); random when omitted.
    #[arg(long, allow_hyphen_values = true)]
    kid: Option<String>,
}

#[derive(Args)]
pub struct Input {
    /// Read the current private key set from this file (`-`: standard input) instead of
    /// EDGEAUTH_SIGNING_KEYS (environment or `.env`).
    #[arg(long, value_name = "PATH")]
    file: Option<String>,
}

#[derive(Args)]
pub struct Output {
    /// Print `EDGEAUTH_SIGNING_KEYS='…'` and `EDGEAUTH_JWKS='…'` lines (dotenv, systemd
    /// EnvironmentFile and shell syntax) instead of the commented JSON.
    #[arg(long)]
    env: bool,
}

/// Spelled as in JWS (`EdDSA`, `ES256`), the way the docs and token headers write them.
#[derive(Clone, Copy, ValueEnum)]
pub enum Alg {
    #[value(name = "EdDSA")]
    Eddsa,
    #[value(name = "ES256")]
    Es256,
}

/// Runs one `keys` command; the error is the message for the operator.
pub fn run(command: KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::Generate { new_key, output } => {
            let ring = SigningKeyRing::new(vec![new_key.generate()?]).map_err(|e| e.to_string())?;
            print_ring(&ring, &output)?;
        }
        KeysCommand::Rotate {
            new_key,
            stage,
            input,
            output,
        } => {
            let current = input.read()?;
            let key = new_key.generate()?;
            let kid = key.kid().to_owned();
            let ring = if stage {
                current.staged(key)
            } else {
                current.rotated(key)
            }
            .map_err(|e| e.to_string())?;
            print_ring(&ring, &output)?;
            if stage {
                eprintln!(
                    "staged key {kid}: published, not signing. Deploy this set to every origin \
                     (and EDGEAUTH_JWKS to the edge if it pins keys), then run \
                     `edgeauth-origin keys promote --kid {kid}`."
                );
            } else {
                eprintln!(
                    "new signing key {kid}; the previous keys stay published. Retire them \
                     (`edgeauth-origin keys retire --kid …`) no sooner than access-token \
                     lifetime + leeway (default 900 + 30 s) after this set is live."
                );
            }
        }
        KeysCommand::Promote { kid, input, output } => {
            let ring = input.read()?.promoted(&kid).map_err(|e| e.to_string())?;
            print_ring(&ring, &output)?;
            eprintln!("signing key is now {kid}; every other key stays published");
        }
        KeysCommand::Retire {
            kid,
            keep,
            input,
            output,
        } => {
            let current = input.read()?;
            let ring = match (kid, keep) {
                (Some(kid), _) => current.retired(&kid).map_err(|e| e.to_string())?,
                (None, Some(0)) => return Err("--keep must be at least 1".into()),
                (None, Some(count)) => current.keeping(count),
                (None, None) => return Err("pass --kid KID or --keep N".into()),
            };
            print_ring(&ring, &output)?;
            let kids: Vec<&str> = ring.keys().iter().map(SigningKey::kid).collect();
            eprintln!(
                "published keys now: {}. Install this set on every origin and restart them; \
                 the edge stops trusting the others within EDGEAUTH_JWKS_TTL_SECS, or at once when \
                 you put this set's EDGEAUTH_JWKS on it (docs/deploy.md, step 7)",
                kids.join(", ")
            );
        }
        KeysCommand::Jwks { input } => print_out(&format!("{}\n", input.read()?.public_jwks()))?,
        KeysCommand::CheckEdge { edge, kid, file } => {
            if file == "-" {
                return Err(
                    "the access token comes on standard input; pass the key set as a file".into(),
                );
            }
            let ring = Input { file: Some(file) }.read()?;
            let key = ring
                .keys()
                .iter()
                .find(|key| key.kid() == kid)
                .ok_or_else(|| {
                    format!("the key set has no key {kid}: pass the set from before its retirement")
                })?;
            let mut token = String::new();
            std::io::stdin()
                .read_to_string(&mut token)
                .map_err(|e| format!("reading the access token from standard input: {e}"))?;
            if token.trim().is_empty() {
                return Err("pass a current access token on standard input (`POST /api/login`, field access_token)".into());
            }
            let verdict = crate::edge_check::run(&edge, key, &token, crate::now_secs())?;
            print_out(&format!("{verdict}\n"))?;
        }
    }
    Ok(())
}

/// Writes to standard output. A reader that has gone away (`keys jwks | head -1`) ends the
/// output quietly instead of a panic about a broken pipe.
pub fn print_out(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("writing to standard output: {e}"))
        }
        _ => Ok(()),
    }
}

impl NewKey {
    fn generate(&self) -> Result<SigningKey, String> {
        let kid = match &self.kid {
            Some(kid) => {
                check_kid(kid)?;
                kid.clone()
            }
            None => random_kid()?,
        };
        Ok(match self.alg {
            Alg::Eddsa => SigningKey::ed25519(&kid, Ed25519KeyPair::generate()),
            Alg::Es256 => SigningKey::es256(&kid, ES256KeyPair::generate()),
        })
    }
}

impl Input {
    fn read(&self) -> Result<SigningKeyRing, String> {
        let (text, source) = match self.file.as_deref() {
            Some("-") => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| format!("reading standard input: {e}"))?;
                (text, "standard input".to_owned())
            }
            Some(path) => (
                std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?,
                path.to_owned(),
            ),
            None => (
                std::env::var(SIGNING_KEYS_ENV).map_err(|_| {
                    format!("no current key set: set {SIGNING_KEYS_ENV} (or .env) or pass --file")
                })?,
                SIGNING_KEYS_ENV.to_owned(),
            ),
        };
        parse_ring(&text).map_err(|e| format!("{source}: {e}"))
    }
}

/// A private key set as JSON, or as an `EDGEAUTH_SIGNING_KEYS=…` line (the `--env` output,
/// or a whole `.env` file), so a command's output can be fed to the next one.
pub fn parse_ring(text: &str) -> Result<SigningKeyRing, String> {
    let prefix = format!("{SIGNING_KEYS_ENV}=");
    let has_line = |prefix: &str| text.lines().any(|line| line.trim().starts_with(prefix));
    if !has_line(&prefix) && has_line("EDGEAUTH_JWKS=") {
        return Err(edgeauth_core::keys::KeyError::PublicKeySet.to_string());
    }
    let json = text
        .lines()
        .find_map(|line| line.trim().strip_prefix(&prefix))
        .map(|value| {
            let value = value.trim();
            value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(value)
        })
        .unwrap_or(text);
    SigningKeyRing::from_json(json).map_err(|e| e.to_string())
}

/// Key ids end up in token headers, env files and shell commands: keep them plain.
fn check_kid(kid: &str) -> Result<(), String> {
    let plain = (1..=64).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plain {
        Ok(())
    } else {
        Err(format!(
            "--kid {kid:?}: use 1-64 characters from A-Z a-z 0-9 . _ -"
        ))
    }
}

/// 72 random bits, base64url, never starting with `-` or `_` (a kid like `-1x…` reads as an
/// option in `--kid -1x…` to people and to some tools).
fn random_kid() -> Result<String, String> {
    loop {
        let mut bytes = [0u8; 9];
        getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a key id: {e}"))?;
        let kid = B64.encode(bytes);
        if kid.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Ok(kid);
        }
    }
}

fn print_ring(ring: &SigningKeyRing, output: &Output) -> Result<(), String> {
    let text = if output.env {
        format!(
            "{SIGNING_KEYS_ENV}='{}'\nEDGEAUTH_JWKS='{}'\n",
            ring.to_private_json(),
            ring.public_jwks()
        )
    } else {
        format!(
            "# Private signing key set — origin only ({SIGNING_KEYS_ENV}). Keep it secret.\n{}\n\n\
             # Public JWKS — for the edge (EDGEAUTH_JWKS) and anyone verifying tokens.\n{}\n",
            ring.to_private_json(),
            ring.public_jwks()
        )
    };
    print_out(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_json() -> String {
        SigningKeyRing::new(vec![SigningKey::ed25519("k1", Ed25519KeyPair::generate())])
            .unwrap()
            .to_private_json()
    }

    #[test]
    fn key_sets_are_read_from_json_and_env_lines() {
        let json = ring_json();
        assert_eq!(parse_ring(&json).unwrap().active().kid(), "k1");
        let env_file =
            format!("# comment\nOTHER=1\n{SIGNING_KEYS_ENV}='{json}'\nEDGEAUTH_JWKS='{{}}'\n");
        assert_eq!(parse_ring(&env_file).unwrap().active().kid(), "k1");
        let unquoted = format!("{SIGNING_KEYS_ENV}={json}");
        assert_eq!(parse_ring(&unquoted).unwrap().active().kid(), "k1");
        assert!(parse_ring("EDGEAUTH_SIGNING_KEYS=").is_err());
        assert!(parse_ring("nonsense").is_err());
    }

    #[test]
    fn key_ids_stay_plain() {
        for good in ["k1", "2026-11.ed_a", &"a".repeat(64)] {
            assert!(check_kid(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "it's", "k\"", &"a".repeat(65)] {
            assert!(check_kid(bad).is_err(), "{bad}");
        }
        for _ in 0..200 {
            let kid = random_kid().unwrap();
            assert_eq!(kid.len(), 12);
            assert!(
                check_kid(&kid).is_ok() && !kid.starts_with(['-', '_']),
                "{kid}"
            );
        }
    }
}
