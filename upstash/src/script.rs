//! Lua scripts identified by their SHA1, run with `EVALSHA` and an `EVAL` fallback.

use std::fmt;
use std::sync::Arc;

use sha1::{Digest, Sha1};

use crate::command::{cmd, Arg, Command};

/// A Lua script and its SHA1 (computed once). Cheap to clone.
///
/// [`Script::invoke`] builds an `EVALSHA` command that the client automatically
/// retries as `EVAL` when Redis answers `NOSCRIPT` (after a restart or `SCRIPT FLUSH`);
/// that `EVAL` also loads the script, so later calls hit the cache again.
#[derive(Clone)]
pub struct Script {
    inner: Arc<ScriptInner>,
}

struct ScriptInner {
    source: String,
    sha1: String,
}

impl Script {
    /// Wraps Lua source and computes its SHA1.
    pub fn new(source: impl Into<String>) -> Self {
        let source = source.into();
        let digest = Sha1::digest(source.as_bytes());
        let sha1 = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        Script {
            inner: Arc::new(ScriptInner { source, sha1 }),
        }
    }

    /// The Lua source.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// The lowercase hex SHA1 of the source, as `EVALSHA` and `SCRIPT LOAD` use it.
    pub fn sha1(&self) -> &str {
        &self.inner.sha1
    }

    /// `EVALSHA sha numkeys keys… args…`, retried as `EVAL` on `NOSCRIPT` by
    /// [`UpstashClient::execute`](crate::UpstashClient::execute) and
    /// [`UpstashClient::pipeline`](crate::UpstashClient::pipeline).
    pub fn invoke<K, A>(&self, keys: K, args: A) -> Command
    where
        K: IntoIterator,
        K::Item: Into<Arg>,
        A: IntoIterator,
        A::Item: Into<Arg>,
    {
        script_command("EVALSHA", self.sha1(), keys, args).with_fallback(self.clone())
    }

    /// `EVAL source numkeys keys… args…` (always works, sends the whole source).
    pub fn eval<K, A>(&self, keys: K, args: A) -> Command
    where
        K: IntoIterator,
        K::Item: Into<Arg>,
        A: IntoIterator,
        A::Item: Into<Arg>,
    {
        script_command("EVAL", self.source(), keys, args)
    }

    /// `SCRIPT LOAD source`, which answers the SHA1.
    pub fn load(&self) -> Command {
        cmd("SCRIPT").arg("LOAD").arg(self.source())
    }
}

fn script_command<K, A>(name: &str, script: &str, keys: K, args: A) -> Command
where
    K: IntoIterator,
    K::Item: Into<Arg>,
    A: IntoIterator,
    A::Item: Into<Arg>,
{
    let keys: Vec<Arg> = keys.into_iter().map(Into::into).collect();
    cmd(name).arg(script).arg(keys.len()).args(keys).args(args)
}

impl PartialEq for Script {
    fn eq(&self, other: &Self) -> bool {
        self.inner.sha1 == other.inner.sha1
    }
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Script")
            .field("sha1", &self.sha1())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_redis() {
        // `redis-cli SCRIPT LOAD "return 1"` answers this digest.
        let script = Script::new("return 1");
        assert_eq!(script.sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    }

    #[test]
    fn invoke_builds_evalsha_with_eval_fallback() {
        let script = Script::new("return KEYS[1]");
        let invoke = script.invoke(["k1", "k2"], [Arg::from("a"), Arg::from(5)]);
        let expected = format!(r#"["EVALSHA","{}",2,"k1","k2","a",5]"#, script.sha1());
        assert_eq!(serde_json::to_string(&invoke).unwrap(), expected);

        let eval = invoke.eval_fallback().unwrap();
        assert_eq!(
            serde_json::to_string(&eval).unwrap(),
            r#"["EVAL","return KEYS[1]",2,"k1","k2","a",5]"#
        );
        assert_eq!(
            eval,
            script.eval(["k1", "k2"], [Arg::from("a"), Arg::from(5)])
        );
        assert!(eval.eval_fallback().is_none());
    }

    #[test]
    fn load_command() {
        let script = Script::new("return 1");
        assert_eq!(
            serde_json::to_string(&script.load()).unwrap(),
            r#"["SCRIPT","LOAD","return 1"]"#
        );
    }
}
