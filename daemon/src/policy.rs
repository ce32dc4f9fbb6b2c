//! What a submitted job may do: read data and model files only under the daemon's
//! data roots, load plugins by name only from the daemon's plugin directories, with
//! settings their own parsers accept, never open its own metrics listener. Checked at
//! submission, so a job that breaks a rule is refused with every problem listed
//! instead of queued to fail later.

use super::plugin_check::SettingsChecker;
use super::ApiError;
use memscope_base::config::{parse_job_unchecked, DataFormat, JobConfig, Problem};
use memscope_base::plugin_files::locate_plugin;
use memscope_base::settings_check::PluginSettings;
use memscope_base::shards::shard_files;
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
const DATA_EXTENSIONS: [&str; 16] =
    ["npy", "npz", "csv", "bin", "gz", "ubyte", "idx", "json", "toml", "txt", "parquet", "png", "jpg", "jpeg", "bmp", "webp"];

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

    /// Parses, validates and checks a submitted job, its plugins' settings through
    /// `checker`; returns it with its paths made canonical and its plugin directories
    /// set to the daemon's. Blocks while a settings check runs.
    pub fn check(&self, text: &str, checker: &SettingsChecker) -> Result<JobConfig, ApiError> {
        let origin = "submitted job";
        let mut job = parse_job_unchecked(text, origin, &self.base_dir())
            .map_err(|e| ApiError::InvalidJob { message: e.to_string(), problems: Vec::new() })?;
        let mut problems = job.validate();
        self.check_plugins(&job, &mut problems);
        if job.metrics.listen.is_some() {
            problems.push(Problem {
                key: "metrics.listen".into(),
                message: "the daemon serves every job's metrics at its /metrics; remove this key".into(),
            });
        }
        let data = &mut job.data;
        if data.format.is_none() {
            problems.push(Problem { key: "data.format".into(), message: "a submitted job needs its data: give `[data] format`".into() });
        }
        if data.cache_dir.is_some() {
            problems.push(Problem {
                key: "data.cache_dir".into(),
                message: "the daemon keeps decoded images in its own cache directory; remove this key".into(),
            });
        }
        let parquet = data.format == Some(DataFormat::Parquet);
        for (key, path) in [
            ("data.path", &mut data.path),
            ("data.labels", &mut data.labels),
            ("data.test_path", &mut data.test_path),
            ("data.test_labels", &mut data.test_labels),
            ("data.corrections", &mut data.corrections),
        ] {
            if let Some(path) = path {
                // A corrections file is one file, whatever the format.
                let glob = parquet && key != "data.corrections";
                let checked = if glob { self.inside_roots_glob(path) } else { self.inside_roots(path) };
                match checked {
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
        self.check_plugin_settings(&job, checker, &mut problems)?;
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
            if plain && locate_plugin(&plugin.name, &self.plugin_dirs).is_none() {
                let dirs: Vec<String> = self.plugin_dirs.iter().map(|d| d.display().to_string()).collect();
                problems.push(Problem {
                    key,
                    message: format!("no plugin `{}` in the daemon's plugin directories ({})", plugin.name, dirs.join(", ")),
                });
            }
        }
    }

    /// Each plugin's settings, through the plugin's own parser (see `plugin_check`), as
    /// the job will give them (paths already made canonical). Plugins whose name is
    /// not found are reported by `check_plugins` and not checked.
    fn check_plugin_settings(&self, job: &JobConfig, checker: &SettingsChecker, problems: &mut Vec<Problem>) -> Result<(), ApiError> {
        let found: Vec<(usize, PluginSettings)> = job
            .plugins
            .iter()
            .enumerate()
            .filter(|(i, _)| !problems.iter().any(|p| p.key == format!("plugins[{i}].name")))
            .filter(|(_, p)| locate_plugin(&p.name, &self.plugin_dirs).is_some())
            .map(|(i, p)| {
                (i, PluginSettings { name: p.name.clone(), config: toml::to_string(&p.config).expect("a TOML table serializes") })
            })
            .collect();
        if found.is_empty() {
            return Ok(());
        }
        let settings: Vec<PluginSettings> = found.iter().map(|(_, s)| s.clone()).collect();
        let answers = checker.check(&self.plugin_dirs, &self.working_dir(), &settings).map_err(ApiError::Internal)?;
        for ((i, _), found) in found.iter().zip(answers) {
            for problem in found {
                let key =
                    if problem.key.is_empty() { format!("plugins[{i}].config") } else { format!("plugins[{i}].config.{}", problem.key) };
                problems.push(Problem { key, message: problem.message });
            }
        }
        Ok(())
    }

    /// Where job processes (and settings checks) run: the first data root, where
    /// relative names resolve as in the policy; `/` when there is none (a check loads
    /// plugins and reads nothing; a job runs in its run directory then, see `child`).
    fn working_dir(&self) -> PathBuf {
        let base = self.base_dir();
        if base.is_dir() {
            base
        } else {
            PathBuf::from("/")
        }
    }

    /// Plugin settings are opaque to the host, so any string that looks like a path
    /// (a separator, `..`, or a data file extension) must lie under the data roots too.
    /// A refusal says only that: not where a symlink really leads, nor whether the
    /// file exists, which would tell a client about the disk outside the roots.
    fn check_config_paths(&self, key: &str, value: &mut toml::Value, problems: &mut Vec<Problem>) {
        match value {
            toml::Value::String(text) if looks_like_path(text) => {
                let path = Path::new(text.as_str());
                let path = if path.is_relative() { self.base_dir().join(path) } else { path.to_path_buf() };
                match self.inside_roots(&path) {
                    Ok(real) => *text = real.display().to_string(),
                    Err(_) => problems.push(Problem {
                        key: key.into(),
                        message: format!("`{text}` is outside the daemon's data roots (or not a file under them)"),
                    }),
                }
            }
            // A bare name (`file = "ref"`): the job runs in the first data root (see
            // `child`), where this name is that file; it must not lead outside the roots.
            // A name that is no file there stays a plain value (`norm = "l2"`).
            toml::Value::String(text)
                if self.names_a_file_in_base(text) && self.inside_roots(&self.base_dir().join(text.as_str())).is_err() =>
            {
                problems.push(Problem {
                    key: key.into(),
                    message: format!("`{text}` is outside the daemon's data roots (or not a file under them)"),
                });
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

    /// Whether `text` is a relative name of something in the first data root (a link
    /// counts, wherever it points).
    fn names_a_file_in_base(&self, text: &str) -> bool {
        !text.is_empty() && Path::new(text).is_relative() && self.base_dir().join(text).symlink_metadata().is_ok()
    }

    /// The real location of `path` when it exists under a data root. Outside the
    /// roots, the message says only that (not where a symlink points, nor whether
    /// the path exists there).
    pub fn inside_roots(&self, path: &Path) -> Result<PathBuf, String> {
        let inside = |p: &Path| self.data_roots.iter().any(|root| p.starts_with(root));
        match path.canonicalize() {
            Ok(real) if inside(&real) => Ok(real),
            Err(e) if path.parent().and_then(|p| p.canonicalize().ok()).is_some_and(|p| inside(&p)) => {
                Err(format!("{}: {e}", path.display()))
            }
            _ => Err(self.outside(path)),
        }
    }

    /// A Parquet path: a file, or a glob whose every match lies under a data root.
    /// Returned with its directory made canonical when the glob is in the file name;
    /// the job checks each shard again when it opens it.
    fn inside_roots_glob(&self, pattern: &Path) -> Result<PathBuf, String> {
        let text = pattern.to_string_lossy();
        if !text.contains(['*', '?', '[']) {
            return self.inside_roots(pattern);
        }
        let dir = pattern.parent().unwrap_or(Path::new("/"));
        let dir_is_plain = !dir.to_string_lossy().contains(['*', '?', '[']);
        let real_dir = if dir_is_plain { Some(self.inside_roots(dir)?) } else { None };
        let files = shard_files(pattern).map_err(|message| format!("{}: {message}", pattern.display()))?;
        for file in &files {
            self.inside_roots(file).map_err(|_| self.outside(file))?;
        }
        match (real_dir, pattern.file_name()) {
            (Some(dir), Some(name)) => Ok(dir.join(name)),
            _ => Ok(pattern.to_path_buf()),
        }
    }

    fn outside(&self, path: &Path) -> String {
        if self.data_roots.is_empty() {
            format!("{} is outside the daemon's data roots (none are configured: set `data_roots`)", path.display())
        } else {
            let roots: Vec<String> = self.data_roots.iter().map(|r| r.display().to_string()).collect();
            format!("{} is outside the daemon's data roots ({})", path.display(), roots.join(", "))
        }
    }
}

fn looks_like_path(text: &str) -> bool {
    text.contains('/') || text == ".." || Path::new(text).extension().and_then(|e| e.to_str()).is_some_and(|e| DATA_EXTENSIONS.contains(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(root: &Path) -> Policy {
        Policy::new(&[root.to_path_buf()], &[], 0)
    }

    /// No plugin is found in these tests: the checker never runs.
    fn checker() -> SettingsChecker {
        SettingsChecker::new(PathBuf::from("/nonexistent/memscope-engine"))
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

        assert!(p.check(&job("ok.npz"), &checker()).is_ok());
        let dotdot = format!("../{}/secret.npz", outside.path().file_name().unwrap().to_str().unwrap());
        for bad in [outside.path().join("secret.npz").display().to_string(), dotdot, "link.npz".into()] {
            assert_eq!(keys(p.check(&job(&bad), &checker()).unwrap_err()), ["data.path"], "{bad} was accepted");
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

        let accepted = p.check(&job("mine.pt"), &checker()).unwrap();
        assert_eq!(accepted.model.torchscript, Some(root.path().canonicalize().unwrap().join("mine.pt")));
        for bad in [outside.path().join("net.pt").display().to_string(), "link.pt".into(), "missing.pt".into()] {
            assert_eq!(keys(p.check(&job(&bad), &checker()).unwrap_err()), ["model.torchscript"], "{bad} was accepted");
        }
    }

    #[test]
    fn image_datasets_are_checked_and_outside_says_only_outside() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("images")).unwrap();
        std::fs::write(root.path().join("train-0.parquet"), b"x").unwrap();
        std::fs::write(outside.path().join("train-1.parquet"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("train-1.parquet"), root.path().join("train-1.parquet")).unwrap();
        let p = policy(root.path());
        let job = |format: &str, path: &str, extra: &str| {
            format!("name = \"t\"\n[data]\nformat = \"{format}\"\npath = \"{path}\"\nimage_size = [1, 8, 8]\n{extra}")
        };
        let checked = p.check(&job("folder", "images", ""), &checker()).unwrap();
        assert_eq!(checked.data.path.unwrap(), root.path().canonicalize().unwrap().join("images"));
        assert_eq!(keys(p.check(&job("folder", "images", "cache_dir = \"/tmp\""), &checker()).unwrap_err()), ["data.cache_dir"]);
        assert!(p.check(&job("parquet", "train-0.parquet", ""), &checker()).is_ok());
        // One shard of the glob links outside: the message names it, and only says outside.
        match p.check(&job("parquet", "train-*.parquet", ""), &checker()).unwrap_err() {
            ApiError::InvalidJob { problems, .. } => {
                assert_eq!(problems.len(), 1);
                let message = &problems[0].message;
                assert!(message.contains("train-1.parquet is outside the daemon's data roots"), "{message}");
                assert!(!message.contains(&outside.path().display().to_string()), "the real target leaked: {message}");
            }
            other => panic!("expected an invalid job, got {other}"),
        }
        // A missing file outside reads as outside, not as missing.
        let missing = outside.path().join("nothing.csv").display().to_string();
        match p.check(&job("csv", &missing, ""), &checker()).unwrap_err() {
            ApiError::InvalidJob { problems, .. } => assert!(
                problems[0].message.ends_with(&format!(
                    "{missing} is outside the daemon's data roots ({})",
                    root.path().canonicalize().unwrap().display()
                )),
                "{}",
                problems[0].message
            ),
            other => panic!("expected an invalid job, got {other}"),
        }
    }

    #[test]
    fn a_corrections_file_is_a_data_path() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("corrections.csv"), b"index,source,action,label,time\n").unwrap();
        std::fs::write(outside.path().join("corrections.csv"), b"index,source,action,label,time\n").unwrap();
        let p = policy(root.path());
        let job = |path: &str| format!("name = \"t\"\n[data]\nformat = \"digits\"\ncorrections = \"{path}\"\n");
        let checked = p.check(&job("corrections.csv"), &checker()).unwrap();
        assert_eq!(checked.data.corrections.unwrap(), root.path().canonicalize().unwrap().join("corrections.csv"));
        let outside = outside.path().join("corrections.csv").display().to_string();
        assert_eq!(keys(p.check(&job(&outside), &checker()).unwrap_err()), ["data.corrections"]);
    }

    #[test]
    fn plugin_settings_that_name_files_are_checked_too() {
        let root = tempfile::tempdir().unwrap();
        let p = policy(root.path());
        let text = "name = \"t\"\n[data]\nformat = \"digits\"\n[[plugins]]\nname = \"x/../y\"\nconfig = { against = [\"noise_mask\", \"/etc/passwd\"] }\n";
        assert_eq!(keys(p.check(text, &checker()).unwrap_err()), ["plugins[0].name", "plugins[0].config.against[1]"]);
    }

    #[test]
    fn plugin_setting_refusals_tell_nothing_about_the_disk_outside_the_roots() {
        let (root, outside) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(outside.path().join("secret.npy"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.npy"), root.path().join("link.npy")).unwrap();
        let p = policy(root.path());
        let job = |value: &str| {
            format!("name = \"t\"\n[data]\nformat = \"digits\"\n[[plugins]]\nname = \"x\"\nconfig = {{ file = \"{value}\" }}\n")
        };
        let message = |value: &str| match p.check(&job(value), &checker()).unwrap_err() {
            ApiError::InvalidJob { problems, .. } => problems.into_iter().find(|p| p.key == "plugins[0].config.file").unwrap().message,
            other => panic!("{other}"),
        };
        let secret = outside.path().join("secret.npy").display().to_string();
        let missing = outside.path().join("missing.npy").display().to_string();
        for given in ["link.npy", secret.as_str(), missing.as_str(), "/proc/self/cwd/x.npy"] {
            let said = message(given);
            assert_eq!(said, format!("`{given}` is outside the daemon's data roots (or not a file under them)"));
            assert!(!said.contains(outside.path().to_str().unwrap()) || given != "link.npy", "{said}");
        }
    }

    #[test]
    fn a_bare_name_that_is_a_file_of_the_first_root_must_stay_inside_the_roots() {
        let (root, outside) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(root.path().join("inside"), b"x").unwrap();
        std::fs::write(outside.path().join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("escape")).unwrap();
        let p = policy(root.path());
        let job = |value: &str| {
            format!("name = \"t\"\n[data]\nformat = \"digits\"\n[[plugins]]\nname = \"x\"\nconfig = {{ file = \"{value}\" }}\n")
        };
        let problems = |value: &str| match p.check(&job(value), &checker()).unwrap_err() {
            ApiError::InvalidJob { problems, .. } => {
                problems.into_iter().filter(|p| p.key == "plugins[0].config.file").map(|p| p.message).collect::<Vec<_>>()
            }
            other => panic!("{other}"),
        };
        // (Plugin `x` is not found, so every job is refused: only the setting's problems count.)
        assert_eq!(problems("escape"), ["`escape` is outside the daemon's data roots (or not a file under them)"]);
        assert!(problems("inside").is_empty());
        assert!(problems("symmetric").is_empty(), "a name that is no file is a plain value");
    }
}
