//! Redis commands as the Upstash REST protocol sends them: a JSON array of arguments.

use serde::ser::{Error as _, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::script::Script;

/// One argument of a command.
///
/// JSON has no byte strings, so [`Arg::Bytes`] must hold UTF-8 when it is sent;
/// otherwise the call fails with [`Error::InvalidArgument`](crate::Error::InvalidArgument)
/// before anything goes on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A text argument, sent as a JSON string.
    Text(String),
    /// A byte-string argument, sent as a JSON string (must be UTF-8).
    Bytes(Vec<u8>),
    /// An integer, sent as a JSON number (Upstash and the official SDK do the same).
    Int(i64),
}

impl Serialize for Arg {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Arg::Text(text) => serializer.serialize_str(text),
            Arg::Bytes(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => serializer.serialize_str(text),
                Err(_) => Err(S::Error::custom(
                    "argument is not UTF-8; the Upstash REST protocol carries JSON strings only",
                )),
            },
            Arg::Int(n) => serializer.serialize_i64(*n),
        }
    }
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Arg::Text(value.to_owned())
    }
}
impl From<String> for Arg {
    fn from(value: String) -> Self {
        Arg::Text(value)
    }
}
impl From<&String> for Arg {
    fn from(value: &String) -> Self {
        Arg::Text(value.clone())
    }
}
impl From<&[u8]> for Arg {
    fn from(value: &[u8]) -> Self {
        Arg::Bytes(value.to_vec())
    }
}
impl From<Vec<u8>> for Arg {
    fn from(value: Vec<u8>) -> Self {
        Arg::Bytes(value)
    }
}
impl From<&Arg> for Arg {
    fn from(value: &Arg) -> Self {
        value.clone()
    }
}
impl From<f64> for Arg {
    /// Floats go as text (`1.5`, `inf`), which Redis parses exactly.
    fn from(value: f64) -> Self {
        Arg::Text(value.to_string())
    }
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg {
            fn from(value: $t) -> Self {
                Arg::Int(i64::from(value))
            }
        }
    )*};
}
int_arg!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! wide_int_arg {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg {
            /// Values beyond `i64` go as text, which Redis still parses where it allows them.
            fn from(value: $t) -> Self {
                i64::try_from(value).map_or_else(|_| Arg::Text(value.to_string()), Arg::Int)
            }
        }
    )*};
}
wide_int_arg!(u64, usize, isize);

/// A Redis command: its name followed by its arguments.
///
/// Build one with [`cmd`]: `cmd("SET").arg("k").arg("v").arg("EX").arg(100)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    args: Vec<Arg>,
    /// Set for `EVALSHA` built from a [`Script`]: lets the client retry as `EVAL` on `NOSCRIPT`.
    fallback: Option<Script>,
}

/// Starts a command with the given name, e.g. `cmd("GET")`.
pub fn cmd(name: &str) -> Command {
    Command::new(name)
}

impl Command {
    /// Starts a command with the given name.
    pub fn new(name: &str) -> Self {
        Command {
            args: vec![Arg::from(name)],
            fallback: None,
        }
    }

    /// Appends one argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<Arg>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends every argument of an iterator.
    #[must_use]
    pub fn args<I>(mut self, args: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Arg>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The name and arguments, in wire order.
    pub fn as_args(&self) -> &[Arg] {
        &self.args
    }

    /// The command name as given (e.g. `"SET"`).
    pub fn name(&self) -> &str {
        match self.args.first() {
            Some(Arg::Text(name)) => name,
            _ => "",
        }
    }

    pub(crate) fn with_fallback(mut self, script: Script) -> Self {
        self.fallback = Some(script);
        self
    }

    /// The `EVAL` twin of an `EVALSHA` built by [`Script::invoke`]; `None` for other commands.
    pub fn eval_fallback(&self) -> Option<Command> {
        let script = self.fallback.as_ref()?;
        let mut args = self.args.clone();
        *args.get_mut(0)? = Arg::from("EVAL");
        *args.get_mut(1)? = Arg::from(script.source());
        Some(Command {
            args,
            fallback: None,
        })
    }
}

impl Serialize for Command {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.args.len()))?;
        for arg in &self.args {
            seq.serialize_element(arg)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(command: &Command) -> String {
        serde_json::to_string(command).unwrap()
    }

    #[test]
    fn serializes_as_json_array_with_numbers() {
        let set = cmd("SET").arg("k").arg("v").arg("EX").arg(100);
        assert_eq!(json(&set), r#"["SET","k","v","EX",100]"#);
    }

    #[test]
    fn serializes_bytes_floats_and_wide_integers() {
        let command = cmd("X")
            .arg(b"raw".as_slice())
            .arg(1.5)
            .arg(u64::MAX)
            .arg(-3i32)
            .arg(7usize);
        assert_eq!(
            json(&command),
            r#"["X","raw","1.5","18446744073709551615",-3,7]"#
        );
    }

    #[test]
    fn escapes_json_special_characters() {
        let command = cmd("SET").arg("k").arg("a\"b\\c\n{\"x\":1}");
        let back: Vec<String> = serde_json::from_str(&json(&command)).unwrap();
        assert_eq!(back[2], "a\"b\\c\n{\"x\":1}");
    }

    #[test]
    fn rejects_non_utf8_bytes() {
        let command = cmd("SET").arg("k").arg(vec![0xff, 0xfe]);
        assert!(serde_json::to_string(&command).is_err());
    }

    #[test]
    fn args_appends_in_order() {
        let command = cmd("DEL").args(["a", "b"]);
        assert_eq!(command.name(), "DEL");
        assert_eq!(json(&command), r#"["DEL","a","b"]"#);
    }

    #[test]
    fn plain_commands_have_no_eval_fallback() {
        assert!(cmd("EVALSHA").arg("abc").arg(0).eval_fallback().is_none());
    }
}
