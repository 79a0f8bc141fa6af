//! `edgeauth-origin`: serve the origin, or manage signing keys.

use std::process::ExitCode;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use clap::{Parser, Subcommand, ValueEnum};
use edgeauth_core::keys::{SigningKey, SigningKeyRing};
use edgeauth_origin::app::{self, AppState};
use edgeauth_origin::config::ServeConfig;
use jwt_simple::prelude::{ES256KeyPair, Ed25519KeyPair};

#[derive(Parser)]
#[command(name = "edgeauth-origin", version, about = "edgeauth origin service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the origin HTTP service (configuration from the environment and `.env`).
    Serve(Box<ServeConfig>),
    /// Signing-key management.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a fresh signing key (private JWK set) and its public JWKS.
    Generate {
        #[arg(long, value_enum, default_value_t = Alg::Eddsa)]
        alg: Alg,
        /// Key id; random when omitted.
        #[arg(long)]
        kid: Option<String>,
        /// Print `EDGEAUTH_SIGNING_KEYS=...` and `EDGEAUTH_JWKS=...` lines for env files.
        #[arg(long)]
        env: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Alg {
    Eddsa,
    Es256,
}

fn main() -> ExitCode {
    // A missing .env is normal (production passes real environment variables).
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    match cli.command {
        Command::Keys {
            command: KeysCommand::Generate { alg, kid, env },
        } => generate_key(alg, kid, env),
        Command::Serve(config) => serve(*config),
    }
}

fn generate_key(alg: Alg, kid: Option<String>, env: bool) -> ExitCode {
    let kid = kid.unwrap_or_else(|| {
        let mut bytes = [0u8; 9];
        match getrandom::fill(&mut bytes) {
            Ok(()) => B64.encode(bytes),
            Err(_) => String::from("key-1"),
        }
    });
    let key = match alg {
        Alg::Eddsa => SigningKey::ed25519(&kid, Ed25519KeyPair::generate()),
        Alg::Es256 => SigningKey::es256(&kid, ES256KeyPair::generate()),
    };
    let ring = match SigningKeyRing::new(vec![key]) {
        Ok(ring) => ring,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if env {
        println!("EDGEAUTH_SIGNING_KEYS={}", ring.to_private_json());
        println!("EDGEAUTH_JWKS={}", ring.public_jwks());
    } else {
        println!(
            "# Private signing key set — origin only (EDGEAUTH_SIGNING_KEYS). Keep it secret."
        );
        println!("{}", ring.to_private_json());
        println!();
        println!("# Public JWKS — for the edge (EDGEAUTH_JWKS) and anyone verifying tokens.");
        println!("{}", ring.public_jwks());
    }
    ExitCode::SUCCESS
}

fn serve(config: ServeConfig) -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .init();
    let state = match AppState::new(&config) {
        Ok(state) => state,
        Err(e) => {
            eprintln!("edgeauth-origin: invalid configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("edgeauth-origin: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(state))
}

async fn run(state: AppState) -> ExitCode {
    let listen = state.settings.listen;
    match state.store.eviction_policy().await {
        Some(policy) if policy != "noeviction" => tracing::warn!(
            %policy,
            "Redis may evict keys (maxmemory-policy is not noeviction): sessions and revocations could silently disappear; set maxmemory-policy noeviction"
        ),
        Some(_) => {}
        None => tracing::info!("could not read Redis maxmemory-policy; make sure it is noeviction"),
    }
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("edgeauth-origin: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(%listen, "edgeauth origin listening");
    println!("edgeauth-origin listening on http://{listen}");
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return std::future::pending().await,
                };
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
    };
    match axum::serve(listener, app::router(state))
        .with_graceful_shutdown(shutdown)
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edgeauth-origin: server error: {e}");
            ExitCode::FAILURE
        }
    }
}
