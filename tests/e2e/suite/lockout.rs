//! Lockouts that stop guessing without locking the owner out: known devices (device cookies),
//! growing per-pair locks, the current password of a password change counted like a sign-in,
//! and sign-ins that cost the same Redis work for known and unknown emails.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use edgeauth_e2e::client::{Reply, TestUser};
use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::{Api, Stack};
use futures_util::stream::{self, StreamExt};
use serde_json::json;

use super::limits::is_limited;
use super::Outcome;
use crate::{check, tests};

tests![
    a_known_device_signs_in_through_a_distributed_guessing_attack,
    locks_double_with_each_further_failure,
    wrong_current_passwords_meet_the_sign_in_lockout;
    exclusive: unknown_emails_and_wrong_passwords_cost_the_same_redis_work,
];

const DEVICE_COOKIE: &str = "__Host-edgeauth_device";

/// The device cookie's value a sign-in answer set.
fn device_cookie(reply: &Reply) -> Result<String, BoxError> {
    reply
        .set_cookies()
        .iter()
        .find_map(|c| {
            let value = c.strip_prefix(DEVICE_COOKIE)?.strip_prefix('=')?;
            Some(value.split(';').next()?.to_owned())
        })
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("no {DEVICE_COOKIE} in {:?}", reply.set_cookies()).into())
}

/// `POST /api/login` with a device cookie, as a browser that signed in before sends it.
async fn login_from_device(api: &Api, user: &TestUser, device: &str) -> Result<Reply, BoxError> {
    api.post_with(
        "/api/login",
        &[("cookie", &format!("{DEVICE_COOKIE}={device}"))],
        json!({ "email": user.email, "password": user.password }),
    )
    .await
}

async fn a_known_device_signs_in_through_a_distributed_guessing_attack(
    stack: &'static Stack,
) -> Outcome {
    let home = Api::new(&stack.edge);
    let owner = TestUser::unique();
    check!(home.register(&owner).await?.status == 201, "register");
    let first = home.login(&owner.email, &owner.password).await?;
    check!(first.status == 200, "first sign-in: {}", first.text);
    let device = device_cookie(&first)?;
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        check!(
            first
                .set_cookies()
                .iter()
                .any(|c| c.starts_with(DEVICE_COOKIE) && c.contains(attr)),
            "the device cookie lacks {attr}"
        );
    }

    // 120 wrong passwords, each from its own address: no per-address limit is ever reached,
    // only the account-wide one (100 per hour).
    let email = owner.email.clone();
    let statuses: Vec<u16> = stream::iter(0..120)
        .map(|n| {
            let email = email.clone();
            async move {
                let reply = Api::new(&stack.edge)
                    .login(&email, &format!("guess number {n} of many"))
                    .await?;
                Ok::<_, BoxError>(reply.status)
            }
        })
        .buffer_unordered(6)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let refused = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    check!(
        refused + limited == 120 && refused >= 100 && limited >= 1,
        "120 guesses: {refused} × 401, {limited} × 429, others {:?}",
        statuses
            .iter()
            .filter(|s| **s != 401 && **s != 429)
            .collect::<Vec<_>>()
    );

    // An unknown device from a fresh address is refused even with the right password…
    let stranger = Api::new(&stack.edge);
    let locked = stranger.login(&owner.email, &owner.password).await?;
    let retry = is_limited(&locked)?;
    check!(
        retry <= 3600,
        "the account lock ends with its window: {retry}"
    );
    // …and so is a device cookie of another account, or a forged one.
    let other = TestUser::unique();
    check!(stranger.register(&other).await?.status == 201, "register");
    let other_device = device_cookie(&stranger.login(&other.email, &other.password).await?)?;
    let last = if device.ends_with('A') { "B" } else { "A" };
    let tampered = format!("{}{last}", &device[..device.len() - 1]);
    for wrong in [other_device.as_str(), "junk", &tampered] {
        let reply = login_from_device(&Api::new(&stack.edge), &owner, wrong).await?;
        is_limited(&reply).map_err(|e| format!("device cookie {wrong:?}: {e}"))?;
    }

    // The owner's device signs in, from wherever it is now.
    let travelling = Api::new(&stack.edge);
    let reply = login_from_device(&travelling, &owner, &device).await?;
    check!(
        reply.status == 200,
        "the owner's known device was locked out: {} {}",
        reply.status,
        reply.text
    );
    check!(
        reply.body["user"]["email"] == owner.email.to_lowercase().as_str(),
        "{}",
        reply.text
    );
    // Its failures lock only that device, and never the account's owner elsewhere.
    let renewed = device_cookie(&reply)?;
    for n in 0..5 {
        let wrong = TestUser {
            password: format!("typo {n} on the known device"),
            ..owner.clone()
        };
        let reply = login_from_device(&travelling, &wrong, &renewed).await?;
        check!(
            reply.status == 401,
            "typo {n}: {} {}",
            reply.status,
            reply.text
        );
    }
    is_limited(&login_from_device(&travelling, &owner, &renewed).await?)?;
    let other_device_of_owner = login_from_device(&home, &owner, &device).await?;
    check!(
        other_device_of_owner.status == 200,
        "the first device credential still works: {}",
        other_device_of_owner.text
    );
    Ok(())
}

/// Waits until the lock of `api`'s address on `user` has run out, by asking (a refused attempt
/// while locked counts nothing); the first attempt that gets through is a counted failure.
async fn fail_once_the_lock_ends(api: &Api, user: &TestUser, limit: Duration) -> Outcome {
    let deadline = Instant::now() + limit;
    loop {
        let reply = api.login(&user.email, "still not the password").await?;
        match reply.status {
            401 => return Ok(()),
            429 if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await
            }
            _ => {
                return Err(format!("waiting for the lock: {} {}", reply.status, reply.text).into())
            }
        }
    }
}

async fn locks_double_with_each_further_failure(stack: &'static Stack) -> Outcome {
    let base = stack.options.lockout_base_secs;
    let api = Api::new(&stack.edge);
    let user = api.new_session().await?.user;
    for attempt in 1..=5 {
        let reply = api.login(&user.email, "not the password").await?;
        check!(reply.status == 401, "failure {attempt}: {}", reply.text);
    }
    let mut previous = 0;
    for (round, lock) in [base, 2 * base, 4 * base].into_iter().enumerate() {
        let retry = is_limited(&api.login(&user.email, &user.password).await?)?;
        check!(
            retry > previous && retry <= lock && retry + 2 >= lock,
            "lock {round} should last {lock} s (doubling from {base} s), Retry-After says {retry}"
        );
        previous = lock;
        if round < 2 {
            fail_once_the_lock_ends(&api, &user, Duration::from_secs(lock + 10)).await?;
        }
    }
    // The owner elsewhere is unaffected.
    let home = Api::new(&stack.edge);
    check!(
        home.login(&user.email, &user.password).await?.status == 200,
        "locked out from another address"
    );
    Ok(())
}

async fn wrong_current_passwords_meet_the_sign_in_lockout(stack: &'static Stack) -> Outcome {
    let owner_api = Api::new(&stack.edge);
    let s = owner_api.new_session().await?;
    // A thief with the access token (but not the password) guesses the current password.
    let thief = Api::new(&stack.edge);
    let mut statuses = Vec::new();
    for n in 0..20 {
        let reply = thief
            .post(
                "/api/password",
                Some(&s.access),
                json!({ "current_password": format!("guess {n} at it"), "new_password": "a brand new harbour lantern 77" }),
            )
            .await?;
        if reply.status == 429 {
            is_limited(&reply)?;
        } else {
            check!(
                reply.status == 401 && reply.code() == "invalid_credentials",
                "guess {n}: {} {}",
                reply.status,
                reply.text
            );
        }
        statuses.push(reply.status);
        if n == 5 {
            check!(
                statuses == [401, 401, 401, 401, 401, 429],
                "five wrong guesses, then the lock: {statuses:?}"
            );
            // They are sign-in failures: the thief's address is locked out of signing in too.
            is_limited(&thief.login(&s.user.email, &s.user.password).await?)?;
        }
    }
    let guessed = statuses.iter().filter(|s| **s == 401).count();
    check!(
        guessed <= 7,
        "20 tries gave {guessed} guesses: {statuses:?}"
    );
    // The owner, from their own address, still signs in and changes the password.
    check!(
        owner_api
            .login(&s.user.email, &s.user.password)
            .await?
            .status
            == 200,
        "the owner was locked out"
    );
    let changed = owner_api
        .post(
            "/api/password",
            Some(&s.access),
            json!({ "current_password": s.user.password, "new_password": "a brand new harbour lantern 77" }),
        )
        .await?;
    check!(changed.status == 204, "{} {}", changed.status, changed.text);
    Ok(())
}

fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(name, calls)| (name.clone(), calls - before.get(name).copied().unwrap_or(0)))
        .filter(|(_, calls)| *calls > 0)
        .collect()
}

async fn unknown_emails_and_wrong_passwords_cost_the_same_redis_work(
    stack: &'static Stack,
) -> Outcome {
    let known = Api::new(&stack.edge).new_session().await?.user;
    // Scripts are cached in Redis after their first use; use them once so neither measured path
    // pays for loading one (a restart by an earlier test flushes the cache).
    let warm = Api::new(&stack.edge);
    warm.login(&TestUser::unique().email, "warming up the scripts")
        .await?;

    // Each path from a fresh address, on an account with no failures yet: the same counters are
    // created in both.
    let before = stack.redis_command_counts().await?;
    let unknown = Api::new(&stack.edge)
        .login(&TestUser::unique().email, "a password for nobody")
        .await?;
    let middle = stack.redis_command_counts().await?;
    let wrong = Api::new(&stack.edge)
        .login(&known.email, "not the password at all")
        .await?;
    let after = stack.redis_command_counts().await?;
    check!(
        unknown.status == 401 && wrong.status == 401 && unknown.text == wrong.text,
        "same answer: {} {} / {} {}",
        unknown.status,
        unknown.text,
        wrong.status,
        wrong.text
    );
    let (unknown_work, wrong_work) = (delta(&before, &middle), delta(&middle, &after));
    check!(
        unknown_work == wrong_work,
        "Redis work differs:\n  unknown email:  {unknown_work:?}\n  wrong password: {wrong_work:?}"
    );
    check!(
        unknown_work.get("evalsha").copied() == Some(2) && unknown_work.contains_key("hmget"),
        "expected the gate and the failure scripts, the gate reading the user hash: {unknown_work:?}"
    );
    Ok(())
}
