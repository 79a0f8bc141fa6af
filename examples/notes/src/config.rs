//! The app's configuration: command-line options, each also read from an environment variable.

use std::net::SocketAddr;

use clap::Parser;
use edgeauth_verify::{VerifierConfig, DEFAULT_HEADER_NAME, JWKS_PATH};

/// The notes example app. It trusts only requests that carry a valid edgeauth assertion.
#[derive(Debug, Clone, Parser)]
#[command(name = "edgeauth-example-notes", version)]
pub struct Config {
    /// Address to listen on. Keep it private: the app must be reachable only through the edge.
    #[arg(long, env = "NOTES_ADDR", default_value = "127.0.0.1:8790")]
    pub addr: SocketAddr,

    /// The edge's issuer URL: the `iss` every assertion must carry.
    #[arg(long, env = "NOTES_ISSUER", default_value = "http://127.0.0.1:8787")]
    pub issuer: String,

    /// The edge's assertion JWKS. Default: `<issuer>/.well-known/edgeauth/assertion-jwks.json`.
    #[arg(long, env = "NOTES_JWKS_URL")]
    pub jwks_url: Option<String>,

    /// This app's upstream id in the edge's route table (the assertions' `aud`).
    #[arg(long, env = "NOTES_AUDIENCE", default_value = "notes")]
    pub audience: String,

    /// The header the edge puts the assertion in.
    #[arg(long, env = "NOTES_ASSERTION_HEADER", default_value = DEFAULT_HEADER_NAME)]
    pub assertion_header: String,

    /// Where the app is mounted: the edge forwards the full path, so routes start with it.
    /// Empty mounts the app at the root.
    #[arg(long, env = "NOTES_PREFIX", default_value = "/notes")]
    pub prefix: String,
}

impl Config {
    /// The verifier's configuration (cache timings keep the crate's defaults).
    pub fn verifier(&self) -> VerifierConfig {
        let jwks_url = self
            .jwks_url
            .clone()
            .unwrap_or_else(|| format!("{}{JWKS_PATH}", self.issuer.trim_end_matches('/')));
        let mut config = VerifierConfig::new(jwks_url, self.issuer.clone(), self.audience.clone());
        config.header_name = self.assertion_header.clone();
        config
    }
}
