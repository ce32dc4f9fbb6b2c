//! The daemon's config (`memscope daemon --config configs/daemon.toml`). Field doc
//! comments are the user documentation.

use super::{ConfigError, Problem};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where the daemon listens, keeps its state, and what submitted jobs may touch.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Address of the HTTP API. Loopback by default; binding another address without
    /// `auth_token_file` logs a warning.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The job queue, job logs and (by default) run directories. Relative to the
    /// config file.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Where run directories are written (`<runs_dir>/<id>-<name>`); by default
    /// `<state_dir>/runs`. Submitted jobs cannot choose another place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs_dir: Option<PathBuf>,
    /// Directories submitted jobs may read datasets and reference files from. A path
    /// outside them (after resolving `..` and symlinks) is refused at submission.
    /// Relative data paths in a submitted job are taken relative to the first root.
    #[serde(default)]
    pub data_roots: Vec<PathBuf>,
    /// The only directories plugins are loaded from; by default the directory of the
    /// `memscope` executable (where the workspace builds the seed plugins).
    #[serde(default)]
    pub plugin_dirs: Vec<PathBuf>,
    /// Jobs that run at the same time (one training job per device by default). 0
    /// accepts and queues jobs without starting any (maintenance).
    #[serde(default = "default_max_running_jobs")]
    pub max_running_jobs: usize,
    /// libtorch threads of a job that does not set `threads` itself; 0 lets each job
    /// follow the cores the others leave free (the job's `threads = 0`).
    #[serde(default)]
    pub job_threads: usize,
    /// Other names (`host` or `host:port`) clients may use for the daemon in the HTTP
    /// `Host` header, e.g. behind a reverse proxy. Without them, only the listen
    /// address itself is accepted (and `localhost` when it is a loopback address):
    /// a request naming another host is refused, which stops web pages that rebind
    /// a DNS name of theirs to this address. Pages of an allowed host may also send
    /// requests (their `Origin`); pages of other origins never can.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// A file holding the bearer token that every endpoint but `/healthz` requires.
    /// No authentication when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token_file: Option<PathBuf>,
    /// Largest request body accepted, in bytes. A request that declares a larger
    /// `Content-Length` is answered 413 before its body is read.
    #[serde(default = "default_max_request_bytes")]
    pub max_request_bytes: usize,
    /// Seconds a client has to send a request's head, and then its body: a request
    /// that does not arrive in time gets 408 and its connection is closed, so a
    /// client that declares a body and never sends it holds nothing for long. (A reload
    /// changes the body's time; the head's takes a restart.)
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: u64,
    /// Largest size of a job's log (`log.txt` in its state directory, what its process
    /// writes to stderr), in bytes. At this size it becomes `log.txt.1` (replacing an
    /// older one) and a new `log.txt` starts, so a job keeps at most twice this, its
    /// newest lines always; `GET /v1/jobs/{id}/logs` serves both parts. At least
    /// 65536.
    #[serde(default = "default_job_log_max_bytes")]
    pub job_log_max_bytes: u64,
    /// How long a finished job's metric series stay in `/metrics`, in seconds: long
    /// enough for Prometheus to scrape the final values (its default interval is a
    /// minute). Then they are dropped, so a long-lived daemon does not grow with
    /// every run it ever ran. 0 drops them as soon as the job ends.
    #[serde(default = "default_metrics_retention")]
    pub metrics_retention_seconds: u64,
    /// On SIGTERM, how long running jobs get to stop at their next step before they
    /// are killed. They resume from their last checkpoint when the daemon restarts.
    #[serde(default = "default_grace")]
    pub shutdown_grace_seconds: u64,
    /// How long the review engine stays after its last request, in seconds. The review
    /// pages of completed jobs (`/v1/jobs/{id}/review/`) are served by one
    /// `memscope-engine` process, which the first review request starts (about half a
    /// second: it loads libtorch) and which holds libtorch (386 MiB resident serving a
    /// digits run) and the runs it opened (at most 4); idle this long, it ends, and the
    /// next review request starts it again. At least 1.
    #[serde(default = "default_review_idle")]
    pub review_idle_seconds: u64,
    /// The GPUs the daemon places jobs on: `"auto"` (every GPU `nvidia-smi` lists;
    /// none when there is no `nvidia-smi`) or their indices, `[0, 1]`. Each running
    /// job gets the GPUs it asked for through `CUDA_VISIBLE_DEVICES`, and a job that
    /// asked for none gets none. Absent: the daemon places nothing and leaves
    /// `CUDA_VISIBLE_DEVICES` as it found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<GpuChoice>,
}

/// The daemon's `gpus` setting.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "RawGpuChoice", into = "RawGpuChoice")]
pub enum GpuChoice {
    /// Every GPU the inventory (`nvidia-smi`) lists.
    Auto,
    /// These GPU indices.
    Indices(Vec<u32>),
}

/// `gpus` as written: a word or a list.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
enum RawGpuChoice {
    Word(String),
    Indices(Vec<u32>),
}

impl TryFrom<RawGpuChoice> for GpuChoice {
    type Error = String;
    fn try_from(raw: RawGpuChoice) -> Result<Self, Self::Error> {
        match raw {
            RawGpuChoice::Word(word) if word == "auto" => Ok(GpuChoice::Auto),
            RawGpuChoice::Word(word) => Err(format!("`gpus` is \"auto\" or a list of GPU indices like [0, 1], not \"{word}\"")),
            RawGpuChoice::Indices(indices) => Ok(GpuChoice::Indices(indices)),
        }
    }
}

impl From<GpuChoice> for RawGpuChoice {
    fn from(choice: GpuChoice) -> Self {
        match choice {
            GpuChoice::Auto => RawGpuChoice::Word("auto".into()),
            GpuChoice::Indices(indices) => RawGpuChoice::Indices(indices),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:7464".into()
}
fn default_state_dir() -> PathBuf {
    "memscope-state".into()
}
fn default_max_running_jobs() -> usize {
    1
}
fn default_max_request_bytes() -> usize {
    1 << 20
}
fn default_request_timeout() -> u64 {
    30
}
fn default_job_log_max_bytes() -> u64 {
    16 << 20
}
fn default_metrics_retention() -> u64 {
    3600
}
fn default_grace() -> u64 {
    30
}
fn default_review_idle() -> u64 {
    600
}

impl Default for DaemonConfig {
    fn default() -> Self {
        toml::from_str("").expect("every daemon setting has a default")
    }
}

impl DaemonConfig {
    /// The listen address (checked by `validate`).
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen.parse().map_err(|e| format!("`{}` is not an address like 127.0.0.1:7464: {e}", self.listen))
    }

    /// Where run directories go.
    pub fn runs_dir(&self) -> PathBuf {
        self.runs_dir.clone().unwrap_or_else(|| self.state_dir.join("runs"))
    }

    /// Every problem with this config; empty when the daemon can start with it.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if let Err(message) = self.listen_addr() {
            problems.push(Problem { key: "listen".into(), message });
        }
        // A root that does not exist yet (data not fetched, a volume not mounted) is
        // allowed: the daemon warns, and nothing under it can be submitted until it does.
        for (i, root) in self.data_roots.iter().enumerate() {
            if root.exists() && !root.is_dir() {
                problems.push(Problem { key: format!("data_roots[{i}]"), message: format!("{} is not a directory", root.display()) });
            }
        }
        for (i, dir) in self.plugin_dirs.iter().enumerate() {
            if !dir.is_dir() {
                problems.push(Problem { key: format!("plugin_dirs[{i}]"), message: format!("{} is not a directory", dir.display()) });
            }
        }
        for (i, host) in self.allowed_hosts.iter().enumerate() {
            let plain = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
            if !plain {
                problems.push(Problem {
                    key: format!("allowed_hosts[{i}]"),
                    message: format!("`{host}` is not a host name or host:port (no scheme, no path)"),
                });
            }
        }
        if let Some(file) = &self.auth_token_file {
            if let Err(message) = read_token(file) {
                problems.push(Problem { key: "auth_token_file".into(), message });
            }
        }
        if self.max_request_bytes < 1024 {
            problems.push(Problem {
                key: "max_request_bytes".into(),
                message: format!("{} bytes is too small for a job config (at least 1024)", self.max_request_bytes),
            });
        }
        if self.request_timeout_seconds == 0 {
            problems.push(Problem { key: "request_timeout_seconds".into(), message: "must be at least 1".into() });
        }
        if self.job_log_max_bytes < 65536 {
            problems.push(Problem {
                key: "job_log_max_bytes".into(),
                message: format!("{} bytes is too small for a job's log (at least 65536)", self.job_log_max_bytes),
            });
        }
        if self.review_idle_seconds == 0 {
            problems.push(Problem { key: "review_idle_seconds".into(), message: "must be at least 1".into() });
        }
        if let Some(GpuChoice::Indices(indices)) = &self.gpus {
            for (i, index) in indices.iter().enumerate() {
                if indices[..i].contains(index) {
                    problems.push(Problem { key: format!("gpus[{i}]"), message: format!("GPU {index} is listed twice") });
                }
            }
        }
        problems
    }

    /// The bearer token, when authentication is on.
    pub fn token(&self) -> Result<Option<String>, String> {
        self.auth_token_file.as_deref().map(read_token).transpose()
    }

    fn resolve_paths(&mut self, base: &Path) {
        let abs = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        abs(&mut self.state_dir);
        self.runs_dir.iter_mut().for_each(abs);
        self.data_roots.iter_mut().for_each(abs);
        self.plugin_dirs.iter_mut().for_each(abs);
        self.auth_token_file.iter_mut().for_each(abs);
    }
}

/// The token in `file`: its content without surrounding whitespace, not empty.
fn read_token(file: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let token = text.trim().to_string();
    if token.is_empty() {
        return Err(format!("{} is empty", file.display()));
    }
    Ok(token)
}

/// Reads and validates a daemon config; relative paths are taken relative to the
/// file. `None` gives the defaults, relative to the working directory.
pub fn load_daemon_file(path: Option<&Path>) -> Result<DaemonConfig, ConfigError> {
    let (mut config, base, origin) = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
            let config: DaemonConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                origin: path.display().to_string(),
                message: super::load::one_line(&text, e.message(), e.span()),
            })?;
            // `daemon.toml` alone has the parent "", which cannot be made absolute.
            let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
            (config, base, path.display().to_string())
        }
        None => (DaemonConfig::default(), PathBuf::from("."), "<defaults>".to_string()),
    };
    let base = std::path::absolute(&base).unwrap_or(base);
    config.resolve_paths(&base);
    if config.plugin_dirs.is_empty() {
        config.plugin_dirs = crate::plugin_files::executable_dir().into_iter().collect();
    }
    let problems = config.validate();
    if !problems.is_empty() {
        return Err(ConfigError::Invalid { origin, problems });
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_loopback_one_job_and_no_token() {
        let config = DaemonConfig::default();
        assert!(config.listen_addr().unwrap().ip().is_loopback());
        assert_eq!(config.max_running_jobs, 1);
        assert_eq!(config.token().unwrap(), None);
    }

    #[test]
    fn problems_are_listed_together() {
        let config: DaemonConfig =
            toml::from_str("listen = \"nowhere\"\ndata_roots = [\"/etc/hostname\"]\nmax_request_bytes = 10\nrequest_timeout_seconds = 0\njob_log_max_bytes = 10\nreview_idle_seconds = 0\n").unwrap();
        let keys: Vec<String> = config.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            ["listen", "data_roots[0]", "max_request_bytes", "request_timeout_seconds", "job_log_max_bytes", "review_idle_seconds"]
        );
    }

    #[test]
    fn gpus_are_none_by_default_auto_or_a_list_of_distinct_indices() {
        assert_eq!(DaemonConfig::default().gpus, None);
        let auto: DaemonConfig = toml::from_str("gpus = \"auto\"\n").unwrap();
        assert_eq!(auto.gpus, Some(GpuChoice::Auto));
        let listed: DaemonConfig = toml::from_str("gpus = [0, 2]\n").unwrap();
        assert_eq!(listed.gpus, Some(GpuChoice::Indices(vec![0, 2])));
        assert!(listed.validate().is_empty());
        let err = toml::from_str::<DaemonConfig>("gpus = \"all\"\n").unwrap_err();
        assert!(err.to_string().contains("`gpus` is \"auto\" or a list of GPU indices like [0, 1], not \"all\""), "{err}");
        let twice: DaemonConfig = toml::from_str("gpus = [1, 1]\n").unwrap();
        let problems: Vec<(String, String)> = twice.validate().into_iter().map(|p| (p.key, p.message)).collect();
        assert_eq!(problems, [("gpus[1]".to_string(), "GPU 1 is listed twice".to_string())]);
        let written = toml::to_string(&listed).unwrap();
        assert_eq!(toml::from_str::<DaemonConfig>(&written).unwrap().gpus, listed.gpus);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<DaemonConfig>("listne = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `listne`"), "{err}");
    }
}
