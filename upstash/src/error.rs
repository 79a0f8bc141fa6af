//! Everything that can go wrong talking to Redis over the Upstash REST protocol.

use std::fmt;

/// An error reply from Redis itself, with its text exactly as the server sent it
/// (e.g. `NOSCRIPT No matching script. Please use EVAL.`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisError {
    message: String,
}

impl RedisError {
    /// Wraps an error text from the server.
    pub fn new(message: impl Into<String>) -> Self {
        RedisError {
            message: message.into(),
        }
    }

    /// The full error text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The leading error code by Redis convention (`ERR`, `WRONGTYPE`, `NOSCRIPT`, …).
    pub fn code(&self) -> &str {
        self.message.split_whitespace().next().unwrap_or("")
    }

    /// Whether `EVALSHA` failed because the server does not know the script.
    pub fn is_noscript(&self) -> bool {
        self.code().eq_ignore_ascii_case("NOSCRIPT")
    }
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RedisError {}

/// A [`Value`](crate::Value) was not of the type the caller asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} from redis, got {found}")]
pub struct ValueError {
    /// What the caller asked for.
    pub expected: &'static str,
    /// What the server returned.
    pub found: &'static str,
}

/// Any failure of an Upstash REST call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request did not complete: connection refused, DNS, TLS, timeout, body read.
    #[error("upstash request to {url} failed{}: {source}", if source.is_timeout() { " (timed out)" } else { "" })]
    Transport {
        /// The URL that was called.
        url: String,
        /// The underlying HTTP client error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with a non-success HTTP status that is not a Redis error
    /// (401 bad token, 413 body too large, 5xx, …).
    #[error("upstash returned HTTP {status} for {url}: {message}")]
    Http {
        /// The URL that was called.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The `error` field of the body, or the start of the raw body.
        message: String,
    },
    /// Redis rejected the command.
    #[error("redis error: {0}")]
    Redis(#[from] RedisError),
    /// The server's answer was not a valid Upstash REST response.
    #[error("invalid upstash response from {url}: {reason}")]
    Decode {
        /// The URL that was called.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A reply value had another type than expected.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// A command could not be encoded for the wire.
    #[error("cannot encode command {command}: {reason}")]
    InvalidArgument {
        /// The command name.
        command: String,
        /// Why it cannot be encoded.
        reason: String,
    },
    /// A required environment variable is missing or not Unicode.
    #[error("environment variable {name} is {problem}")]
    Env {
        /// The variable's name.
        name: &'static str,
        /// `"not set"`, `"empty"` or `"not valid Unicode"`.
        problem: &'static str,
    },
    /// The client configuration is unusable (bad URL, token, HTTP client setup).
    #[error("invalid upstash client configuration: {0}")]
    Config(String),
}

impl Error {
    /// Whether Redis could not be reached or did not answer in time. Callers guarding
    /// access should fail closed (HTTP 503) on these; they are worth a retry later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Transport { .. } => true,
            Error::Http { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// Whether the request timed out (a subset of [`Error::is_unavailable`]).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Transport { source, .. } if source.is_timeout())
    }

    /// Whether the token was rejected (HTTP 401 or 403).
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            Error::Http {
                status: 401 | 403,
                ..
            }
        )
    }

    /// The HTTP status of an [`Error::Http`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The Redis error reply, if Redis itself rejected the command.
    pub fn redis_error(&self) -> Option<&RedisError> {
        match self {
            Error::Redis(err) => Some(err),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_error_code_and_noscript() {
        let err = RedisError::new("NOSCRIPT No matching script. Please use EVAL.");
        assert_eq!(err.code(), "NOSCRIPT");
        assert!(err.is_noscript());
        assert_eq!(
            err.to_string(),
            "NOSCRIPT No matching script. Please use EVAL."
        );

        let err =
            RedisError::new("WRONGTYPE Operation against a key holding the wrong kind of value");
        assert_eq!(err.code(), "WRONGTYPE");
        assert!(!err.is_noscript());
        assert_eq!(RedisError::new("").code(), "");
    }

    #[test]
    fn classifies_http_errors() {
        let http = |status| Error::Http {
            url: "http://x/".into(),
            status,
            message: "m".into(),
        };
        assert!(http(401).is_unauthorized());
        assert!(!http(401).is_unavailable());
        assert!(http(503).is_unavailable());
        assert!(http(429).is_unavailable());
        assert!(!http(400).is_unavailable());
        assert_eq!(http(413).status(), Some(413));
        let redis = Error::from(RedisError::new("ERR boom"));
        assert!(!redis.is_unavailable());
        assert_eq!(redis.redis_error().map(RedisError::code), Some("ERR"));
    }

    #[test]
    fn env_error_names_the_variable() {
        let err = Error::Env {
            name: "UPSTASH_REDIS_REST_URL",
            problem: "not set",
        };
        assert_eq!(
            err.to_string(),
            "environment variable UPSTASH_REDIS_REST_URL is not set"
        );
    }
}
