//! The edge's configuration: every setting's name, default and meaning, parsed once per isolate.
//!
//! `[vars]` in `wrangler.toml` carry the non-secret settings; secrets come from `.dev.vars`
//! locally and `wrangler secret put` in production. Parsing is pure: the runtime passes a
//! lookup function over the Worker's `env`, so every rule here is unit-tested natively.

use std::fmt;

use edgeauth_core::edge_signature::EdgeSecret;
use edgeauth_core::keys::{Algorithm, VerificationKeys};
use edgeauth_core::token::TokenPolicy;

use crate::cors::CorsPolicy;

/// `[var]` Base URL of the origin, `scheme://host[:port]` without a path.
pub const ORIGIN_URL: &str = "ORIGIN_URL";
/// `[var]` Expected `iss` of access tokens.
pub const ISSUER: &str = "EDGEAUTH_ISSUER";
/// `[var]` Expected `aud` of access tokens.
pub const AUDIENCE: &str = "EDGEAUTH_AUDIENCE";
/// `[var]` Clock skew tolerated on `exp`/`nbf`/`iat`, seconds.
pub const LEEWAY_SECS: &str = "EDGEAUTH_LEEWAY_SECS";
/// `[var]` Comma-separated JWS algorithms the edge accepts (`EdDSA`, `ES256`).
pub const ALGORITHMS: &str = "EDGEAUTH_ALGORITHMS";
/// `[var]` Comma-separated browser origins allowed to call the API cross-origin (CORS).
pub const ALLOWED_ORIGINS: &str = "EDGEAUTH_ALLOWED_ORIGINS";
/// `[var]` Upper bound on the one Redis round trip per authenticated request, milliseconds.
pub const REDIS_TIMEOUT_MS: &str = "REDIS_TIMEOUT_MS";
/// `[var]` Upper bound on waiting for the origin's response headers, milliseconds.
pub const ORIGIN_TIMEOUT_MS: &str = "ORIGIN_TIMEOUT_MS";
/// `[var]` Largest request body the edge forwards, bytes.
pub const MAX_BODY_BYTES: &str = "MAX_BODY_BYTES";
/// `[secret]` Public JWKS of the origin's signing keys.
pub const JWKS: &str = "EDGEAUTH_JWKS";
/// `[secret]` Base64 HMAC key shared with the origin (≥ 32 bytes).
pub const EDGE_SECRET: &str = "EDGEAUTH_EDGE_SECRET";
/// `[secret]` Upstash REST URL (locally the bridge).
pub const REDIS_URL: &str = "UPSTASH_REDIS_REST_URL";
/// `[secret]` Upstash REST bearer token.
pub const REDIS_TOKEN: &str = "UPSTASH_REDIS_REST_TOKEN";

pub const DEFAULT_ORIGIN_URL: &str = "http://127.0.0.1:8788";
pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:8787";
pub const DEFAULT_AUDIENCE: &str = "edgeauth";
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
pub const DEFAULT_ALGORITHMS: &str = "EdDSA,ES256";
pub const DEFAULT_REDIS_TIMEOUT_MS: u32 = 1500;
pub const DEFAULT_ORIGIN_TIMEOUT_MS: u32 = 10_000;
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024;

/// Everything the edge needs, validated. Built once per isolate.
pub struct Config {
    /// Origin base URL without a trailing slash; the request's path and query are appended.
    pub origin_url: String,
    pub policy: TokenPolicy,
    pub keys: VerificationKeys,
    pub edge_secret: EdgeSecret,
    pub redis_url: String,
    pub redis_token: String,
    pub redis_timeout_ms: u32,
    pub origin_timeout_ms: u32,
    pub max_body_bytes: usize,
    pub cors: CorsPolicy,
}

/// One unusable setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub setting: &'static str,
    pub problem: String,
}

/// Every unusable setting at once, so an operator fixes them in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<SettingError>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("edge configuration is invalid: ")?;
        for (i, e) in self.0.iter().enumerate() {
            let separator = if i == 0 { "" } else { "; " };
            write!(f, "{separator}{} {}", e.setting, e.problem)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Collects problems while parsing, so one missing secret does not hide the next.
struct Problems(Vec<SettingError>);

impl Problems {
    fn note<T>(&mut self, setting: &'static str, result: Result<T, String>) -> Option<T> {
        result
            .map_err(|problem| self.0.push(SettingError { setting, problem }))
            .ok()
    }
}

impl Config {
    /// Reads every setting through `lookup` (the Worker's env). Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut p = Problems(Vec::new());

        let origin_url = p.note(
            ORIGIN_URL,
            base_url(get(ORIGIN_URL).as_deref().unwrap_or(DEFAULT_ORIGIN_URL)),
        );
        let issuer = get(ISSUER).unwrap_or_else(|| DEFAULT_ISSUER.to_owned());
        let audience = get(AUDIENCE).unwrap_or_else(|| DEFAULT_AUDIENCE.to_owned());
        let leeway = p.note(
            LEEWAY_SECS,
            number(get(LEEWAY_SECS), DEFAULT_LEEWAY_SECS, 0, 300),
        );
        let algorithms = p.note(
            ALGORITHMS,
            algorithms(get(ALGORITHMS).as_deref().unwrap_or(DEFAULT_ALGORITHMS)),
        );
        let cors = p.note(
            ALLOWED_ORIGINS,
            CorsPolicy::parse(get(ALLOWED_ORIGINS).as_deref().unwrap_or("")),
        );
        let redis_timeout_ms = p.note(
            REDIS_TIMEOUT_MS,
            number(get(REDIS_TIMEOUT_MS), DEFAULT_REDIS_TIMEOUT_MS, 1, 30_000),
        );
        let origin_timeout_ms = p.note(
            ORIGIN_TIMEOUT_MS,
            number(get(ORIGIN_TIMEOUT_MS), DEFAULT_ORIGIN_TIMEOUT_MS, 1, 60_000),
        );
        let max_body_bytes = p.note(
            MAX_BODY_BYTES,
            number(
                get(MAX_BODY_BYTES),
                DEFAULT_MAX_BODY_BYTES,
                1,
                10 * 1024 * 1024,
            ),
        );
        let keys = p.note(
            JWKS,
            required(get(JWKS)).and_then(|text| {
                VerificationKeys::from_json(&text).map_err(|e| format!("is not a usable JWKS: {e}"))
            }),
        );
        let edge_secret = p.note(
            EDGE_SECRET,
            required(get(EDGE_SECRET)).and_then(|text| {
                EdgeSecret::from_base64(&text).map_err(|e| format!("is unusable: it {e}"))
            }),
        );
        let redis_url = p.note(
            REDIS_URL,
            required(get(REDIS_URL)).and_then(|u| base_url(&u)),
        );
        let redis_token = p.note(REDIS_TOKEN, required(get(REDIS_TOKEN)));

        let (
            Some(origin_url),
            Some(leeway_secs),
            Some(allowed_algorithms),
            Some(cors),
            Some(redis_timeout_ms),
            Some(origin_timeout_ms),
            Some(max_body_bytes),
            Some(keys),
            Some(edge_secret),
            Some(redis_url),
            Some(redis_token),
        ) = (
            origin_url,
            leeway,
            algorithms,
            cors,
            redis_timeout_ms,
            origin_timeout_ms,
            max_body_bytes,
            keys,
            edge_secret,
            redis_url,
            redis_token,
        )
        else {
            return Err(ConfigError(p.0));
        };
        let mut policy = TokenPolicy::new(&issuer, &audience);
        policy.leeway_secs = leeway_secs;
        policy.allowed_algorithms = allowed_algorithms;
        Ok(Self {
            origin_url,
            policy,
            keys,
            edge_secret,
            redis_url,
            redis_token: redis_token.trim().to_owned(),
            redis_timeout_ms,
            origin_timeout_ms,
            max_body_bytes,
            cors,
        })
    }
}

fn required(value: Option<String>) -> Result<String, String> {
    value.ok_or_else(|| "is not set".to_owned())
}

fn number<T>(value: Option<String>, default: T, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(text) = value else {
        return Ok(default);
    };
    match text.trim().parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!(
            "must be a whole number from {min} to {max}, got {text:?}"
        )),
    }
}

/// `http(s)://host[:port]`, optionally with a trailing slash, which is removed.
fn base_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or_else(|| format!("must start with http:// or https://, got {text:?}"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let valid = !authority.is_empty()
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'));
    if valid {
        Ok(text.trim_end_matches('/').to_owned())
    } else {
        Err(format!(
            "must be scheme://host[:port] without a path, got {text:?}"
        ))
    }
}

fn algorithms(text: &str) -> Result<Vec<Algorithm>, String> {
    let mut out = Vec::new();
    for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let alg = Algorithm::parse(name)
            .ok_or_else(|| format!("lists {name:?}; supported are EdDSA and ES256"))?;
        if !out.contains(&alg) {
            out.push(alg);
        }
    }
    if out.is_empty() {
        return Err("lists no algorithm".into());
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A public JWKS with one Ed25519 key (kid "test-ed").
    pub const JWKS_ONE_KEY: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"test-ed","alg":"EdDSA","use":"sig"}]}"#;
    const SECRET_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    pub fn secrets() -> HashMap<&'static str, String> {
        HashMap::from([
            (JWKS, JWKS_ONE_KEY.to_owned()),
            (EDGE_SECRET, SECRET_B64.to_owned()),
            (REDIS_URL, "http://127.0.0.1:8079".to_owned()),
            (REDIS_TOKEN, "dev-token".to_owned()),
        ])
    }

    fn parse(vars: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    fn settings(err: ConfigError) -> Vec<&'static str> {
        err.0.into_iter().map(|e| e.setting).collect()
    }

    #[test]
    fn defaults_apply_when_only_secrets_are_set() {
        let config = parse(&secrets()).unwrap();
        assert_eq!(config.origin_url, DEFAULT_ORIGIN_URL);
        assert_eq!(config.policy.issuer, DEFAULT_ISSUER);
        assert_eq!(config.policy.audience, "edgeauth");
        assert_eq!(config.policy.leeway_secs, 30);
        assert_eq!(
            config.policy.allowed_algorithms,
            vec![Algorithm::EdDSA, Algorithm::ES256]
        );
        assert_eq!(config.redis_timeout_ms, 1500);
        assert_eq!(config.max_body_bytes, 16384);
        assert_eq!(config.keys.len(), 1);
        assert!(config.cors.is_empty());
    }

    #[test]
    fn vars_override_defaults() {
        let mut vars = secrets();
        vars.insert(ORIGIN_URL, "https://origin.internal:9000/".into());
        vars.insert(LEEWAY_SECS, "5".into());
        vars.insert(ALGORITHMS, "EdDSA".into());
        vars.insert(MAX_BODY_BYTES, "100".into());
        vars.insert(ALLOWED_ORIGINS, "https://app.example".into());
        let config = parse(&vars).unwrap();
        assert_eq!(config.origin_url, "https://origin.internal:9000");
        assert_eq!(config.policy.leeway_secs, 5);
        assert_eq!(config.policy.allowed_algorithms, vec![Algorithm::EdDSA]);
        assert_eq!(config.max_body_bytes, 100);
        assert!(config.cors.allows("https://app.example"));
    }

    #[test]
    fn every_missing_secret_is_named() {
        let err = parse(&HashMap::new()).err().unwrap();
        assert_eq!(
            settings(err.clone()),
            vec![JWKS, EDGE_SECRET, REDIS_URL, REDIS_TOKEN]
        );
        assert!(
            err.to_string().contains("EDGEAUTH_JWKS is not set"),
            "{err}"
        );
        let mut blank = secrets();
        blank.insert(REDIS_TOKEN, "  ".into());
        assert_eq!(settings(parse(&blank).err().unwrap()), vec![REDIS_TOKEN]);
    }

    #[test]
    fn invalid_values_are_named() {
        let cases = [
            (JWKS, "{}"),
            (EDGE_SECRET, "c2hvcnQ"),
            (REDIS_URL, "redis://127.0.0.1:6379"),
            (ORIGIN_URL, "http://127.0.0.1:8788/api"),
            (ORIGIN_URL, "127.0.0.1:8788"),
            (LEEWAY_SECS, "-1"),
            (LEEWAY_SECS, "thirty"),
            (REDIS_TIMEOUT_MS, "0"),
            (MAX_BODY_BYTES, "99999999999"),
            (ALGORITHMS, "HS256"),
            (ALGORITHMS, " , "),
            (ALLOWED_ORIGINS, "*"),
        ];
        for (setting, value) in cases {
            let mut vars = secrets();
            vars.insert(setting, value.into());
            let err = parse(&vars)
                .err()
                .unwrap_or_else(|| panic!("{setting}={value}"));
            assert_eq!(settings(err), vec![setting], "{setting}={value}");
        }
    }

    #[test]
    fn private_keys_are_refused() {
        let mut vars = secrets();
        vars.insert(
            JWKS,
            r#"[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}]"#.into(),
        );
        let err = parse(&vars).err().unwrap();
        assert!(err.to_string().contains("private key"), "{err}");
    }
}
