//! Typed plugin settings: the job's `[plugins.config]` table parsed into a struct of
//! the plugin's own, with errors that name the key. A plugin crate needs no `serde`
//! or `toml` dependency of its own: derive through the SDK's re-export.
//! (`no_run`: a doctest binary would have no rpath to libtorch; the unit tests below and
//! the crate `memscope plugins new` writes run these lines.)
//!
//! ```no_run
//! use memscope_sdk::settings::{parse, Deserialize};
//!
//! /// The plugin's settings (the doc comments are its user docs).
//! #[derive(Debug, Deserialize)]
//! #[serde(crate = "memscope_sdk::serde", deny_unknown_fields, default)]
//! struct Settings {
//!     /// Draws per sample.
//!     draws: usize,
//!     /// Step size.
//!     h: f64,
//! }
//!
//! impl Default for Settings {
//!     fn default() -> Self {
//!         Settings { draws: 10, h: 1e-3 }
//!     }
//! }
//!
//! let s: Settings = parse("h = 1e-4\n").unwrap();
//! assert_eq!((s.draws, s.h), (10, 1e-4));
//! let err = parse::<Settings>("drawz = 3\n").unwrap_err();
//! assert_eq!(err.to_string(), "config: unknown key `drawz`, expected `draws` or `h`");
//! let err = parse::<Settings>("h = \"small\"\n").unwrap_err();
//! assert_eq!(err.to_string(), "config: `h`: invalid type: string \"small\", expected a number");
//! ```

use crate::PluginError;
pub use serde::de::DeserializeOwned;
pub use serde::Deserialize;

/// Settings of a plugin that takes none: any key is an error naming it.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoSettings {}

/// Parses the TOML text of the job's `[plugins.config]` table (what
/// [`crate::Plugin::create`] receives) into `T`. Give `T` `deny_unknown_fields`, so a
/// misspelt key is an error rather than a silently ignored setting. Errors start with
/// `config:` and name the key.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, PluginError> {
    toml::from_str(text).map_err(|e| PluginError(format!("config: {}", describe(text, &e))))
}

/// toml's message with the key it concerns, in words a TOML author uses.
fn describe(text: &str, e: &toml::de::Error) -> String {
    let message = e
        .message()
        .trim()
        .replace("unknown field", "unknown key")
        .replace("missing field", "missing key")
        .replace("expected f64", "expected a number")
        .replace("expected f32", "expected a number")
        .replace("expected usize", "expected a non-negative integer")
        .replace("expected u64", "expected a non-negative integer")
        .replace("expected u32", "expected a non-negative integer")
        .replace("expected one of", "expected")
        .replace('\n', " ");
    let message = one_of(&message);
    if ["unknown key", "missing key", "duplicate"].iter().any(|p| message.starts_with(p)) {
        return message; // It names the key already.
    }
    match e.span().and_then(|span| key_at(text, span.start)) {
        Some(key) => format!("`{key}`: {message}"),
        None => message,
    }
}

/// `expected `a`, `b`, `c`` as `expected `a`, `b` or `c``.
fn one_of(message: &str) -> String {
    match message.rfind(", `") {
        Some(i) if message[..i].contains("expected `") => format!("{} or {}", &message[..i], &message[i + 2..]),
        _ => message.to_string(),
    }
}

/// The dotted key of the `key = value` line holding byte `offset`, with the
/// `[table]` header above it.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset.min(text.len()))?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    let table = before[..line_start]
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('['))
        .map(|l| l.trim().trim_matches(['[', ']']).trim().to_string());
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        rate: f64,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        count: usize,
        #[serde(default)]
        inner: Option<Inner>,
    }

    #[test]
    fn errors_name_the_key_and_say_what_is_wrong() {
        let err = parse::<Settings>("count = -1\n").unwrap_err().to_string();
        assert_eq!(err, "config: `count`: invalid value: integer `-1`, expected a non-negative integer");
        let err = parse::<Settings>("").unwrap_err().to_string();
        assert_eq!(err, "config: missing key `count`");
        let err = parse::<Settings>("count = 1\n[inner]\nrate = \"x\"\n").unwrap_err().to_string();
        assert_eq!(err, "config: `inner.rate`: invalid type: string \"x\", expected a number");
        let err = parse::<Settings>("count = 1\nextra = 2\n").unwrap_err().to_string();
        assert_eq!(err, "config: unknown key `extra`, expected `count` or `inner`");
    }

    #[test]
    fn a_plugin_without_settings_names_any_key_given() {
        assert!(parse::<NoSettings>("").is_ok());
        let err = parse::<NoSettings>("k = 1\n").unwrap_err().to_string();
        assert!(err.starts_with("config: unknown key `k`"), "{err}");
    }
}
