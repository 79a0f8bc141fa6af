//! The `edgeauth-example-notes` binary: read the configuration, serve until SIGINT/SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use edgeauth_example_notes::config::Config;
use edgeauth_example_notes::{app, Settings};
use edgeauth_verify::Verifier;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let verifier = match Verifier::new(config.verifier()) {
        Ok(verifier) => Arc::new(verifier),
        Err(err) => {
            tracing::error!(error = %err, "invalid verifier configuration");
            return ExitCode::FAILURE;
        }
    };
    let settings = Settings {
        prefix: config.prefix.clone(),
        ..Settings::default()
    };
    let router = match app(&settings, verifier) {
        Ok(router) => router,
        Err(err) => {
            tracing::error!(error = %err, "invalid NOTES_PREFIX");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(error = %err, addr = %config.addr, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(err) => {
            tracing::error!(error = %err, "cannot read the bound address");
            return ExitCode::FAILURE;
        }
    };
    // Harnesses read the bound address from this line (NOTES_ADDR may use port 0): keep it
    // the only URL on it.
    println!("edgeauth-example-notes listening on http://{addr}");
    tracing::info!(prefix = %config.prefix, audience = %config.audience, issuer = %config.issuer, "serving");
    if let Err(err) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
    {
        tracing::error!(error = %err, "edgeauth-example-notes stopped with an error");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let interrupt = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
