//! Extra origins, each with an edge in plain `workerd serve` in front of it, on the stack's Redis
//! with the stack's keys and secrets: for settings the tests need shorter or smaller than the
//! stack's (lifetimes, lockout), and for an origin a test may stop.

use std::time::Duration;

use edgeauth_e2e::observe::wait_until;
use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::workerd::Heap;
use edgeauth_e2e::Stack;
use tokio::sync::OnceCell;

/// Sliding idle lifetime of a session on the short-lived edge, seconds.
pub const IDLE_SECS: u64 = 2;
/// Absolute lifetime of a session on the short-lived edge, seconds.
pub const ABSOLUTE_SECS: u64 = 5;
/// Failed logins of one (account, address) pair before it is locked.
pub const LOCKOUT_THRESHOLD: u32 = 3;
/// First lock of a pair, seconds; doubles with each further failure.
pub const LOCKOUT_BASE_SECS: u64 = 2;
/// Longest lock of a pair, seconds (less than a third doubling, so the cap shows).
pub const LOCKOUT_MAX_SECS: u64 = 4;
/// Failed logins allowed from one address across accounts (above the lockout test's five).
pub const LOGIN_IP_FAILURES: u32 = 6;

/// An origin and the edge in front of it.
pub struct Extra {
    /// Base URL of the edge.
    pub edge: String,
    /// Process names, for [`Stack::pause`] and [`Stack::stop_process`].
    pub origin_name: String,
    pub edge_name: String,
}

/// Starts an origin with `env` on top of the stack's settings, waits until it listens, then
/// starts an edge in front of it and waits until that edge's `/healthz` answers 200.
pub async fn start(
    stack: &'static Stack,
    name: &str,
    env: &[(&str, String)],
) -> Result<Extra, BoxError> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut origin = stack.origin_command(port);
    origin.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let origin_name = format!("origin-{name}");
    stack.launch(&origin_name, origin)?;
    wait_until(
        &format!("{origin_name} listening on {port}"),
        Duration::from_secs(30),
        || async move {
            Ok(tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok())
        },
    )
    .await?;
    let edge_name = format!("workerd-{name}");
    let overrides = [("ORIGIN_URL".to_owned(), format!("http://127.0.0.1:{port}"))];
    let starting = edge_name.clone();
    // Starting an edge blocks (it polls until the edge answers).
    let edge = tokio::task::spawn_blocking(move || {
        stack.start_workerd_edge(&starting, &overrides, Heap::Production)
    })
    .await??;
    Ok(Extra {
        edge,
        origin_name,
        edge_name,
    })
}

/// Stops both processes of an extra pair.
pub async fn stop(stack: &'static Stack, extra: &Extra) -> Result<(), BoxError> {
    let names = [extra.edge_name.clone(), extra.origin_name.clone()];
    tokio::task::spawn_blocking(move || names.iter().try_for_each(|name| stack.stop_process(name)))
        .await?
}

/// The short-lived origin ([`IDLE_SECS`], [`ABSOLUTE_SECS`], the lockout and the per-address
/// budget above) and its edge, started on first use and shared by the tests that need them.
pub async fn short_lived(stack: &'static Stack) -> Result<&'static Extra, BoxError> {
    static SHORT: OnceCell<Extra> = OnceCell::const_new();
    let extra = SHORT
        .get_or_try_init(|| {
            let env = [
                // A session must outlive its access tokens (the origin checks it at start-up).
                ("EDGEAUTH_ACCESS_TTL_SECS", IDLE_SECS.to_string()),
                ("EDGEAUTH_SESSION_IDLE_SECS", IDLE_SECS.to_string()),
                ("EDGEAUTH_SESSION_ABSOLUTE_SECS", ABSOLUTE_SECS.to_string()),
                ("EDGEAUTH_LOCKOUT_THRESHOLD", LOCKOUT_THRESHOLD.to_string()),
                ("EDGEAUTH_LOCKOUT_BASE_SECS", LOCKOUT_BASE_SECS.to_string()),
                ("EDGEAUTH_LOCKOUT_MAX_SECS", LOCKOUT_MAX_SECS.to_string()),
                ("EDGEAUTH_LOGIN_IP_FAILURES", LOGIN_IP_FAILURES.to_string()),
            ];
            async move { start(stack, "short", &env).await }
        })
        .await?;
    Ok(extra)
}
