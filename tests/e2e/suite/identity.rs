//! One mailbox, one account: email addresses are compared in canonical form (NFKC, case
//! folding, IDNA for the domain), and addresses that cannot be made canonical safely are refused
//! with a reason.

use edgeauth_e2e::client::TestUser;
use edgeauth_e2e::{Api, Stack};
use serde_json::json;

use super::Outcome;
use crate::{check, tests};

tests![
    spellings_of_one_mailbox_are_one_account,
    unsafe_addresses_are_refused_with_the_reason,
];

/// `s` in fullwidth forms (what some keyboards and copy-pastes produce).
fn fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
            other => other,
        })
        .collect()
}

async fn spellings_of_one_mailbox_are_one_account(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let mut user = TestUser::unique();
    let local = user
        .email
        .split('@')
        .next()
        .unwrap_or_default()
        .to_lowercase();
    user.email = format!("{local}@example.com");
    let first = api.register(&user).await?;
    check!(first.status == 201, "{} {}", first.status, first.text);
    check!(
        first.body["user"]["email"] == user.email.as_str(),
        "{}",
        first.text
    );
    let spellings = [
        format!("{}@EXAMPLE.COM", local.to_uppercase()),
        format!("{local}@ｅｘａｍｐｌｅ.com"),
        format!("{}@example.com", fullwidth(&local)),
        format!("{}＠{}", fullwidth(&local), fullwidth("example.com")),
    ];
    for (n, spelling) in spellings.iter().enumerate() {
        let twin = TestUser {
            username: format!("{}_{n}", &user.username[..user.username.len().min(28)]),
            email: spelling.clone(),
            password: user.password.clone(),
        };
        let reply = Api::new(&stack.edge).register(&twin).await?;
        check!(
            reply.status == 409 && reply.code() == "conflict",
            "{spelling:?} registered a second account: {} {}",
            reply.status,
            reply.text
        );
        // Every spelling signs in to the one account.
        let login = Api::new(&stack.edge)
            .login(spelling, &user.password)
            .await?;
        check!(
            login.status == 200 && login.body["user"]["email"] == user.email.as_str(),
            "{spelling:?}: {} {}",
            login.status,
            login.text
        );
    }
    Ok(())
}

async fn unsafe_addresses_are_refused_with_the_reason(stack: &'static Stack) -> Outcome {
    let api = Api::new(&stack.edge);
    let base = TestUser::unique();
    for (email, reason) in [
        (format!("a\u{200B}{}", base.email), "invisible"),
        (format!("a\u{202E}{}", base.email), "invisible"),
        ("someone@exa_mple.com".to_owned(), "domain"),
        ("someone@-example.com".to_owned(), "domain"),
    ] {
        for reply in [
            api.register(&TestUser {
                email: email.clone(),
                ..base.clone()
            })
            .await?,
            api.post(
                "/api/login",
                None,
                json!({ "email": email, "password": base.password }),
            )
            .await?,
        ] {
            let field = &reply.body["error"]["fields"][0];
            check!(
                reply.status == 400
                    && reply.code() == "validation_failed"
                    && field["field"] == "email"
                    && field["message"].as_str().unwrap_or("").contains(reason),
                "{email:?} should be refused ({reason}): {} {}",
                reply.status,
                reply.text
            );
        }
    }
    Ok(())
}
