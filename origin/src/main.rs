//! `edgeauth-origin`: serve the origin, or manage signing keys.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use axum::serve::ListenerExt;
use clap::{Parser, Subcommand};
use edgeauth_origin::app::{self, AppState};
use edgeauth_origin::config::ServeConfig;
use edgeauth_origin::edge_config::{self, AssertionKeysCommand};
use edgeauth_origin::key_admin::{self, KeysCommand};
use edgeauth_origin::user_admin::{self, UsersCommand};
use edgeauth_origin::{admin, config_reference, telemetry};

#[derive(Parser)]
#[command(name = "edgeauth-origin", version, about = "edgeauth origin service")]
struct Cli {
    /// Do not read `.env` from the working directory: settings come from the environment only
    /// (the systemd unit passes this; its settings come from EnvironmentFile).
    #[arg(long, global = true)]
    no_env_file: bool,
    #[command(subcommand)]
    command: Command,
}

/// The flag as typed; it must be known before clap parses, because `.env` feeds clap's
/// environment-backed options.
const NO_ENV_FILE: &str = "--no-env-file";

/// What became of `.env`.
enum EnvFile {
    Read(PathBuf),
    Absent,
    Skipped,
}

#[derive(Subcommand)]
enum Command {
    /// Run the origin HTTP service (configuration from the environment and `.env`).
    Serve(Box<ServeConfig>),
    /// Signing-key management: generate, rotate, promote, retire, jwks.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print the OpenAPI 3.1 document of the public API (also served at /openapi.json).
    Openapi,
    /// User administration: roles.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Validate the edge's route table (`[vars] EDGEAUTH_ROUTES` of a wrangler.toml) with the
    /// code the edge runs, before deploying.
    CheckEdgeConfig {
        /// Path of the wrangler.toml to check.
        path: String,
    },
    /// The edge's assertion signing keys (the EDGEAUTH_ASSERTION_KEYS secret).
    AssertionKeys {
        #[command(subcommand)]
        command: AssertionKeysCommand,
    },
}

fn main() -> ExitCode {
    let env_file = match load_env_file() {
        Ok(env_file) => env_file,
        Err(e) => {
            eprintln!("edgeauth-origin: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap names the flag; operators set the environment variable, so name it too.
            if let Some(env) = e
                .get(clap::error::ContextKind::InvalidArg)
                .and_then(|arg| config_reference::env_of_flag(&arg.to_string()))
            {
                eprintln!("edgeauth-origin: that flag is set by the environment variable {env}");
            }
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    // clap knows the flag for --help and validation; it was acted on before parsing.
    debug_assert!(!cli.no_env_file || matches!(env_file, EnvFile::Skipped));
    match cli.command {
        Command::Keys { command } => match key_admin::run(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("edgeauth-origin keys: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve(config) => serve(*config, env_file),
        Command::Users { command } => {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("edgeauth-origin: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(user_admin::run(command)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("edgeauth-origin users: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::CheckEdgeConfig { path } => match edge_config::check_edge_config(&path) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("edgeauth-origin check-edge-config: {e}");
                ExitCode::FAILURE
            }
        },
        Command::AssertionKeys { command } => match edge_config::run_assertion_keys(command)
            .and_then(|text| key_admin::print_out(&text))
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("edgeauth-origin assertion-keys: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Openapi => {
            match key_admin::print_out(&format!("{}\n", edgeauth_origin::openapi::document())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("edgeauth-origin: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Reads `.env` from the working directory only — never from a parent, so a binary run inside
/// a checkout does not pick up the developer's file — unless `--no-env-file` is given. Real
/// environment variables win over the file.
fn load_env_file() -> Result<EnvFile, String> {
    let skipped = std::env::args_os()
        .skip(1)
        .take_while(|arg| arg != "--")
        .any(|arg| arg == NO_ENV_FILE);
    if skipped {
        return Ok(EnvFile::Skipped);
    }
    let path = Path::new(".env");
    match dotenvy::from_path(path) {
        Ok(()) => Ok(EnvFile::Read(
            std::env::current_dir().map_or_else(|_| path.to_path_buf(), |dir| dir.join(path)),
        )),
        Err(e) if e.not_found() => Ok(EnvFile::Absent),
        Err(e) => Err(format!(
            "cannot read .env in the working directory: {e} (fix it, or pass {NO_ENV_FILE})"
        )),
    }
}

fn serve(config: ServeConfig, env_file: EnvFile) -> ExitCode {
    telemetry::init_logging();
    match env_file {
        EnvFile::Read(path) => tracing::info!(
            env_file = %path.display(),
            "read settings from .env in the working directory (environment variables win)"
        ),
        EnvFile::Absent => {
            tracing::info!("no .env in the working directory: settings from the environment")
        }
        EnvFile::Skipped => tracing::info!("{NO_ENV_FILE}: settings from the environment only"),
    }
    let state = match AppState::new(&config) {
        Ok(state) => state,
        Err(e) => {
            eprintln!("edgeauth-origin: invalid configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut builder = match config.serve_threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        0 => tokio::runtime::Builder::new_multi_thread(),
        n => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("edgeauth-origin: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(state))
}

async fn run(state: AppState) -> ExitCode {
    let metrics = match telemetry::install_metrics() {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("edgeauth-origin: cannot set up metrics: {e}");
            return ExitCode::FAILURE;
        }
    };
    edgeauth_origin::mail::describe_metrics();
    warn_about_redis(&state).await;
    // Bind both listeners before serving either, so a taken port fails the start-up.
    let listener = match bind(&state.settings.listen, "EDGEAUTH_LISTEN").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("edgeauth-origin: {e}");
            return ExitCode::FAILURE;
        }
    };
    let admin = match &state.settings.admin_listen {
        Some(addrs) => match bind(addrs, "EDGEAUTH_ADMIN_LISTEN").await {
            Ok(listener) => Some(listener),
            Err(e) => {
                eprintln!("edgeauth-origin: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    // Standard output carries JSON lines only (`journalctl … | jq` reads every line); the
    // addresses logged are the ones bound, so port 0 shows the port picked.
    tracing::info!(listen = %bound(&listener), "edgeauth origin listening");
    if let Some(admin) = admin {
        tracing::info!(
            admin_listen = %bound(&admin),
            "admin listener (metrics, healthz, readyz)"
        );
        let router = admin::router(state.clone(), metrics);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(admin, router).await {
                tracing::error!(error = %e, "admin listener failed");
            }
        });
    }
    if state.settings.mail.enabled() {
        tracing::info!(public_url = %state.settings.mail.public_url, "mail delivery on (outbox in Redis)");
        tokio::spawn(edgeauth_origin::mail::deliver_forever(state.clone()));
    } else {
        tracing::warn!("EDGEAUTH_SMTP_URL is not set: no mail is sent (no verification, password reset or email change)");
    }
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
    // Small request/response exchanges with the edge: never let Nagle hold a reply back.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
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

/// Binds the first of `addrs` that is free; the error names the setting and the address.
async fn bind(addrs: &[SocketAddr], setting: &str) -> Result<tokio::net::TcpListener, String> {
    let mut failure = format!("{setting} resolved to no address");
    for addr in addrs {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e) => failure = format!("cannot listen on {addr} ({setting}): {e}"),
        }
    }
    Err(failure)
}

fn bound(listener: &tokio::net::TcpListener) -> String {
    listener
        .local_addr()
        .map_or_else(|e| format!("unknown ({e})"), |addr| addr.to_string())
}

/// Start-up warnings about the Redis the origin reaches (never fatal: Redis may come later).
async fn warn_about_redis(state: &AppState) {
    match state.store.eviction_policy().await {
        Some(policy) if policy != "noeviction" => tracing::warn!(
            %policy,
            "Redis may evict keys (maxmemory-policy is not noeviction): sessions and revocations could silently disappear; set maxmemory-policy noeviction"
        ),
        Some(_) => {}
        None => tracing::info!("could not read Redis maxmemory-policy; make sure it is noeviction"),
    }
    let host = state
        .settings
        .redis
        .url
        .strip_prefix("http://")
        .map(|rest| {
            let authority = rest.split('/').next().unwrap_or("");
            match authority.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or(""),
                None => authority.split(':').next().unwrap_or(""),
            }
        });
    let loopback = |h: &str| {
        h == "localhost"
            || h.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    };
    if let Some(host) = host.filter(|h| !loopback(h)) {
        tracing::warn!(
            %host,
            "UPSTASH_REDIS_REST_URL is plain http to a non-loopback host: the Redis token and session data cross the network unencrypted; use https"
        );
    }
}
