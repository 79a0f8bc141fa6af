//! The redis-server side: one shared, self-reconnecting connection and time-bounded calls.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, RedisError, Value};

/// Why a call to Redis produced no reply.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Redis is down, unreachable, or the connection broke.
    #[error("redis is unavailable: {0}")]
    Unavailable(#[source] RedisError),
    /// Redis did not answer within the configured bound.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis discarded a transaction (a command failed before `EXEC`); the text is Redis's.
    #[error("{0}")]
    Rejected(String),
}

/// A handle on redis-server, cheap to clone. Connects lazily and reconnects after
/// connection errors, so the bridge may start before redis and survives its restarts.
#[derive(Clone)]
pub struct Backend {
    connection: ConnectionManager,
    timeout: Duration,
}

impl Backend {
    /// Prepares a connection to `redis_url` (`redis://host:port[/db]`) without connecting yet.
    /// Every call gives up after `timeout`.
    pub fn new(redis_url: &str, timeout: Duration) -> Result<Self, RedisError> {
        let client = redis::Client::open(redis_url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200));
        let connection = client.get_connection_manager_lazy(config)?;
        Ok(Backend {
            connection,
            timeout,
        })
    }

    /// Runs one command. A Redis error reply comes back as `Ok(Value::ServerError)`.
    pub async fn command(&self, args: &[Vec<u8>]) -> Result<Value, BackendError> {
        let cmd = to_cmd(args);
        let mut connection = self.connection.clone();
        self.bounded(async move { connection.send_packed_command(&cmd).await })
            .await
    }

    /// Runs commands back to back in one round trip; each reply may be an error.
    pub async fn pipeline(&self, commands: &[Vec<Vec<u8>>]) -> Result<Vec<Value>, BackendError> {
        let pipeline = to_pipeline(commands);
        let mut connection = self.connection.clone();
        let count = commands.len();
        self.bounded(async move { connection.send_packed_commands(&pipeline, 0, count).await })
            .await
    }

    /// Runs commands inside `MULTI`/`EXEC`. The whole block is written to the shared
    /// connection at once, so no other client's command lands in between.
    pub async fn transaction(&self, commands: &[Vec<Vec<u8>>]) -> Result<Vec<Value>, BackendError> {
        let mut pipeline = to_pipeline(commands);
        pipeline.atomic();
        let mut connection = self.connection.clone();
        // Skip the replies to MULTI and to each queued command; keep EXEC's.
        let skip = commands.len() + 1;
        let replies = self
            .bounded(async move { connection.send_packed_commands(&pipeline, skip, 1).await })
            .await?;
        match replies.into_iter().next() {
            Some(Value::Array(results)) => Ok(results),
            Some(Value::ServerError(err)) => Err(BackendError::Rejected(server_error_text(&err))),
            Some(Value::Nil) => Err(BackendError::Rejected(
                "EXECABORT Transaction aborted".into(),
            )),
            other => Err(BackendError::Rejected(format!(
                "ERR unexpected EXEC reply {other:?}"
            ))),
        }
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, RedisError>>,
    ) -> Result<T, BackendError> {
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(BackendError::Timeout(self.timeout)),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) if err.is_timeout() => Err(BackendError::Timeout(self.timeout)),
            Ok(Err(err)) => match err.clone().into_server_errors() {
                Some(errors) => Err(BackendError::Rejected(aborted_text(&errors))),
                None => Err(BackendError::Unavailable(err)),
            },
        }
    }
}

fn to_cmd(args: &[Vec<u8>]) -> Cmd {
    let mut cmd = Cmd::new();
    for arg in args {
        cmd.arg(arg.as_slice());
    }
    cmd
}

fn to_pipeline(commands: &[Vec<Vec<u8>>]) -> Pipeline {
    let mut pipeline = Pipeline::with_capacity(commands.len());
    for args in commands {
        pipeline.add_command(to_cmd(args));
    }
    pipeline
}

/// The error line as Redis wrote it, e.g. `NOSCRIPT No matching script. Please use EVAL.`
pub fn server_error_text(err: &redis::ServerError) -> String {
    match err.details() {
        Some(details) => format!("{} {details}", err.code()),
        None => err.code().to_owned(),
    }
}

fn aborted_text(errors: &[(usize, redis::ServerError)]) -> String {
    match errors.first() {
        Some((index, err)) => format!(
            "EXECABORT Transaction discarded because command {} failed: {}",
            index + 1,
            server_error_text(err)
        ),
        None => "EXECABORT Transaction discarded because of previous errors.".into(),
    }
}
