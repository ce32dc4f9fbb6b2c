//! Reading a job config: TOML text, `--set` overrides, paths made absolute.

use super::{overrides, ConfigError, JobConfig};
use std::path::Path;

/// Reads, overrides, parses and validates a job config file. Relative data and model paths are
/// resolved against the file's directory, made absolute: the resolved config is
/// written into the run directory, and `memscope report` / `--resume` read it back
/// from another directory and possibly another working directory.
pub fn load_job_file(path: &Path, overrides: &[String]) -> Result<JobConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let base = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
    parse_job(&text, &path.display().to_string(), overrides, &base)
}

/// Parses a job config from text. `origin` names it in errors.
pub fn parse_job(text: &str, origin: &str, overrides: &[String], base_dir: &Path) -> Result<JobConfig, ConfigError> {
    let edited = apply_overrides(text, origin, overrides)?;
    let job = parse_job_unchecked(&edited, origin, base_dir).map_err(|e| blame(text, origin, overrides, base_dir, e))?;
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
    let mut job: JobConfig = toml::from_str(text)
        .map_err(|e| ConfigError::Parse { origin: origin.to_string(), message: one_line(text, e.message(), e.span()) })?;
    resolve_paths(&mut job, base_dir);
    Ok(job)
}

/// Applies `key.path=value` overrides (see `overrides.rs`) by editing the document.
fn apply_overrides(text: &str, origin: &str, overrides: &[String]) -> Result<String, ConfigError> {
    if overrides.is_empty() {
        return Ok(text.to_string());
    }
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| ConfigError::Parse {
        origin: origin.to_string(),
        message: one_line(text, e.message(), e.span()),
    })?;
    for assignment in overrides {
        overrides::apply(&mut doc, assignment).map_err(|message| ConfigError::Override { assignment: assignment.clone(), message })?;
    }
    Ok(doc.to_string())
}

/// The error to show when the config as overridden does not fit the schema. A line and
/// column of the edited document would point into text the user never wrote: when the
/// file alone parses, the first override that breaks it is named instead.
fn blame(text: &str, origin: &str, overrides: &[String], base_dir: &Path, edited: ConfigError) -> ConfigError {
    if overrides.is_empty() {
        return edited;
    }
    if let Err(own) = parse_job_unchecked(text, origin, base_dir) {
        return own;
    }
    for n in 1..=overrides.len() {
        let Ok(partial) = apply_overrides(text, origin, &overrides[..n]) else { continue };
        if let Err(e) = toml::from_str::<JobConfig>(&partial) {
            let message = one_line(&partial, e.message(), None);
            return ConfigError::Override { assignment: overrides[n - 1].clone(), message };
        }
    }
    edited
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

/// Makes every path absolute (against `base`) and normal (no `.` or `..` parts, read
/// from the text: `crate::paths::normalize_path`), so that the sources a run records
/// name each file one way however the config reached it.
fn resolve_paths(job: &mut JobConfig, base: &Path) {
    let resolve = |path: &mut std::path::PathBuf| *path = crate::paths::normalize_path(&base.join(&*path));
    job.plugin_dirs.iter_mut().for_each(resolve);
    job.model.torchscript.iter_mut().for_each(resolve);
    let data = &mut job.data;
    for path in [&mut data.path, &mut data.labels, &mut data.test_path, &mut data.test_labels, &mut data.cache_dir, &mut data.corrections]
        .into_iter()
        .flatten()
    {
        resolve(path);
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
    fn a_schema_error_from_an_override_names_the_override_not_a_line() {
        let text = format!("{MINIMAL}[[plugins]]\nname = \"noise\"\n");
        let sets = vec!["train.epochs=2".to_string(), "train.epochz=3".to_string()];
        let err = parse_job(&text, "job.toml", &sets, Path::new(".")).unwrap_err().to_string();
        assert!(err.starts_with("invalid override `train.epochz=3`: unknown field `epochz`"), "{err}");
        assert!(!err.contains("line"), "{err}");
        let sets = vec!["plugins[0].optionl=true".to_string()];
        let err = parse_job(&text, "job.toml", &sets, Path::new(".")).unwrap_err().to_string();
        assert!(err.starts_with("invalid override `plugins[0].optionl=true`: unknown field `optionl`"), "{err}");
    }

    #[test]
    fn an_error_in_the_file_itself_keeps_its_line_with_overrides_given() {
        let text = format!("{MINIMAL}[train]\nepochz = 3\n");
        let err = parse_job(&text, "job.toml", &["train.epochs=2".into()], Path::new(".")).unwrap_err().to_string();
        assert!(err.contains("invalid config job.toml: line 5") && err.contains("epochz"), "{err}");
    }

    #[test]
    fn plugin_settings_are_overridden_by_name() {
        let text = format!("{MINIMAL}[[plugins]]\nname = \"curvature\"\nconfig = {{ h = 1e-3 }}\n");
        let job = parse_job(&text, "job.toml", &["plugins.curvature.h=1e-4".into()], Path::new(".")).unwrap();
        assert_eq!(job.plugins[0].config["h"].as_float(), Some(1e-4));
        let err = parse_job(&text, "job.toml", &["plugins.x.h=1".into()], Path::new(".")).unwrap_err().to_string();
        assert_eq!(err, "invalid override `plugins.x.h=1`: no plugin named `x` in the job (plugins: [0] curvature)");
    }

    #[test]
    fn paths_are_made_absolute_and_normal() {
        let text = "name = \"t\"\n[data]\nformat = \"folder\"\npath = \"../data/./train\"\nimage_size = [1, 8, 8]\ncorrections = \"/runs/a/../b/corrections.csv\"\n";
        let job = parse_job(text, "job.toml", &[], Path::new("/work/jobs")).unwrap();
        assert_eq!(job.data.path.unwrap(), Path::new("/work/data/train"));
        assert_eq!(job.data.corrections.unwrap(), Path::new("/runs/b/corrections.csv"));
    }

    #[test]
    fn override_without_equals_is_an_error() {
        let err = parse_job(MINIMAL, "<text>", &["train.epochs".into()], Path::new("."));
        assert!(matches!(err, Err(ConfigError::Override { .. })));
    }
}
