//! The WebAuthn relying party the passkey routes use (`webauthn-rs`, pure Rust), built once at
//! start-up from `EDGEAUTH_WEBAUTHN_RP_ID` and `EDGEAUTH_WEBAUTHN_ORIGINS`
//! (checked by `edgeauth_core::passkey`).

use std::sync::Arc;
use std::time::Duration;

use webauthn_rs::prelude::Url;
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// How long a ceremony (a registration, a sign-in, a step-up) may take between its start and
/// its finish, seconds: the browser's timeout and the Redis lifetime of its state.
pub const CEREMONY_SECS: u64 = 300;

#[derive(Clone)]
pub struct RelyingParty {
    pub webauthn: Arc<Webauthn>,
    pub rp_id: String,
}

impl RelyingParty {
    /// From a checked RP id and origins (the first is the primary one).
    pub fn new(rp_id: &str, origins: &[String]) -> Result<Self, String> {
        let urls: Vec<Url> = origins
            .iter()
            .map(|o| Url::parse(o).map_err(|e| format!("{o:?}: {e}")))
            .collect::<Result<_, _>>()?;
        let (first, rest) = urls.split_first().ok_or("must name at least one origin")?;
        let mut builder = WebauthnBuilder::new(rp_id, first)
            .map_err(|e| format!("not usable with EDGEAUTH_WEBAUTHN_RP_ID {rp_id:?}: {e}"))?
            .rp_name("edgeauth")
            .timeout(Duration::from_secs(CEREMONY_SECS));
        for url in rest {
            builder = builder.append_allowed_origin(url);
        }
        let webauthn = builder
            .build()
            .map_err(|e| format!("not usable with EDGEAUTH_WEBAUTHN_RP_ID {rp_id:?}: {e}"))?;
        Ok(Self {
            webauthn: Arc::new(webauthn),
            rp_id: rp_id.to_owned(),
        })
    }
}
