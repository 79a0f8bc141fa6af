//! Redis reply values and their decoding from Upstash JSON (plain or base64-encoded).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::error::ValueError;

/// A Redis reply.
///
/// Upstash JSON cannot tell a status reply from a bulk string, so both are
/// [`Value::Bytes`]; `SET` answers `Bytes(b"OK")` (see [`Value::is_ok`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A missing value (`null`).
    Nil,
    /// An integer reply.
    Int(i64),
    /// A bulk string or status reply.
    Bytes(Vec<u8>),
    /// An array reply.
    Array(Vec<Value>),
}

impl Value {
    /// A short name of the variant, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Int(_) => "integer",
            Value::Bytes(_) => "string",
            Value::Array(_) => "array",
        }
    }

    /// Whether this is nil.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// Whether this is the `OK` status reply.
    pub fn is_ok(&self) -> bool {
        matches!(self, Value::Bytes(bytes) if bytes == b"OK")
    }

    /// The bytes of a string reply.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// The text of a string reply, if it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes()
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
    }

    /// An integer reply, or a string reply holding a decimal integer
    /// (`GET` of a counter returns a string).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            Value::Bytes(_) => self.as_str()?.parse().ok(),
            _ => None,
        }
    }

    /// The items of an array reply.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// `None` for nil, the value otherwise: `value.into_option().map(Value::into_string)`.
    pub fn into_option(self) -> Option<Value> {
        match self {
            Value::Nil => None,
            other => Some(other),
        }
    }

    /// The bytes of a string reply.
    pub fn into_bytes(self) -> Result<Vec<u8>, ValueError> {
        match self {
            Value::Bytes(bytes) => Ok(bytes),
            other => Err(other.mismatch("string")),
        }
    }

    /// The text of a UTF-8 string reply.
    pub fn into_string(self) -> Result<String, ValueError> {
        match self {
            Value::Bytes(bytes) => String::from_utf8(bytes).map_err(|_| ValueError {
                expected: "UTF-8 string",
                found: "non-UTF-8 bytes",
            }),
            other => Err(other.mismatch("string")),
        }
    }

    /// An integer, also from a string reply holding a decimal integer.
    pub fn into_i64(self) -> Result<i64, ValueError> {
        self.as_i64().ok_or_else(|| self.mismatch("integer"))
    }

    /// The items of an array reply.
    pub fn into_array(self) -> Result<Vec<Value>, ValueError> {
        match self {
            Value::Array(items) => Ok(items),
            other => Err(other.mismatch("array")),
        }
    }

    fn mismatch(&self, expected: &'static str) -> ValueError {
        ValueError {
            expected,
            found: self.kind(),
        }
    }

    /// Decodes a `result` field. With `base64`, every string except a bare `OK`
    /// is base64 of the real bytes (what `Upstash-Encoding: base64` asks for).
    pub(crate) fn from_json(json: serde_json::Value, base64: bool) -> Result<Value, String> {
        Ok(match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Number(n) => Value::Int(
                n.as_i64()
                    .ok_or_else(|| format!("number {n} is not a 64-bit integer"))?,
            ),
            serde_json::Value::String(text) if !base64 || text == "OK" => {
                Value::Bytes(text.into_bytes())
            }
            serde_json::Value::String(text) => Value::Bytes(
                STANDARD
                    .decode(text.as_bytes())
                    .map_err(|err| format!("string is not valid base64 ({err})"))?,
            ),
            serde_json::Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|item| Value::from_json(item, base64))
                    .collect::<Result<_, _>>()?,
            ),
            serde_json::Value::Bool(_) => return Err("unexpected boolean".into()),
            serde_json::Value::Object(_) => return Err("unexpected object".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(json: serde_json::Value, base64: bool) -> Result<Value, String> {
        Value::from_json(json, base64)
    }

    #[test]
    fn decodes_plain_json() {
        assert_eq!(decode(json!(null), false), Ok(Value::Nil));
        assert_eq!(decode(json!(42), false), Ok(Value::Int(42)));
        assert_eq!(decode(json!("hi"), false), Ok(Value::Bytes(b"hi".to_vec())));
        assert_eq!(
            decode(json!(["a", 1, null, ["b"]]), false),
            Ok(Value::Array(vec![
                Value::Bytes(b"a".to_vec()),
                Value::Int(1),
                Value::Nil,
                Value::Array(vec![Value::Bytes(b"b".to_vec())]),
            ]))
        );
    }

    #[test]
    fn decodes_base64_strings_recursively_but_not_ok() {
        // "aGk=" = "hi", "/w==" = 0xff (binary-safe).
        assert_eq!(
            decode(json!("aGk="), true),
            Ok(Value::Bytes(b"hi".to_vec()))
        );
        assert_eq!(decode(json!("/w=="), true), Ok(Value::Bytes(vec![0xff])));
        assert!(decode(json!("OK"), true).unwrap().is_ok());
        assert_eq!(decode(json!(""), true), Ok(Value::Bytes(Vec::new())));
        assert_eq!(
            decode(json!(["aGk=", 7, null, ["T0s=", "OK"]]), true),
            Ok(Value::Array(vec![
                Value::Bytes(b"hi".to_vec()),
                Value::Int(7),
                Value::Nil,
                Value::Array(vec![
                    Value::Bytes(b"OK".to_vec()),
                    Value::Bytes(b"OK".to_vec())
                ]),
            ]))
        );
    }

    #[test]
    fn rejects_undecodable_replies_without_panicking() {
        assert!(decode(json!("not base64!"), true).is_err());
        assert!(decode(json!(1.5), false).is_err());
        assert!(decode(json!(u64::MAX), false).is_err());
        assert!(decode(json!(true), false).is_err());
        assert!(decode(json!({"a": 1}), false).is_err());
        assert!(decode(json!([["x", {"a": 1}]]), false).is_err());
    }

    #[test]
    fn accessors_and_conversions() {
        let counter = Value::Bytes(b"12".to_vec());
        assert_eq!(counter.as_i64(), Some(12));
        assert_eq!(counter.as_str(), Some("12"));
        assert_eq!(counter.clone().into_i64(), Ok(12));
        assert_eq!(Value::Int(3).into_i64(), Ok(3));
        assert!(Value::Nil.is_nil());
        assert_eq!(Value::Nil.into_option(), None);
        assert_eq!(
            Value::Nil.into_string(),
            Err(ValueError {
                expected: "string",
                found: "nil"
            })
        );
        assert_eq!(
            Value::Bytes(b"x".to_vec()).into_i64(),
            Err(ValueError {
                expected: "integer",
                found: "string"
            })
        );
        assert!(Value::Bytes(vec![0xff]).into_string().is_err());
        assert_eq!(Value::Int(1).into_array().unwrap_err().found, "integer");
        assert_eq!(
            Value::Array(vec![Value::Int(1)]).as_array(),
            Some(&[Value::Int(1)][..])
        );
    }
}
