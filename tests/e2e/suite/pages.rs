//! The hosted sign-in pages over HTTP: real forms in, 303s with cookies or the form again with
//! plain-words errors out; `next` never leaves the edge's origin; the form POSTs pass the CSRF
//! rule only from the edge's own pages (`Origin: null` counts only with
//! `Sec-Fetch-Site: same-origin`); the pages cannot be framed. Chromium drives the same pages in
//! tests/browser/navigation.test.mjs. With `EDGEAUTH_EMAIL_VERIFICATION=required` (an extra
//! origin and edge), registering by form signs nobody in and says to confirm the address, and
//! signing in before that says so in plain words.

use edgeauth_e2e::client::{Reply, TestUser};
use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::{Api, Stack};
use reqwest::Method;

use super::{email, extra, Outcome};
use crate::{check, tests};

tests![
    the_pages_are_html_forms_that_cannot_be_framed,
    sign_in_by_form_sets_the_cookies_and_goes_to_next,
    next_never_leaves_the_origin,
    form_errors_are_pages_in_plain_words,
    form_posts_pass_only_from_the_edges_own_pages,
    register_by_form_signs_in,
    register_by_form_with_required_verification_asks_to_confirm_the_address,
    sign_out_by_form_ends_the_session_and_clears_the_cookies,
];

const REFRESH_COOKIE: &str = "__Host-edgeauth_rt";
const ACCESS_COOKIE: &str = "__Host-edgeauth_at";

/// A browser-like client of the edge that shows redirects instead of following them, with its
/// own client address (per-address budgets never mix up tests).
struct Browser {
    api: Api,
    http: reqwest::Client,
}

impl Browser {
    fn new(stack: &Stack) -> Self {
        Self::at(&stack.edge)
    }

    /// A browser of the edge at `base`.
    fn at(base: &str) -> Self {
        let api = Api::new(base);
        let mut headers = reqwest::header::HeaderMap::new();
        if let Ok(ip) = api.client_ip.parse() {
            headers.insert("cf-connecting-ip", ip);
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self { api, http }
    }

    async fn get(&self, path: &str) -> Result<Reply, BoxError> {
        let request = self.http.get(format!("{}{path}", self.api.base));
        Api::read(request.send().await?).await
    }

    /// A form POST as Chromium sends it from one of the edge's own pages under
    /// `Referrer-Policy: no-referrer`: `Origin: null`, `Sec-Fetch-Site: same-origin`.
    async fn submit(&self, path: &str, form: &[(&str, &str)]) -> Result<Reply, BoxError> {
        self.submit_with(
            path,
            form,
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
            None,
        )
        .await
    }

    async fn submit_with(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> Result<Reply, BoxError> {
        let mut request = self
            .http
            .request(Method::POST, format!("{}{path}", self.api.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode_form(form));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = cookie {
            request = request.header("cookie", format!("{REFRESH_COOKIE}={token}"));
        }
        Api::read(request.send().await?).await
    }

    async fn sign_in(&self, user: &TestUser, next: &str) -> Result<Reply, BoxError> {
        self.submit(
            "/auth/sign-in",
            &[
                ("email", &user.email),
                ("password", &user.password),
                ("next", next),
            ],
        )
        .await
    }
}

fn encode_form(fields: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of the cookie `name` that a response sets (empty when it clears it).
fn set_cookie(reply: &Reply, name: &str) -> Option<String> {
    reply.set_cookies().iter().find_map(|c| {
        let (pair, _) = c.split_once(';').unwrap_or((c, ""));
        let (n, v) = pair.split_once('=')?;
        (n.trim() == name).then(|| v.trim().to_owned())
    })
}

/// The page's text with the entities minijinja writes for `/` and `&` read back.
fn unescaped(reply: &Reply) -> String {
    reply.text.replace("&#x2f;", "/").replace("&amp;", "&")
}

fn is_html(reply: &Reply) -> bool {
    reply
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html"))
}

async fn registered(api: &Api) -> Result<TestUser, BoxError> {
    let user = TestUser::unique();
    let reply = api.register(&user).await?;
    check!(
        reply.status == 201,
        "register: {} {}",
        reply.status,
        reply.text
    );
    Ok(user)
}

async fn the_pages_are_html_forms_that_cannot_be_framed(stack: &'static Stack) -> Outcome {
    let browser = Browser::new(stack);
    for (path, form) in [
        ("/auth/sign-in?next=%2Fnotes%2F", Some("/auth/sign-in")),
        ("/auth/register", Some("/auth/register")),
        ("/auth/signed-out", None),
    ] {
        let page = browser.get(path).await?;
        check!(
            page.status == 200 && is_html(&page),
            "{path}: {} {}",
            page.status,
            page.text
        );
        let csp = page.header("content-security-policy").unwrap_or("");
        check!(
            csp.contains("frame-ancestors 'none'")
                && csp.contains("form-action 'self'")
                && csp.contains("script-src 'self'"),
            "{path}: CSP {csp}"
        );
        check!(
            page.header("x-frame-options") == Some("DENY"),
            "{path}: no X-Frame-Options DENY"
        );
        check!(
            page.header("cache-control") == Some("no-store"),
            "{path}: cacheable"
        );
        check!(
            page.text.contains("href=\"/app.css\""),
            "{path}: not styled like the demo"
        );
        // The sign-in page's one script is the passkey file (same origin, no inline script:
        // the CSP allows none); the forms themselves need no JavaScript.
        const PASSKEY_SCRIPT: &str = "<script src=\"/auth/passkey.js\" defer></script>";
        check!(
            !page.text.replace(PASSKEY_SCRIPT, "").contains("<script"),
            "{path}: needs no JavaScript"
        );
        if let Some(action) = form {
            check!(
                page.text
                    .contains(&format!("<form method=\"post\" action=\"{action}\">")),
                "{path}: no form posting to {action}: {}",
                page.text
            );
        }
    }
    let sign_in = browser
        .get("/auth/sign-in?next=%2Fnotes%2F%3Fa%3D1")
        .await?;
    check!(
        unescaped(&sign_in).contains("name=\"next\" value=\"/notes/?a=1\""),
        "next is not carried in the form: {}",
        sign_in.text
    );
    Ok(())
}

async fn sign_in_by_form_sets_the_cookies_and_goes_to_next(stack: &'static Stack) -> Outcome {
    let browser = Browser::new(stack);
    let user = registered(&browser.api).await?;
    let reply = browser.sign_in(&user, "/notes/?view=all").await?;
    check!(
        reply.status == 303 && reply.header("location") == Some("/notes/?view=all"),
        "sign-in: {} {:?} {}",
        reply.status,
        reply.header("location"),
        reply.text
    );
    let refresh = set_cookie(&reply, REFRESH_COOKIE).filter(|v| !v.is_empty());
    let Some(refresh) = refresh else {
        return Err(format!("no refresh cookie: {:?}", reply.set_cookies()).into());
    };
    check!(
        set_cookie(&reply, "__Host-edgeauth_device").is_some(),
        "the device credential is earned as with /api/login: {:?}",
        reply.set_cookies()
    );
    for cookie in reply.set_cookies() {
        check!(
            cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("Path=/"),
            "cookie attributes: {cookie}"
        );
    }
    // The cookie is a live session like any other: it refreshes.
    let refreshed = browser.api.refresh(&refresh).await?;
    check!(
        refreshed.status == 200,
        "refresh: {} {}",
        refreshed.status,
        refreshed.text
    );
    Ok(())
}

async fn next_never_leaves_the_origin(stack: &'static Stack) -> Outcome {
    let browser = Browser::new(stack);
    let user = registered(&browser.api).await?;
    for evil in [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "/%2f%2fevil.example",
        "/%5cevil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "",
    ] {
        let reply = browser.sign_in(&user, evil).await?;
        check!(
            reply.status == 303 && reply.header("location") == Some("/"),
            "next={evil:?}: {} {:?}",
            reply.status,
            reply.header("location")
        );
        let page = browser
            .get(&format!(
                "/auth/sign-in?next={}",
                encode_form(&[("", evil)]).trim_start_matches('=')
            ))
            .await?;
        check!(
            unescaped(&page).contains("name=\"next\" value=\"/\""),
            "the page keeps next={evil:?}: {}",
            page.text
        );
    }
    Ok(())
}

async fn form_errors_are_pages_in_plain_words(stack: &'static Stack) -> Outcome {
    let browser = Browser::new(stack);
    let user = registered(&browser.api).await?;
    let wrong = browser
        .sign_in(
            &TestUser {
                password: "not the password".into(),
                ..user.clone()
            },
            "/notes/",
        )
        .await?;
    check!(
        wrong.status == 401
            && is_html(&wrong)
            && wrong.text.contains("The email or password is not correct.")
            && unescaped(&wrong).contains("name=\"next\" value=\"/notes/\"")
            && wrong.text.contains(&format!("value=\"{}\"", user.email))
            && !wrong.text.contains("not the password"),
        "wrong password: {} {}",
        wrong.status,
        wrong.text
    );
    check!(
        wrong.set_cookies().is_empty(),
        "no cookies: {:?}",
        wrong.set_cookies()
    );

    let invalid = browser
        .submit(
            "/auth/sign-in",
            &[("email", "not an address"), ("password", "x")],
        )
        .await?;
    check!(
        invalid.status == 400 && invalid.text.contains("aria-invalid=\"true\""),
        "invalid email: {} {}",
        invalid.status,
        invalid.text
    );
    let request = browser
        .http
        .post(format!("{}/auth/sign-in", stack.edge))
        .header("origin", &stack.edge)
        .header("content-type", "application/json")
        .body(r#"{"email":"a@b.example","password":"x"}"#);
    let json = Api::read(request.send().await?).await?;
    check!(
        json.status == 415 && is_html(&json) && json.text.contains("web form"),
        "JSON body: {} {}",
        json.status,
        json.text
    );
    let garbage = browser
        .submit_with(
            "/auth/register",
            &[("username", "x")],
            &[("origin", stack.edge.as_str())],
            None,
        )
        .await?;
    check!(
        garbage.status == 400 && is_html(&garbage),
        "incomplete register form: {} {}",
        garbage.status,
        garbage.text
    );
    Ok(())
}

async fn form_posts_pass_only_from_the_edges_own_pages(stack: &'static Stack) -> Outcome {
    let browser = Browser::new(stack);
    let user = registered(&browser.api).await?;
    let fields = [
        ("email", user.email.as_str()),
        ("password", user.password.as_str()),
        ("next", "/"),
    ];
    let same_site_other_port = stack
        .edge
        .rsplit_once(':')
        .map_or(String::new(), |(host, _)| format!("{host}:1"));
    // Login CSRF: a foreign page must not sign the browser into an account, cookie or not.
    let foreign: [&[(&str, &str)]; 6] = [
        &[("origin", "https://evil.example")],
        &[
            ("origin", same_site_other_port.as_str()),
            ("sec-fetch-site", "same-site"),
        ],
        // Sandboxed frames and data: documents send `null`, but never as same-origin.
        &[("origin", "null"), ("sec-fetch-site", "cross-site")],
        &[("origin", "null")],
        &[("sec-fetch-site", "same-site")],
        &[],
    ];
    for headers in foreign {
        let reply = browser
            .submit_with("/auth/sign-in", &fields, headers, None)
            .await?;
        check!(
            reply.status == 403 && reply.set_cookies().is_empty(),
            "{headers:?}: {} {}",
            reply.status,
            reply.text
        );
    }
    let own: [&[(&str, &str)]; 3] = [
        &[("origin", "null"), ("sec-fetch-site", "same-origin")],
        &[("origin", stack.edge.as_str())],
        &[("sec-fetch-site", "same-origin")],
    ];
    for headers in own {
        let reply = browser
            .submit_with("/auth/sign-in", &fields, headers, None)
            .await?;
        check!(
            reply.status == 303 && set_cookie(&reply, REFRESH_COOKIE).is_some(),
            "{headers:?}: {} {}",
            reply.status,
            reply.text
        );
    }
    Ok(())
}

async fn register_by_form_signs_in(stack: &'static Stack) -> Outcome {
    let browser = Browser::new(stack);
    let user = TestUser::unique();
    let submit = |username: &str, password: &str| {
        let fields = [
            ("username", username.to_owned()),
            ("email", user.email.clone()),
            ("password", password.to_owned()),
            ("next", "/notes/".to_owned()),
        ];
        let browser = &browser;
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser.submit("/auth/register", &pairs).await
        }
    };
    let weak = submit("no spaces!", "short").await?;
    check!(
        weak.status == 400
            && weak.text.contains("id=\"username-error\"")
            && weak.text.contains("id=\"password-error\"")
            && weak.text.contains("value=\"no spaces!\"")
            && !weak.text.contains("value=\"short\""),
        "invalid registration: {} {}",
        weak.status,
        weak.text
    );
    let created = submit(&user.username, &user.password).await?;
    check!(
        created.status == 303
            && created.header("location") == Some("/notes/")
            && set_cookie(&created, REFRESH_COOKIE).is_some_and(|v| !v.is_empty()),
        "register: {} {:?} {:?}",
        created.status,
        created.header("location"),
        created.set_cookies()
    );
    let again = submit(&format!("{}x", user.username), &user.password).await?;
    check!(
        again.status == 409
            && again
                .text
                .contains("An account with this email already exists."),
        "duplicate: {} {}",
        again.status,
        again.text
    );
    Ok(())
}

async fn register_by_form_with_required_verification_asks_to_confirm_the_address(
    stack: &'static Stack,
) -> Outcome {
    let required = extra::start(
        stack,
        "pages-verification-required",
        &[("EDGEAUTH_EMAIL_VERIFICATION", "required".to_owned())],
    )
    .await?;
    let outcome = register_and_sign_in_unverified(stack, &required.edge).await;
    extra::stop(stack, &required).await?;
    outcome
}

async fn register_and_sign_in_unverified(stack: &'static Stack, edge: &str) -> Outcome {
    let browser = Browser::at(edge);
    let user = TestUser::unique();
    let no_session = |reply: &Reply| {
        [REFRESH_COOKIE, ACCESS_COOKIE]
            .iter()
            .all(|name| set_cookie(reply, name).is_none_or(|v| v.is_empty()))
    };
    let created = browser
        .submit(
            "/auth/register",
            &[
                ("username", &user.username),
                ("email", &user.email),
                ("password", &user.password),
                ("next", "/notes/"),
            ],
        )
        .await?;
    // What the person sees: the sign-in form (email kept, next kept) under a notice in plain
    // words, and no session.
    check!(
        created.status == 200
            && is_html(&created)
            && created.text.contains(
                "Your account is created. Confirm your email address with the link we sent \
                 you, then sign in."
            )
            && created.text.contains("role=\"status\"")
            && created
                .text
                .contains(r#"<form method="post" action="/auth/sign-in">"#)
            && created.text.contains(&format!("value=\"{}\"", user.email))
            && unescaped(&created).contains("name=\"next\" value=\"/notes/\"")
            && !created.text.contains(&user.password),
        "register with verification required: {} {:?} {}",
        created.status,
        created.header("content-type"),
        created.text
    );
    check!(
        no_session(&created),
        "registering before verification set session cookies: {:?}",
        created.set_cookies()
    );

    // Signing in before confirming: the form again with the reason, in words, not a 500 or JSON.
    let early = browser.sign_in(&user, "/notes/").await?;
    check!(
        early.status == 403
            && is_html(&early)
            && early.text.contains("role=\"alert\"")
            && early.text.contains(
                "Confirm your email address first: open the link we sent you, or ask for a new one."
            )
            && !early.text.contains("email_unverified")
            && early.text.contains(&format!("value=\"{}\"", user.email))
            && !early.text.contains(&user.password),
        "sign-in before verification: {} {:?} {}",
        early.status,
        early.header("content-type"),
        early.text
    );
    check!(
        no_session(&early),
        "an unverified sign-in set session cookies: {:?}",
        early.set_cookies()
    );
    // A wrong password says nothing about the address.
    let wrong = browser
        .sign_in(
            &TestUser {
                password: "not the password".into(),
                ..user.clone()
            },
            "/notes/",
        )
        .await?;
    check!(
        wrong.status == 401 && wrong.text.contains("The email or password is not correct."),
        "wrong password: {} {}",
        wrong.status,
        wrong.text
    );

    // The link in the mail confirms the address; then the same form signs in.
    let inbox = email::inbox(stack)?;
    let mail = email::one_mail(&inbox, &user.email, "Confirm your email address").await?;
    let token = email::token_of(&mail, "verify")?;
    let verified = browser
        .api
        .post(
            "/api/email/verify",
            None,
            serde_json::json!({ "token": token }),
        )
        .await?;
    check!(
        verified.status == 204,
        "verify: {} {}",
        verified.status,
        verified.text
    );
    let signed_in = browser.sign_in(&user, "/notes/").await?;
    check!(
        signed_in.status == 303
            && signed_in.header("location") == Some("/notes/")
            && set_cookie(&signed_in, REFRESH_COOKIE).is_some_and(|v| !v.is_empty()),
        "sign-in after verifying: {} {:?} {:?}",
        signed_in.status,
        signed_in.header("location"),
        signed_in.set_cookies()
    );
    Ok(())
}

async fn sign_out_by_form_ends_the_session_and_clears_the_cookies(
    stack: &'static Stack,
) -> Outcome {
    let browser = Browser::new(stack);
    let user = registered(&browser.api).await?;
    let signed_in = browser.sign_in(&user, "/").await?;
    let refresh = set_cookie(&signed_in, REFRESH_COOKIE).unwrap_or_default();
    check!(!refresh.is_empty(), "not signed in: {}", signed_in.text);

    // With the cookie, a foreign page cannot sign the browser out.
    let foreign = browser
        .submit_with(
            "/auth/sign-out",
            &[],
            &[("origin", "https://evil.example")],
            Some(&refresh),
        )
        .await?;
    check!(
        foreign.status == 403,
        "foreign sign-out: {} {}",
        foreign.status,
        foreign.text
    );

    let out = browser
        .submit_with(
            "/auth/sign-out",
            &[],
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
            Some(&refresh),
        )
        .await?;
    check!(
        out.status == 303
            && out.header("location") == Some("/auth/signed-out")
            && set_cookie(&out, REFRESH_COOKIE).as_deref() == Some(""),
        "sign-out: {} {:?} {:?}",
        out.status,
        out.header("location"),
        out.set_cookies()
    );
    let after = browser.api.refresh(&refresh).await?;
    check!(
        after.status == 401,
        "the session still refreshes: {} {}",
        after.status,
        after.text
    );

    // Without a session there is nothing to end: the same page, the cookies cleared.
    let again = browser.submit("/auth/sign-out", &[]).await?;
    check!(
        again.status == 303 && again.header("location") == Some("/auth/signed-out"),
        "sign-out without a session: {} {}",
        again.status,
        again.text
    );
    Ok(())
}
