//! What a submitted job may do: read data and model files only under the daemon's
//! data roots, load plugins by name only from the daemon's plugin directories, never
//! open its own metrics listener. Checked at submission, so a job that breaks a rule is refused
//! with every problem listed instead of queued to fail later.

use super::ApiError;
use crate::config::{parse_job_unchecked, JobConfig, Problem};
use crate::plugins::find_plugin;
use std::path::{Path, PathBuf};

/// The rules, from the daemon config (rebuilt on reload).
#[derive(Debug, Clone)]
pub struct Policy {
    /// Canonical data roots.
    pub data_roots: Vec<PathBuf>,
    /// The only plugin directories.
    pub plugin_dirs: Vec<PathBuf>,
    /// libtorch threads for jobs that do not set them.
    pub job_threads: usize,
}

/// File extensions that make a plugin-config string a path to check.
const DATA_EXTENSIONS: [&str; 10] = ["npy", "npz", "csv", "bin", "gz", "ubyte", "idx", "json", "toml", "txt"];

impl Policy {
    /// The rules for these roots and directories; roots are canonicalized so that
    /// checks compare real locations.
    pub fn new(data_roots: &[PathBuf], plugin_dirs: &[PathBuf], job_threads: usize) -> Policy {
        let data_roots = data_roots.iter().map(|r| r.canonicalize().unwrap_or_else(|_| r.clone())).collect();
        Policy { data_roots, plugin_dirs: plugin_dirs.to_vec(), job_threads }
    }

    /// Where relative paths of a submitted job point: the first data root.
    pub fn base_dir(&self) -> PathBuf {
        self.data_roots.first().cloned().unwrap_or_else(|| PathBuf::from("/nonexistent-data-root"))
    }

    /// Parses, validates and checks a submitted job; returns it with its paths made
    /// canonical and its plugin directories set to the daemon's.
    pub fn check(&self, text: &str) -> Result<JobConfig, ApiError> {
        let origin = "submitted job";
        let mut job = parse_job_unchecked(text, origin, &self.base_dir()).map_err(|e| ApiError::InvalidJob {
            message: e.to_string(),
            problems: Vec::new(),
        })?;
        let mut problems = job.validate();
        self.check_plugins(&job, &mut problems);
        if job.metrics.listen.is_some() {
            problems.push(Problem {
                key: "metrics.listen".into(),
                message: "the daemon serves every job's metrics at its /metrics; remove this key".into(),
            });
        }
        let data = &mut job.data;
        for (key, path) in [
            ("data.path", &mut data.path),
            ("data.labels", &mut data.labels),
            ("data.test_path", &mut data.test_path),
            ("data.test_labels", &mut data.test_labels),
        ] {
            if let Some(path) = path {
                match self.inside_roots(path) {
                    Ok(real) => *path = real,
                    Err(message) => problems.push(Problem { key: key.into(), message }),
                }
            }
        }
        // The model file is read by the job like data: it must lie under a data root.
        if let Some(path) = &mut job.model.torchscript {
            match self.inside_roots(path) {
                Ok(real) => *path = real,
                Err(message) => problems.push(Problem { key: "model.torchscript".into(), message }),
            }
        }
        for (i, plugin) in job.plugins.iter_mut().enumerate() {
            for (key, value) in plugin.config.iter_mut() {
                self.check_config_paths(&format!("plugins[{i}].config.{key}"), value, &mut problems);
            }
        }
        if !problems.is_empty() {
            return Err(ApiError::InvalidJob { message: format!("{} problem(s)", problems.len()), problems });
        }
        job.plugin_dirs = self.plugin_dirs.clone();
        if job.threads == 0 {
            job.threads = self.job_threads;
        }
        Ok(job)
    }

    fn check_plugins(&self, job: &JobConfig, problems: &mut Vec<Problem>) {
        if !job.plugin_dirs.is_empty() {
            problems.push(Problem {
                key: "plugin_dirs".into(),
                message: "a submitted job loads plugins only from the daemon's plugin directories; remove this key".into(),
            });
        }
        for (i, plugin) in job.plugins.iter().enumerate() {
            let key = format!("plugins[{i}].name");
            // validate() reports names that are not plain names; never look those up.
            let plain = !plugin.name.is_empty() && plugin.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if plain && find_plugin(&plugin.name, &self.plugin_dirs).is_err() {
                let dirs: Vec<String> = self.plugin_dirs.iter().map(|d| d.display().to_string()).collect();
                problems.push(Problem {
                    key,
                    message: format!("no plugin `{}` in the daemon's plugin directories ({})", plugin.name, dirs.join(", ")),
                });
            }
        }
    }

    /// Plugin settings are opaque to the host, so any string that looks like a path
    /// (a separator, `..`, or a data file extension) must lie under the data roots too.
    fn check_config_paths(&self, key: &str, value: &mut toml::Value, problems: &mut Vec<Problem>) {
        match value {
            toml::Value::String(text) if looks_like_path(text) => {
                let path = Path::new(text.as_str());
                let path = if path.is_relative() { self.base_dir().join(path) } else { path.to_path_buf() };
                match self.inside_roots(&path) {
                    Ok(real) => *text = real.display().to_string(),
                    Err(message) => problems.push(Problem { key: key.into(), message }),
                }
            }
            toml::Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.check_config_paths(&format!("{key}[{i}]"), item, problems);
                }
            }
            toml::Value::Table(table) => {
                for (k, v) in table.iter_mut() {
                    self.check_config_paths(&format!("{key}.{k}"), v, problems);
                }
            }
            _ => {}
        }
    }

    /// The real location of `path` when it exists under a data root.
    pub fn inside_roots(&self, path: &Path) -> Result<PathBuf, String> {
        let real = path.canonicalize().map_err(|e| format!("{}: {e}", path.display()))?;
        if self.data_roots.iter().any(|root| real.starts_with(root)) {
            Ok(real)
        } else if self.data_roots.is_empty() {
            Err(format!("{} is outside the daemon's data roots (none are configured: set `data_roots`)", path.display()))
        } else {
            let roots: Vec<String> = self.data_roots.iter().map(|r| r.display().to_string()).collect();
            let shown = if real == path { path.display().to_string() } else { format!("{} (really {})", path.display(), real.display()) };
            Err(format!("{shown} is outside the daemon's data roots ({})", roots.join(", ")))
        }
    }
}

fn looks_like_path(text: &str) -> bool {
    text.contains('/')
        || text == ".."
        || Path::new(text).extension().and_then(|e| e.to_str()).is_some_and(|e| DATA_EXTENSIONS.contains(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(root: &Path) -> Policy {
        Policy::new(&[root.to_path_buf()], &[], 0)
    }

    fn keys(err: ApiError) -> Vec<String> {
        match err {
            ApiError::InvalidJob { problems, .. } => problems.into_iter().map(|p| p.key).collect(),
            other => panic!("expected an invalid job, got {other}"),
        }
    }

    #[test]
    fn paths_outside_the_roots_are_refused_however_they_get_there() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.npz"), b"x").unwrap();
        std::fs::write(root.path().join("ok.npz"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.npz"), root.path().join("link.npz")).unwrap();
        let p = policy(root.path());
        let job = |path: &str| format!("name = \"t\"\n[data]\nformat = \"npz\"\npath = \"{path}\"\n");

        assert!(p.check(&job("ok.npz")).is_ok());
        let dotdot = format!("../{}/secret.npz", outside.path().file_name().unwrap().to_str().unwrap());
        for bad in [outside.path().join("secret.npz").display().to_string(), dotdot, "link.npz".into()] {
            assert_eq!(keys(p.check(&job(&bad)).unwrap_err()), ["data.path"], "{bad} was accepted");
        }
    }

    #[test]
    fn a_torchscript_model_outside_the_roots_is_refused_and_one_inside_made_canonical() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("net.pt"), b"x").unwrap();
        std::fs::write(root.path().join("mine.pt"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("net.pt"), root.path().join("link.pt")).unwrap();
        let p = policy(root.path());
        let job = |path: &str| format!("name = \"t\"\n[data]\nformat = \"digits\"\n[model]\ntorchscript = \"{path}\"\n");

        let accepted = p.check(&job("mine.pt")).unwrap();
        assert_eq!(accepted.model.torchscript, Some(root.path().canonicalize().unwrap().join("mine.pt")));
        for bad in [outside.path().join("net.pt").display().to_string(), "link.pt".into(), "missing.pt".into()] {
            assert_eq!(keys(p.check(&job(&bad)).unwrap_err()), ["model.torchscript"], "{bad} was accepted");
        }
    }

    #[test]
    fn plugin_settings_that_name_files_are_checked_too() {
        let root = tempfile::tempdir().unwrap();
        let p = policy(root.path());
        let text = "name = \"t\"\n[data]\nformat = \"digits\"\n[[plugins]]\nname = \"x/../y\"\nconfig = { against = [\"noise_mask\", \"/etc/passwd\"] }\n";
        assert_eq!(keys(p.check(text).unwrap_err()), ["plugins[0].name", "plugins[0].config.against[1]"]);
    }
}
