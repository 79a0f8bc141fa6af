//! The origin's settings table in docs/configuration.md, rendered from [`ServeConfig`] itself.
//!
//! The test below fails when the document and the code disagree; run it with
//! `EDGEAUTH_BLESS_DOCS=1` to rewrite the table from the code.

use clap::{Args, Command};

use crate::config::{ServeConfig, REQUIRED};

/// Markers around the generated table in docs/configuration.md.
pub const BEGIN: &str = "<!-- BEGIN origin settings: generated from origin/src/config.rs -->";
pub const END: &str = "<!-- END origin settings -->";

/// One Markdown table row per setting, in declaration order.
pub fn render() -> String {
    let command = ServeConfig::augment_args(Command::new("serve"));
    let mut out =
        String::from("| Environment variable | Default | Unit | Meaning |\n|---|---|---|---|\n");
    for arg in command.get_arguments() {
        let Some(env) = arg.get_env().and_then(|e| e.to_str()) else {
            continue;
        };
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let default = if !defaults.is_empty() {
            format!("`{}`", defaults.join(","))
        } else if REQUIRED.contains(&env) {
            "**required**".to_owned()
        } else {
            "unset".to_owned()
        };
        let help = arg
            .get_long_help()
            .or_else(|| arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        let secret = if arg.is_hide_env_values_set() {
            " *Secret.*"
        } else {
            ""
        };
        let mut meaning = one_line(&help);
        if !meaning.ends_with(['.', '!', '?']) {
            meaning.push('.');
        }
        out.push_str(&format!(
            "| `{env}` | {default} | {} | {meaning}{secret} |\n",
            unit_of(env)
        ));
    }
    out
}

/// The environment variable of a flag as clap names it in errors (`--access-ttl-secs <…>`).
pub fn env_of_flag(flag: &str) -> Option<String> {
    let long = flag.strip_prefix("--")?.split([' ', '=']).next()?;
    let command = ServeConfig::augment_args(Command::new("serve"));
    let env = command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))
        .and_then(|arg| arg.get_env())
        .and_then(|env| env.to_str())
        .map(str::to_owned);
    env
}

/// The unit a setting's name promises (`_SECS`, `_MS`, …).
pub fn unit_of(name: &str) -> &'static str {
    const SUFFIXES: &[(&str, &str)] = &[
        ("_SECS", "seconds"),
        ("_MS", "milliseconds"),
        ("_KIB", "KiB"),
        ("_BYTES", "bytes"),
        ("_LISTEN", "host:port"),
        ("_URL", "URL"),
        ("_KEYS", "JSON"),
        ("_SECRET", "base64"),
        ("_SECRET_PREVIOUS", "base64"),
        ("_MFA_KEY", "base64"),
        ("_FAILURES", "count"),
        ("_PER_IP", "count"),
        ("_PER_USER", "count"),
        ("_SUCCESSES", "count"),
        ("_PREFIX", "bits"),
        ("_THRESHOLD", "count"),
        ("_QUEUE", "count"),
        ("_CONCURRENCY", "count"),
        ("_ITERATIONS", "count"),
        ("_PARALLELISM", "count"),
        ("_PER_EMAIL", "count"),
        ("_ATTEMPTS", "count"),
    ];
    SUFFIXES
        .iter()
        .find(|(suffix, _)| name.ends_with(suffix))
        .map_or("–", |(_, unit)| unit)
}

fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// The text between `begin` and `end` in `document`, trimmed.
pub fn section<'a>(document: &'a str, begin: &str, end: &str) -> Option<&'a str> {
    let start = document.find(begin)? + begin.len();
    let stop = start + document[start..].find(end)?;
    Some(document[start..stop].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_doc_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
        let document = std::fs::read_to_string(path).unwrap_or_default();
        let table = render();
        if std::env::var_os("EDGEAUTH_BLESS_DOCS").is_some() {
            let start = document.find(BEGIN).expect("the BEGIN marker") + BEGIN.len();
            let stop = start + document[start..].find(END).expect("the END marker");
            let updated = format!("{}\n{table}{}", &document[..start], &document[stop..]);
            std::fs::write(path, updated).unwrap();
            return;
        }
        let documented = section(&document, BEGIN, END)
            .unwrap_or_else(|| panic!("{path} lacks the {BEGIN} … {END} markers"));
        assert!(
            documented == table.trim(),
            "docs/configuration.md is out of date with origin/src/config.rs; regenerate with \
             `EDGEAUTH_BLESS_DOCS=1 cargo test -p edgeauth-origin configuration_doc`. Expected:\n{table}"
        );
    }

    #[test]
    fn flags_map_to_their_environment_variables() {
        assert_eq!(
            env_of_flag("--access-ttl-secs <ACCESS_TTL_SECS>").as_deref(),
            Some("EDGEAUTH_ACCESS_TTL_SECS")
        );
        assert_eq!(env_of_flag("--nope"), None);
        assert_eq!(env_of_flag("serve"), None);
    }

    #[test]
    fn every_setting_has_an_env_var_and_help() {
        let command = ServeConfig::augment_args(Command::new("serve"));
        for arg in command.get_arguments() {
            let env = arg.get_env().and_then(|e| e.to_str());
            assert!(
                env.is_some(),
                "--{:?} has no environment variable",
                arg.get_long()
            );
            assert!(arg.get_help().is_some(), "{env:?} has no doc comment");
        }
        for required in REQUIRED {
            assert!(
                render().contains(&format!("| `{required}` | **required**")),
                "{required}"
            );
        }
    }
}
