//! `edgeauth-origin`: serve the origin, or manage signing keys.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use edgeauth_origin::app::{self, AppState};
use edgeauth_origin::config::ServeConfig;
use edgeauth_origin::key_admin::{self, KeysCommand};
use edgeauth_origin::{admin, config_reference, telemetry};

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
    /// Signing-key management: generate, rotate, promote, retire, jwks.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print the OpenAPI 3.1 document of the public API (also served at /openapi.json).
    Openapi,
}

fn main() -> ExitCode {
    // A missing .env is normal (production passes real environment variables).
    let _ = dotenvy::dotenv();
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
    match cli.command {
        Command::Keys { command } => match key_admin::run(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("edgeauth-origin keys: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve(config) => serve(*config),
        Command::Openapi => {
            println!("{}", edgeauth_origin::openapi::document());
            ExitCode::SUCCESS
        }
    }
}

fn serve(config: ServeConfig) -> ExitCode {
    telemetry::init_logging();
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
    let metrics = match telemetry::install_metrics() {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("edgeauth-origin: cannot set up metrics: {e}");
            return ExitCode::FAILURE;
        }
    };
    warn_about_redis(&state).await;
    // Bind both listeners before serving either, so a taken port fails the start-up.
    let listen = state.settings.listen;
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("edgeauth-origin: cannot listen on {listen} (EDGEAUTH_LISTEN): {e}");
            return ExitCode::FAILURE;
        }
    };
    let admin = match state.settings.admin_listen {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => Some(listener),
            Err(e) => {
                eprintln!("edgeauth-origin: cannot listen on {addr} (EDGEAUTH_ADMIN_LISTEN): {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    tracing::info!(%listen, "edgeauth origin listening");
    println!("edgeauth-origin listening on http://{listen}");
    if let Some(admin) = admin {
        let addr = admin
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(admin_listen = %addr, "admin listener (metrics, healthz, readyz)");
        println!("edgeauth-origin admin (metrics, healthz, readyz) on http://{addr}");
        let router = admin::router(state.clone(), metrics);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(admin, router).await {
                tracing::error!(error = %e, "admin listener failed");
            }
        });
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
