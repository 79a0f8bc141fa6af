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

    /// Bearer token clients must send (`Authorization: Bearer <token>`); it may run any command.
    #[arg(long, env = "UPSTASH_REDIS_REST_TOKEN", hide_env_values = true, value_parser = NonEmptyStringValueParser::new())]
    pub token: String,

    /// A second, read-only token, as Upstash offers one: it may run exactly the commands the edge
    /// sends (`edgeauth_core::redis_layout::EDGE_COMMANDS`: HMGET, PING) and nothing else, so a
    /// leaked edge secret cannot write. Unset: no read-only token.
    #[arg(long, env = "BRIDGE_READONLY_TOKEN", hide_env_values = true, value_parser = NonEmptyStringValueParser::new())]
    pub readonly_token: Option<String>,

    /// Allow listening on an address other than loopback. The bridge speaks plain HTTP and its
    /// tokens open the whole database: expose it only on purpose.
    #[arg(long, env = "BRIDGE_ALLOW_NON_LOOPBACK", default_value_t = false)]
    pub allow_non_loopback: bool,

    /// Largest accepted request body, in bytes; larger ones get 413.
    #[arg(long, env = "BRIDGE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// How long a call to redis may take before the client gets 503, in milliseconds.
    #[arg(long, env = "BRIDGE_REDIS_TIMEOUT_MS", default_value_t = 2000)]
    pub redis_timeout_ms: u64,

    /// Threads serving requests; 1 (the default) costs the least CPU per request, 0 = one per CPU.
    #[arg(long, env = "BRIDGE_THREADS", default_value_t = 1)]
    pub threads: usize,
}

impl Config {
    /// Defaults for everything but the token.
    pub fn new(token: impl Into<String>) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8079)),
            redis_url: "redis://127.0.0.1:6380".into(),
            token: token.into(),
            readonly_token: None,
            allow_non_loopback: false,
            max_body_bytes: 1024 * 1024,
            redis_timeout_ms: 2000,
            threads: 1,
        }
    }

    /// Why the listen address may not be used, if it may not (not loopback, not allowed).
    pub fn listen_refusal(&self) -> Option<String> {
        (!self.listen.ip().is_loopback() && !self.allow_non_loopback).then(|| {
            format!(
                "refusing to listen on {}: not a loopback address; the bridge speaks plain HTTP \
                 and its token opens the whole database. Set BRIDGE_ALLOW_NON_LOOPBACK=true \
                 (--allow-non-loopback) to do it anyway",
                self.listen
            )
        })
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
    fn non_loopback_listening_needs_consent() {
        let parse = |extra: &[&str]| {
            let args = ["edgeauth-bridge", "--token=t"]
                .iter()
                .chain(extra)
                .copied();
            Config::try_parse_from(args).unwrap()
        };
        assert_eq!(parse(&["--listen=127.0.0.1:0"]).listen_refusal(), None);
        assert_eq!(parse(&["--listen=[::1]:0"]).listen_refusal(), None);
        let open = parse(&["--listen=0.0.0.0:8079"]);
        assert!(open
            .listen_refusal()
            .unwrap()
            .contains("BRIDGE_ALLOW_NON_LOOPBACK"));
        let consented = parse(&["--listen=0.0.0.0:8079", "--allow-non-loopback"]);
        assert_eq!(consented.listen_refusal(), None);
    }

    #[test]
    fn every_setting_is_documented() {
        use clap::CommandFactory;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
        let document = std::fs::read_to_string(path).unwrap();
        let section = document
            .split("## The local bridge")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("docs/configuration.md has a bridge section");
        for arg in Config::command().get_arguments() {
            let Some(env) = arg.get_env().and_then(|e| e.to_str()) else {
                continue;
            };
            assert!(
                section.contains(&format!("| `{env}` |")),
                "{env} is not documented in the bridge section of docs/configuration.md"
            );
        }
    }

    #[test]
    fn rejects_an_empty_token() {
        assert!(Config::try_parse_from(["edgeauth-bridge", "--token", ""]).is_err());
    }
}
