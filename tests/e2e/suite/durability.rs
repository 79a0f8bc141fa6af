//! A redis-server crash (`kill -9`) right after a logout, a rotation and a registration: with
//! the `appendfsync` setting `make dev` uses, every acknowledged write is back after the restart,
//! so no revocation is lost (docs/security.md, "Durability").

use std::time::Duration;

use edgeauth_e2e::client::TestUser;
use edgeauth_e2e::observe::{session_field, session_of, wait_until};
use edgeauth_e2e::stack::{BoxError, APPENDFSYNC};
use edgeauth_e2e::{Api, Stack};
use reqwest::Method;

use super::Outcome;
use crate::{check, tests};

tests![; exclusive: acknowledged_writes_survive_a_redis_crash];

async fn acknowledged_writes_survive_a_redis_crash(stack: &'static Stack) -> Outcome {
    // The stack runs Redis as `make dev` does.
    let dev = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/dev.sh"),
    )?;
    check!(
        dev.contains(&format!("--appendfsync {APPENDFSYNC} ")),
        "scripts/dev.sh does not run redis-server with appendfsync {APPENDFSYNC}"
    );
    let fsync = stack.redis(&["CONFIG", "GET", "appendfsync"]).await?;
    check!(
        fsync[1] == APPENDFSYNC,
        "redis-server runs with appendfsync {fsync}, make dev with {APPENDFSYNC}"
    );
    let api = Api::new(&stack.edge);
    let ending = api.new_session().await?;
    let rotating = api.sign_in(&ending.user).await?;
    let newcomer = TestUser::unique();

    // The three writes at once, and the crash the moment the last one is acknowledged.
    let (logout, rotation, registration) = tokio::join!(
        api.call(Method::POST, "/api/logout", Some(&ending.access), None),
        api.refresh(&rotating.refresh),
        api.register(&newcomer),
    );
    stack.kill_redis()?;
    let outcome: Result<(String, String), BoxError> = async {
        let (logout, rotation, registration) = (logout?, rotation?, registration?);
        check!(logout.status == 204, "logout: {}", logout.text);
        check!(rotation.status == 200, "rotation: {}", rotation.text);
        check!(
            registration.status == 201,
            "registration: {}",
            registration.text
        );
        rotation.tokens()
    }
    .await;
    stack.start_redis()?;
    let (access, refresh) = outcome?;

    // Back once the edge can check a session again.
    let access_ref = access.as_str();
    let api_ref = &api;
    wait_until(
        "the stack to serve again after the restart",
        Duration::from_secs(20),
        || async move { Ok(api_ref.get("/api/profile", Some(access_ref)).await?.status == 200) },
    )
    .await?;

    // The logout: both of that session's tokens stay dead.
    let profile = api.get("/api/profile", Some(&ending.access)).await?;
    check!(
        profile.status == 401,
        "the logged-out access token came back: {}",
        profile.text
    );
    let refreshed = api.refresh(&ending.refresh).await?;
    check!(
        refreshed.status == 401,
        "the logged-out refresh token came back: {}",
        refreshed.text
    );
    // The rotation: generation 1 is current, so the new token rotates on.
    let generation = session_field(stack, &session_of(&refresh)?, "gen").await?;
    check!(
        generation.as_deref() == Some("1"),
        "the rotation was lost: generation {generation:?}"
    );
    let next = api.refresh(&refresh).await?;
    check!(
        next.status == 200,
        "the rotated token after the crash: {}",
        next.text
    );
    // The registration: the new account signs in.
    let login = api.login(&newcomer.email, &newcomer.password).await?;
    check!(
        login.status == 200,
        "the new account after the crash: {}",
        login.text
    );
    Ok(())
}
