//! Reading a job config: TOML text, `--set` overrides, paths made absolute.

use super::{ConfigError, JobConfig};
use std::path::Path;

/// Reads, overrides, parses and validates a job config file. Relative data and model paths are
/// resolved against the file's directory, made absolute: the resolved config is
/// written into the run directory, and `memscope report` / `--resume` read it back
/// from another directory and possibly another working directory.
pub fn load_job_file(path: &Path, overrides: &[String]) -> Result<JobConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let base = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
    parse_job(&text, &path.display().to_string(), overrides, &base)
}

/// Parses a job config from text. `origin` names it in errors.
pub fn parse_job(
    text: &str,
    origin: &str,
    overrides: &[String],
    base_dir: &Path,
) -> Result<JobConfig, ConfigError> {
    let text = apply_overrides(text, origin, overrides)?;
    let job = parse_job_unchecked(&text, origin, base_dir)?;
    let problems = job.validate();
    if problems.is_empty() {
        Ok(job)
    } else {
        Err(ConfigError::Invalid { origin: origin.to_string(), problems })
    }
}

/// Parses a job config and makes its paths absolute, without `validate()`: for
/// callers (the daemon) that add problems of their own to the list.
pub fn parse_job_unchecked(text: &str, origin: &str, base_dir: &Path) -> Result<JobConfig, ConfigError> {
    let mut job: JobConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
        origin: origin.to_string(),
        message: one_line(text, e.message(), e.span()),
    })?;
    resolve_paths(&mut job, base_dir);
    Ok(job)
}

/// Applies `key.path=value` overrides by editing the document, so the schema check
/// that follows reports line and column in the text as edited. A value that is not
/// valid TOML is taken as a string (`--set name=run2`).
fn apply_overrides(text: &str, origin: &str, overrides: &[String]) -> Result<String, ConfigError> {
    if overrides.is_empty() {
        return Ok(text.to_string());
    }
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| ConfigError::Parse {
        origin: origin.to_string(),
        message: one_line(text, e.message(), e.span()),
    })?;
    for assignment in overrides {
        let bad = |message: &str| ConfigError::Override {
            assignment: assignment.clone(),
            message: message.to_string(),
        };
        let (key, raw) = assignment.split_once('=').ok_or_else(|| bad("expected key=value"))?;
        let parts: Vec<&str> = key.trim().split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad("empty key segment"));
        }
        let value = parse_value(raw.trim());
        let mut table = doc.as_table_mut();
        for part in &parts[..parts.len() - 1] {
            let entry = table
                .entry(part)
                .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
            if let Some(inline) = entry.as_inline_table_mut() {
                let owned = std::mem::take(inline).into_table();
                *entry = toml_edit::Item::Table(owned);
            }
            table = entry
                .as_table_mut()
                .ok_or_else(|| bad(&format!("`{part}` is not a table")))?;
        }
        table[parts[parts.len() - 1]] = toml_edit::value(value);
    }
    Ok(doc.to_string())
}

/// `line L, column C: message`, with Rust type names turned into what a TOML author
/// writes, so the error fits on one line of a terminal.
pub(super) fn one_line(text: &str, message: &str, span: Option<std::ops::Range<usize>>) -> String {
    let message = message
        .trim()
        .replace("expected usize", "expected a non-negative integer")
        .replace("expected u64", "expected a non-negative integer")
        .replace("expected f64", "expected a number")
        .replace('\n', " ");
    match span {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

fn parse_value(raw: &str) -> toml_edit::Value {
    let probe = format!("v = {raw}");
    match probe.parse::<toml_edit::DocumentMut>() {
        Ok(doc) => doc["v"].as_value().cloned().unwrap_or_else(|| raw.into()),
        Err(_) => raw.into(),
    }
}

fn resolve_paths(job: &mut JobConfig, base: &Path) {
    for dir in &mut job.plugin_dirs {
        if dir.is_relative() {
            *dir = base.join(&*dir);
        }
    }
    if let Some(path) = &mut job.model.torchscript {
        if path.is_relative() {
            *path = base.join(&*path);
        }
    }
    let data = &mut job.data;
    for path in [&mut data.path, &mut data.labels, &mut data.test_path, &mut data.test_labels, &mut data.cache_dir]
        .into_iter()
        .flatten()
    {
        if path.is_relative() {
            *path = base.join(&*path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name = \"t\"\n[data]\nformat = \"digits\"\n";

    #[test]
    fn defaults_fill_what_is_not_given() {
        let job = parse_job(MINIMAL, "<text>", &[], Path::new(".")).unwrap();
        assert_eq!(job.train.epochs, 30);
        assert_eq!(job.train.batch_size, 64);
        assert_eq!(job.score.every, 1);
    }

    #[test]
    fn overrides_edit_nested_keys_and_add_missing_tables() {
        let sets = vec!["train.epochs=3".to_string(), "name=renamed".to_string()];
        let job = parse_job(MINIMAL, "<text>", &sets, Path::new(".")).unwrap();
        assert_eq!(job.train.epochs, 3);
        assert_eq!(job.name, "renamed");
    }

    #[test]
    fn unknown_key_names_key_line_and_column() {
        let text = format!("{MINIMAL}[train]\nepochz = 3\n");
        let err = parse_job(&text, "job.toml", &[], Path::new(".")).unwrap_err().to_string();
        assert!(err.contains("epochz"), "{err}");
        assert!(err.contains("line 5"), "{err}");
    }

    #[test]
    fn wrong_type_is_reported_with_position() {
        let text = format!("{MINIMAL}[train]\nepochs = \"many\"\n");
        let err = parse_job(&text, "job.toml", &[], Path::new(".")).unwrap_err().to_string();
        assert!(err.contains("line 5"), "{err}");
        assert!(err.contains("expected a non-negative integer"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn override_without_equals_is_an_error() {
        let err = parse_job(MINIMAL, "<text>", &["train.epochs".into()], Path::new("."));
        assert!(matches!(err, Err(ConfigError::Override { .. })));
    }
}
