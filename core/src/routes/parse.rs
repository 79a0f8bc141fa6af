//! Reading and validating route tables; every error names the rule (or upstream) at fault.

use std::fmt;

use serde_json::{Map, Value};

use super::{
    Handler, Pattern, Policy, RouteTable, Rule, Upstream, DEFAULT_APP_BODY_LIMIT,
    DEFAULT_ASSERTION_HEADER, DEFAULT_UPSTREAM_TIMEOUT_MS, MAX_APP_BODY_LIMIT,
};
use crate::assurance::StepUpRule;
use crate::roles::{is_valid_role, MAX_ROLES};

/// Longest `max_age` a rule may set: the absolute session lifetime's order (30 days).
const MAX_RULE_MAX_AGE: u64 = 30 * 24 * 3600;

/// What is wrong with a route table, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTableError {
    /// `route rule "notes-admin"`, `upstream "notes"`, or the table's source.
    pub place: String,
    pub problem: String,
}

impl fmt::Display for RouteTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.problem)
    }
}

impl std::error::Error for RouteTableError {}

/// The fields of one upstream, as written (checked by [`upstream`]).
struct RawUpstream {
    id: String,
    url: String,
    timeout_ms: Option<u64>,
    assertion_header: Option<String>,
    forward_authorization: bool,
}

/// The fields of one rule, as written (checked by [`rule`]).
struct RawRule<'a> {
    name: String,
    host: Option<String>,
    path: String,
    methods: Option<Vec<String>>,
    handler: Option<String>,
    policy: &'a Value,
    body_limit: Option<u64>,
    cookie: bool,
    mfa: bool,
    max_age: Option<u64>,
}

// The tables are read through `serde_json::Value` and these few accessors rather than
// `#[derive(Deserialize)]` structs: the edge parses its table once per isolate, and the derived
// visitors (one per struct and per input type) cost the Wasm bundle about 10 KB, where `Value`
// parsing is linked in anyway. Unknown fields are refused as with `deny_unknown_fields`, and
// `null` counts as absent as with `Option`.

/// `value` as an object with no fields but `allowed`.
fn object<'a>(value: &'a Value, allowed: &[&str]) -> Result<&'a Map<String, Value>, String> {
    let object = value
        .as_object()
        .ok_or_else(|| format!("must be an object with the fields {}", allowed.join(", ")))?;
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(format!(
            "unknown field `{unknown}`, expected one of {}",
            allowed.join(", ")
        )),
        None => Ok(object),
    }
}

/// A field that is absent or `null`: `None`.
fn field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

fn text(object: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    field(object, key)
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("`{key}` must be a string"))
        })
        .transpose()
}

fn required_text(object: &Map<String, Value>, key: &str) -> Result<String, String> {
    text(object, key)?.ok_or_else(|| format!("missing field `{key}`"))
}

fn whole_number(object: &Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
    field(object, key)
        .map(|v| {
            v.as_u64()
                .ok_or_else(|| format!("`{key}` must be a whole number"))
        })
        .transpose()
}

fn list(object: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, String> {
    field(object, key)
        .map(|v| {
            v.as_array()
                .and_then(|items| {
                    items
                        .iter()
                        .map(|item| item.as_str().map(str::to_owned))
                        .collect::<Option<Vec<String>>>()
                })
                .ok_or_else(|| format!("`{key}` must be a list of strings"))
        })
        .transpose()
}

/// A `true`/`false` field; absent: `false`.
fn flag(object: &Map<String, Value>, key: &str) -> Result<bool, String> {
    field(object, key)
        .map(|v| {
            v.as_bool()
                .ok_or_else(|| format!("`{key}` must be true or false"))
        })
        .transpose()
        .map(Option::unwrap_or_default)
}

fn raw_upstream(value: &Value) -> Result<RawUpstream, String> {
    let object = object(
        value,
        &[
            "id",
            "url",
            "timeout_ms",
            "assertion_header",
            "forward_authorization",
        ],
    )?;
    Ok(RawUpstream {
        id: required_text(object, "id")?,
        url: required_text(object, "url")?,
        timeout_ms: whole_number(object, "timeout_ms")?,
        assertion_header: text(object, "assertion_header")?,
        forward_authorization: flag(object, "forward_authorization")?,
    })
}

fn raw_rule(value: &Value) -> Result<RawRule<'_>, String> {
    let object = object(
        value,
        &[
            "name",
            "host",
            "path",
            "methods",
            "handler",
            "policy",
            "body_limit",
            "cookie",
            "mfa",
            "max_age",
        ],
    )?;
    Ok(RawRule {
        name: required_text(object, "name")?,
        host: text(object, "host")?,
        path: required_text(object, "path")?,
        methods: list(object, "methods")?,
        handler: text(object, "handler")?,
        policy: field(object, "policy").ok_or("missing field `policy`")?,
        body_limit: whole_number(object, "body_limit")?,
        cookie: flag(object, "cookie")?,
        mfa: flag(object, "mfa")?,
        max_age: whole_number(object, "max_age")?,
    })
}

fn err(place: impl Into<String>, problem: impl Into<String>) -> RouteTableError {
    RouteTableError {
        place: place.into(),
        problem: problem.into(),
    }
}

fn rule_place(name: &str) -> String {
    format!("route rule \"{name}\"")
}

/// Parses `(source, json)` tables in order (blank text: an empty table) into one table.
pub(super) fn parse_tables(tables: &[(&str, &str)]) -> Result<RouteTable, RouteTableError> {
    let mut parsed = Vec::with_capacity(tables.len());
    for (source, text) in tables {
        if text.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| err(*source, format!("is not a valid route table: {e}")))?;
        object(&value, &["upstreams", "routes"])
            .map_err(|problem| err(*source, format!("is not a valid route table: {problem}")))?;
        parsed.push((*source, value));
    }
    let section = |key: &'static str| -> Result<Vec<(&str, usize, &Value)>, RouteTableError> {
        let mut entries = Vec::new();
        for (source, table) in &parsed {
            match table.get(key).filter(|v| !v.is_null()) {
                None => {}
                Some(Value::Array(items)) => {
                    entries.extend(items.iter().enumerate().map(|(i, v)| (*source, i, v)));
                }
                Some(_) => {
                    return Err(err(
                        *source,
                        format!("is not a valid route table: `{key}` must be a list"),
                    ))
                }
            }
        }
        Ok(entries)
    };
    let raw_upstreams = section("upstreams")?;
    let raw_rules = section("routes")?;

    let mut upstreams: Vec<Upstream> = Vec::new();
    for (source, index, value) in raw_upstreams {
        let place = match value.get("id").and_then(Value::as_str) {
            Some(id) => format!("upstream \"{id}\""),
            None => format!("{source}: upstream #{}", index + 1),
        };
        let raw = raw_upstream(value).map_err(|problem| err(place.clone(), problem))?;
        let upstream = upstream(raw).map_err(|problem| err(place.clone(), problem))?;
        if upstreams.iter().any(|u| u.id == upstream.id) {
            return Err(err(place, "is declared twice"));
        }
        upstreams.push(upstream);
    }

    let mut rules: Vec<Rule> = Vec::new();
    for (source, index, value) in raw_rules {
        let place = match value.get("name").and_then(Value::as_str) {
            Some(name) => rule_place(name),
            None => format!("{source}: route rule #{} (no name)", index + 1),
        };
        let raw = raw_rule(value).map_err(|problem| err(place.clone(), problem))?;
        let rule = rule(raw, &upstreams).map_err(|problem| err(place.clone(), problem))?;
        if rules.iter().any(|r| r.name == rule.name) {
            return Err(err(place, "the name is used by another rule"));
        }
        if let Some(other) = rules.iter().find(|other| ambiguous(other, &rule)) {
            return Err(err(
                place,
                format!(
                    "is as specific as rule \"{}\" for the same host, path and a common method \
                     (ambiguous)",
                    other.name
                ),
            ));
        }
        rules.push(rule);
    }
    Ok(RouteTable { rules, upstreams })
}

fn is_name(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn upstream(raw: RawUpstream) -> Result<Upstream, String> {
    if !is_name(&raw.id) {
        return Err("id must be 1-64 of a-z 0-9 - _".into());
    }
    let url = raw.url.trim_end_matches('/');
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("url must start with http:// or https://")?;
    if rest.is_empty()
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    {
        return Err("url must be scheme://host[:port], without path, query or credentials".into());
    }
    let timeout_ms = match raw.timeout_ms {
        None => DEFAULT_UPSTREAM_TIMEOUT_MS,
        Some(ms) => match u32::try_from(ms) {
            Ok(ms) if (1..=300_000).contains(&ms) => ms,
            _ => return Err("timeout_ms must be 1-300000".into()),
        },
    };
    let assertion_header = raw
        .assertion_header
        .unwrap_or_else(|| DEFAULT_ASSERTION_HEADER.to_owned())
        .to_ascii_lowercase();
    let reserved = [
        "authorization",
        "cookie",
        "host",
        "content-length",
        "content-type",
        "connection",
        "transfer-encoding",
        "upgrade",
    ];
    if assertion_header.is_empty()
        || assertion_header.len() > 64
        || !assertion_header
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        || reserved.contains(&assertion_header.as_str())
    {
        return Err(format!(
            "assertion_header \"{assertion_header}\" is not a usable header name"
        ));
    }
    Ok(Upstream {
        id: raw.id,
        url: url.to_owned(),
        timeout_ms,
        assertion_header,
        forward_authorization: raw.forward_authorization,
    })
}

fn rule(raw: RawRule<'_>, upstreams: &[Upstream]) -> Result<Rule, String> {
    if !is_name(&raw.name) {
        return Err("name must be 1-64 of a-z 0-9 - _".into());
    }
    let host = match raw.host {
        None => None,
        Some(host)
            if !host.is_empty()
                && host.len() <= 253
                && host.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                }) =>
        {
            Some(host)
        }
        Some(host) => {
            return Err(format!(
                "host \"{host}\" must be a lowercase host name without port"
            ))
        }
    };
    let pattern = pattern(&raw.path)?;
    let methods = match raw.methods {
        None => None,
        Some(methods) if methods.is_empty() => {
            return Err("methods is empty (leave it out for every method)".into())
        }
        Some(mut methods) => {
            if let Some(bad) = methods.iter().find(|m| {
                m.is_empty() || m.len() > 16 || !m.bytes().all(|b| b.is_ascii_uppercase())
            }) {
                return Err(format!("method \"{bad}\" must be an uppercase HTTP method"));
            }
            methods.sort();
            let count = methods.len();
            methods.dedup();
            if methods.len() != count {
                return Err("a method is listed twice".into());
            }
            Some(methods)
        }
    };
    let policy = policy(raw.policy)?;
    let handler = match (raw.handler.as_deref(), &policy) {
        (None, Policy::Deny) => Handler::Origin,
        (Some(_), Policy::Deny) => return Err("deny rules take no handler".into()),
        (None, _) => return Err("handler is missing".into()),
        (Some("health"), _) => Handler::Health,
        (Some("page"), _) => Handler::Page,
        (Some("assertion-jwks"), _) => Handler::AssertionJwks,
        (Some("origin"), _) => Handler::Origin,
        (Some(other), _) => {
            let id = other.strip_prefix("app:").ok_or_else(|| {
                format!(
                    "handler \"{other}\" is not one of health, page, assertion-jwks, origin, \
                     app:<upstream id>"
                )
            })?;
            let index = upstreams
                .iter()
                .position(|u| u.id == id)
                .ok_or_else(|| format!("handler names upstream \"{id}\", which is not declared"))?;
            Handler::App(index)
        }
    };
    let body_limit = match (raw.body_limit, handler) {
        (None, _) => DEFAULT_APP_BODY_LIMIT,
        (Some(limit), Handler::App(_)) if (1..=MAX_APP_BODY_LIMIT).contains(&limit) => limit,
        (Some(_), Handler::App(_)) => {
            return Err(format!("body_limit must be 1-{MAX_APP_BODY_LIMIT} bytes"))
        }
        (Some(_), _) => return Err("body_limit applies to app rules only".into()),
    };
    let needs_identity = matches!(
        policy,
        Policy::Authenticated | Policy::AnyOf(_) | Policy::AllOf(_)
    );
    if raw.cookie && !(matches!(handler, Handler::App(_)) && needs_identity) {
        return Err(
            "cookie applies to app rules whose policy is authenticated, any_of or all_of".into(),
        );
    }
    if (raw.mfa || raw.max_age.is_some()) && !needs_identity {
        return Err(
            "mfa and max_age apply to rules whose policy is authenticated, any_of or all_of".into(),
        );
    }
    if raw
        .max_age
        .is_some_and(|age| !(1..=MAX_RULE_MAX_AGE).contains(&age))
    {
        return Err(format!("max_age must be 1-{MAX_RULE_MAX_AGE} seconds"));
    }
    Ok(Rule {
        name: raw.name,
        path: raw.path,
        host,
        pattern,
        methods,
        handler,
        policy,
        body_limit,
        accepts_cookie: raw.cookie,
        step_up: StepUpRule {
            mfa: raw.mfa,
            max_age: raw.max_age,
        },
    })
}

fn pattern(path: &str) -> Result<Pattern, String> {
    let bad = |why: &str| Err(format!("path \"{path}\" {why}"));
    if !path.starts_with('/') {
        return bad("must start with /");
    }
    if path.contains("//")
        || path
            .bytes()
            .any(|b| matches!(b, b'?' | b'#' | b'%' | b'\\'))
    {
        return bad("must not contain //, ?, #, % or \\");
    }
    if path == "/*" {
        return Ok(Pattern::Prefix("/".into()));
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    let mut parsed = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        if matches!(*segment, "." | "..") {
            return bad("must not contain . or .. segments");
        }
        if *segment == "*" {
            if i != last {
                return bad("may use * only as its last segment");
            }
            let prefix = &path[..path.len() - 1];
            if parsed.iter().any(Option::is_none) {
                return bad("cannot mix parameters and a * prefix");
            }
            return Ok(Pattern::Prefix(prefix.to_owned()));
        }
        if segment.contains('*') {
            return bad("may use * only as a whole last segment");
        }
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if !is_name(name) {
                return bad("has a parameter whose name is not 1-64 of a-z 0-9 - _");
            }
            parsed.push(None);
        } else if segment.contains(['{', '}']) {
            return bad("has a parameter that is not a whole segment");
        } else {
            if segment.is_empty() && i != last {
                return bad("has an empty segment");
            }
            parsed.push(Some((*segment).to_owned()));
        }
    }
    if parsed.iter().all(Option::is_some) {
        Ok(Pattern::Exact(path.to_owned()))
    } else {
        Ok(Pattern::Param(parsed))
    }
}

fn policy(value: &Value) -> Result<Policy, String> {
    let roles = |list: &Value, key: &str| -> Result<Vec<String>, String> {
        let items = list
            .as_array()
            .ok_or_else(|| format!("policy {key} must be a list of role names"))?;
        if items.is_empty() || items.len() > MAX_ROLES {
            return Err(format!("policy {key} must list 1-{MAX_ROLES} roles"));
        }
        let mut roles = Vec::with_capacity(items.len());
        for item in items {
            match item.as_str() {
                Some(role) if is_valid_role(role) => roles.push(role.to_owned()),
                _ => {
                    return Err(format!(
                        "policy {key} has {item}, not a role name (1-64 of a-z 0-9 _ . : -)"
                    ))
                }
            }
        }
        roles.sort();
        roles.dedup();
        Ok(roles)
    };
    match value {
        Value::String(name) => match name.as_str() {
            "public" => Ok(Policy::Public),
            "optional" => Ok(Policy::Optional),
            "authenticated" => Ok(Policy::Authenticated),
            "deny" => Ok(Policy::Deny),
            other => Err(format!(
                "policy \"{other}\" is not one of public, optional, authenticated, deny, \
                 {{\"any_of\": [...]}}, {{\"all_of\": [...]}}"
            )),
        },
        Value::Object(map) if map.len() == 1 => {
            if let Some(list) = map.get("any_of") {
                Ok(Policy::AnyOf(roles(list, "any_of")?))
            } else if let Some(list) = map.get("all_of") {
                Ok(Policy::AllOf(roles(list, "all_of")?))
            } else {
                Err("a role policy is {\"any_of\": [...]} or {\"all_of\": [...]}".into())
            }
        }
        _ => Err("policy must be a name or {\"any_of\": [...]} / {\"all_of\": [...]}".into()),
    }
}

/// Two rules no request could choose between: the same host, the same pattern (parameter
/// names aside) and a method in common.
fn ambiguous(a: &Rule, b: &Rule) -> bool {
    let methods_overlap = match (&a.methods, &b.methods) {
        (Some(x), Some(y)) => x.iter().any(|m| y.contains(m)),
        _ => true,
    };
    a.host == b.host && a.pattern == b.pattern && methods_overlap
}
