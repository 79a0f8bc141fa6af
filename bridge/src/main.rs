//! The `edgeauth-bridge` binary: parse options, set up logging, serve until SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use edgeauth_bridge::{Bridge, Config};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = Config::parse();
    // One thread by default: the bridge only moves bytes between HTTP and one multiplexed Redis
    // connection. On one thread a request never hands off to another worker (no futex
    // wake-ups, no work stealing), and the Redis commands of requests that arrive together go
    // out in one write (docs/performance.md, "Where the operator's CPU goes").
    let mut builder = match config.threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        0 => tokio::runtime::Builder::new_multi_thread(),
        n => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
    };
    match builder.enable_all().build() {
        Ok(runtime) => runtime.block_on(serve(config)),
        Err(err) => {
            eprintln!("edgeauth-bridge: cannot start the runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let bridge = match Bridge::bind(&config).await {
        Ok(bridge) => bridge,
        Err(err) => {
            tracing::error!(error = %err, "edgeauth-bridge failed to start");
            return ExitCode::FAILURE;
        }
    };
    let addr = match bridge.local_addr() {
        Ok(addr) => addr,
        Err(err) => {
            tracing::error!(error = %err, "cannot read the bound address");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "edgeauth-bridge listening on http://{addr} (redis {})",
        config.redis_url_for_display()
    );
    if let Err(err) = bridge.serve(shutdown_signal()).await {
        tracing::error!(error = %err, "edgeauth-bridge stopped with an error");
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
