use super::*;
use crate::roles::Roles;

const NOTES: &str = r#"{
  "upstreams": [
    {"id": "notes", "url": "http://127.0.0.1:8790/"},
    {"id": "other", "url": "https://other.internal:9000", "timeout_ms": 500,
     "assertion_header": "X-Identity", "forward_authorization": true}
  ],
  "routes": [
    {"name": "notes", "path": "/notes/*", "methods": ["GET", "POST"], "handler": "app:notes", "policy": "authenticated"},
    {"name": "notes-public", "path": "/notes/public/*", "methods": ["GET"], "handler": "app:notes", "policy": "public"},
    {"name": "notes-admin", "path": "/notes/api/admin/*", "methods": ["GET"], "handler": "app:notes", "policy": {"any_of": ["admin"]}, "cookie": true},
    {"name": "notes-secure", "path": "/notes/api/secure", "methods": ["GET"], "handler": "app:notes", "policy": "authenticated", "mfa": true, "max_age": 300},
    {"name": "notes-internal", "path": "/notes/internal/*", "policy": "deny"},
    {"name": "notes-upload", "path": "/notes/api/upload", "methods": ["POST"], "handler": "app:notes", "policy": "authenticated", "body_limit": 67108864},
    {"name": "notes-item", "path": "/notes/api/notes/{id}", "methods": ["GET", "DELETE"], "handler": "app:notes", "policy": "authenticated"},
    {"name": "notes-item-put", "path": "/notes/api/notes/{note}", "methods": ["PUT"], "handler": "app:notes", "policy": {"all_of": ["writer", "editor"]}},
    {"name": "other-host", "host": "other.example", "path": "/notes/*", "methods": ["GET"], "handler": "app:other", "policy": "optional"},
    {"name": "catch-all", "path": "/*", "methods": ["GET"], "handler": "app:other", "policy": "public"}
  ]
}"#;

fn table() -> RouteTable {
    RouteTable::with_builtin(NOTES).unwrap()
}

fn name(result: Result<&Rule, RouteError>) -> Result<&str, RouteError> {
    result.map(|r| r.name.as_str())
}

fn bad(table: &str) -> RouteTableError {
    RouteTable::with_builtin(table).unwrap_err()
}

#[test]
fn the_builtin_table_routes_the_auth_api() {
    let t = RouteTable::with_builtin("").unwrap();
    let cases = [
        (
            "GET",
            "/healthz",
            "healthz",
            Handler::Health,
            Policy::Public,
        ),
        ("GET", "/", "page", Handler::Page, Policy::Public),
        (
            "GET",
            "/app.js",
            "page-app-js",
            Handler::Page,
            Policy::Public,
        ),
        (
            "GET",
            "/.well-known/edgeauth/assertion-jwks.json",
            "assertion-jwks",
            Handler::AssertionJwks,
            Policy::Public,
        ),
        (
            "GET",
            "/.well-known/jwks.json",
            "jwks",
            Handler::Origin,
            Policy::Public,
        ),
        (
            "POST",
            "/api/login",
            "login",
            Handler::Origin,
            Policy::Public,
        ),
        (
            "POST",
            "/api/logout",
            "logout",
            Handler::Origin,
            Policy::Optional,
        ),
        (
            "GET",
            "/api/profile",
            "profile",
            Handler::Origin,
            Policy::Authenticated,
        ),
        (
            "DELETE",
            "/api/sessions/abc-DEF_123",
            "revoke-session",
            Handler::Origin,
            Policy::Authenticated,
        ),
        (
            "POST",
            "/api/password/forgot",
            "password-forgot",
            Handler::Origin,
            Policy::Public,
        ),
        (
            "POST",
            "/api/password/reset",
            "password-reset",
            Handler::Origin,
            Policy::Public,
        ),
        (
            "POST",
            "/api/email/verify",
            "email-verify",
            Handler::Origin,
            Policy::Public,
        ),
        (
            "POST",
            "/api/email/verify/resend",
            "email-verify-resend",
            Handler::Origin,
            Policy::Public,
        ),
        (
            "POST",
            "/api/email/change",
            "email-change",
            Handler::Origin,
            Policy::Authenticated,
        ),
        (
            "POST",
            "/api/email/change/confirm",
            "email-change-confirm",
            Handler::Origin,
            Policy::Public,
        ),
    ];
    for (method, path, want, handler, policy) in cases {
        let rule = t.find("edge.example", method, path).unwrap();
        assert_eq!(
            (rule.name.as_str(), rule.handler, &rule.policy),
            (want, handler, &policy),
            "{method} {path}"
        );
    }
    for path in [
        "/index.html",
        "/app.js/",
        "/api",
        "/api/",
        "/api/profile/",
        "/API/profile",
        "/api/sessions/",
        "/api/sessions/a/b",
        "/api/sessions/a%2Fb",
        "/api/sessions/..",
        "/healthz/",
    ] {
        assert_eq!(
            t.find("h", "GET", path).unwrap_err(),
            RouteError::NotFound,
            "{path}"
        );
    }
    let long = format!("/api/sessions/{}", "a".repeat(129));
    assert_eq!(
        t.find("h", "DELETE", &long).unwrap_err(),
        RouteError::NotFound
    );
}

#[test]
fn wrong_methods_get_405_with_allow() {
    let t = table();
    let allow = |a: &str| Err(RouteError::MethodNotAllowed { allow: a.into() });
    assert_eq!(name(t.find("h", "GET", "/api/login")), allow("POST"));
    assert_eq!(
        name(t.find("h", "POST", "/api/sessions/x")),
        allow("DELETE")
    );
    assert_eq!(name(t.find("h", "get", "/healthz")), allow("GET"));
    assert_eq!(
        name(t.find("h", "POST", "/notes/api/notes/x")),
        allow("DELETE, GET, PUT")
    );
    assert_eq!(t.allow("h", "/api/profile").as_deref(), Some("GET"));
    assert_eq!(t.allow("h", "/notes/x").as_deref(), Some("GET, POST"));
    assert_eq!(
        t.allow("h", "/nowhere/x").as_deref(),
        Some("GET"),
        "the catch-all"
    );
    assert_eq!(
        RouteTable::with_builtin("").unwrap().allow("h", "/nowhere"),
        None
    );
}

#[test]
fn precedence_is_exact_then_param_then_longest_prefix() {
    let t = table();
    let cases = [
        ("GET", "/notes/x", "notes"),
        ("POST", "/notes/api/notes", "notes"),
        ("GET", "/notes/public/hello", "notes-public"),
        ("GET", "/notes/api/admin/stats", "notes-admin"),
        ("POST", "/notes/api/upload", "notes-upload"),
        ("GET", "/notes/api/notes/n1", "notes-item"),
        ("PUT", "/notes/api/notes/n1", "notes-item-put"),
        ("GET", "/notes/internal/secret", "notes-internal"),
        ("DELETE", "/notes/internal/secret", "notes-internal"),
        ("GET", "/elsewhere", "catch-all"),
        ("GET", "/api/profile", "profile"),
    ];
    for (method, path, want) in cases {
        assert_eq!(
            name(t.find("edge.example", method, path)),
            Ok(want),
            "{method} {path}"
        );
    }
    // A more specific rule shadows broader ones for every method: no POST under admin.
    assert_eq!(
        name(t.find("h", "POST", "/notes/api/admin/stats")),
        Err(RouteError::MethodNotAllowed {
            allow: "GET".into()
        })
    );
    // The upload rule is exact: a longer path falls back to the prefix.
    assert_eq!(
        name(t.find("h", "POST", "/notes/api/upload/x")),
        Ok("notes")
    );
    // `/notes/*` does not match `/notes` itself.
    assert_eq!(name(t.find("h", "GET", "/notes")), Ok("catch-all"));
}

#[test]
fn host_rules_win_over_host_less_ones_of_the_same_pattern() {
    let t = table();
    assert_eq!(
        name(t.find("other.example", "GET", "/notes/x")),
        Ok("other-host")
    );
    assert_eq!(
        name(t.find("OTHER.example", "GET", "/notes/x")),
        Ok("other-host")
    );
    assert_eq!(
        name(t.find("other.example", "POST", "/notes/x")),
        Err(RouteError::MethodNotAllowed {
            allow: "GET".into()
        })
    );
    // A host-specific prefix is still less specific than a longer host-less one.
    assert_eq!(
        name(t.find("other.example", "GET", "/notes/public/x")),
        Ok("notes-public")
    );
}

#[test]
fn params_prefer_literal_segments_from_the_left() {
    let t = RouteTable::with_builtin(
        r#"{"upstreams":[{"id":"a","url":"http://a"}],"routes":[
        {"name":"p1","path":"/x/{a}/c","handler":"app:a","policy":"public"},
        {"name":"p2","path":"/x/b/{c}","handler":"app:a","policy":"public"},
        {"name":"p3","path":"/{a}/{b}/{c}","handler":"app:a","policy":"public"}]}"#,
    )
    .unwrap();
    assert_eq!(name(t.find("h", "GET", "/x/b/c")), Ok("p2"));
    assert_eq!(name(t.find("h", "GET", "/x/z/c")), Ok("p1"));
    assert_eq!(name(t.find("h", "GET", "/y/z/c")), Ok("p3"));
    assert_eq!(
        name(t.find("h", "GET", "/y/z.z/c")),
        Err(RouteError::NotFound),
        "character rule"
    );
    assert_eq!(
        name(t.find("h", "GET", "/y/z/c/d")),
        Err(RouteError::NotFound)
    );
}

#[test]
fn prefix_rules_refuse_paths_that_could_dodge_a_deny() {
    let t = table();
    for path in [
        "/notes//internal/x",
        "/notes/%2Finternal/x",
        "/notes/%2finternal",
        "/notes/a\\b",
        "/notes/%2e%2e/api/admin/stats",
    ] {
        assert_eq!(
            name(t.find("h", "GET", path)),
            Err(RouteError::NotFound),
            "{path}"
        );
    }
}

#[test]
fn rules_carry_upstreams_limits_and_policies() {
    let t = table();
    let rule = t.find("h", "POST", "/notes/api/upload").unwrap();
    assert_eq!(rule.body_limit, 64 * 1024 * 1024);
    let Handler::App(index) = rule.handler else {
        panic!("not an app rule")
    };
    let notes = t.upstream(index).unwrap();
    assert_eq!(
        notes.url, "http://127.0.0.1:8790",
        "the trailing slash is dropped"
    );
    assert_eq!(
        (
            notes.timeout_ms,
            notes.assertion_header.as_str(),
            notes.forward_authorization
        ),
        (DEFAULT_UPSTREAM_TIMEOUT_MS, "edgeauth-assertion", false)
    );
    assert_eq!(
        t.find("h", "GET", "/notes/x").unwrap().body_limit,
        DEFAULT_APP_BODY_LIMIT
    );
    let other = &t.upstreams()[1];
    assert_eq!(
        (
            other.timeout_ms,
            other.assertion_header.as_str(),
            other.forward_authorization
        ),
        (500, "x-identity", true)
    );

    assert!(
        t.find("h", "GET", "/notes/api/admin/stats")
            .unwrap()
            .accepts_cookie
    );
    assert!(
        !t.find("h", "GET", "/notes/x").unwrap().accepts_cookie,
        "off unless declared"
    );
    assert!(t.rules().iter().filter(|r| r.accepts_cookie).count() == 1);
    let admin = &t.find("h", "GET", "/notes/api/admin/stats").unwrap().policy;
    assert!(admin.needs_identity(false));
    assert!(admin.roles_allow(&Roles::from_field(Some("admin ops"))));
    assert!(!admin.roles_allow(&Roles::from_field(Some("ops"))));
    let both = &t.find("h", "PUT", "/notes/api/notes/x").unwrap().policy;
    assert!(both.roles_allow(&Roles::from_field(Some("editor writer"))));
    assert!(!both.roles_allow(&Roles::from_field(Some("writer"))));
    assert!(Policy::Authenticated.roles_allow(&Roles::default()));
    assert!(!Policy::Public.needs_identity(true));
    assert!(Policy::Optional.needs_identity(true) && !Policy::Optional.needs_identity(false));
    assert!(!Policy::Deny.needs_identity(true));
}

#[test]
fn bad_tables_are_refused_naming_the_rule() {
    let up = r#""upstreams":[{"id":"a","url":"http://a:1"}]"#;
    let one = |rule: &str| format!(r#"{{{up},"routes":[{rule}]}}"#);
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "{not json".into(),
            "EDGEAUTH_ROUTES",
            "not a valid route table",
        ),
        (r#"{"rutes":[]}"#.into(), "EDGEAUTH_ROUTES", "unknown field"),
        (
            one(r#"{"name":"r","path":"/x","handler":"app:b","policy":"public"}"#),
            "route rule \"r\"",
            "upstream \"b\"",
        ),
        (
            one(r#"{"name":"r","path":"x","handler":"app:a","policy":"public"}"#),
            "route rule \"r\"",
            "must start with /",
        ),
        (
            one(r#"{"name":"r","path":"/x/*/y","handler":"app:a","policy":"public"}"#),
            "route rule \"r\"",
            "last segment",
        ),
        (
            one(r#"{"name":"r","path":"/x*","handler":"app:a","policy":"public"}"#),
            "route rule \"r\"",
            "whole last segment",
        ),
        (
            one(r#"{"name":"r","path":"/x/{id}/*","handler":"app:a","policy":"public"}"#),
            "route rule \"r\"",
            "cannot mix",
        ),
        (
            one(r#"{"name":"r","path":"/x/a{id}","handler":"app:a","policy":"public"}"#),
            "route rule \"r\"",
            "whole segment",
        ),
        (
            one(r#"{"name":"r","path":"/x/../y","handler":"app:a","policy":"public"}"#),
            "route rule \"r\"",
            "..",
        ),
        (
            one(r#"{"name":"r","path":"/x%2f","handler":"app:a","policy":"public"}"#),
            "route rule \"r\"",
            "must not contain",
        ),
        (
            one(r#"{"name":"r","path":"/x","handler":"app:a","policy":"sometimes"}"#),
            "route rule \"r\"",
            "policy \"sometimes\"",
        ),
        (
            one(r#"{"name":"r","path":"/x","handler":"app:a","policy":{"any_of":[]}}"#),
            "route rule \"r\"",
            "1-32 roles",
        ),
        (
            one(r#"{"name":"r","path":"/x","handler":"app:a","policy":{"any_of":["Admin"]}}"#),
            "route rule \"r\"",
            "not a role name",
        ),
        (
            one(r#"{"name":"r","path":"/x","handler":"app:a","policy":{"some_of":["a"]}}"#),
            "route rule \"r\"",
            "any_of",
        ),
        (
            one(r#"{"name":"r","path":"/x","policy":"public"}"#),
            "route rule \"r\"",
            "handler is missing",
        ),
        (
            one(r#"{"name":"r","path":"/x","handler":"app:a","policy":"deny"}"#),
            "route rule \"r\"",
            "no handler",
        ),
        (
            one(r#"{"name":"r","path":"/x","handler":"elsewhere","policy":"public"}"#),
            "route rule \"r\"",
            "handler \"elsewhere\"",
        ),
        (
            one(r#"{"name":"r","path":"/x","handler":"app:a","policy":"public","methods":[]}"#),
            "route rule \"r\"",
            "methods is empty",
        ),
        (
            one(
                r#"{"name":"r","path":"/x","handler":"app:a","policy":"public","methods":["get"]}"#,
            ),
            "route rule \"r\"",
            "uppercase",
        ),
        (
            one(
                r#"{"name":"r","path":"/x","handler":"app:a","policy":"public","methods":["GET","GET"]}"#,
            ),
            "route rule \"r\"",
            "twice",
        ),
        (
            one(r#"{"name":"r","path":"/x","handler":"origin","policy":"public","body_limit":5}"#),
            "route rule \"r\"",
            "app rules only",
        ),
        (
            one(r#"{"name":"r","path":"/x","handler":"app:a","policy":"public","body_limit":0}"#),
            "route rule \"r\"",
            "body_limit",
        ),
        (
            one(r#"{"name":"r","path":"/x","handler":"app:a","policy":"public","mfa":true}"#),
            "route rule \"r\"",
            "mfa and max_age apply to rules whose policy is authenticated",
        ),
        (
            one(r#"{"name":"r","path":"/x","handler":"app:a","policy":"optional","max_age":60}"#),
            "route rule \"r\"",
            "mfa and max_age apply",
        ),
        (
            one(
                r#"{"name":"r","path":"/x","handler":"app:a","policy":"authenticated","max_age":0}"#,
            ),
            "route rule \"r\"",
            "max_age must be 1-2592000 seconds",
        ),
        (
            one(r#"{"name":"r","path":"/x","handler":"app:a","policy":"authenticated","mfa":1}"#),
            "route rule \"r\"",
            "`mfa` must be true or false",
        ),
        (
            one(r#"{"name":"r","path":"/x","handler":"app:a","policy":"public","cookie":true}"#),
            "route rule \"r\"",
            "cookie applies to app rules whose policy is authenticated",
        ),
        (
            one(r#"{"name":"r","path":"/x","handler":"app:a","policy":"optional","cookie":true}"#),
            "route rule \"r\"",
            "cookie applies",
        ),
        (
            one(
                r#"{"name":"r","path":"/x","handler":"origin","policy":"authenticated","cookie":true}"#,
            ),
            "route rule \"r\"",
            "cookie applies",
        ),
        (
            one(
                r#"{"name":"r","path":"/x","handler":"app:a","policy":"authenticated","cookie":"yes"}"#,
            ),
            "route rule \"r\"",
            "`cookie` must be true or false",
        ),
        (
            one(
                r#"{"name":"r","host":"A.example:80","path":"/x","handler":"app:a","policy":"public"}"#,
            ),
            "route rule \"r\"",
            "host",
        ),
        (
            one(r#"{"name":"r","path":"/x","handler":"app:a","policy":"public","extra":1}"#),
            "route rule \"r\"",
            "unknown field",
        ),
        (
            one(r#"{"name":"login","path":"/x","handler":"app:a","policy":"public"}"#),
            "route rule \"login\"",
            "used by another rule",
        ),
        (
            one(r#"{"path":"/x","handler":"app:a","policy":"public"}"#),
            "route rule #",
            "name",
        ),
        (
            one(
                r#"{"name":"mine","path":"/api/login","methods":["POST"],"handler":"app:a","policy":"public"}"#,
            ),
            "route rule \"mine\"",
            "\"login\"",
        ),
        (
            r#"{"upstreams":[{"id":"a","url":"ftp://a"}]}"#.into(),
            "upstream \"a\"",
            "http://",
        ),
        (
            r#"{"upstreams":[{"id":"a","url":"http://a/path"}]}"#.into(),
            "upstream \"a\"",
            "without path",
        ),
        (
            r#"{"upstreams":[{"id":"a","url":"http://a","timeout_ms":0}]}"#.into(),
            "upstream \"a\"",
            "timeout_ms",
        ),
        (
            r#"{"upstreams":[{"id":"a","url":"http://a","assertion_header":"Cookie"}]}"#.into(),
            "upstream \"a\"",
            "assertion_header",
        ),
        (
            r#"{"upstreams":[{"id":"a","url":"http://a"},{"id":"a","url":"http://b"}]}"#.into(),
            "upstream \"a\"",
            "twice",
        ),
        (
            r#"{"upstreams":[{"id":"A","url":"http://a"}]}"#.into(),
            "upstream \"A\"",
            "id must be",
        ),
    ];
    for (table, place, problem) in cases {
        let e = bad(&table);
        assert!(e.place.contains(place), "{table}: {e}");
        assert!(e.to_string().contains(problem), "{table}: {e}");
    }
}

#[test]
fn equally_specific_rules_for_a_common_method_are_ambiguous() {
    let up = r#""upstreams":[{"id":"a","url":"http://a:1"}]"#;
    let two = |a: &str, b: &str| format!(r#"{{{up},"routes":[{a},{b}]}}"#);
    let rule = |name: &str, path: &str, methods: &str| {
        format!(
            r#"{{"name":"{name}","path":"{path}","handler":"app:a","policy":"public"{methods}}}"#
        )
    };
    let ambiguous = [
        (
            rule("a", "/x/*", ""),
            rule("b", "/x/*", r#","methods":["GET"]"#),
        ),
        (
            rule("a", "/x/{id}", r#","methods":["GET","POST"]"#),
            rule("b", "/x/{other}", r#","methods":["POST"]"#),
        ),
        (rule("a", "/x", ""), rule("b", "/x", "")),
    ];
    for (a, b) in &ambiguous {
        let e = bad(&two(a, b));
        assert_eq!(e.place, "route rule \"b\"");
        assert!(
            e.problem.contains("\"a\"") && e.problem.contains("ambiguous"),
            "{e}"
        );
    }
    let fine = [
        (
            rule("a", "/x/*", r#","methods":["GET"]"#),
            rule("b", "/x/*", r#","methods":["POST"]"#),
        ),
        (rule("a", "/x/{id}", ""), rule("b", "/x/y", "")),
        (rule("a", "/x/*", ""), rule("b", "/x/y/*", "")),
        (
            rule("a", "/x/*", ""),
            r#"{"name":"b","host":"h.example","path":"/x/*","handler":"app:a","policy":"public"}"#
                .to_owned(),
        ),
    ];
    for (a, b) in &fine {
        RouteTable::with_builtin(&two(a, b)).unwrap();
    }
}

#[test]
fn a_blank_deployment_table_is_just_the_builtin_one() {
    let builtin = RouteTable::with_builtin("  \n").unwrap();
    assert!(builtin.upstreams().is_empty());
    // Every rule of builtin.json, and nothing else (a count, not a constant: the auth API grows).
    let listed: serde_json::Value = serde_json::from_str(super::BUILTIN).unwrap();
    let listed = listed["routes"].as_array().unwrap().len();
    assert!(listed > 30, "builtin.json lists the auth API's routes");
    assert_eq!(builtin.rules().len(), listed);
}

#[test]
fn the_page_rules_are_exactly_the_files_in_web() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .map(|name| {
            if name == "index.html" {
                "/".to_owned()
            } else {
                format!("/{name}")
            }
        })
        .collect();
    files.sort();
    let t = RouteTable::with_builtin("").unwrap();
    let mut routed: Vec<&str> = t
        .rules()
        .iter()
        .filter(|r| r.handler == Handler::Page)
        .map(|r| r.path.as_str())
        .collect();
    routed.sort_unstable();
    assert_eq!(files, routed, "web/ and builtin.json's page rules disagree");
}

#[test]
fn rules_carry_their_step_up_requirement() {
    use crate::assurance::StepUpRule;
    let t = table();
    let secure = t.find("h", "GET", "/notes/api/secure").unwrap();
    assert_eq!(
        secure.step_up,
        StepUpRule {
            mfa: true,
            max_age: Some(300)
        }
    );
    assert!(!t
        .find("h", "GET", "/notes/x")
        .unwrap()
        .step_up
        .is_required());
}
