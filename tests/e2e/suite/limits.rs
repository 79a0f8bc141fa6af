//! Rate limits and lockout, shared through Redis: brute force is slowed, legitimate users are
//! not locked out, and budgets answer 429 with Retry-After.

use edgeauth_e2e::client::{Reply, TestUser};
use edgeauth_e2e::{Api, Stack};

use super::Outcome;
use crate::{check, tests};

tests![
    brute_force_on_one_account_is_locked_per_address,
    successful_logins_spend_no_budget,
    registrations_per_address_are_budgeted,
    refreshes_per_address_are_budgeted,
];

pub(crate) fn is_limited(reply: &Reply) -> Result<u64, String> {
    if reply.status != 429 || reply.code() != "rate_limited" {
        return Err(format!(
            "expected 429 rate_limited, got {} {}",
            reply.status, reply.text
        ));
    }
    reply
        .header("retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s >= 1)
        .ok_or_else(|| format!("Retry-After missing: {:?}", reply.headers))
}

async fn brute_force_on_one_account_is_locked_per_address(stack: &'static Stack) -> Outcome {
    let attacker = Api::new(&stack.edge);
    let victim = attacker.new_session().await?.user;
    for attempt in 1..=5 {
        let reply = attacker
            .login(&victim.email, &format!("guess number {attempt}"))
            .await?;
        check!(
            reply.status == 401,
            "attempt {attempt}: {} {}",
            reply.status,
            reply.text
        );
    }
    let blocked = attacker.login(&victim.email, "guess number 6").await?;
    let retry = is_limited(&blocked)?;
    let base = stack.options.lockout_base_secs;
    check!(
        (1..=base).contains(&retry),
        "the first lock lasts the base {base} s: {retry}"
    );
    let even_right = attacker.login(&victim.email, &victim.password).await?;
    is_limited(&even_right)?;
    // The real user, from their own address, is not locked out.
    let home = Api::new(&stack.edge);
    let reply = home.login(&victim.email, &victim.password).await?;
    check!(
        reply.status == 200,
        "victim locked out: {} {}",
        reply.status,
        reply.text
    );
    // Unknown accounts behave the same, so lockouts reveal nothing.
    let ghost = format!("ghost-{}", victim.email);
    for _ in 0..5 {
        attacker.login(&ghost, "whatever password").await?;
    }
    is_limited(&attacker.login(&ghost, "whatever password").await?)?;
    Ok(())
}

async fn successful_logins_spend_no_budget(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let user = api.new_session().await?.user;
    for round in 0..3 {
        for _ in 0..4 {
            let reply = api.login(&user.email, "wrong password here").await?;
            check!(reply.status == 401, "round {round}: {}", reply.text);
        }
        // A success resets the consecutive-failure count of this address.
        let ok = api.login(&user.email, &user.password).await?;
        check!(ok.status == 200, "round {round}: {} {}", ok.status, ok.text);
    }
    for _ in 0..8 {
        check!(
            api.login(&user.email, &user.password).await?.status == 200,
            "repeated success"
        );
    }
    Ok(())
}

async fn registrations_per_address_are_budgeted(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    for n in 0..20 {
        let reply = api.register(&TestUser::unique()).await?;
        check!(
            reply.status == 201,
            "registration {n}: {} {}",
            reply.status,
            reply.text
        );
    }
    is_limited(&api.register(&TestUser::unique()).await?)?;
    let elsewhere = Api::new(&stack.edge);
    check!(
        elsewhere.register(&TestUser::unique()).await?.status == 201,
        "other addresses unaffected"
    );
    Ok(())
}

async fn refreshes_per_address_are_budgeted(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let session = api.new_session().await?;
    let mut token = session.refresh;
    for n in 0..stack.options.refresh_per_ip {
        let reply = api.refresh(&token).await?;
        check!(
            reply.status == 200,
            "refresh {n}: {} {}",
            reply.status,
            reply.text
        );
        token = reply.body["refresh_token"]
            .as_str()
            .unwrap_or("")
            .to_owned();
    }
    is_limited(&api.refresh(&token).await?)?;
    // Nothing was rotated by the refused call: the same token works from elsewhere.
    let elsewhere = Api::new(&stack.edge);
    let reply = elsewhere.refresh(&token).await?;
    check!(
        reply.status == 200,
        "the limited call changed nothing: {} {}",
        reply.status,
        reply.text
    );
    Ok(())
}
