//! The request pipeline: match the route table, authenticate and apply the rule's policy, then
//! answer at the edge, forward signed to the auth origin, or proxy to an app upstream; plus
//! preflights.

use edgeauth_core::routes::{Handler, Policy, RouteError};
use edgeauth_core::token_split::UnverifiedAccessToken;
use futures_util::future::join;
use web_sys::Request;
use worker::Env;

use super::app;
use super::assets;
use super::browser::{self, CookieAuth};
use super::http::{read_body, Answer, Body, Reply};
use super::origin::{self, OriginRequest};
use super::redis;
use super::state::Edge;
use super::timing::now_secs;
use super::webcrypto;
use crate::auth::{confirm_session, decode_bearer, decode_cookie_token, Identity};
use crate::csrf::{self, RequestFacts};
use crate::error::EdgeError;
use crate::forwarding::{
    client_ip, host_of, origin_of, path_and_query, path_of, ClientHeaders, SET_COOKIE,
};
use crate::health::health_response;
use crate::security::Surface;

/// How long `/healthz` waits for the origin at most, whatever `ORIGIN_TIMEOUT_MS` says.
const HEALTH_ORIGIN_TIMEOUT_MS: u32 = 2000;

pub async fn handle(
    edge: &Edge,
    env: &Env,
    req: &Request,
    headers: ClientHeaders,
    request_id: &str,
) -> Result<Answer, EdgeError> {
    // Set-Cookies of a silent refresh go on whatever answers the request, errors included: a
    // browser that missed them would present the rotated refresh token again.
    let mut set_cookies = Vec::new();
    match route(edge, env, req, headers, request_id, &mut set_cookies).await {
        Err(error) if !set_cookies.is_empty() => {
            let mut reply = Reply::error(&error);
            reply
                .headers
                .extend(set_cookies.into_iter().map(|c| (SET_COOKIE, c)));
            Ok(Answer::Reply(reply))
        }
        answer => answer,
    }
}

async fn route(
    edge: &Edge,
    env: &Env,
    req: &Request,
    headers: ClientHeaders,
    request_id: &str,
    set_cookies: &mut Vec<String>,
) -> Result<Answer, EdgeError> {
    let method = req.method();
    let url = req.url();
    let path_and_query = path_and_query(&url);
    let path = path_of(&path_and_query);
    let host = host_of(&url);
    let table = &edge.config.routes;

    if method == "OPTIONS" && headers.access_control_request_method.is_some() {
        return preflight(edge, table.allow(&host, path), headers.origin).map(Answer::Reply);
    }
    let rule = table.find(&host, &method, path).map_err(|e| match e {
        RouteError::NotFound => EdgeError::NotFound,
        RouteError::MethodNotAllowed { allow } => EdgeError::MethodNotAllowed { allow },
    })?;
    if rule.policy == Policy::Deny {
        return Err(EdgeError::NotFound);
    }
    let identity = if rule.accepts_cookie && headers.authorization.is_none() {
        let facts = browser::Facts {
            headers: &headers,
            method: &method,
            url: &url,
            path_and_query: &path_and_query,
            request_id,
        };
        match browser::authenticate(edge, &facts).await? {
            CookieAuth::Identity {
                identity,
                set_cookies: refreshed,
            } => {
                *set_cookies = refreshed;
                Some(identity)
            }
            CookieAuth::Reply(reply) => return Ok(Answer::Reply(reply)),
        }
    } else if rule.policy.needs_identity(headers.authorization.is_some()) {
        Some(authenticate(edge, headers.authorization.as_deref(), request_id).await?)
    } else {
        None
    };
    if let Some(identity) = &identity {
        if !rule.policy.roles_allow(&identity.roles) {
            return Err(EdgeError::Forbidden {
                detail: format!(
                    "rule {:?} requires {:?}; session {} has {:?}",
                    rule.name,
                    rule.policy,
                    identity.session_id,
                    identity.roles.as_slice()
                ),
            });
        }
        // After the roles: someone who may never use the rule is not asked to step up for it.
        if let Err(needed) = rule.step_up.check(&identity.assurance, now_secs()) {
            if rule.accepts_cookie {
                if let Some(reply) = browser::step_up_redirect(&headers, &method, &path_and_query) {
                    return Ok(Answer::Reply(reply));
                }
            }
            return Err(EdgeError::StepUpRequired {
                detail: format!("rule {:?}: {needed}", rule.name),
            });
        }
    }

    match rule.handler {
        Handler::Health => Ok(Answer::Reply(health(edge, request_id).await)),
        Handler::Page => assets::serve(env, req).await.map(Answer::Reply),
        Handler::AssertionJwks => assertion_jwks(edge).map(Answer::Reply),
        Handler::Origin => {
            forward_to_origin(edge, req, headers, request_id, &method, &url, identity)
                .await
                .map(Answer::Reply)
        }
        Handler::App(index) => {
            let upstream = table.upstream(index).ok_or_else(|| EdgeError::Internal {
                detail: format!("rule {:?} names a missing upstream", rule.name),
            })?;
            let request = app::AppRequest {
                rule,
                upstream,
                identity: identity.as_ref(),
                request_id,
                url: &url,
                path_and_query: &path_and_query,
                host: &host,
                client_headers: &headers.all,
                client_ip: &client_ip(headers.cf_connecting_ip.as_deref()),
                cors: edge.config.cors.response_headers(headers.origin.as_deref()),
                set_cookies: set_cookies.as_slice(),
            };
            app::forward(edge, req, &request).await
        }
    }
}

/// The auth API's path: the body read (bounded by `MAX_BODY_BYTES`), CSRF checked, and the
/// request forwarded to the origin, signed.
async fn forward_to_origin(
    edge: &Edge,
    req: &Request,
    headers: ClientHeaders,
    request_id: &str,
    method: &str,
    url: &str,
    identity: Option<Identity>,
) -> Result<Reply, EdgeError> {
    let path_and_query = path_and_query(url);
    let path = path_of(&path_and_query);
    let body = read_body(req, edge.config.max_body_bytes).await?;
    let facts = RequestFacts {
        method,
        path,
        cookie: headers.cookie.as_deref(),
        bearer_verified: identity.is_some(),
        body: &body,
        origin: headers.origin.as_deref(),
        sec_fetch_site: headers.sec_fetch_site.as_deref(),
    };
    csrf::check(&facts, &origin_of(url), &edge.config.cors)?;

    let client_ip = client_ip(headers.cf_connecting_ip.as_deref());
    let request = OriginRequest {
        method,
        path_and_query: &path_and_query,
        identity: identity.as_ref(),
        request_id,
        client_ip: &client_ip,
        body: &body,
        client_headers: headers.forwarded,
    };
    let response = origin::send(edge, &request, edge.config.origin_timeout_ms).await?;
    Ok(origin::into_reply(response))
}

/// Token first (no I/O; a rejection costs nothing downstream), then the one Redis round trip.
async fn authenticate(
    edge: &Edge,
    authorization: Option<&str>,
    request_id: &str,
) -> Result<Identity, EdgeError> {
    let unverified = decode_bearer(&edge.config.policy, authorization, now_secs())?;
    confirm(edge, unverified, request_id).await
}

/// The access cookie's token, verified exactly like a Bearer token.
pub(super) async fn authenticate_cookie(
    edge: &Edge,
    token: &str,
    request_id: &str,
) -> Result<Identity, EdgeError> {
    let unverified = decode_cookie_token(&edge.config.policy, token, now_secs())?;
    confirm(edge, unverified, request_id).await
}

/// The signature (natively, WebCrypto), then the session in Redis: one command.
async fn confirm(
    edge: &Edge,
    unverified: UnverifiedAccessToken<'_>,
    request_id: &str,
) -> Result<Identity, EdgeError> {
    let keys = super::jwks::keys_for(edge, unverified.kid(), request_id).await;
    let key = unverified
        .key(&keys)
        .map_err(|rejection| EdgeError::invalid_token(rejection.to_string()))?;
    let valid = webcrypto::verify(key, unverified.signing_input(), unverified.signature()).await?;
    let token = unverified
        .accept(valid)
        .map_err(|rejection| EdgeError::invalid_token(rejection.to_string()))?;
    let session = redis::session_fields(&edge.redis, &token.session_id).await?;
    confirm_session(token, &session)
}

/// The public keys apps verify assertions with (empty when no app is configured).
fn assertion_jwks(edge: &Edge) -> Result<Reply, EdgeError> {
    let body = edge
        .config
        .assertion_keys
        .as_ref()
        .map_or_else(|| r#"{"keys":[]}"#.to_owned(), |keys| keys.public_jwks());
    Ok(Reply {
        status: 200,
        headers: vec![("content-type", "application/json".to_owned())],
        body: Body::Text(body),
        surface: Surface::PublicData,
    })
}

/// Redis `PING` and a signed `GET /healthz` to the origin, concurrently and time-bounded.
async fn health(edge: &Edge, request_id: &str) -> Reply {
    let config = &edge.config;
    let probe_origin = async {
        let request = OriginRequest {
            method: "GET",
            path_and_query: "/healthz",
            identity: None,
            request_id,
            client_ip: "unknown",
            body: &[],
            client_headers: Vec::new(),
        };
        let timeout = config.origin_timeout_ms.min(HEALTH_ORIGIN_TIMEOUT_MS);
        match origin::send(edge, &request, timeout).await {
            Ok(response) if response.ok() => Ok(()),
            Ok(response) => Err(format!("origin /healthz answered {}", response.status())),
            Err(e) => Err(e.to_string()),
        }
    };
    let (redis, origin) = join(redis::ping(&edge.redis), probe_origin).await;
    for problem in [&redis, &origin]
        .into_iter()
        .filter_map(|r| r.as_ref().err())
    {
        worker::console_error!("[{request_id}] healthz: {problem}");
    }
    let (status, body) = health_response(redis.is_ok(), origin.is_ok());
    Reply::json(status, body)
}

/// CORS preflight, answered here so it never reaches the origin or an app.
fn preflight(
    edge: &Edge,
    allow: Option<String>,
    origin: Option<String>,
) -> Result<Reply, EdgeError> {
    let allow = allow.ok_or(EdgeError::NotFound)?;
    let headers = origin
        .and_then(|origin| edge.config.cors.preflight_headers(&origin, &allow))
        .ok_or(EdgeError::CorsForbidden)?;
    Ok(Reply {
        status: 204,
        headers,
        body: Body::Empty,
        surface: Surface::Api,
    })
}
