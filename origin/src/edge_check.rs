//! `edgeauth-origin keys check-edge`: proves from outside that the edge no longer trusts a key.
//!
//! The edge answers a token signed by an unknown key and a token of a dead session alike (401
//! `invalid_token`), so the check needs a live session: the operator's current access token is
//! the control (the edge must accept it), and the same user and session signed with the retired
//! key is the probe (the edge must refuse it). Only a refused probe next to an accepted control
//! proves the key is gone.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_core::keys::SigningKey;
use edgeauth_core::token::{issue_access_token, AccessGrant, TokenPolicy};
use serde_json::Value;

/// The authenticated route both tokens are sent to.
const PROBE_PATH: &str = "/api/profile";

/// Checks that `edge` refuses tokens signed by `retired`, using `control` (a current access
/// token) for the identity. `Ok` is the verdict for the operator; `Err` means the key is still
/// trusted or the check could not be made.
pub fn run(edge: &str, retired: &SigningKey, control: &str, now: u64) -> Result<String, String> {
    let claims = claims_of(control)?;
    let text = |name: &str| {
        claims[name]
            .as_str()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("the access token has no \"{name}\" claim"))
    };
    let policy = TokenPolicy::new(text("iss")?, text("aud")?);
    let probe = issue_access_token(
        retired,
        &policy,
        &AccessGrant {
            user_id: text("sub")?,
            session_id: text("sid")?,
            token_id: "edgeauth-check-edge",
            now,
            session_expires_at: u64::MAX,
        },
    )
    .map_err(|e| format!("signing the probe with {}: {e}", retired.kid()))?
    .token;

    let url = format!("{}{PROBE_PATH}", edge.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let (control_status, probe_status) = runtime.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .user_agent("edgeauth-origin keys check-edge")
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let url = url.as_str();
        let status = |token: String| {
            let request = http.get(url).bearer_auth(token);
            async move {
                request
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .map_err(|e| format!("GET {url}: {e}"))
            }
        };
        Ok::<_, String>((status(control.to_owned()).await?, status(probe).await?))
    })?;

    let kid = retired.kid();
    match (control_status, probe_status) {
        (200, 401) => Ok(format!(
            "the edge refuses tokens signed by {kid}: GET {url} answered 200 to your token and \
             401 to the same session signed by {kid}"
        )),
        (200, 200) => Err(format!(
            "the edge still accepts tokens signed by {kid} (GET {url} answered 200). Check that \
             no origin publishes it (`edgeauth-origin keys jwks --file …`) and put the current \
             set on the edge: `edgeauth-origin keys jwks --file /etc/edgeauth/origin.env | npx \
             wrangler secret put EDGEAUTH_JWKS`"
        )),
        (200, other) => Err(format!(
            "the edge answered {other} to the probe signed by {kid}: neither accepted nor \
             refused as an invalid token; try again"
        )),
        (401, _) => Err(format!(
            "the edge refused the access token you passed (GET {url} answered 401): pass a \
             current one (`POST /api/login`, field access_token), so a refused probe means \
             something"
        )),
        (other, _) => Err(format!(
            "GET {url} answered {other} to your access token; is {edge} the edge?"
        )),
    }
}

/// The unverified claims of a JWT (the edge judges the token; this only copies its identity).
fn claims_of(token: &str) -> Result<Value, String> {
    let payload = token
        .trim()
        .split('.')
        .nth(1)
        .ok_or("the standard input is not an access token (a JWT: header.payload.signature)")?;
    let bytes = B64
        .decode(payload)
        .map_err(|_| "the access token's payload is not base64url")?;
    serde_json::from_slice(&bytes).map_err(|_| "the access token's payload is not JSON".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_read_from_the_payload() {
        let payload = B64.encode(r#"{"sub":"u1","sid":"s1"}"#);
        let claims = claims_of(&format!("e30.{payload}.sig\n")).unwrap();
        assert_eq!(claims["sid"], "s1");
        for junk in [
            "",
            "no-dots",
            "a.!!!.c",
            &format!("a.{}.c", B64.encode("nope")),
        ] {
            assert!(claims_of(junk).is_err(), "{junk}");
        }
    }
}
