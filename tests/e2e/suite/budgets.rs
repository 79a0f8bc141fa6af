//! Login limits with small settings, on the short-lived extra origin: failures from one address
//! spread over many accounts exhaust that address's budget, and a locked (account, address)
//! pair stays locked twice as long after each further failure, up to the cap. (Registration and
//! refresh budgets: `limits::*`; failures on one account from many addresses: issue 15's tests.)

use std::time::Duration;

use edgeauth_e2e::client::{Reply, TestUser};
use edgeauth_e2e::observe::wait_until;
use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::{Api, Stack};

use super::extra::{
    self, LOCKOUT_BASE_SECS, LOCKOUT_MAX_SECS, LOCKOUT_THRESHOLD, LOGIN_IP_FAILURES,
};
use super::Outcome;
use crate::{check, tests};

tests![
    failures_across_many_accounts_exhaust_the_address_budget,
    a_pair_lock_doubles_with_each_failure_up_to_the_cap,
];

/// The `Retry-After` of a 429 `rate_limited`.
fn retry_after(reply: &Reply, what: &str) -> Result<u64, BoxError> {
    if reply.status != 429 || reply.code() != "rate_limited" {
        return Err(format!(
            "{what}: expected 429 rate_limited, got {} {}",
            reply.status, reply.text
        )
        .into());
    }
    reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{what}: no Retry-After").into())
}

/// A registered user (through the stack's own edge: same Redis).
async fn registered(stack: &Stack) -> Result<TestUser, BoxError> {
    let user = TestUser::unique();
    let reply = Api::new(&stack.edge).register(&user).await?;
    if reply.status != 201 {
        return Err(format!("register: {} {}", reply.status, reply.text).into());
    }
    Ok(user)
}

async fn failures_across_many_accounts_exhaust_the_address_budget(
    stack: &'static Stack,
) -> Outcome {
    let short = extra::short_lived(stack).await?;
    let edge = short.edge.as_str();
    let user = registered(stack).await?;
    let stuffer = Api::new(edge);
    // One failure per account, so no (account, address) pair comes near its lock.
    for n in 0..LOGIN_IP_FAILURES {
        let email = if n == 0 {
            user.email.clone()
        } else {
            format!("stuffed-{n}-{}", user.email)
        };
        let reply = stuffer.login(&email, "a guessed password").await?;
        check!(
            reply.status == 401,
            "failure {n}: {} {}",
            reply.status,
            reply.text
        );
    }
    // The budget is the address's: even another account's right password is refused now, for
    // the rest of the window (longer than any pair lock).
    let other = registered(stack).await?;
    let blocked = stuffer.login(&other.email, &other.password).await?;
    let wait = retry_after(&blocked, "after the address's budget")?;
    check!(
        wait > LOCKOUT_MAX_SECS && wait <= 900,
        "Retry-After {wait} s is not the address budget's window"
    );
    // Other addresses are unaffected.
    let elsewhere = Api::new(edge).login(&other.email, &other.password).await?;
    check!(
        elsewhere.status == 200,
        "from another address: {}",
        elsewhere.text
    );
    Ok(())
}

/// The lock lengths the origin decided for one client address, in order (its `lockout` audit
/// events: exact, where `Retry-After` has already lost the part of the first second).
fn locks_logged(log: &std::path::Path, client_ip: &str) -> Result<Vec<u64>, BoxError> {
    let text = std::fs::read_to_string(log).map_err(|e| format!("{}: {e}", log.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["audit"] == "lockout" && l["fields"]["client_ip"] == client_ip)
        .filter_map(|l| l["fields"]["locked_for"].as_u64())
        .collect())
}

async fn a_pair_lock_doubles_with_each_failure_up_to_the_cap(stack: &'static Stack) -> Outcome {
    let short = extra::short_lived(stack).await?;
    let edge = short.edge.as_str();
    let log = stack.log_dir.join(format!("{}.log", short.origin_name));
    let user = registered(stack).await?;
    let attacker = Api::new(edge);
    let wrong = "a guessed password";
    for n in 1..=LOCKOUT_THRESHOLD {
        let reply = attacker.login(&user.email, wrong).await?;
        check!(
            reply.status == 401,
            "failure {n}: {} {}",
            reply.status,
            reply.text
        );
    }
    let mut expected = vec![LOCKOUT_BASE_SECS];
    loop {
        let round = expected.len();
        let lock = *expected.last().unwrap_or(&0);
        let locked = attacker.login(&user.email, &user.password).await?;
        let wait = retry_after(&locked, &format!("lock {round}, even the right password"))?;
        check!(
            (1..=lock).contains(&wait),
            "lock {round}: Retry-After {wait} s for a {lock} s lock"
        );
        let ip = attacker.client_ip.as_str();
        let log = log.as_path();
        let logged = expected.len();
        wait_until(
            &format!("lock {round} in the origin's log"),
            Duration::from_secs(5),
            || async move { Ok(locks_logged(log, ip)?.len() >= logged) },
        )
        .await?;
        let locks = locks_logged(log, ip)?;
        check!(
            locks == expected,
            "locks of {:?} s, expected {expected:?} s (base {LOCKOUT_BASE_SECS}, cap {LOCKOUT_MAX_SECS})",
            locks
        );
        if round == 3 {
            break;
        }
        // The first attempt after the lock ends is one more failure: the next lock doubles.
        let attacker_ref = &attacker;
        let email = user.email.as_str();
        wait_until(
            &format!("lock {round} to end"),
            Duration::from_secs(lock + 3),
            || async move {
                let reply = attacker_ref.login(email, wrong).await?;
                match reply.status {
                    429 => Ok(false),
                    401 => Ok(true),
                    _ => Err(format!("while locked: {} {}", reply.status, reply.text).into()),
                }
            },
        )
        .await?;
        expected.push((lock * 2).min(LOCKOUT_MAX_SECS));
    }
    // The lock binds the pair: the user, from their own address, is not locked out.
    let home = Api::new(edge).login(&user.email, &user.password).await?;
    check!(
        home.status == 200,
        "the user from another address: {}",
        home.text
    );
    Ok(())
}
