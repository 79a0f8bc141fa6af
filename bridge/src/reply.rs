//! Redis replies rendered as Upstash REST JSON, optionally with base64-encoded strings.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use redis::Value;
use serde_json::{json, Value as Json};

use crate::backend::server_error_text;

/// How strings in replies are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Strings as JSON text (non-UTF-8 bytes are replaced, as Upstash does).
    Plain,
    /// `Upstash-Encoding: base64`: every string is base64, except a top-level `OK` status,
    /// which is how the official SDK decodes them.
    Base64,
}

/// One reply as `{"result": …}` or, for an error reply, `{"error": "…"}`.
pub fn entry(value: Value, encoding: Encoding) -> Json {
    match value {
        Value::ServerError(err) => json!({ "error": server_error_text(&err) }),
        other => json!({ "result": render(other, encoding, true) }),
    }
}

/// A reply as JSON: nil → null, integers → numbers, arrays → arrays, strings → strings.
pub fn render(value: Value, encoding: Encoding, top_level: bool) -> Json {
    let text = |bytes: &[u8]| match encoding {
        Encoding::Plain => Json::String(String::from_utf8_lossy(bytes).into_owned()),
        Encoding::Base64 => Json::String(STANDARD.encode(bytes)),
    };
    let items = |values: Vec<Value>| {
        Json::Array(
            values
                .into_iter()
                .map(|value| render(value, encoding, false))
                .collect(),
        )
    };
    match value {
        Value::Nil => Json::Null,
        Value::Int(n) => json!(n),
        Value::Okay if top_level => Json::String("OK".into()),
        Value::Okay => text(b"OK"),
        Value::BulkString(bytes) => text(&bytes),
        Value::SimpleString(status) => text(status.as_bytes()),
        Value::VerbatimString { text: body, .. } => text(body.as_bytes()),
        Value::Array(values) | Value::Set(values) | Value::Push { data: values, .. } => {
            items(values)
        }
        Value::Map(pairs) => items(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()),
        Value::Attribute { data, .. } => render(*data, encoding, top_level),
        Value::Double(x) => serde_json::Number::from_f64(x)
            .map_or_else(|| text(x.to_string().as_bytes()), Json::Number),
        Value::Boolean(b) => json!(i64::from(b)),
        Value::BigNumber(digits) => text(&digits),
        Value::ServerError(err) => text(server_error_text(&err).as_bytes()),
        // `redis::Value` is non-exhaustive; RESP2 never produces anything else.
        _ => Json::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn plain_rendering() {
        assert_eq!(entry(Value::Nil, Encoding::Plain), json!({"result": null}));
        assert_eq!(entry(Value::Int(5), Encoding::Plain), json!({"result": 5}));
        assert_eq!(entry(Value::Okay, Encoding::Plain), json!({"result": "OK"}));
        assert_eq!(entry(bulk("hi"), Encoding::Plain), json!({"result": "hi"}));
        assert_eq!(
            entry(
                Value::Array(vec![bulk("a"), Value::Nil, Value::Int(2)]),
                Encoding::Plain
            ),
            json!({"result": ["a", null, 2]})
        );
    }

    fn server_error(code: &str, detail: &str) -> Value {
        let err = redis::make_extension_error(code.into(), Some(detail.into()));
        let errors = err.into_server_errors().unwrap();
        Value::ServerError(errors[0].1.clone())
    }

    #[test]
    fn error_replies_keep_redis_text() {
        let noscript = server_error("NOSCRIPT", "No matching script. Please use EVAL.");
        assert_eq!(
            entry(noscript, Encoding::Base64),
            json!({"error": "NOSCRIPT No matching script. Please use EVAL."})
        );
        let nested = Value::Array(vec![server_error("ERR", "boom")]);
        assert_eq!(
            entry(nested, Encoding::Plain),
            json!({"result": ["ERR boom"]})
        );
    }

    #[test]
    fn base64_rendering_keeps_top_level_ok_and_numbers() {
        assert_eq!(
            entry(Value::Okay, Encoding::Base64),
            json!({"result": "OK"})
        );
        assert_eq!(
            entry(bulk("hi"), Encoding::Base64),
            json!({"result": "aGk="})
        );
        assert_eq!(
            entry(Value::SimpleString("PONG".into()), Encoding::Base64),
            json!({"result": "UE9ORw=="})
        );
        assert_eq!(entry(Value::Int(7), Encoding::Base64), json!({"result": 7}));
        assert_eq!(
            entry(
                Value::Array(vec![
                    bulk("hi"),
                    Value::Array(vec![Value::Okay, Value::Int(1)])
                ]),
                Encoding::Base64
            ),
            json!({"result": ["aGk=", ["T0s=", 1]]})
        );
        assert_eq!(
            entry(Value::BulkString(vec![0xff]), Encoding::Base64),
            json!({"result": "/w=="})
        );
    }
}
