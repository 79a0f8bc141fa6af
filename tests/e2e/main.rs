//! The end-to-end suite: one binary, one stack, every test against the real components.
//!
//! Tests run in parallel, each with its own users. Tests that must see the whole system quiet
//! (counting Redis commands) or that break it (stopping Redis) are marked exclusive and run
//! alone.

mod suite;

use std::sync::{Arc, RwLock};

use edgeauth_e2e::{Stack, StackOptions};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let tests = suite::all();
    let listing = args.list;
    let stack: Option<&'static Stack> = if listing {
        None
    } else {
        match Stack::start(StackOptions::default()) {
            Ok(stack) => Some(Box::leak(Box::new(stack))),
            Err(e) => {
                eprintln!("could not start the stack: {e}");
                std::process::exit(1);
            }
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => Arc::new(rt),
        Err(e) => {
            eprintln!("cannot build a runtime: {e}");
            std::process::exit(1);
        }
    };
    let gate = Arc::new(RwLock::new(()));
    let trials = tests
        .into_iter()
        .map(|test| {
            let (runtime, gate) = (runtime.clone(), gate.clone());
            let kind = if test.exclusive { "exclusive" } else { "" };
            Trial::test(test.name, move || {
                let Some(stack) = stack else {
                    return Err(Failed::from("no stack"));
                };
                let outcome = if test.exclusive {
                    let _alone = gate.write().unwrap_or_else(|e| e.into_inner());
                    runtime.block_on((test.run)(stack))
                } else {
                    let _shared = gate.read().unwrap_or_else(|e| e.into_inner());
                    runtime.block_on((test.run)(stack))
                };
                outcome.map_err(|e| Failed::from(e.to_string()))
            })
            .with_kind(kind)
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    if let Some(stack) = stack {
        if conclusion.has_failed() {
            eprintln!("process logs: {}", stack.log_dir.display());
        }
        stack.stop();
    }
    conclusion.exit();
}
