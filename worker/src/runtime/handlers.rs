//! The request pipeline: route, authenticate, read the body, check CSRF, forward; plus `/healthz`,
//! the demo page and preflights.

use futures_util::future::join;
use web_sys::Request;
use worker::Env;

use super::assets;
use super::http::{read_body, Body, Reply};
use super::origin::{self, OriginRequest};
use super::redis;
use super::state::Edge;
use super::timing::now_secs;
use super::webcrypto;
use crate::auth::{confirm_session, decode_bearer, Identity};
use crate::csrf::{self, RequestFacts};
use crate::error::EdgeError;
use crate::forwarding::{client_ip, origin_of, path_and_query, path_of, ClientHeaders};
use crate::health::health_response;
use crate::routes::{allow_header, classify, Access, Handling, RouteError};
use crate::security::Surface;

/// How long `/healthz` waits for the origin at most, whatever `ORIGIN_TIMEOUT_MS` says.
const HEALTH_ORIGIN_TIMEOUT_MS: u32 = 2000;

pub async fn handle(
    edge: &Edge,
    env: &Env,
    req: &Request,
    headers: ClientHeaders,
    request_id: &str,
) -> Result<Reply, EdgeError> {
    let method = req.method();
    let url = req.url();
    let path_and_query = path_and_query(&url);
    let path = path_of(&path_and_query);

    if method == "OPTIONS" && headers.access_control_request_method.is_some() {
        return preflight(edge, path, headers.origin);
    }
    let handling = classify(&method, path).map_err(|e| match e {
        RouteError::NotFound => EdgeError::NotFound,
        RouteError::MethodNotAllowed { allow } => EdgeError::MethodNotAllowed { allow },
    })?;
    let access = match handling {
        Handling::Health => return Ok(health(edge, request_id).await),
        Handling::Page => return assets::serve(env, req).await,
        Handling::Forward(access) => access,
    };

    let needs_identity = match access {
        Access::Anonymous => false,
        Access::Bearer => true,
        Access::BearerIfPresent => headers.authorization.is_some(),
    };
    let identity = if needs_identity {
        Some(authenticate(edge, headers.authorization.as_deref(), request_id).await?)
    } else {
        None
    };
    let body = read_body(req, edge.config.max_body_bytes).await?;
    let facts = RequestFacts {
        method: &method,
        path,
        cookie: headers.cookie.as_deref(),
        bearer_verified: identity.is_some(),
        body: &body,
        origin: headers.origin.as_deref(),
        sec_fetch_site: headers.sec_fetch_site.as_deref(),
    };
    csrf::check(&facts, &origin_of(&url), &edge.config.cors)?;

    let client_ip = client_ip(headers.cf_connecting_ip.as_deref());
    let request = OriginRequest {
        method: &method,
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
    let config = &edge.config;
    let unverified = decode_bearer(&config.policy, authorization, now_secs())?;
    let keys = super::jwks::keys_for(edge, unverified.kid(), request_id).await;
    let key = unverified
        .key(&keys)
        .map_err(|rejection| EdgeError::invalid_token(rejection.to_string()))?;
    let valid = webcrypto::verify(key, unverified.signing_input(), unverified.signature()).await?;
    let token = unverified
        .accept(valid)
        .map_err(|rejection| EdgeError::invalid_token(rejection.to_string()))?;
    let owner = redis::session_owner(&edge.redis, &token.session_id).await?;
    confirm_session(token, owner.as_deref())
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

/// CORS preflight, answered here so it never reaches the origin.
fn preflight(edge: &Edge, path: &str, origin: Option<String>) -> Result<Reply, EdgeError> {
    let allow = allow_header(path).ok_or(EdgeError::NotFound)?;
    let headers = origin
        .and_then(|origin| edge.config.cors.preflight_headers(&origin, allow))
        .ok_or(EdgeError::CorsForbidden)?;
    Ok(Reply {
        status: 204,
        headers,
        body: Body::Empty,
        surface: Surface::Api,
    })
}
