//! The hook vocabulary, named after what users know from PyTorch Lightning.

use std::fmt;

/// A point in a job's life at which subscribers are told what happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    /// The job has been configured and is about to load its data.
    OnJobStart,
    /// The training set is in memory; subscribers may rewrite labels (label noise).
    OnDatasetReady,
    /// One optimizer step finished; carries the per-sample training losses and the
    /// labels trained on.
    OnTrainBatchEnd,
    /// Not a moment of its own: a plugin that subscribes to it gets `on_train_batch_end`
    /// (no need to list that too) with each sample's logits from the training forward
    /// pass (`BatchInfo::logits`, `predicted`, `correct`, `margin`). The logits are
    /// copied from the device only when some plugin subscribes, so a job without such a
    /// plugin runs at its usual speed.
    TrainBatchOutputs,
    /// One epoch of training finished.
    OnTrainEpochEnd,
    /// The job writes a checkpoint: the plugin returns its state as bytes, stored in
    /// the checkpoint (called at each epoch end while checkpoints are on, after that
    /// epoch's `on_train_epoch_end`).
    SaveState,
    /// A resumed job gives back the state saved in the checkpoint it resumes from,
    /// after `on_dataset_ready` and before training continues.
    LoadState,
    /// A scorer computes per-sample scores for one batch of a weight snapshot.
    ScoreBatch,
    /// A scorer finished a pass over the training set.
    OnScores,
    /// The job ended (successfully or not).
    OnJobEnd,
}

impl Hook {
    /// Every hook, in the order they happen in a job.
    pub const ALL: [Hook; 10] = [
        Hook::OnJobStart,
        Hook::OnDatasetReady,
        Hook::OnTrainBatchEnd,
        Hook::TrainBatchOutputs,
        Hook::OnTrainEpochEnd,
        Hook::SaveState,
        Hook::LoadState,
        Hook::ScoreBatch,
        Hook::OnScores,
        Hook::OnJobEnd,
    ];

    /// The hook's name as plugin authors write it (`on_train_batch_end`).
    pub fn name(self) -> &'static str {
        match self {
            Hook::OnJobStart => "on_job_start",
            Hook::OnDatasetReady => "on_dataset_ready",
            Hook::OnTrainBatchEnd => "on_train_batch_end",
            Hook::TrainBatchOutputs => "train_batch_outputs",
            Hook::OnTrainEpochEnd => "on_train_epoch_end",
            Hook::SaveState => "save_state",
            Hook::LoadState => "load_state",
            Hook::ScoreBatch => "score_batch",
            Hook::OnScores => "on_scores",
            Hook::OnJobEnd => "on_job_end",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_names_are_unique_snake_case() {
        let names: std::collections::HashSet<_> = Hook::ALL.iter().map(|h| h.name()).collect();
        assert_eq!(names.len(), Hook::ALL.len());
        assert!(names.iter().all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    }
}
