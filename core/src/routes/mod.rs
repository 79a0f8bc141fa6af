//! The edge's route table: which requests exist, what answers them (the edge itself, the auth
//! origin or an app upstream) and who may make them. Parsed and validated once per isolate;
//! matching is pure and allocation-light. Format and matching order: docs/gateway.md.
//!
//! The auth API's own routes are rules of the same table ([`BUILTIN`]); a deployment adds its
//! apps' rules and upstreams in the `EDGEAUTH_ROUTES` setting, and both are validated together.

mod parse;

pub use parse::RouteTableError;

use crate::assurance::StepUpRule;
use crate::roles::Roles;

/// The auth API's routes, bundled with the worker (and with `check-edge-config`).
pub const BUILTIN: &str = include_str!("builtin.json");

/// Body limit of an app rule that names none: generous, but a bound (bytes).
pub const DEFAULT_APP_BODY_LIMIT: u64 = 10 * 1024 * 1024;
/// Largest body limit a rule may set (bytes).
pub const MAX_APP_BODY_LIMIT: u64 = 1024 * 1024 * 1024;
/// How long an upstream may take to answer (headers) unless it says otherwise, milliseconds.
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u32 = 30_000;
/// The header the assertion travels in unless the upstream names another (lowercase).
pub const DEFAULT_ASSERTION_HEADER: &str = "edgeauth-assertion";

/// The validated table: rules (builtin first, then the deployment's) and app upstreams.
#[derive(Debug, Clone)]
pub struct RouteTable {
    rules: Vec<Rule>,
    upstreams: Vec<Upstream>,
}

/// One app the edge forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Also the assertion's `aud`.
    pub id: String,
    /// `scheme://host[:port]`, no trailing slash; the request's path and query are appended.
    pub url: String,
    /// How long the upstream may take to send its response headers, milliseconds.
    pub timeout_ms: u32,
    /// Lowercase header name carrying the assertion.
    pub assertion_header: String,
    /// Whether the client's `Authorization` header reaches the app (default: no).
    pub forward_authorization: bool,
}

/// What answers a matched request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// Redis and origin reachability, at the edge.
    Health,
    /// A file of the demo page (Workers static assets).
    Page,
    /// The assertion verification keys, at the edge.
    AssertionJwks,
    /// The auth origin, by the HMAC-signed forward.
    Origin,
    /// An app upstream (index into [`RouteTable::upstreams`]).
    App(usize),
}

/// Who may make a matched request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// No credentials needed; none are checked.
    Public,
    /// Authenticated if an `Authorization` header is present (then it must be valid).
    Optional,
    /// A valid access token of a live session.
    Authenticated,
    /// Authenticated and holding at least one of these roles.
    AnyOf(Vec<String>),
    /// Authenticated and holding every one of these roles.
    AllOf(Vec<String>),
    /// Answered 404 whoever asks (carves holes into prefix rules).
    Deny,
}

impl Policy {
    /// Whether credentials must be checked: always, never, or only if the client sent some.
    pub fn needs_identity(&self, authorization_present: bool) -> bool {
        match self {
            Self::Public | Self::Deny => false,
            Self::Optional => authorization_present,
            Self::Authenticated | Self::AnyOf(_) | Self::AllOf(_) => true,
        }
    }

    /// Whether an authenticated caller with `roles` passes the role requirement.
    pub fn roles_allow(&self, roles: &Roles) -> bool {
        match self {
            Self::AnyOf(wanted) => wanted.iter().any(|r| roles.contains(r)),
            Self::AllOf(wanted) => wanted.iter().all(|r| roles.contains(r)),
            _ => true,
        }
    }
}

/// One validated rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Unique; named in logs and configuration errors.
    pub name: String,
    /// The path pattern as written (`/api/sessions/{id}`, `/notes/*`): logged instead of paths.
    pub path: String,
    host: Option<String>,
    pattern: Pattern,
    /// `None`: every method.
    methods: Option<Vec<String>>,
    pub handler: Handler,
    pub policy: Policy,
    /// Largest request body, bytes (app rules; the origin keeps `MAX_BODY_BYTES`).
    pub body_limit: u64,
    /// Whether the access cookie authenticates like a Bearer token (`"cookie": true`; app rules
    /// that need an identity): browser navigations, `crate::navigation`.
    pub accepts_cookie: bool,
    /// What the caller's authentication must also show (`"mfa": true`, `"max_age": <s>`):
    /// otherwise 403 `step_up_required` (`crate::assurance`).
    pub step_up: StepUpRule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    /// Segments after the leading `/`; `None` is a parameter.
    Param(Vec<Option<String>>),
    /// Everything below this prefix, which ends with `/`.
    Prefix(String),
}

/// How specific a rule is: greater wins. Variant order is the precedence order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Specificity {
    /// Longer prefixes are more specific.
    Prefix(usize),
    /// Left to right, a literal segment (`true`) beats a parameter.
    Param(Vec<bool>),
    Exact,
}

/// Why a request matches no rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    NotFound,
    /// The path exists; `allow` lists its methods (the `Allow` header).
    MethodNotAllowed {
        allow: String,
    },
}

/// One-segment parameter values: 1–128 of `A-Z a-z 0-9 - _`.
pub fn is_param_value(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Paths no rule but an exact one can match: empty segments and encoded or back slashes
/// would let `/notes//internal/x` or `/notes/%2Finternal` slip past a `deny` rule.
fn is_ambiguous_path(path: &str) -> bool {
    path.contains("//") || path.contains('\\') || {
        let lower = path.to_ascii_lowercase();
        lower.contains("%2f") || lower.contains("%5c") || lower.contains("%2e")
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(exact) => exact == path,
            Self::Prefix(prefix) => path.starts_with(prefix.as_str()) && !is_ambiguous_path(path),
            Self::Param(segments) => {
                let Some(rest) = path.strip_prefix('/') else {
                    return false;
                };
                let mut parts = rest.split('/');
                for segment in segments {
                    let Some(part) = parts.next() else {
                        return false;
                    };
                    let ok = match segment {
                        Some(literal) => literal == part,
                        None => is_param_value(part),
                    };
                    if !ok {
                        return false;
                    }
                }
                parts.next().is_none()
            }
        }
    }

    fn specificity(&self) -> Specificity {
        match self {
            Self::Exact(_) => Specificity::Exact,
            Self::Prefix(prefix) => Specificity::Prefix(prefix.len()),
            Self::Param(segments) => {
                Specificity::Param(segments.iter().map(Option::is_some).collect())
            }
        }
    }
}

impl Rule {
    fn key(&self) -> (Specificity, bool) {
        (self.pattern.specificity(), self.host.is_some())
    }

    fn matches(&self, host: &str, path: &str) -> bool {
        self.host
            .as_deref()
            .is_none_or(|h| h.eq_ignore_ascii_case(host))
            && self.pattern.matches(path)
    }

    fn allows_method(&self, method: &str) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|methods| methods.iter().any(|m| m == method))
    }
}

impl RouteTable {
    /// The builtin auth routes plus the deployment's table (`EDGEAUTH_ROUTES`; empty or
    /// blank: none), validated together.
    pub fn with_builtin(deployment: &str) -> Result<Self, RouteTableError> {
        parse::parse_tables(&[("builtin", BUILTIN), ("EDGEAUTH_ROUTES", deployment)])
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn upstreams(&self) -> &[Upstream] {
        &self.upstreams
    }

    pub fn upstream(&self, index: usize) -> Option<&Upstream> {
        self.upstreams.get(index)
    }

    /// The rule for a request: among the rules matching host (the URL's host name, no port)
    /// and path (no query), the most specific decides, for every method — a more specific
    /// rule shadows a broader one entirely, so `POST` under an admin-only prefix never falls
    /// back to a broader rule that allows `POST`.
    pub fn find(&self, host: &str, method: &str, path: &str) -> Result<&Rule, RouteError> {
        let best = self.best_key(host, path).ok_or(RouteError::NotFound)?;
        let candidates = self
            .rules
            .iter()
            .filter(|r| r.key() == best && r.matches(host, path));
        if let Some(rule) = candidates.clone().find(|r| r.allows_method(method)) {
            return Ok(rule);
        }
        // Owned and stably sorted: the edge's Wasm already has that sort for `String`s, and this
        // path (a wrong method) is rare.
        let mut allow: Vec<String> = candidates
            .flat_map(|r| r.methods.iter().flatten().cloned())
            .collect();
        allow.sort();
        allow.dedup();
        Err(RouteError::MethodNotAllowed {
            allow: allow.join(", "),
        })
    }

    /// The `Allow` value of an existing path (CORS preflights), `None` if no rule matches.
    pub fn allow(&self, host: &str, path: &str) -> Option<String> {
        match self.find(host, "\u{0}", path) {
            Err(RouteError::MethodNotAllowed { allow }) => Some(allow),
            Err(RouteError::NotFound) => None,
            // Only a rule for every method matches the impossible method.
            Ok(_) => Some("GET, HEAD, POST, PUT, PATCH, DELETE".to_owned()),
        }
    }

    /// The path pattern of the rule a request to this host and path reaches (whatever its
    /// method), for logs: nothing a client typed is echoed.
    pub fn pattern_of(&self, host: &str, path: &str) -> Option<&str> {
        let best = self.best_key(host, path)?;
        self.rules
            .iter()
            .find(|r| r.key() == best && r.matches(host, path))
            .map(|r| r.path.as_str())
    }

    fn best_key(&self, host: &str, path: &str) -> Option<(Specificity, bool)> {
        self.rules
            .iter()
            .filter(|r| r.matches(host, path))
            .map(Rule::key)
            .max()
    }
}

#[cfg(test)]
mod tests;
