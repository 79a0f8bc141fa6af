//! Command-line options of the bridge, each with an environment-variable fallback.

use std::net::SocketAddr;
use std::time::Duration;

use clap::builder::NonEmptyStringValueParser;

/// Serves the Upstash REST protocol (`POST /`, `/pipeline`, `/multi-exec`) in front of
/// a real redis-server, for local development and tests.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "edgeauth-bridge", version)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the startup line prints it).
    #[arg(long, env = "BRIDGE_LISTEN", default_value = "127.0.0.1:8079")]
    pub listen: SocketAddr,

    /// redis-server to forward commands to.
    #[arg(
        long,
        env = "BRIDGE_REDIS_URL",
        default_value = "redis://127.0.0.1:6380"
    )]
    pub redis_url: String,

    /// Bearer token clients must send (`Authorization: Bearer <token>`).
    #[arg(long, env = "UPSTASH_REDIS_REST_TOKEN", hide_env_values = true, value_parser = NonEmptyStringValueParser::new())]
    pub token: String,

    /// Largest accepted request body, in bytes; larger ones get 413.
    #[arg(long, env = "BRIDGE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// How long a call to redis may take before the client gets 503, in milliseconds.
    #[arg(long, env = "BRIDGE_REDIS_TIMEOUT_MS", default_value_t = 2000)]
    pub redis_timeout_ms: u64,
}

impl Config {
    /// Defaults for everything but the token.
    pub fn new(token: impl Into<String>) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8079)),
            redis_url: "redis://127.0.0.1:6380".into(),
            token: token.into(),
            max_body_bytes: 1024 * 1024,
            redis_timeout_ms: 2000,
        }
    }

    /// The bound on each redis call.
    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }

    /// The redis URL with any password hidden, for logs.
    pub fn redis_url_for_display(&self) -> String {
        match (
            self.redis_url.split_once("://"),
            self.redis_url.rsplit_once('@'),
        ) {
            (Some((scheme, _)), Some((_, host))) => format!("{scheme}://***@{host}"),
            _ => self.redis_url.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn parses_flags() {
        // Flags only: the defaults may be overridden by the environment running the tests.
        let config = Config::try_parse_from([
            "edgeauth-bridge",
            "--token=t",
            "--listen=127.0.0.1:0",
            "--redis-url=redis://:secret@10.0.0.1:6379",
            "--max-body-bytes=10",
            "--redis-timeout-ms=50",
        ])
        .unwrap();
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.max_body_bytes, 10);
        assert_eq!(config.redis_timeout(), Duration::from_millis(50));
        assert_eq!(config.redis_url_for_display(), "redis://***@10.0.0.1:6379");
    }

    #[test]
    fn rejects_an_empty_token() {
        assert!(Config::try_parse_from(["edgeauth-bridge", "--token", ""]).is_err());
    }
}
