//! Errors that end a job.

use crate::data::DataError;
use crate::model::ModelError;
use crate::scores::ScoreError;
use std::path::PathBuf;

/// Why a job did not complete.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The dataset could not be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Model, optimizer or checkpoint failure.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A scorer failed.
    #[error(transparent)]
    Score(#[from] ScoreError),
    /// The label-issue verdict could not be recorded or written.
    #[error(transparent)]
    Verdict(#[from] crate::verdict::VerdictError),
    /// A plugin could not be loaded or failed in a hook.
    #[error(transparent)]
    Plugin(#[from] crate::plugins::PluginError),
    /// The process group failed: a launcher variable, the rendezvous, a collective
    /// (a rank died or hung), or ranks whose weights drifted apart.
    #[error(transparent)]
    Distributed(#[from] crate::dist::DistError),
    /// libtorch reported an error during training.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A run-directory file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The run directory cannot be used as asked.
    #[error("run directory {path}: {message}")]
    RunDir {
        /// The run directory.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// The job was cancelled (Ctrl-C, `JobHandle::cancel`); checkpoints up to
    /// `epochs_done` remain in its run directory.
    #[error("cancelled after {epochs_done} completed epoch(s){}", resume_hint(run_dir.as_deref(), *world))]
    Cancelled {
        /// Epochs completed before the cancel.
        epochs_done: usize,
        /// The run directory to resume (none for a job in memory).
        run_dir: Option<PathBuf>,
        /// Processes that ran the job (a data-parallel group's size, else 1).
        world: usize,
        /// The scores of the completed epochs (what a program would otherwise lose
        /// with a job in memory).
        partial: Box<super::PartialScores>,
    },
    /// The job's config is not valid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A setting names something the job does not have (found once plugins are
    /// loaded, before training starts).
    #[error("{key}: {message}")]
    Setting {
        /// The config key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The requested device is not available.
    #[error("device: {0}")]
    Device(String),
    /// The libtorch loaded is another release than the one memscope was built against.
    #[error("{0}")]
    LibtorchRelease(String),
    /// A worker thread panicked; its message is kept.
    #[error("{thread} thread panicked: {message}")]
    Panicked {
        /// Which thread.
        thread: String,
        /// The panic message.
        message: String,
    },
}

fn resume_hint(run_dir: Option<&std::path::Path>, world: usize) -> String {
    match run_dir {
        Some(dir) if world == 1 => format!("; resume with `memscope run --resume {}`", dir.display()),
        // Every rank restarts, and only rank 0 has the run directory.
        Some(dir) => format!("; resume {} by restarting its {world} processes with `memscope run CONFIG --resume`", dir.display()),
        None => String::new(),
    }
}

impl JobError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        JobError::Io { path: path.to_path_buf(), source }
    }

    pub(crate) fn from_panic(thread: &str, payload: Box<dyn std::any::Any + Send>) -> Self {
        JobError::Panicked { thread: thread.to_string(), message: crate::panics::panic_message(payload.as_ref()) }
    }
}
