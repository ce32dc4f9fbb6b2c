//! [`JobHandle`]: a running job, as its program sees it: cancel it, read its progress,
//! wait for its outcome.

use crate::actors::{EventProcessor, JobError, JobEvent, JobOutcome};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Where a job is, from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Whether training has started (data loaded, plugins ready).
    pub started: bool,
    /// Epochs the job trains in all.
    pub epochs: usize,
    /// Epochs completed (counting those before a resume).
    pub epochs_done: usize,
    /// Optimizer steps per epoch.
    pub steps_per_epoch: usize,
    /// Steps done in the current epoch.
    pub step: usize,
    /// Mean training loss of the last completed epoch.
    pub last_loss: Option<f64>,
    /// Snapshot-scoring passes completed.
    pub scoring_passes: usize,
    /// `Some(true)` once completed, `Some(false)` once failed or cancelled.
    pub ended: Option<bool>,
}

/// Keeps a [`Progress`] up to date (the first processor of every job the builder starts).
#[derive(Default)]
pub(crate) struct ProgressTracker {
    progress: Arc<Mutex<Progress>>,
}

impl ProgressTracker {
    pub(crate) fn shared(&self) -> Arc<Mutex<Progress>> {
        self.progress.clone()
    }
}

impl EventProcessor for ProgressTracker {
    fn process(&mut self, event: &JobEvent) {
        let mut p = self.progress.lock().expect("progress lock");
        match event {
            JobEvent::JobStarted { epochs, start_epoch, steps_per_epoch, .. } => {
                p.started = true;
                p.epochs = *epochs;
                p.epochs_done = start_epoch - 1;
                p.steps_per_epoch = *steps_per_epoch;
            }
            JobEvent::TrainBatchEnd { step, .. } => p.step = step + 1,
            JobEvent::TrainEpochEnd(stats) => {
                p.epochs_done = stats.epoch;
                p.step = 0;
                p.last_loss = Some(stats.loss);
            }
            JobEvent::ScoresReady { .. } => p.scoring_passes += 1,
            JobEvent::JobEnded { ok, .. } => p.ended = Some(*ok),
            _ => {}
        }
    }
}

/// Cancels a job from anywhere (a signal handler's thread, an event callback).
#[derive(Debug, Clone)]
pub struct Canceller(Arc<AtomicBool>);

impl Canceller {
    /// Asks the job to stop at its next training step. With a run directory it then
    /// writes the newest completed epoch as a checkpoint (unless one holds it already),
    /// and [`JobHandle::join`] returns [`JobError::Cancelled`].
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A running job.
pub struct JobHandle {
    thread: JoinHandle<Result<JobOutcome, JobError>>,
    cancel: Arc<AtomicBool>,
    progress: Arc<Mutex<Progress>>,
}

impl JobHandle {
    pub(crate) fn new(thread: JoinHandle<Result<JobOutcome, JobError>>, cancel: Arc<AtomicBool>, progress: Arc<Mutex<Progress>>) -> Self {
        JobHandle { thread, cancel, progress }
    }

    /// Asks the job to stop at its next training step: see [`Canceller::cancel`].
    pub fn cancel(&self) {
        self.canceller().cancel()
    }

    /// Something that cancels this job, to hand to another thread.
    pub fn canceller(&self) -> Canceller {
        Canceller(self.cancel.clone())
    }

    /// Where the job is now.
    pub fn progress(&self) -> Progress {
        self.progress.lock().expect("progress lock").clone()
    }

    /// Whether the job has ended (its outcome is ready).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the job to end and returns its outcome, after every event has been
    /// delivered.
    pub fn join(self) -> Result<JobOutcome, JobError> {
        self.thread.join().unwrap_or_else(|panic| Err(JobError::from_panic("supervisor", panic)))
    }
}
