//! Rules that accept the access cookie: the cookie authenticates like a Bearer token (the same
//! verification, the same one Redis command); cookie-authenticated writes and WebSocket upgrades
//! must come from an allowed page (`crate::csrf`); and a request without a usable access token
//! gets what `edgeauth_core::navigation` decides: a silent refresh (one signed call to the
//! origin's rotation), the bounce page, a redirect to sign-in, or 401.

use edgeauth_core::assurance::Assurance;
use edgeauth_core::cookies;
use edgeauth_core::headers::{
    access_cookie, cookie, refresh_cookie, BOUNCE_COOKIE, REFRESHED_AMR, REFRESHED_AUTH_TIME,
    REFRESHED_ROLES, REFRESHED_SESSION, REFRESHED_USER, REFRESHED_USERNAME,
};
use edgeauth_core::navigation::{
    bounce_page, bounce_tag, sign_in_location, without_session, BrowserRequest, WithoutSession,
};
use edgeauth_core::roles::Roles;

use super::handlers::authenticate_cookie;
use super::http::{Body, Reply};
use super::origin::{self, OriginRequest};
use super::state::Edge;
use crate::auth::Identity;
use crate::csrf;
use crate::error::EdgeError;
use crate::forwarding::{client_ip, origin_of, ClientHeaders, SET_COOKIE};
use crate::security::Surface;

/// The request, as the pipeline read it.
pub struct Facts<'a> {
    pub headers: &'a ClientHeaders,
    pub method: &'a str,
    pub url: &'a str,
    pub path_and_query: &'a str,
    pub request_id: &'a str,
}

/// How a request to a cookie rule goes on.
pub enum CookieAuth {
    /// Authenticated; `set_cookies` (after a silent refresh: both new session cookies) go on
    /// the response.
    Identity {
        identity: Identity,
        set_cookies: Vec<String>,
    },
    /// Answered at the edge: the bounce page, the redirect to sign-in, or the origin's refusal
    /// of the refresh (429, 503).
    Reply(Reply),
}

pub async fn authenticate(edge: &Edge, facts: &Facts<'_>) -> Result<CookieAuth, EdgeError> {
    let headers = facts.headers;
    let cookie_header = headers.cookie.as_deref().unwrap_or("");
    let access = access_cookie(cookie_header);
    let has_refresh = refresh_cookie(cookie_header).is_some();
    let request = BrowserRequest {
        method: facts.method,
        sec_fetch_mode: headers.sec_fetch_mode.as_deref(),
        sec_fetch_site: headers.sec_fetch_site.as_deref(),
        accept: headers.accept.as_deref(),
        upgrade: headers.upgrade.as_deref(),
    };
    // Before Redis or the origin see it: a write (or a socket, which any page can open) that
    // only the cookies authenticate must come from an allowed page.
    if (access.is_some() || has_refresh) && (request.is_state_changing() || request.is_websocket())
    {
        csrf::check_page(
            headers.origin.as_deref(),
            headers.sec_fetch_site.as_deref(),
            &origin_of(facts.url),
            &edge.config.cors,
        )?;
    }
    if let Some(token) = access {
        match authenticate_cookie(edge, token, facts.request_id).await {
            Ok(identity) => {
                return Ok(CookieAuth::Identity {
                    identity,
                    set_cookies: Vec::new(),
                })
            }
            // Expired, forged or revoked: as if there were no cookie.
            Err(EdgeError::InvalidToken { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    let bounce = cookie(cookie_header, BOUNCE_COOKIE);
    match without_session(&request, has_refresh, bounce, facts.path_and_query) {
        WithoutSession::Unauthorized => Err(EdgeError::invalid_token(if access.is_some() {
            "the access cookie is expired, invalid or revoked"
        } else {
            "no access token or cookie"
        })),
        WithoutSession::Refresh => silent_refresh(edge, facts, cookie_header).await,
        WithoutSession::Bounce => Ok(CookieAuth::Reply(bounce_reply(facts.path_and_query))),
        WithoutSession::SignIn => Ok(CookieAuth::Reply(sign_in_reply(
            facts.path_and_query,
            cookie_header,
            Vec::new(),
        ))),
    }
}

/// One signed `POST /api/refresh` with the browser's cookies. On success the origin names the
/// rotated session's owner, id and roles in `x-edgeauth-*` response headers (the rotation just
/// proved the session, so the edge reads no Redis); parallel navigations presenting the same
/// refresh token inside the grace window all get the same successor (`rotate_refresh.lua`).
async fn silent_refresh(
    edge: &Edge,
    facts: &Facts<'_>,
    cookie_header: &str,
) -> Result<CookieAuth, EdgeError> {
    let client_headers = facts
        .headers
        .forwarded
        .iter()
        .filter(|(name, _)| name == "cookie" || name == "user-agent")
        .cloned()
        .collect();
    let request = OriginRequest {
        method: "POST",
        path_and_query: "/api/refresh",
        identity: None,
        request_id: facts.request_id,
        client_ip: &client_ip(facts.headers.cf_connecting_ip.as_deref()),
        body: &[],
        client_headers,
    };
    let response = origin::send(edge, &request, edge.config.origin_timeout_ms).await?;
    let status = response.status();
    let source = response.headers();
    let header = |name: &str| source.get(name).ok().flatten().filter(|v| !v.is_empty());
    match status {
        200 => {
            let (Some(user_id), Some(session_id)) =
                (header(REFRESHED_USER), header(REFRESHED_SESSION))
            else {
                return Err(EdgeError::Internal {
                    detail: "the origin's refresh answer names no session".into(),
                });
            };
            let roles = Roles::from_field(header(REFRESHED_ROLES).as_deref());
            let username = header(REFRESHED_USERNAME);
            let assurance = Assurance::from_fields(
                header(REFRESHED_AMR).as_deref(),
                header(REFRESHED_AUTH_TIME).as_deref(),
            );
            let set_cookies = super::headers::set_cookies(&source);
            if let Some(body) = response.body() {
                // The token response itself is not needed: the cookies carry the pair.
                let _cancelled = body.cancel();
            }
            Ok(CookieAuth::Identity {
                identity: Identity {
                    user_id,
                    session_id,
                    roles,
                    username,
                    assurance,
                },
                set_cookies,
            })
        }
        // A refresh token the origin refuses (unknown, expired, revoked, reused): sign in
        // again, with the origin's cookie deletions.
        400 | 401 => {
            let set_cookies = super::headers::set_cookies(&source);
            Ok(CookieAuth::Reply(sign_in_reply(
                facts.path_and_query,
                cookie_header,
                set_cookies,
            )))
        }
        _ => Ok(CookieAuth::Reply(origin::into_reply(response))),
    }
}

/// A navigation to a rule that wants a step-up (`"mfa"`, `"max_age"`) its session lacks: `303`
/// to sign-in, keeping the session's cookies (signing in again with the second factor gives
/// fresh assurance). Other requests get the 403 `step_up_required`: `None`.
pub fn step_up_redirect(
    headers: &ClientHeaders,
    method: &str,
    path_and_query: &str,
) -> Option<Reply> {
    let request = BrowserRequest {
        method,
        sec_fetch_mode: headers.sec_fetch_mode.as_deref(),
        sec_fetch_site: headers.sec_fetch_site.as_deref(),
        accept: headers.accept.as_deref(),
        upgrade: headers.upgrade.as_deref(),
    };
    (request.is_navigation() && !request.is_state_changing()).then(|| Reply {
        status: 303,
        headers: vec![("location", sign_in_location(path_and_query))],
        body: Body::Empty,
        surface: Surface::Api,
    })
}

/// `303` to sign-in, deleting every edgeauth session cookie the request carried (a revoked
/// session's cookies, a spent bounce marker) unless `set_cookies` (the origin's) already does.
fn sign_in_reply(path_and_query: &str, cookie_header: &str, set_cookies: Vec<String>) -> Reply {
    let mut headers = vec![("location", sign_in_location(path_and_query))];
    let clears = cookies::clear_carried(cookie_header, &set_cookies);
    headers.extend(
        clears
            .into_iter()
            .chain(set_cookies)
            .map(|c| (SET_COOKIE, c)),
    );
    Reply {
        status: 303,
        headers,
        body: Body::Empty,
        surface: Surface::Api,
    }
}

/// The bounce page, with the marker that stops a second bounce to the same URL.
fn bounce_reply(path_and_query: &str) -> Reply {
    Reply {
        status: 200,
        headers: vec![
            ("content-type", "text/html; charset=utf-8".to_owned()),
            (SET_COOKIE, cookies::set_bounce(&bounce_tag(path_and_query))),
        ],
        body: Body::Text(bounce_page(path_and_query)),
        surface: Surface::Api,
    }
}
