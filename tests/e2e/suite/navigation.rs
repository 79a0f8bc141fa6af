//! Browser navigations to app rules that accept the access cookie (`"cookie": true`; the dev
//! table's `/notes/*` rules and the test rule `/e2e/echo-cookie/*`): the cookie authenticates
//! like a Bearer token, cookie-only writes and WebSockets must come from an allowed page, an
//! expired access cookie is refreshed silently on navigations, signed-out navigations go to
//! sign-in (after one same-site bounce when they came from elsewhere), and the app never sees
//! edgeauth's cookies. The requests carry the fetch metadata a browser sends, set by hand.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edgeauth_core::headers::{ACCESS_COOKIE, BOUNCE_COOKIE, REFRESH_COOKIE};
use edgeauth_core::navigation::bounce_tag;
use edgeauth_core::token::{issue_access_token, AccessGrant, TokenPolicy};
use edgeauth_e2e::client::{Reply, Session};
use edgeauth_e2e::stack::{BoxError, ALLOWED_ORIGIN};
use edgeauth_e2e::{Api, Stack};
use reqwest::Method;
use serde_json::json;

use super::gateway::websocket_echo;
use super::Outcome;
use crate::{check, tests};

tests![
    the_access_cookie_is_set_and_authenticates_like_a_bearer_token,
    cookie_writes_and_websockets_need_an_allowed_page,
    an_expired_access_cookie_is_refreshed_on_navigations_only,
    parallel_silent_refreshes_share_one_successor,
    signed_out_navigations_go_to_sign_in_and_apis_get_401,
    navigations_from_elsewhere_bounce_once_then_sign_in,
    a_revoked_sessions_navigation_signs_in_and_clears_the_cookies,
    the_app_never_sees_edgeauth_cookies,
];

const CHROME_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,\
                             image/avif,image/webp,image/apng,*/*;q=0.8";

/// What a browser's top-level navigation from a page of this origin sends.
const SAME_ORIGIN_NAVIGATION: &[(&str, &str)] = &[
    ("sec-fetch-mode", "navigate"),
    ("sec-fetch-site", "same-origin"),
    ("sec-fetch-dest", "document"),
    ("accept", CHROME_ACCEPT),
];

/// A link clicked on another site (or in a mail client: `none`).
fn navigation_from(site: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-site", site),
        ("sec-fetch-dest", "document"),
        ("accept", CHROME_ACCEPT),
    ]
}

/// A script's `fetch` on the same origin.
const FETCH: &[(&str, &str)] = &[
    ("sec-fetch-mode", "cors"),
    ("sec-fetch-site", "same-origin"),
    ("accept", "*/*"),
];

/// A browser-like client that never follows redirects (the tests look at each 303).
struct Browser {
    base: String,
    http: reqwest::Client,
}

impl Browser {
    fn new(api: &Api) -> Result<Self, BoxError> {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("cf-connecting-ip", api.client_ip.parse()?);
        Ok(Self {
            base: api.base.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .default_headers(headers)
                .user_agent("edgeauth-e2e-browser")
                .build()?,
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        cookie: &str,
        headers: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<Reply, BoxError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if !cookie.is_empty() {
            request = request.header("cookie", cookie);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Api::read(request.send().await?).await
    }

    async fn get(
        &self,
        path: &str,
        cookie: &str,
        headers: &[(&str, &str)],
    ) -> Result<Reply, BoxError> {
        self.send(Method::GET, path, cookie, headers, None).await
    }
}

/// The value a response's `Set-Cookie` gives the cookie `name` (`Some("")` when it deletes it).
fn set_cookie(reply: &Reply, name: &str) -> Option<String> {
    reply.set_cookies().into_iter().find_map(|c| {
        let rest = c.strip_prefix(name)?.strip_prefix('=')?;
        Some(rest.split(';').next().unwrap_or("").to_owned())
    })
}

/// Whether the response deletes the cookie `name` (empty value, `Max-Age=0`).
fn clears(reply: &Reply, name: &str) -> bool {
    reply
        .set_cookies()
        .iter()
        .any(|c| c.starts_with(&format!("{name}=;")) && c.contains("Max-Age=0"))
}

fn session_id(session: &Session) -> Result<String, BoxError> {
    session
        .refresh
        .split('.')
        .nth(1)
        .map(str::to_owned)
        .ok_or_else(|| format!("not a refresh token: {}", session.refresh).into())
}

/// A genuine access token of `session`, signed by the origin's key, that expired an hour ago.
fn expired_access_token(stack: &Stack, session: &Session) -> Result<String, BoxError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let policy = TokenPolicy::new(&stack.issuer, &stack.audience);
    let sid = session_id(session)?;
    let grant = AccessGrant {
        user_id: &session.user_id,
        session_id: &sid,
        token_id: "nav-expired",
        now: now - 3600 - policy.access_ttl_secs,
        session_expires_at: u64::MAX,
    };
    Ok(issue_access_token(stack.signing_keys.active(), &policy, &grant)?.token)
}

/// The identity the notes app saw (its `whoami` echoes the verified assertion's claims).
fn whoami(reply: &Reply) -> (String, String) {
    let claims = &reply.body["claims"];
    (
        claims["sub"].as_str().unwrap_or("").to_owned(),
        claims["sid"].as_str().unwrap_or("").to_owned(),
    )
}

fn expect_identity(reply: &Reply, session: &Session, what: &str) -> Outcome {
    check!(
        reply.status == 200,
        "{what}: {} {} {:?}",
        reply.status,
        reply.text,
        reply.headers
    );
    let (sub, sid) = whoami(reply);
    check!(
        sub == session.user_id && sid == session_id(session)?,
        "{what}: the app saw {sub}/{sid}, not {}",
        session.user_id
    );
    Ok(())
}

async fn the_access_cookie_is_set_and_authenticates_like_a_bearer_token(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let browser = Browser::new(&api)?;
    let user = edgeauth_e2e::client::TestUser::unique();
    check!(api.register(&user).await?.status == 201, "register");
    let login = api.login(&user.email, &user.password).await?;
    let (access, _) = login.tokens()?;
    let cookie = login
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with(&format!("{ACCESS_COOKIE}=")))
        .ok_or_else(|| format!("login sets no access cookie: {:?}", login.set_cookies()))?;
    check!(
        cookie
            == format!(
                "{ACCESS_COOKIE}={access}; Max-Age={}; Path=/; Secure; HttpOnly; SameSite=Lax",
                login.body["expires_in"]
            ),
        "access cookie: {cookie}"
    );
    check!(
        set_cookie(&login, REFRESH_COOKIE).is_some_and(|v| v.starts_with("rt1.")),
        "login sets the refresh cookie too: {:?}",
        login.set_cookies()
    );
    let session = api.sign_in(&user).await?;
    let at = format!("theme=dark; {ACCESS_COOKIE}={}", session.access);

    // Plain GET and HEAD, navigation or not: authenticated like the Bearer token.
    let cases: [&[(&str, &str)]; 3] = [SAME_ORIGIN_NAVIGATION, FETCH, &[]];
    for headers in cases {
        let reply = browser.get("/notes/api/whoami", &at, headers).await?;
        expect_identity(&reply, &session, &format!("GET with {headers:?}"))?;
    }
    let head = browser
        .send(Method::HEAD, "/e2e/echo-cookie/x", &at, &[], None)
        .await?;
    check!(head.status == 200, "HEAD: {}", head.status);
    // Rules that do not declare `cookie` (and the auth API) ignore it.
    for path in ["/e2e/echo-auth/x", "/api/profile"] {
        let reply = browser.get(path, &at, FETCH).await?;
        check!(
            reply.status == 401,
            "{path} by cookie: {} {}",
            reply.status,
            reply.text
        );
    }

    // A refresh sets both again; logout clears both.
    let refreshed = api.refresh(&session.refresh).await?;
    let (new_access, _) = refreshed.tokens()?;
    check!(
        set_cookie(&refreshed, ACCESS_COOKIE).as_deref() == Some(new_access.as_str())
            && set_cookie(&refreshed, REFRESH_COOKIE).is_some(),
        "refresh cookies: {:?}",
        refreshed.set_cookies()
    );
    let logout = api
        .call(Method::POST, "/api/logout", Some(&new_access), None)
        .await?;
    check!(
        logout.status == 204 && clears(&logout, ACCESS_COOKIE) && clears(&logout, REFRESH_COOKIE),
        "logout: {} {:?}",
        logout.status,
        logout.set_cookies()
    );
    let after = browser.get("/notes/api/whoami", &at, FETCH).await?;
    check!(
        after.status == 401 && after.code() == "invalid_token",
        "a logged-out cookie: {} {}",
        after.status,
        after.text
    );
    Ok(())
}

async fn cookie_writes_and_websockets_need_an_allowed_page(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let browser = Browser::new(&api)?;
    let session = api.new_session().await?;
    let at = format!("{ACCESS_COOKIE}={}", session.access);
    let same_site_other_port = stack
        .edge
        .rsplit_once(':')
        .map_or(String::new(), |(host, _)| format!("{host}:1"));
    let refused: [&[(&str, &str)]; 5] = [
        &[("origin", "https://evil.example")],
        &[("origin", same_site_other_port.as_str())],
        &[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "same-origin"),
        ],
        &[],
        &[("sec-fetch-site", "same-site")],
    ];
    for headers in refused {
        let reply = browser
            .send(
                Method::POST,
                "/notes/api/notes",
                &at,
                headers,
                Some(json!({"text": "forged"})),
            )
            .await?;
        check!(
            reply.status == 403 && reply.code() == "forbidden",
            "cookie POST with {headers:?}: {} {}",
            reply.status,
            reply.text
        );
    }
    let own = stack.edge.as_str();
    let allowed: [&[(&str, &str)]; 3] = [
        &[("origin", own)],
        &[("origin", ALLOWED_ORIGIN)],
        &[("sec-fetch-site", "same-origin")],
    ];
    for headers in allowed {
        let reply = browser
            .send(
                Method::POST,
                "/notes/api/notes",
                &at,
                headers,
                Some(json!({"text": "from an allowed page"})),
            )
            .await?;
        check!(
            reply.status == 201,
            "cookie POST with {headers:?}: {} {}",
            reply.status,
            reply.text
        );
    }
    // Bearer clients are unchanged: no page check.
    let bearer = api
        .http
        .post(format!("{}/notes/api/notes", stack.edge))
        .bearer_auth(&session.access)
        .header("origin", "https://evil.example")
        .json(&json!({"text": "bearer"}))
        .send()
        .await?;
    check!(bearer.status() == 201, "bearer POST: {}", bearer.status());
    let list = api.get("/notes/api/notes", Some(&session.access)).await?;
    let count = list.body["notes"].as_array().map_or(0, Vec::len);
    check!(
        count == 4,
        "only the allowed writes were stored: {}",
        list.text
    );

    // Cross-site WebSocket hijacking: a cookie-only upgrade from a foreign page is refused.
    let edge = stack.edge.clone();
    let cookie_line = format!("Cookie: {at}\r\n");
    let foreign = format!("{cookie_line}Origin: https://evil.example\r\n");
    let mine = format!("{cookie_line}Origin: {}\r\n", stack.edge);
    let (refused, allowed) = tokio::task::spawn_blocking(move || {
        Ok::<_, BoxError>((
            websocket_echo(&edge, "/notes/ws", &foreign, "x")?,
            websocket_echo(&edge, "/notes/ws", &mine, "hello by cookie")?,
        ))
    })
    .await??;
    check!(
        refused.0.contains(" 403 ") && refused.1.is_none(),
        "foreign WebSocket: {}",
        refused.0
    );
    check!(
        allowed.1.as_deref() == Some("hello by cookie"),
        "own WebSocket: {} {:?}",
        allowed.0,
        allowed.1
    );
    Ok(())
}

async fn an_expired_access_cookie_is_refreshed_on_navigations_only(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let browser = Browser::new(&api)?;
    let session = api.new_session().await?;
    let expired = expired_access_token(stack, &session)?;
    let cookies = format!(
        "{ACCESS_COOKIE}={expired}; {REFRESH_COOKIE}={}",
        session.refresh
    );

    // Not a navigation: 401, and the refresh token is not spent.
    let not_navigations: [&[(&str, &str)]; 2] = [FETCH, &[("accept", "application/json")]];
    for headers in not_navigations {
        let reply = browser.get("/notes/api/whoami", &cookies, headers).await?;
        check!(
            reply.status == 401
                && reply.code() == "invalid_token"
                && reply.set_cookies().is_empty(),
            "expired cookie, {headers:?}: {} {}",
            reply.status,
            reply.text
        );
    }

    let reply = browser
        .get("/notes/api/whoami", &cookies, SAME_ORIGIN_NAVIGATION)
        .await?;
    expect_identity(&reply, &session, "navigation with an expired access cookie")?;
    let new_access = set_cookie(&reply, ACCESS_COOKIE).unwrap_or_default();
    let new_refresh = set_cookie(&reply, REFRESH_COOKIE).unwrap_or_default();
    check!(
        !new_access.is_empty() && new_access != expired && new_refresh.starts_with("rt1."),
        "both new cookies: {:?}",
        reply.set_cookies()
    );
    check!(
        new_refresh != session.refresh,
        "the refresh token rotated: {new_refresh}"
    );
    // The new pair works: the access cookie directly, the refresh cookie for the next refresh.
    let fresh = browser
        .get(
            "/notes/api/whoami",
            &format!("{ACCESS_COOKIE}={new_access}"),
            FETCH,
        )
        .await?;
    expect_identity(&fresh, &session, "the new access cookie")?;

    // No access cookie at all (it expired in the browser) works the same; browsers without
    // fetch metadata are judged by Accept.
    let old_browser = [("accept", CHROME_ACCEPT)];
    let reply = browser
        .get(
            "/notes/api/whoami",
            &format!("{REFRESH_COOKIE}={new_refresh}"),
            &old_browser,
        )
        .await?;
    expect_identity(&reply, &session, "navigation with only the refresh cookie")?;
    check!(
        set_cookie(&reply, ACCESS_COOKIE).is_some_and(|v| !v.is_empty())
            && set_cookie(&reply, REFRESH_COOKIE).is_some_and(|v| v != new_refresh),
        "rotated again: {:?}",
        reply.set_cookies()
    );
    Ok(())
}

async fn parallel_silent_refreshes_share_one_successor(stack: &'static Stack) -> Outcome {
    const TABS: usize = 6;
    let api = Api::new(&stack.edge);
    let browser = std::sync::Arc::new(Browser::new(&api)?);
    let session = api.new_session().await?;
    let expired = expired_access_token(stack, &session)?;
    let cookies = format!(
        "{ACCESS_COOKIE}={expired}; {REFRESH_COOKIE}={}",
        session.refresh
    );
    let mut tabs = Vec::new();
    for _ in 0..TABS {
        let (browser, cookies) = (browser.clone(), cookies.clone());
        tabs.push(tokio::spawn(async move {
            browser
                .get("/notes/api/whoami", &cookies, SAME_ORIGIN_NAVIGATION)
                .await
        }));
    }
    let mut successors = Vec::new();
    for tab in tabs {
        let reply = tab.await??;
        expect_identity(&reply, &session, "a parallel navigation")?;
        successors.push(set_cookie(&reply, REFRESH_COOKIE).unwrap_or_default());
    }
    successors.dedup();
    check!(
        successors.len() == 1 && successors[0].starts_with("rt1."),
        "every tab got the same successor: {successors:?}"
    );
    // No reuse was detected: the session lives on, and the successor refreshes it again.
    let next = browser
        .get(
            "/notes/api/whoami",
            &format!("{REFRESH_COOKIE}={}", successors[0]),
            SAME_ORIGIN_NAVIGATION,
        )
        .await?;
    expect_identity(&next, &session, "the successor's navigation")?;
    let profile = api.get("/api/profile", Some(&session.access)).await?;
    check!(
        profile.status == 200,
        "the session is alive: {} {}",
        profile.status,
        profile.text
    );
    Ok(())
}

async fn signed_out_navigations_go_to_sign_in_and_apis_get_401(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let browser = Browser::new(&api)?;
    let path = "/notes/?a=1&b=x%20y";
    let want = "/auth/sign-in?next=/notes/%3Fa%3D1%26b%3Dx%2520y";
    let old_browser: &[(&str, &str)] = &[("accept", CHROME_ACCEPT)];
    for headers in [SAME_ORIGIN_NAVIGATION, old_browser] {
        let reply = browser.get(path, "theme=dark", headers).await?;
        check!(
            reply.status == 303 && reply.header("location") == Some(want),
            "{headers:?}: {} {:?}",
            reply.status,
            reply.header("location")
        );
        check!(
            reply.set_cookies().is_empty(),
            "nothing to clear: {:?}",
            reply.set_cookies()
        );
    }
    // A form POST from another site carries no cookies: it lands on sign-in, nothing stored.
    let form = browser
        .send(
            Method::POST,
            "/notes/api/notes",
            "",
            &navigation_from("cross-site"),
            Some(json!({"text": "x"})),
        )
        .await?;
    check!(
        form.status == 303
            && form.header("location") == Some("/auth/sign-in?next=/notes/api/notes"),
        "cross-site form POST: {} {:?}",
        form.status,
        form.header("location")
    );
    // APIs and scripts keep the JSON 401.
    let api_like: [&[(&str, &str)]; 3] = [
        &[("accept", "application/json")],
        &[("accept", "*/*")],
        &[
            ("sec-fetch-mode", "cors"),
            ("sec-fetch-site", "same-origin"),
            ("accept", "text/html"),
        ],
    ];
    for headers in api_like {
        let reply = browser.get(path, "", headers).await?;
        check!(
            reply.status == 401
                && reply.code() == "invalid_token"
                && reply.header("www-authenticate").is_some(),
            "{headers:?}: {} {}",
            reply.status,
            reply.text
        );
    }
    // Rules without `cookie` keep API behaviour for navigations too.
    let reply = browser
        .get("/e2e/echo-auth/x", "", SAME_ORIGIN_NAVIGATION)
        .await?;
    check!(reply.status == 401, "echo-auth: {}", reply.status);
    Ok(())
}

async fn navigations_from_elsewhere_bounce_once_then_sign_in(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let browser = Browser::new(&api)?;
    let path = "/notes/api/whoami?x=1&y=2";
    let marker = format!("{BOUNCE_COOKIE}={}", bounce_tag(path));
    for site in ["cross-site", "none"] {
        let reply = browser.get(path, "", &navigation_from(site)).await?;
        check!(
            reply.status == 200
                && reply
                    .header("content-type")
                    .is_some_and(|t| t.starts_with("text/html")),
            "{site}: {} {:?}",
            reply.status,
            reply.headers
        );
        for needle in [
            "<html lang=\"en\">",
            "<title>",
            "<meta http-equiv=\"refresh\" content=\"0;url=/notes/api/whoami?x=1&amp;y=2\">",
        ] {
            check!(
                reply.text.contains(needle),
                "{site}: no {needle} in {}",
                reply.text
            );
        }
        check!(
            !reply.text.contains("<script"),
            "the bounce needs no script"
        );
        check!(
            reply.set_cookies().iter().any(|c| c.starts_with(&marker)),
            "{site}: the marker: {:?}",
            reply.set_cookies()
        );
        // The bounce's re-request (same-origin) still has no session: sign in.
        let again = browser.get(path, &marker, SAME_ORIGIN_NAVIGATION).await?;
        check!(
            again.status == 303 && clears(&again, BOUNCE_COOKIE),
            "{site}, bounced, still signed out: {} {:?}",
            again.status,
            again.set_cookies()
        );
        // A browser that labels the re-request as from elsewhere again does not loop.
        let looped = browser.get(path, &marker, &navigation_from(site)).await?;
        check!(
            looped.status == 303,
            "{site}, second bounce: {}",
            looped.status
        );
    }

    // A live access cookie (SameSite=Lax: sent on links from other sites) needs no bounce.
    let session = api.new_session().await?;
    let at = format!("{ACCESS_COOKIE}={}", session.access);
    let direct = browser
        .get(path, &at, &navigation_from("cross-site"))
        .await?;
    expect_identity(&direct, &session, "cross-site with a live access cookie")?;

    // Expired access cookie, and no refresh cookie (SameSite=Strict stayed behind): bounce,
    // then the same-site re-request carries the refresh cookie and is refreshed silently.
    let expired = format!("{ACCESS_COOKIE}={}", expired_access_token(stack, &session)?);
    let bounce = browser
        .get(path, &expired, &navigation_from("cross-site"))
        .await?;
    check!(
        bounce.status == 200 && bounce.text.contains("http-equiv=\"refresh\""),
        "expired, cross-site: {} {}",
        bounce.status,
        bounce.text
    );
    let back = browser
        .get(
            path,
            &format!("{expired}; {REFRESH_COOKIE}={}; {marker}", session.refresh),
            SAME_ORIGIN_NAVIGATION,
        )
        .await?;
    expect_identity(&back, &session, "the bounce's re-request")?;
    check!(
        set_cookie(&back, ACCESS_COOKIE).is_some_and(|v| !v.is_empty()),
        "new cookies after the bounce: {:?}",
        back.set_cookies()
    );
    Ok(())
}

async fn a_revoked_sessions_navigation_signs_in_and_clears_the_cookies(
    stack: &'static Stack,
) -> Outcome {
    let api = Api::new(&stack.edge);
    let browser = Browser::new(&api)?;
    let session = api.new_session().await?;
    let out = api
        .call(Method::POST, "/api/logout-all", Some(&session.access), None)
        .await?;
    check!(out.status == 204, "logout-all: {} {}", out.status, out.text);
    let at = format!("{ACCESS_COOKIE}={}", session.access);
    let both = format!("{at}; {REFRESH_COOKIE}={}", session.refresh);
    for (cookies, cleared) in [
        (&both, &[ACCESS_COOKIE, REFRESH_COOKIE][..]),
        (&at, &[ACCESS_COOKIE][..]),
    ] {
        let reply = browser
            .get("/notes/", cookies, SAME_ORIGIN_NAVIGATION)
            .await?;
        check!(
            reply.status == 303
                && reply.header("location") == Some("/auth/sign-in?next=/notes/")
                && cleared.iter().all(|name| clears(&reply, name)),
            "revoked, {cleared:?}: {} {:?} {:?}",
            reply.status,
            reply.header("location"),
            reply.set_cookies()
        );
    }
    let api_call = browser.get("/notes/api/whoami", &both, FETCH).await?;
    check!(
        api_call.status == 401,
        "revoked, not a navigation: {}",
        api_call.status
    );
    Ok(())
}

async fn the_app_never_sees_edgeauth_cookies(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let browser = Browser::new(&api)?;
    let session = api.new_session().await?;
    let cookies = format!(
        "theme=dark; {ACCESS_COOKIE}={}; {REFRESH_COOKIE}={}; __Host-edgeauth_device=d",
        session.access, session.refresh
    );
    let expired = format!(
        "theme=dark; {ACCESS_COOKIE}={}; {REFRESH_COOKIE}={}",
        expired_access_token(stack, &session)?,
        session.refresh
    );
    for (what, cookies) in [("live cookie", cookies), ("silent refresh", expired)] {
        let reply = browser
            .get("/e2e/echo-cookie/x", &cookies, SAME_ORIGIN_NAVIGATION)
            .await?;
        check!(
            reply.status == 200,
            "{what}: {} {}",
            reply.status,
            reply.text
        );
        let head = reply.body["head"]
            .as_str()
            .unwrap_or("")
            .to_ascii_lowercase();
        let cookie_lines: Vec<&str> = head.lines().filter(|l| l.starts_with("cookie:")).collect();
        check!(
            cookie_lines == ["cookie: theme=dark"],
            "{what}: the app saw {cookie_lines:?}"
        );
        check!(
            head.contains("edgeauth-assertion:") && !head.contains("edgeauth_"),
            "{what}: {head}"
        );
        // The app's attempt to set edgeauth's cookie never reaches the browser.
        check!(
            !reply.set_cookies().iter().any(|c| c.contains("stolen")),
            "{what}: {:?}",
            reply.set_cookies()
        );
    }
    Ok(())
}
