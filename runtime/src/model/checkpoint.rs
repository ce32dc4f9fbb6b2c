//! Checkpoints: everything needed to continue a run exactly where it stopped.
//!
//! A checkpoint is a directory `checkpoints/epoch-NNNNNN/` holding the network
//! (`model.safetensors`), the optimizer state (`optimizer.safetensors`), the
//! accumulated scores (`scores.safetensors`) and `state.json`; safetensors so that the
//! files open in Python too. It is written under a temporary name, every file is
//! fsynced, then the directory is renamed into place and its parent fsynced: a crash
//! leaves either the whole checkpoint or none. Random state needs no saving (see
//! `seeding`). Only the newest `keep` checkpoints are kept.

use super::{ModelError, Network, Optimizer};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};
use tch::Tensor;

const MODEL_FILE: &str = "model.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const SCORES_FILE: &str = "scores.safetensors";
const STATE_FILE: &str = "state.json";

/// The scalar state of a run at a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Epochs completed; training resumes at this 0-based epoch.
    pub epochs_done: usize,
    /// Optimizer steps taken.
    pub steps: u64,
    /// Number of training samples (guards against resuming on other data).
    pub samples: usize,
    /// Seconds spent training so far.
    pub train_seconds: f64,
    /// Seconds spent scoring so far.
    pub score_seconds: f64,
    /// Samples scored so far (summed over scorers and snapshots).
    pub scored_samples: u64,
}

/// A checkpoint found on disk.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Its directory.
    pub dir: PathBuf,
    /// Its scalar state.
    pub state: CheckpointState,
}

impl Checkpoint {
    /// Restores every network variable (buffers too) and the optimizer state.
    pub fn restore(&self, network: &mut Network, optimizer: &mut Optimizer) -> Result<(), ModelError> {
        let path = self.dir.join(MODEL_FILE);
        let values = Tensor::read_safetensors(&path).map_err(|e| ModelError::checkpoint(&path, e))?;
        network.load_variables(&values, &format!("checkpoint {}", path.display()))?;
        let state = Tensor::read_safetensors(self.dir.join(OPTIMIZER_FILE))
            .map_err(|e| ModelError::checkpoint(&self.dir.join(OPTIMIZER_FILE), e))?;
        optimizer.restore(state)
    }

    /// The accumulated scores, as named tensors.
    pub fn scores(&self) -> Result<Vec<(String, Tensor)>, ModelError> {
        let path = self.dir.join(SCORES_FILE);
        Tensor::read_safetensors(&path).map_err(|e| ModelError::checkpoint(&path, e))
    }
}

/// The checkpoint directory of a run.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    dir: PathBuf,
    keep: usize,
}

impl Checkpoints {
    /// Checkpoints under `dir`, keeping the newest `keep`.
    pub fn new(dir: PathBuf, keep: usize) -> Self {
        Checkpoints { dir, keep: keep.max(1) }
    }

    /// Writes a checkpoint atomically and prunes old ones; returns its directory.
    pub fn write(
        &self,
        state: &CheckpointState,
        model: &[(String, Tensor)],
        optimizer: &[(String, Tensor)],
        scores: &[(String, Tensor)],
    ) -> Result<PathBuf, ModelError> {
        let name = format!("epoch-{:06}", state.epochs_done);
        let tmp = self.dir.join(format!(".tmp-{name}"));
        let fin = self.dir.join(&name);
        let io = |path: &Path, e: std::io::Error| ModelError::checkpoint(path, e);
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;

        Tensor::write_safetensors(model, tmp.join(MODEL_FILE))?;
        Tensor::write_safetensors(optimizer, tmp.join(OPTIMIZER_FILE))?;
        Tensor::write_safetensors(scores, tmp.join(SCORES_FILE))?;
        let json = serde_json::to_vec_pretty(state).expect("checkpoint state serializes");
        std::fs::write(tmp.join(STATE_FILE), json).map_err(|e| io(&tmp, e))?;
        for file in [MODEL_FILE, OPTIMIZER_FILE, SCORES_FILE, STATE_FILE] {
            let path = tmp.join(file);
            File::open(&path).and_then(|f| f.sync_all()).map_err(|e| io(&path, e))?;
        }
        sync_dir(&tmp).map_err(|e| io(&tmp, e))?;
        if fin.exists() {
            std::fs::remove_dir_all(&fin).map_err(|e| io(&fin, e))?;
        }
        std::fs::rename(&tmp, &fin).map_err(|e| io(&fin, e))?;
        sync_dir(&self.dir).map_err(|e| io(&self.dir, e))?;
        self.prune()?;
        Ok(fin)
    }

    /// The newest complete checkpoint, if any. Leftover temporary directories from an
    /// interrupted write are ignored.
    pub fn latest(&self) -> Result<Option<Checkpoint>, ModelError> {
        let Some(dir) = self.complete()?.pop() else { return Ok(None) };
        let path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::checkpoint(&path, e))?;
        let state = serde_json::from_str(&text).map_err(|e| ModelError::checkpoint(&path, e))?;
        Ok(Some(Checkpoint { dir, state }))
    }

    /// Complete checkpoint directories, oldest first.
    fn complete(&self) -> Result<Vec<PathBuf>, ModelError> {
        if !self.dir.exists() {
            return Ok(Vec::new());
        }
        let entries = std::fs::read_dir(&self.dir).map_err(|e| ModelError::checkpoint(&self.dir, e))?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("epoch-")))
            .filter(|p| p.join(STATE_FILE).exists())
            .collect();
        dirs.sort();
        Ok(dirs)
    }

    fn prune(&self) -> Result<(), ModelError> {
        let dirs = self.complete()?;
        let excess = dirs.len().saturating_sub(self.keep);
        for dir in &dirs[..excess] {
            std::fs::remove_dir_all(dir).map_err(|e| ModelError::checkpoint(dir, e))?;
        }
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}
