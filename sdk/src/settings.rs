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
//!
//! [`parse_checked`] finds every problem at once (each unknown or mistyped key, then the
//! plugin's own checks of the values), for [`crate::Plugin::check_settings`]: the daemon
//! refuses a job whose plugin settings are wrong when it is submitted, listing them all.
//!
//! ```no_run
//! # use memscope_sdk::settings::{parse_checked, Deserialize, SettingProblem};
//! # #[derive(Debug, Deserialize)]
//! # #[serde(crate = "memscope_sdk::serde", deny_unknown_fields, default)]
//! # struct Settings { draws: usize, h: f64 }
//! # impl Default for Settings { fn default() -> Self { Settings { draws: 10, h: 1e-3 } } }
//! fn problems(s: &Settings) -> Vec<SettingProblem> {
//!     let mut found = Vec::new();
//!     if s.draws == 0 {
//!         found.push(SettingProblem::new("draws", "must be at least 1"));
//!     }
//!     found
//! }
//! let all = parse_checked::<Settings>("draws = 0\nbogus = 3\n", problems).unwrap_err();
//! let keys: Vec<&str> = all.iter().map(|p| p.key.as_str()).collect();
//! assert_eq!(keys, ["bogus", "draws"]);
//! ```

use crate::PluginError;
pub use serde::de::DeserializeOwned;
pub use serde::Deserialize;
use std::fmt;

/// One thing wrong with a plugin's settings: the dotted key it concerns (empty for the
/// table as a whole) and what is wrong. The daemon reports it as
/// `plugins[N].config.KEY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingProblem {
    /// Dotted key inside the plugin's `config` table, or empty.
    pub key: String,
    /// What is wrong and what would be right.
    pub message: String,
}

impl SettingProblem {
    /// A problem with `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        SettingProblem { key: key.into(), message: message.into() }
    }
}

impl fmt::Display for SettingProblem {
    /// `` `key`: message ``, or the message alone when it names the key already.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let leaf = self.key.rsplit('.').next().unwrap_or_default();
        if self.key.is_empty() || self.message.contains(&format!("`{leaf}`")) {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.key, self.message)
        }
    }
}

/// The problems as one error of `create`: `config: ` and each problem, joined by `; `.
impl From<Vec<SettingProblem>> for PluginError {
    fn from(problems: Vec<SettingProblem>) -> Self {
        let each: Vec<String> = problems.iter().map(SettingProblem::to_string).collect();
        PluginError(format!("config: {}", each.join("; ")))
    }
}

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

/// Parses `text` into `T` like [`parse`], then runs the plugin's own checks of the
/// values (`validate`), and returns every problem found: a key that is unknown or of
/// the wrong type is reported and left out, and parsing goes on without it (so the
/// next one is found too), until `T` parses or a problem names no key it could leave
/// out (a missing key). `validate` runs when `T` parses.
pub fn parse_checked<T: DeserializeOwned>(text: &str, validate: impl FnOnce(&T) -> Vec<SettingProblem>) -> Result<T, Vec<SettingProblem>> {
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| vec![SettingProblem::new("", describe(text, &e))])?;
    let mut problems = Vec::new();
    let mut current = text.to_string();
    loop {
        match toml::from_str::<T>(&current) {
            Ok(value) => {
                problems.extend(validate(&value));
                return if problems.is_empty() { Ok(value) } else { Err(problems) };
            }
            Err(e) => {
                let message = message(&e);
                if message.starts_with("missing key") {
                    // Nothing to leave out: the search ends here.
                    problems.push(SettingProblem::new(quoted(&message).unwrap_or_default(), message));
                    return Err(problems);
                }
                let named = message.starts_with("unknown key").then(|| quoted(&message)).flatten();
                let key = e.span().and_then(|span| key_at(&current, span.start)).or(named);
                problems.push(SettingProblem::new(key.clone().unwrap_or_default(), message));
                match key {
                    Some(key) if remove(&mut table, &key) => current = toml::to_string(&table).unwrap_or_default(),
                    _ => return Err(problems),
                }
            }
        }
    }
}

/// The problems [`parse_checked`] finds, none when the settings are good: what a
/// plugin's [`crate::Plugin::check_settings`] returns.
pub fn check<T: DeserializeOwned>(text: &str, validate: impl FnOnce(&T) -> Vec<SettingProblem>) -> Vec<SettingProblem> {
    parse_checked(text, validate).err().unwrap_or_default()
}

/// Removes the dotted `key` from `table`; whether it was there.
fn remove(table: &mut toml::Table, key: &str) -> bool {
    match key.split_once('.') {
        Some((head, rest)) => table.get_mut(head).and_then(|v| v.as_table_mut()).is_some_and(|t| remove(t, rest)),
        None => table.remove(key).is_some(),
    }
}

/// The first name in backquotes in `message` (the key of `unknown key `x`` and
/// `missing key `x``).
fn quoted(message: &str) -> Option<String> {
    let (_, rest) = message.split_once('`')?;
    rest.split_once('`').map(|(key, _)| key.to_string())
}

/// toml's message with the key it concerns, in words a TOML author uses.
fn describe(text: &str, e: &toml::de::Error) -> String {
    let message = message(e);
    if ["unknown key", "missing key", "duplicate"].iter().any(|p| message.starts_with(p)) {
        return message; // It names the key already.
    }
    match e.span().and_then(|span| key_at(text, span.start)) {
        Some(key) => format!("`{key}`: {message}"),
        None => message,
    }
}

/// toml's message in words a TOML author uses, on one line.
fn message(e: &toml::de::Error) -> String {
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
    one_of(&message)
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

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Defaults {
        draws: usize,
        h: f64,
        inner: Option<Inner>,
    }

    impl Default for Defaults {
        fn default() -> Self {
            Defaults { draws: 10, h: 1e-3, inner: None }
        }
    }

    fn positive(s: &Defaults) -> Vec<SettingProblem> {
        let mut found = Vec::new();
        if s.draws == 0 {
            found.push(SettingProblem::new("draws", "must be at least 1"));
        }
        if s.h <= 0.0 {
            found.push(SettingProblem::new("h", format!("{} is not a positive step", s.h)));
        }
        found
    }

    #[test]
    fn every_problem_is_found_at_once_each_with_its_key() {
        let text = "draws = 0\nbogus = 3\nh = \"big\"\nother = 1\n[inner]\nrate = 1.0\nextra = 2\n";
        let problems = parse_checked::<Defaults>(text, positive).unwrap_err();
        let found: Vec<(&str, &str)> = problems.iter().map(|p| (p.key.as_str(), p.message.as_str())).collect();
        assert_eq!(
            found,
            [
                ("bogus", "unknown key `bogus`, expected `draws`, `h` or `inner`"),
                ("h", "invalid type: string \"big\", expected a number"),
                ("inner.extra", "unknown key `extra`, expected `rate`"),
                ("other", "unknown key `other`, expected `draws`, `h` or `inner`"),
                ("draws", "must be at least 1"),
            ]
        );
        let error = PluginError::from(problems).to_string();
        assert!(error.starts_with("config: unknown key `bogus`, expected `draws`, `h` or `inner`; `h`: invalid type"), "{error}");
        assert!(error.ends_with("; unknown key `other`, expected `draws`, `h` or `inner`; `draws`: must be at least 1"), "{error}");
        assert_eq!(check::<Defaults>("draws = 2\n", positive), []);
        assert_eq!(parse_checked::<Defaults>("draws = 2\n", positive).unwrap().draws, 2);
    }

    #[test]
    fn a_missing_key_or_bad_toml_ends_the_search() {
        let problems = parse_checked::<Settings>("extra = 1\n", |_| Vec::new()).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["extra", "count"]);
        assert_eq!(problems[1].message, "missing key `count`");
        let problems = parse_checked::<Settings>("count = \n", |_| Vec::new()).unwrap_err();
        assert_eq!((problems.len(), problems[0].key.as_str()), (1, ""));
        assert!(problems[0].message.contains("expected"), "{}", problems[0].message);
    }
}
