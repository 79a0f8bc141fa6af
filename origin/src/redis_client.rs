//! The Upstash client as the store uses it, timing every call and counting failures per operation.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use edgeauth_upstash::{Arg, Command, RedisError, Script, UpstashClient, Value};

use crate::telemetry::{REDIS_CALL_SECONDS, REDIS_ERRORS};

/// Same calls as [`UpstashClient`]; each one records `edgeauth_redis_call_duration_seconds`
/// and, on failure, `edgeauth_redis_errors_total`, labelled with the command or script name.
#[derive(Clone)]
pub struct MeteredRedis {
    inner: UpstashClient,
    /// Script SHA1 → readable name, so script calls are labelled `login_gate`, not `EVALSHA`.
    script_names: Arc<HashMap<String, &'static str>>,
}

impl MeteredRedis {
    pub fn new(inner: UpstashClient, scripts: &[(&'static str, &Script)]) -> Self {
        let script_names = scripts
            .iter()
            .map(|(name, script)| (script.sha1().to_owned(), *name))
            .collect();
        Self {
            inner,
            script_names: Arc::new(script_names),
        }
    }

    pub async fn execute(&self, command: &Command) -> edgeauth_upstash::Result<Value> {
        let op = self.op_of(command);
        timed(op, self.inner.execute(command)).await
    }

    pub async fn eval_script<K, A>(
        &self,
        script: &Script,
        keys: K,
        args: A,
    ) -> edgeauth_upstash::Result<Value>
    where
        K: IntoIterator,
        K::Item: Into<Arg>,
        A: IntoIterator,
        A::Item: Into<Arg>,
    {
        let op = self.script_name(script.sha1());
        timed(op, self.inner.eval_script(script, keys, args)).await
    }

    pub async fn pipeline(
        &self,
        commands: &[Command],
    ) -> edgeauth_upstash::Result<Vec<Result<Value, RedisError>>> {
        timed("pipeline", self.inner.pipeline(commands)).await
    }

    pub async fn ping(&self) -> edgeauth_upstash::Result<()> {
        timed("PING", self.inner.ping()).await
    }

    fn op_of(&self, command: &Command) -> String {
        let name = command.name().to_ascii_uppercase();
        match (name.as_str(), command.as_args().get(1)) {
            ("EVALSHA", Some(Arg::Text(sha))) => self.script_name(sha).to_owned(),
            _ => name,
        }
    }

    fn script_name(&self, sha: &str) -> &'static str {
        self.script_names.get(sha).copied().unwrap_or("script")
    }
}

async fn timed<T>(
    op: impl Into<String>,
    call: impl Future<Output = edgeauth_upstash::Result<T>>,
) -> edgeauth_upstash::Result<T> {
    let op: String = op.into();
    let started = Instant::now();
    let result = call.await;
    metrics::histogram!(REDIS_CALL_SECONDS, "op" => op.clone())
        .record(started.elapsed().as_secs_f64());
    if result.is_err() {
        metrics::counter!(REDIS_ERRORS, "op" => op).increment(1);
    }
    result
}
