//! Events of a job, one enum, delivered by the bus to every processor. Named after
//! the hook vocabulary (`memscope_sdk::Hook`). They serialize as JSON lines
//! (`memscope run --events-json`), which is how the daemon follows the jobs it runs in
//! child processes. Epochs count from 1, as everywhere a user sees them (the trainer
//! and checkpoints count from 0 inside).

use actix::Message;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// What one epoch of training achieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// The epoch (1-based).
    pub epoch: usize,
    /// Total epochs of the job.
    pub epochs: usize,
    /// Mean training loss over the epoch (train mode, augmented).
    pub loss: f64,
    /// Training accuracy over the epoch (train mode, augmented).
    pub accuracy: f64,
    /// Seconds spent in the epoch's training steps.
    pub seconds: f64,
    /// Training samples per second.
    pub samples_per_second: f64,
    /// Learning rate used.
    pub lr: f64,
}

/// Something that happened in a job.
#[derive(Debug, Clone, Message, Serialize, Deserialize)]
#[rtype(result = "()")]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JobEvent {
    /// `on_job_start`: the job is configured and its data loaded.
    JobStarted {
        /// Run name.
        run: String,
        /// Training samples.
        samples: usize,
        /// Total epochs.
        epochs: usize,
        /// First epoch this process trains (1-based: 1, or later when resuming).
        start_epoch: usize,
        /// Optimizer steps per epoch.
        steps_per_epoch: usize,
        /// Device in use.
        device: String,
        /// The snapshot scorers, in the order each snapshot runs them.
        #[serde(default)]
        scorers: Vec<String>,
        /// The epochs (1-based) whose snapshots are still to be scored: with the
        /// training steps, what the time left depends on.
        #[serde(default)]
        scored_epochs: Vec<usize>,
    },
    /// Images of an image dataset decoded so far (first run on a dataset; later runs
    /// read the decoded-image cache and send none).
    DataDecoding {
        /// Images decoded (or skipped) so far.
        done: usize,
        /// Images to decode.
        total: usize,
    },
    /// A plugin published a per-sample mask in `on_dataset_ready` (the noise
    /// injector's `noise_mask`): observers can split scores by it.
    MaskReady {
        /// The mask's name.
        name: String,
        /// One flag per training sample.
        mask: Arc<Vec<bool>>,
    },
    /// `on_train_batch_end`: one optimizer step finished.
    TrainBatchEnd {
        /// The epoch (1-based).
        epoch: usize,
        /// Step within the epoch.
        step: usize,
        /// Samples in the batch.
        samples: usize,
        /// Seconds the step took (forward, backward, update).
        seconds: f64,
        /// Running mean loss and accuracy of the epoch so far, reported every few
        /// steps (reading them forces a device sync, so not every step).
        running: Option<(f64, f64)>,
    },
    /// `on_train_epoch_end`.
    TrainEpochEnd(EpochStats),
    /// An eval-mode pass after training over the training set (`subset = "train"`)
    /// or the held-out test set (`"test"`).
    Evaluated {
        /// `train` or `test`.
        subset: String,
        /// Mean cross-entropy.
        loss: f64,
        /// Fraction classified correctly.
        accuracy: f64,
    },
    /// The scoring of a snapshot begins: each scorer in turn passes over the samples.
    ScoringStarted {
        /// The epoch (1-based) whose weights are scored.
        epoch: usize,
        /// The scorers, in the order they run.
        scorers: Vec<String>,
        /// Samples each scorer scores (in a process group, this rank's block).
        samples: usize,
    },
    /// Samples one scorer has scored so far in a snapshot: sent after its first batch,
    /// then at most every few tenths of a second, and after its last batch.
    ScoringProgress {
        /// The epoch (1-based) whose weights are scored.
        epoch: usize,
        /// The scorer.
        scorer: String,
        /// Samples scored.
        done: usize,
        /// Samples to score.
        total: usize,
    },
    /// Every scorer has passed over the snapshot (or was dropped).
    ScoringEnded {
        /// The epoch (1-based) whose weights were scored.
        epoch: usize,
        /// Seconds the whole snapshot took, every scorer together.
        seconds: f64,
    },
    /// `on_scores`: a scorer finished a pass over the training set.
    ScoresReady {
        /// The epoch (1-based) of the snapshot.
        epoch: usize,
        /// Scorer name.
        scorer: String,
        /// One value per training sample.
        values: Arc<Vec<f32>>,
        /// Seconds the pass took.
        seconds: f64,
    },
    /// A checkpoint was written.
    CheckpointWritten {
        /// Epochs completed at the checkpoint.
        epochs_done: usize,
        /// Its directory.
        path: PathBuf,
    },
    /// `on_job_end`.
    JobEnded {
        /// Whether the job completed.
        ok: bool,
        /// One line on how it ended.
        message: String,
    },
}

/// Something that reacts to job events (the runtime's event bus hands each event to
/// every processor, in order; the daemon replays a job's events into one).
pub trait EventProcessor: Send {
    /// Handles one event.
    fn process(&mut self, event: &JobEvent);
}
