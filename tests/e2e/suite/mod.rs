//! Every end-to-end test, grouped by capability.

mod attacks;
mod bridge;
mod browser;
mod budgets;
mod cors;
mod csrf;
mod documentation;
mod durability;
mod email;
mod extra;
mod flows;
mod forgery;
mod gateway;
mod headers;
mod identity;
mod lifetimes;
mod limits;
mod lockout;
mod mfa;
mod navigation;
mod operations;
mod origin_trust;
mod pages;
mod passkeys;
mod quotas;
mod redis_cost;
mod rotation;
mod sessions;
mod storage;
mod token_agreement;

use std::future::Future;
use std::pin::Pin;

use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::Stack;

pub type Outcome = Result<(), BoxError>;
pub type TestFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

pub struct Test {
    pub name: &'static str,
    pub exclusive: bool,
    pub run: fn(&'static Stack) -> TestFuture,
}

/// Declares tests: `tests![module::name, ...]`, `exclusive` ones after a `;`.
#[macro_export]
macro_rules! tests {
    ($($f:ident),* $(,)? $(; exclusive: $($x:ident),* $(,)?)?) => {
        pub fn tests() -> Vec<$crate::suite::Test> {
            vec![
                $($crate::suite::Test {
                    name: concat!(module_path!(), "::", stringify!($f)),
                    exclusive: false,
                    run: |s| Box::pin($f(s)),
                },)*
                $($($crate::suite::Test {
                    name: concat!(module_path!(), "::", stringify!($x)),
                    exclusive: true,
                    run: |s| Box::pin($x(s)),
                },)*)?
            ]
        }
    };
}

pub fn all() -> Vec<Test> {
    let mut all = Vec::new();
    all.extend(flows::tests());
    all.extend(attacks::tests());
    all.extend(cors::tests());
    all.extend(csrf::tests());
    all.extend(sessions::tests());
    all.extend(limits::tests());
    all.extend(lockout::tests());
    all.extend(mfa::tests());
    all.extend(passkeys::tests());
    all.extend(quotas::tests());
    all.extend(rotation::tests());
    all.extend(identity::tests());
    all.extend(bridge::tests());
    all.extend(operations::tests());
    all.extend(browser::tests());
    all.extend(token_agreement::tests());
    all.extend(documentation::tests());
    all.extend(email::tests());
    all.extend(lifetimes::tests());
    all.extend(budgets::tests());
    all.extend(forgery::tests());
    all.extend(redis_cost::tests());
    all.extend(durability::tests());
    all.extend(storage::tests());
    all.extend(headers::tests());
    all.extend(origin_trust::tests());
    all.extend(gateway::tests());
    all.extend(navigation::tests());
    all.extend(pages::tests());
    all
}

/// Fails the test with a message (instead of panicking) when the condition is false.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}
