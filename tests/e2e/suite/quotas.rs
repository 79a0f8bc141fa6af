//! Budgets nobody slips past: per-address budgets for IPv6 clients (by /64) and IPv4-mapped
//! addresses, successful sign-ins per account and per address, the per-user session cap, and
//! each address's share of the password-hashing queue.

use edgeauth_e2e::client::TestUser;
use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::{Api, Stack};
use futures_util::future::join_all;
use reqwest::Method;

use super::limits::is_limited;
use super::sessions::profile_status;
use super::Outcome;
use crate::{check, tests};

tests![
    ipv6_clients_share_a_budget_per_64,
    ipv4_mapped_addresses_are_their_ipv4_client,
    successful_sign_ins_are_budgeted_per_account_and_address,
    sessions_per_user_are_capped_and_the_oldest_goes,
    one_address_cannot_fill_the_hashing_queue,
];

fn random_u16() -> u16 {
    let mut bytes = [0u8; 2];
    let _ = getrandom::fill(&mut bytes);
    u16::from_be_bytes(bytes)
}

async fn ipv6_clients_share_a_budget_per_64(stack: &'static Stack) -> Outcome {
    // One /64 of the documentation prefix, its own per run.
    let prefix = format!("2001:db8:{:x}:{:x}", random_u16(), random_u16());
    let mut statuses = Vec::new();
    for n in 0..30u32 {
        let address = format!("{prefix}:{:x}:{:x}::{n:x}", random_u16(), n);
        let reply = Api::with_ip(&stack.edge, &address)
            .register(&TestUser::unique())
            .await?;
        if reply.status == 429 {
            is_limited(&reply)?;
        }
        statuses.push(reply.status);
    }
    check!(
        statuses[..20] == [201; 20] && statuses[20..] == [429; 10],
        "30 addresses of one /64: the register budget is 20, got {statuses:?}"
    );
    // The neighbouring /64 is another client.
    let next = format!("2001:db8:{:x}:{:x}::1", random_u16(), random_u16());
    let reply = Api::with_ip(&stack.edge, &next)
        .register(&TestUser::unique())
        .await?;
    check!(
        reply.status == 201,
        "another /64: {} {}",
        reply.status,
        reply.text
    );
    Ok(())
}

async fn ipv4_mapped_addresses_are_their_ipv4_client(stack: &'static Stack) -> Outcome {
    let plain = Api::new(&stack.edge);
    for n in 0..20 {
        let reply = plain.register(&TestUser::unique()).await?;
        check!(reply.status == 201, "registration {n}: {}", reply.text);
    }
    is_limited(&plain.register(&TestUser::unique()).await?)?;
    let mapped = Api::with_ip(&stack.edge, &format!("::ffff:{}", plain.client_ip));
    is_limited(&mapped.register(&TestUser::unique()).await?)
        .map_err(|e| format!("::ffff:{} is {}: {e}", plain.client_ip, plain.client_ip))?;
    Ok(())
}

async fn register(api: &Api) -> Result<TestUser, BoxError> {
    let user = TestUser::unique();
    let reply = api.register(&user).await?;
    if reply.status != 201 {
        return Err(format!("register: {} {}", reply.status, reply.text).into());
    }
    Ok(user)
}

async fn sign_ins(api: &Api, user: &TestUser, count: u32) -> Outcome {
    for n in 0..count {
        let reply = api.login(&user.email, &user.password).await?;
        check!(
            reply.status == 200,
            "sign-in {n} from {}: {} {}",
            api.client_ip,
            reply.status,
            reply.text
        );
    }
    Ok(())
}

async fn successful_sign_ins_are_budgeted_per_account_and_address(
    stack: &'static Stack,
) -> Outcome {
    // Per account: 30 per hour (the default), whichever addresses they come from.
    let user = register(&Api::new(&stack.edge)).await?;
    sign_ins(&Api::new(&stack.edge), &user, 15).await?;
    sign_ins(&Api::new(&stack.edge), &user, 15).await?;
    let refused = Api::new(&stack.edge)
        .login(&user.email, &user.password)
        .await?;
    is_limited(&refused).map_err(|e| format!("the 31st sign-in of one account: {e}"))?;

    // Per address: the test stack allows 40 per window, across accounts.
    let budget = stack.options.login_ip_successes;
    let office = Api::new(&stack.edge);
    let colleagues = [
        register(&Api::new(&stack.edge)).await?,
        register(&Api::new(&stack.edge)).await?,
    ];
    sign_ins(&office, &colleagues[0], budget / 2).await?;
    sign_ins(&office, &colleagues[1], budget - budget / 2).await?;
    let refused = office
        .login(&colleagues[0].email, &colleagues[0].password)
        .await?;
    is_limited(&refused).map_err(|e| format!("sign-in {} from one address: {e}", budget + 1))?;
    // Another address is unaffected.
    let elsewhere = Api::new(&stack.edge)
        .login(&colleagues[0].email, &colleagues[0].password)
        .await?;
    check!(elsewhere.status == 200, "{}", elsewhere.text);
    Ok(())
}

async fn sessions_per_user_are_capped_and_the_oldest_goes(stack: &'static Stack) -> Outcome {
    let cap = stack.options.sessions_per_user as usize;
    let api = Api::new(&stack.edge);
    let user = register(&api).await?;
    let mut sessions = Vec::new();
    for _ in 0..cap + 3 {
        sessions.push(api.sign_in(&user).await?);
    }
    let newest = sessions.last().ok_or("no session")?;
    // The three oldest are revoked, at once and at the edge; the rest live.
    for (n, s) in sessions.iter().enumerate() {
        let status = profile_status(&api, &s.access).await?;
        let expected = if n < 3 { 401 } else { 200 };
        check!(status == expected, "session {n} of {}: {status}", cap + 3);
    }
    let listed = api.get("/api/sessions", Some(&newest.access)).await?;
    check!(
        listed.body["sessions"].as_array().map(Vec::len) == Some(cap),
        "the list holds the cap of {cap}: {}",
        listed.text
    );
    // The index in Redis never outgrows the cap, so listing, logout-all and password changes
    // touch at most `cap` sessions.
    let index = stack
        .redis(&["ZCARD", &format!("ea:us:{}", newest.user_id)])
        .await?;
    check!(index.as_u64() == Some(cap as u64), "index size {index}");
    let out = api
        .call(Method::POST, "/api/logout-all", Some(&newest.access), None)
        .await?;
    check!(out.status == 204, "logout-all: {}", out.text);
    for s in &sessions {
        check!(
            profile_status(&api, &s.access).await? == 401,
            "a session survived logout-all"
        );
    }
    Ok(())
}

async fn one_address_cannot_fill_the_hashing_queue(stack: &'static Stack) -> Outcome {
    let crowd = Api::new(&stack.edge);
    let user = register(&crowd).await?;
    // 24 sign-ins at once from one address (the test stack allows 8 hashes per address).
    let replies = join_all((0..24).map(|_| crowd.login(&user.email, &user.password))).await;
    let mut ok = 0;
    let mut at_once = 0;
    for reply in replies {
        let reply = reply?;
        match reply.status {
            200 => ok += 1,
            429 if reply.text.contains("at once") => {
                is_limited(&reply)?;
                at_once += 1;
            }
            _ => return Err(format!("{} {}", reply.status, reply.text).into()),
        }
    }
    check!(
        at_once >= 1 && ok >= 1,
        "24 sign-ins at once from one address: {ok} × 200, {at_once} × 429"
    );
    // Meanwhile everyone else's sign-ins go on.
    let other = register(&Api::new(&stack.edge)).await?;
    let reply = Api::new(&stack.edge)
        .login(&other.email, &other.password)
        .await?;
    check!(reply.status == 200, "{}", reply.text);
    Ok(())
}
