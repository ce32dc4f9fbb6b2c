//! Paths inside a run directory (see DESIGN.md, "Run directory").

use std::path::{Path, PathBuf};

/// A run directory `runs/<name>/`.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory at `root`.
    pub fn new(root: PathBuf) -> Self {
        RunDir { root }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The resolved config, as run.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// The machine-readable result.
    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.json")
    }

    /// Labels as trained (int64), after any plugin rewrote them.
    pub fn labels(&self) -> PathBuf {
        self.root.join("labels.npy")
    }

    /// Class names in label order (JSON array of strings).
    pub fn classes(&self) -> PathBuf {
        self.root.join("classes.json")
    }

    /// Where each sample came from (JSON array of strings, one per sample: a file
    /// path, or a file and record/row as `FILE#N`).
    pub fn sources(&self) -> PathBuf {
        self.root.join("sources.json")
    }

    /// With `[data] corrections`: each sample's index in the dataset as read (int64),
    /// since excluded samples leave the training set. Absent without corrections:
    /// sample `i` is then the dataset's sample `i`.
    pub fn kept_indices(&self) -> PathBuf {
        self.root.join("kept_indices.npy")
    }

    /// Per-sample scores.
    pub fn scores(&self) -> PathBuf {
        self.root.join("scores")
    }

    /// Checkpoints.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }
}
