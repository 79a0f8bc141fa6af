//! edgeauth-bridge: serves the Upstash REST protocol in front of a real redis-server.
//!
//! The binary wraps [`Bridge`]; tests can run one in-process on a free port.

pub mod backend;
pub mod config;
pub mod reply;
mod routes;

use std::future::Future;
use std::net::SocketAddr;

use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;

pub use config::Config;
pub use routes::router;

/// Why the bridge could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The redis URL does not parse.
    #[error("invalid redis URL {url}: {source}")]
    RedisUrl {
        /// The URL, password hidden.
        url: String,
        /// What redis-rs objected to.
        #[source]
        source: redis::RedisError,
    },
    /// The listen address is not loopback, and that was not explicitly allowed.
    #[error("{0}")]
    NotLoopback(String),
    /// The listen address is taken or not ours.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A bound, ready-to-serve bridge.
pub struct Bridge {
    listener: TcpListener,
    app: Router,
}

impl Bridge {
    /// Binds the listen address and prepares (lazily) the redis connection.
    pub async fn bind(config: &Config) -> Result<Self, StartError> {
        if let Some(refusal) = config.listen_refusal() {
            return Err(StartError::NotLoopback(refusal));
        }
        let backend =
            backend::Backend::new(&config.redis_url, config.redis_timeout()).map_err(|source| {
                StartError::RedisUrl {
                    url: config.redis_url_for_display(),
                    source,
                }
            })?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let app = router(
            backend,
            &config.token,
            config.readonly_token.as_deref(),
            config.max_body_bytes,
        );
        Ok(Bridge { listener, app })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // Small request/response exchanges: never let Nagle hold a reply back for an ACK.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(error = %err, "cannot set TCP_NODELAY");
            }
        });
        axum::serve(listener, self.app)
            .with_graceful_shutdown(shutdown)
            .await
    }
}
