//! The edge's configuration: every setting's name, default and meaning, parsed once per isolate.
//!
//! `[vars]` in `wrangler.toml` carry the non-secret settings; secrets come from `.dev.vars`
//! locally and `wrangler secret put` in production. Parsing is pure: the runtime passes a
//! lookup function over the Worker's `env`, so every rule here is unit-tested natively.

use std::fmt;

use edgeauth_core::assertion::AssertionKeys;
use edgeauth_core::edge_signature::EdgeSecret;
use edgeauth_core::keys::{Algorithm, VerificationKeys};
use edgeauth_core::routes::RouteTable;
use edgeauth_core::token::TokenPolicy;

use crate::cors::CorsPolicy;

/// Base URL of the origin.
pub const ORIGIN_URL: &str = "ORIGIN_URL";
/// Expected `iss` of access tokens.
pub const ISSUER: &str = "EDGEAUTH_ISSUER";
/// Expected `aud` of access tokens.
pub const AUDIENCE: &str = "EDGEAUTH_AUDIENCE";
/// Clock skew tolerated on `exp`/`nbf`/`iat`.
pub const LEEWAY_SECS: &str = "EDGEAUTH_LEEWAY_SECS";
/// JWS algorithms the edge accepts.
pub const ALGORITHMS: &str = "EDGEAUTH_ALGORITHMS";
/// Browser origins allowed cross-origin (CORS).
pub const ALLOWED_ORIGINS: &str = "EDGEAUTH_ALLOWED_ORIGINS";
/// Whether the edge also uses the origin's published JWKS.
pub const JWKS_FROM_ORIGIN: &str = "EDGEAUTH_JWKS_FROM_ORIGIN";
/// How long a fetched JWKS is used before it is fetched again.
pub const JWKS_TTL_SECS: &str = "EDGEAUTH_JWKS_TTL_SECS";
/// Least time between two JWKS fetches of one isolate.
pub const JWKS_MIN_REFETCH_SECS: &str = "EDGEAUTH_JWKS_MIN_REFETCH_SECS";
/// Bound on the one Redis round trip.
pub const REDIS_TIMEOUT_MS: &str = "REDIS_TIMEOUT_MS";
/// Bound on waiting for the origin.
pub const ORIGIN_TIMEOUT_MS: &str = "ORIGIN_TIMEOUT_MS";
/// Largest request body forwarded.
pub const MAX_BODY_BYTES: &str = "MAX_BODY_BYTES";
/// Pinned public JWKS.
pub const JWKS: &str = "EDGEAUTH_JWKS";
/// HMAC key shared with the origin.
pub const EDGE_SECRET: &str = "EDGEAUTH_EDGE_SECRET";
/// Upstash REST URL.
pub const REDIS_URL: &str = "UPSTASH_REDIS_REST_URL";
/// Upstash REST token.
pub const REDIS_TOKEN: &str = "UPSTASH_REDIS_REST_TOKEN";
/// The deployment's route table (apps and their rules).
pub const ROUTES: &str = "EDGEAUTH_ROUTES";
/// Ed25519 keys signing the identity assertion sent to apps.
pub const ASSERTION_KEYS: &str = "EDGEAUTH_ASSERTION_KEYS";

/// Where a setting comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `[vars]` in `wrangler.toml` (plain text, visible in the dashboard).
    Var,
    /// `wrangler secret put NAME` in production, `.dev.vars` locally.
    Secret,
}

/// One setting of the edge: the single source of its name, default and documentation.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub name: &'static str,
    pub kind: Kind,
    /// The value used when the setting is unset or empty; `None`: no default.
    pub default: Option<&'static str>,
    pub unit: &'static str,
    pub meaning: &'static str,
}

/// Every setting the edge reads. docs/configuration.md and wrangler.toml are checked against
/// this table by the tests below, and the parser takes its defaults from here.
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: ORIGIN_URL,
        kind: Kind::Var,
        default: Some("http://127.0.0.1:8788"),
        unit: "URL",
        meaning: "Base URL of the origin, `scheme://host[:port]` without a path. Only the edge may reach it.",
    },
    Setting {
        name: ISSUER,
        kind: Kind::Var,
        default: Some("http://127.0.0.1:8787"),
        unit: "–",
        meaning: "`iss` every access token must carry; the origin's `EDGEAUTH_ISSUER`.",
    },
    Setting {
        name: AUDIENCE,
        kind: Kind::Var,
        default: Some("edgeauth"),
        unit: "–",
        meaning: "`aud` every access token must carry; the origin's `EDGEAUTH_AUDIENCE`.",
    },
    Setting {
        name: LEEWAY_SECS,
        kind: Kind::Var,
        default: Some("30"),
        unit: "seconds",
        meaning: "Clock skew tolerated on `exp`, `nbf` and `iat` (0–300).",
    },
    Setting {
        name: ALGORITHMS,
        kind: Kind::Var,
        default: Some("EdDSA,ES256"),
        unit: "list",
        meaning: "JWS algorithms accepted at all, comma-separated: `EdDSA`, `ES256`.",
    },
    Setting {
        name: ALLOWED_ORIGINS,
        kind: Kind::Var,
        default: Some(""),
        unit: "list",
        meaning: "Browser origins allowed to call the API cross-origin (CORS with credentials) and to use the refresh cookie, comma-separated exact origins such as `https://app.example`. Empty: same-origin use only.",
    },
    Setting {
        name: JWKS_FROM_ORIGIN,
        kind: Kind::Var,
        default: Some("true"),
        unit: "bool",
        meaning: "`true`: the origin's `/.well-known/jwks.json` (signed request) decides which keys are trusted: cached per isolate, refetched when a token names an unknown `kid` (so key rotations need no edge change) and every `EDGEAUTH_JWKS_TTL_SECS`; a key it no longer publishes is dropped, pinned or not. `false`: only `EDGEAUTH_JWKS`, until you change it.",
    },
    Setting {
        name: JWKS_TTL_SECS,
        kind: Kind::Var,
        default: Some("300"),
        unit: "seconds",
        meaning: "How long a key set is used before the next token triggers a refetch (1–86400): a fetched set, or a pinned one from its first use; a key the origin retired, pinned or not, is no longer trusted after at most this time (with `EDGEAUTH_JWKS_FROM_ORIGIN` `true`).",
    },
    Setting {
        name: JWKS_MIN_REFETCH_SECS,
        kind: Kind::Var,
        default: Some("30"),
        unit: "seconds",
        meaning: "Least time between two JWKS fetches of one isolate (1–3600), however many unknown `kid`s arrive; a flood of forged `kid`s costs the origin at most one request per interval.",
    },
    Setting {
        name: REDIS_TIMEOUT_MS,
        kind: Kind::Var,
        default: Some("1500"),
        unit: "milliseconds",
        meaning: "Longest wait for the one Redis round trip of an authenticated request (1–30000); slower or unreachable Redis → 503 `revocation_unavailable` (fail closed).",
    },
    Setting {
        name: ORIGIN_TIMEOUT_MS,
        kind: Kind::Var,
        default: Some("10000"),
        unit: "milliseconds",
        meaning: "Longest the origin may take to answer, body included (1–60000); then 503 `service_unavailable`, or a cut-off body if it stalls mid-stream. `/healthz` and JWKS fetches wait at most 2000 ms.",
    },
    Setting {
        name: MAX_BODY_BYTES,
        kind: Kind::Var,
        default: Some("16384"),
        unit: "bytes",
        meaning: "Largest request body forwarded to the auth origin (1–10485760); larger → 413 `payload_too_large`. App rules have their own `body_limit` (`EDGEAUTH_ROUTES`).",
    },
    Setting {
        name: ROUTES,
        kind: Kind::Var,
        default: Some(""),
        unit: "JSON",
        meaning: "The deployment's route table: app upstreams and the rules that reach them, validated together with the auth API's builtin rules (docs/gateway.md). Check it with `edgeauth-origin check-edge-config wrangler.toml`. Empty: the auth API only. The repository's wrangler.toml routes `/notes/` to the example app.",
    },
    Setting {
        name: JWKS,
        kind: Kind::Secret,
        default: None,
        unit: "JSON",
        meaning: "Public JWKS (`{\"keys\":[...]}`) pinned at the edge: `edgeauth-origin keys jwks`. Required when `EDGEAUTH_JWKS_FROM_ORIGIN` is `false` (then it alone decides which keys are trusted: update it when you retire a key); otherwise optional (it saves the first fetch and keeps tokens verifiable while the origin is down) and a pinned key the origin no longer publishes is dropped at the next fetch. Private keys are refused.",
    },
    Setting {
        name: EDGE_SECRET,
        kind: Kind::Secret,
        default: None,
        unit: "base64",
        meaning: "**Required.** HMAC-SHA256 key shared with the origin's `EDGEAUTH_EDGE_SECRET` (≥ 32 random bytes).",
    },
    Setting {
        name: REDIS_URL,
        kind: Kind::Secret,
        default: None,
        unit: "URL",
        meaning: "**Required.** Upstash REST endpoint of the database (locally the bridge).",
    },
    Setting {
        name: REDIS_TOKEN,
        kind: Kind::Secret,
        default: None,
        unit: "–",
        meaning: "**Required.** Upstash REST token. The edge only reads (`HMGET`, and `PING` for `/healthz`), so a read-only token or an ACL user limited to those commands is enough and limits what a leak can do.",
    },
    Setting {
        name: ASSERTION_KEYS,
        kind: Kind::Secret,
        default: None,
        unit: "JSON",
        meaning: "Ed25519 keys signing the identity assertion apps receive: `{\"current\": kid, \"keys\": [{\"kid\", \"d\", \"x\"}]}` (`edgeauth-origin assertion-keys generate`); every key is published at `/.well-known/edgeauth/assertion-jwks.json`, `current` signs. Required when `EDGEAUTH_ROUTES` declares an upstream.",
    },
];

/// Each setting's name and default, taken from [`SETTINGS`] at compile time: the parser needs
/// only these, and the table's documentation (about 5 KB of text) then stays out of the Wasm.
const DEFAULTS: [(&str, Option<&str>); SETTINGS.len()] = {
    let mut defaults = [("", None); SETTINGS.len()];
    let mut i = 0;
    while i < SETTINGS.len() {
        defaults[i] = (SETTINGS[i].name, SETTINGS[i].default);
        i += 1;
    }
    defaults
};

/// The table's default for `name`.
fn default_of(name: &str) -> Option<&'static str> {
    DEFAULTS
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, default)| *default)
}

/// Everything the edge needs, validated. Built once per isolate.
pub struct Config {
    /// Origin base URL without a trailing slash; the request's path and query are appended.
    pub origin_url: String,
    pub policy: TokenPolicy,
    /// Where verification keys come from.
    pub keys: KeySource,
    pub edge_secret: EdgeSecret,
    pub redis_url: String,
    pub redis_token: String,
    pub redis_timeout_ms: u32,
    pub origin_timeout_ms: u32,
    pub max_body_bytes: usize,
    pub cors: CorsPolicy,
    /// The builtin rules plus `EDGEAUTH_ROUTES`.
    pub routes: RouteTable,
    /// `None` only when no app upstream is configured.
    pub assertion_keys: Option<AssertionKeys>,
}

/// The edge's verification keys: pinned in configuration, fetched from the origin, or both.
pub struct KeySource {
    /// `EDGEAUTH_JWKS`, if set.
    pub pinned: Option<VerificationKeys>,
    /// Whether the origin's JWKS is fetched and cached (`EDGEAUTH_JWKS_FROM_ORIGIN`).
    pub from_origin: bool,
    pub ttl_secs: u64,
    pub min_refetch_secs: u64,
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
    /// Reads every setting through `lookup` (the Worker's env). Surrounding whitespace is
    /// dropped (a secret piped in with its trailing newline still works), empty values count as
    /// unset, and unset settings take their default from [`SETTINGS`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let get = |name: &str| set(name).or_else(|| default_of(name).map(str::to_owned));
        let text = |name: &str| get(name).unwrap_or_default();
        let mut p = Problems(Vec::new());

        let origin_url = p.note(ORIGIN_URL, base_url(&text(ORIGIN_URL)));
        let issuer = text(ISSUER);
        let audience = text(AUDIENCE);
        let leeway = p.note(LEEWAY_SECS, number(&text(LEEWAY_SECS), 0u64, 300));
        let algorithms = p.note(ALGORITHMS, algorithms(&text(ALGORITHMS)));
        let cors = p.note(ALLOWED_ORIGINS, CorsPolicy::parse(&text(ALLOWED_ORIGINS)));
        let from_origin = p.note(JWKS_FROM_ORIGIN, boolean(&text(JWKS_FROM_ORIGIN)));
        let ttl_secs = p.note(JWKS_TTL_SECS, number(&text(JWKS_TTL_SECS), 1u64, 86_400));
        let min_refetch_secs = p.note(
            JWKS_MIN_REFETCH_SECS,
            number(&text(JWKS_MIN_REFETCH_SECS), 1u64, 3600),
        );
        let redis_timeout_ms = p.note(
            REDIS_TIMEOUT_MS,
            number(&text(REDIS_TIMEOUT_MS), 1u32, 30_000),
        );
        let origin_timeout_ms = p.note(
            ORIGIN_TIMEOUT_MS,
            number(&text(ORIGIN_TIMEOUT_MS), 1u32, 60_000),
        );
        let max_body_bytes = p.note(
            MAX_BODY_BYTES,
            number(&text(MAX_BODY_BYTES), 1usize, 10 * 1024 * 1024),
        );
        let pinned = p.note(
            JWKS,
            match (set(JWKS), from_origin) {
                (Some(text), _) => VerificationKeys::from_json(&text)
                    .map(Some)
                    .map_err(|e| format!("is not a usable JWKS: {e}")),
                (None, Some(false)) => Err(format!(
                    "is not set; it is required when {JWKS_FROM_ORIGIN} is false"
                )),
                (None, _) => Ok(None),
            },
        );
        let edge_secret = p.note(
            EDGE_SECRET,
            required(set(EDGE_SECRET)).and_then(|text| {
                EdgeSecret::from_base64(&text).map_err(|e| format!("is unusable: it {e}"))
            }),
        );
        let redis_url = p.note(
            REDIS_URL,
            required(set(REDIS_URL)).and_then(|u| base_url(&u)),
        );
        let redis_token = p.note(REDIS_TOKEN, required(set(REDIS_TOKEN)));
        let routes = p.note(
            ROUTES,
            RouteTable::with_builtin(&set(ROUTES).unwrap_or_default()).map_err(|e| format!("{e}")),
        );
        let assertion_keys = p.note(
            ASSERTION_KEYS,
            match (set(ASSERTION_KEYS), &routes) {
                (Some(text), _) => AssertionKeys::parse(&text).map(Some),
                (None, Some(table)) if !table.upstreams().is_empty() => Err(format!(
                    "is not set; it is required because {ROUTES} declares upstreams"
                )),
                (None, _) => Ok(None),
            },
        );

        let (
            Some(origin_url),
            Some(leeway_secs),
            Some(allowed_algorithms),
            Some(cors),
            Some(from_origin),
            Some(ttl_secs),
            Some(min_refetch_secs),
            Some(redis_timeout_ms),
            Some(origin_timeout_ms),
            Some(max_body_bytes),
            Some(pinned),
            Some(edge_secret),
            Some(redis_url),
            Some(redis_token),
            Some(routes),
            Some(assertion_keys),
        ) = (
            origin_url,
            leeway,
            algorithms,
            cors,
            from_origin,
            ttl_secs,
            min_refetch_secs,
            redis_timeout_ms,
            origin_timeout_ms,
            max_body_bytes,
            pinned,
            edge_secret,
            redis_url,
            redis_token,
            routes,
            assertion_keys,
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
            keys: KeySource {
                pinned,
                from_origin,
                ttl_secs,
                min_refetch_secs,
            },
            edge_secret,
            redis_url,
            redis_token: redis_token.trim().to_owned(),
            redis_timeout_ms,
            origin_timeout_ms,
            max_body_bytes,
            cors,
            routes,
            assertion_keys,
        })
    }
}

fn required(value: Option<String>) -> Result<String, String> {
    value.ok_or_else(|| "is not set".to_owned())
}

fn number<T>(text: &str, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    match text.trim().parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!(
            "must be a whole number from {min} to {max}, got {text:?}"
        )),
    }
}

fn boolean(text: &str) -> Result<bool, String> {
    match text.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("must be true or false, got {other:?}")),
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
    const SECRET_B64: &str = "jM2tV32u8zkm_gnJaYE5WSRYtka2576I7ZkJv_zrB-w";

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
        assert_eq!(config.origin_url, "http://127.0.0.1:8788");
        assert_eq!(config.policy.issuer, "http://127.0.0.1:8787");
        assert_eq!(config.policy.audience, "edgeauth");
        assert_eq!(config.policy.leeway_secs, 30);
        assert_eq!(
            config.policy.allowed_algorithms,
            vec![Algorithm::EdDSA, Algorithm::ES256]
        );
        assert_eq!(config.redis_timeout_ms, 1500);
        assert_eq!(config.max_body_bytes, 16384);
        assert_eq!(config.keys.pinned.as_ref().map(|k| k.len()), Some(1));
        assert!(config.keys.from_origin);
        assert_eq!(
            (config.keys.ttl_secs, config.keys.min_refetch_secs),
            (300, 30)
        );
        assert!(config.cors.is_empty());
    }

    #[test]
    fn the_pinned_jwks_is_optional_only_while_keys_come_from_the_origin() {
        let mut vars = secrets();
        vars.remove(JWKS);
        let config = parse(&vars).unwrap();
        assert!(config.keys.pinned.is_none() && config.keys.from_origin);
        vars.insert(JWKS_FROM_ORIGIN, "false".into());
        let err = parse(&vars).err().unwrap();
        assert_eq!(settings(err.clone()), vec![JWKS]);
        assert!(err.to_string().contains("required when"), "{err}");
        vars.insert(JWKS, JWKS_ONE_KEY.into());
        assert!(!parse(&vars).unwrap().keys.from_origin);
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
            vec![EDGE_SECRET, REDIS_URL, REDIS_TOKEN]
        );
        assert!(
            err.to_string().contains("EDGEAUTH_EDGE_SECRET is not set"),
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
            // 32 zero bytes: long enough, obviously not random.
            (EDGE_SECRET, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
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
            (JWKS_FROM_ORIGIN, "yes"),
            (JWKS_TTL_SECS, "0"),
            (JWKS_MIN_REFETCH_SECS, "3601"),
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
    fn values_are_trimmed() {
        let mut vars = secrets();
        vars.insert(EDGE_SECRET, format!("{SECRET_B64}\n"));
        vars.insert(LEEWAY_SECS, " 5\n".into());
        let config = parse(&vars).unwrap();
        assert_eq!(config.policy.leeway_secs, 5);
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

    /// Markers around the generated edge table in docs/configuration.md.
    const BEGIN: &str = "<!-- BEGIN edge settings: generated from worker/src/config.rs -->";
    const END: &str = "<!-- END edge settings -->";

    fn render_table() -> String {
        let mut out =
            String::from("| Setting | Where | Default | Unit | Meaning |\n|---|---|---|---|---|\n");
        for s in SETTINGS {
            let kind = match s.kind {
                Kind::Var => "`[vars]`",
                Kind::Secret => "secret",
            };
            let default = match s.default {
                Some("") => "empty".to_owned(),
                Some(value) => format!("`{value}`"),
                None => "–".to_owned(),
            };
            out.push_str(&format!(
                "| `{}` | {kind} | {default} | {} | {} |\n",
                s.name, s.unit, s.meaning
            ));
        }
        out
    }

    fn repo_file(name: &str) -> (String, String) {
        let path = format!("{}/../{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        (path, text)
    }

    #[test]
    fn configuration_doc_matches_the_settings_table() {
        let (path, document) = repo_file("docs/configuration.md");
        let table = render_table();
        let start = document.find(BEGIN).map(|i| i + BEGIN.len());
        let stop = start.and_then(|i| document[i..].find(END).map(|j| i + j));
        let (Some(start), Some(stop)) = (start, stop) else {
            panic!("{path} lacks the {BEGIN} … {END} markers");
        };
        if std::env::var_os("EDGEAUTH_BLESS_DOCS").is_some() {
            let updated = format!("{}\n{table}{}", &document[..start], &document[stop..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
        assert!(
            document[start..stop].trim() == table.trim(),
            "docs/configuration.md is out of date with worker/src/config.rs; regenerate with \
             `EDGEAUTH_BLESS_DOCS=1 cargo test -p edgeauth-worker configuration_doc`. Expected:\n{table}"
        );
    }

    /// `[vars]` of wrangler.toml: name → value, in file order.
    fn wrangler_vars(toml: &str) -> Vec<(String, String)> {
        let mut in_vars = false;
        let mut out = Vec::new();
        let mut lines = toml.lines().map(str::trim);
        while let Some(line) = lines.next() {
            if let Some(name) = line
                .strip_suffix("'''")
                .and_then(|l| l.trim().strip_suffix('='))
            {
                let value: Vec<&str> = lines.by_ref().take_while(|l| *l != "'''").collect();
                out.push((name.trim().to_owned(), value.join("\n")));
                continue;
            }
            if line.starts_with('[') {
                in_vars = line == "[vars]";
                continue;
            }
            if !in_vars || line.starts_with('#') || line.is_empty() {
                continue;
            }
            if let Some((name, value)) = line.split_once('=') {
                out.push((
                    name.trim().to_owned(),
                    value.trim().trim_matches('"').to_owned(),
                ));
            }
        }
        out
    }

    #[test]
    fn wrangler_toml_sets_every_var_to_its_default_and_no_secret() {
        let (path, toml) = repo_file("wrangler.toml");
        let vars = wrangler_vars(&toml);
        assert!(!vars.is_empty(), "{path} has no [vars]");
        for (name, value) in &vars {
            let setting = SETTINGS.iter().find(|s| s.name == name);
            let setting = setting.unwrap_or_else(|| panic!("{path}: unknown var {name}"));
            assert_eq!(
                setting.kind,
                Kind::Var,
                "{path}: {name} is a secret, not a var"
            );
            if name == ROUTES {
                // The dev table (the notes example app); its default is no app at all.
                RouteTable::with_builtin(value).unwrap();
                continue;
            }
            assert_eq!(Some(value.as_str()), setting.default, "{path}: {name}");
        }
        for setting in SETTINGS {
            match setting.kind {
                Kind::Var => assert!(
                    vars.iter().any(|(name, _)| name == setting.name),
                    "{path}: [vars] lacks {}",
                    setting.name
                ),
                Kind::Secret => assert!(
                    toml.lines()
                        .any(|l| l.trim_start().starts_with('#') && l.contains(setting.name)),
                    "{path}: the secrets comment does not mention {}",
                    setting.name
                ),
            }
        }
    }

    #[test]
    fn every_setting_is_read() {
        let read = std::cell::RefCell::new(Vec::new());
        let _ = Config::from_lookup(|name| {
            read.borrow_mut().push(name.to_owned());
            None
        });
        for setting in SETTINGS {
            assert!(
                read.borrow().iter().any(|n| n == setting.name),
                "{} is documented but never read",
                setting.name
            );
        }
    }
}
