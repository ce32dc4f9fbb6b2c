//! Checkpointing, apart from training: which epoch ends write a checkpoint
//! (`checkpoint.every` and the last), what one holds (the counters, the network, the
//! optimizer state, every score table, the verdict's record, the plugins' states), and
//! the copies kept at the other epoch ends, so that a stop (Ctrl-C, a cancel, a daemon
//! shutdown) still writes the newest finished epoch: a stopped job then loses at most
//! the epoch it was in, whatever `checkpoint.every` is.
//!
//! A checkpoint never waits for the scorer: it records the tables of the snapshots
//! scored so far, and the snapshots still queued on a scorer thread ([`ScorerHandle::checkpoint`]),
//! which a resumed run scores before it trains on. (A plugin's `on_scores` of a
//! snapshot scored while its state is saved may then be told that snapshot again after
//! a resume; no built-in plugin keeps state from `on_scores`.)

use super::replication::Replication;
use super::scorer::ScorerHandle;
use super::{JobError, JobEvent};
use crate::model::{CheckpointState, Checkpoints, Network, Optimizer};
use crate::plugins::{PluginSet, PluginStates};
use crate::scores::ScoreTable;
use crate::verdict::ProbabilityRecord;
use actix::Recipient;
use tch::Tensor;

/// What training holds at an epoch's end, besides the counters and the scorer's tables.
pub struct Training<'a> {
    /// The network with the epoch's weights.
    pub network: &'a Network,
    /// The optimizer after the epoch's last step.
    pub optimizer: &'a Optimizer,
    /// The plugins, asked for their states.
    pub plugins: &'a PluginSet,
    /// The `loss` score's table.
    pub loss: &'a ScoreTable,
    /// The verdict's record of class probabilities.
    pub verdict: &'a ProbabilityRecord,
}

/// Copies of what a checkpoint at an epoch's end holds, taken when no checkpoint was
/// due then.
struct EpochBoundary {
    state: CheckpointState,
    model: Vec<(String, Tensor)>,
    optimizer: Vec<(String, Tensor)>,
    plugins: PluginStates,
}

/// Writes a job's checkpoints.
pub struct Checkpointer {
    /// Where they go; none for a job in memory (then none is written).
    checkpoints: Option<Checkpoints>,
    /// Epochs between checkpoints; 0 when none is written.
    every: usize,
    /// The end of the newest epoch that no checkpoint holds yet.
    unsaved: Option<EpochBoundary>,
    events: Recipient<JobEvent>,
}

impl Checkpointer {
    /// A checkpoint every `every` epochs (0: none) into `checkpoints`, each told on
    /// `events`.
    pub fn new(checkpoints: Option<Checkpoints>, every: usize, events: Recipient<JobEvent>) -> Self {
        let every = if checkpoints.is_some() { every } else { 0 };
        Checkpointer { checkpoints, every, unsaved: None, events }
    }

    /// After epoch `epoch` (0-based; `last` of the job) and its snapshot's handing to
    /// the scorer: a checkpoint when due (recording the scorer's totals in `state`),
    /// else the copies a stop before the next one writes.
    pub fn end_epoch(
        &mut self,
        epoch: usize,
        last: bool,
        training: Training<'_>,
        state: &mut CheckpointState,
        scorer: &mut ScorerHandle,
        replication: &dyn Replication,
    ) -> Result<(), JobError> {
        if self.every == 0 {
            return Ok(());
        }
        // The plugins' state at this epoch's end, for whichever checkpoint holds it.
        let plugins = training.plugins.save_states()?;
        if (epoch + 1).is_multiple_of(self.every) || last {
            let boundary = EpochBoundary {
                state: state.clone(),
                model: training.network.variables()?,
                optimizer: training.optimizer.state(),
                plugins,
            };
            let written = self.write(boundary, training.loss, training.verdict, scorer, replication)?;
            *state = written;
            self.unsaved = None;
        } else {
            self.unsaved = Some(EpochBoundary {
                state: state.clone(),
                model: training.network.snapshot(epoch)?.variables,
                optimizer: training.optimizer.state().into_iter().map(|(name, t)| (name, t.copy())).collect(),
                plugins,
            });
        }
        Ok(())
    }

    /// On a stop: writes the newest finished epoch that no checkpoint holds yet, with
    /// the tables as they are (they hold rows only up to that epoch). Returns the
    /// epochs it holds, when it wrote one.
    pub fn write_unsaved(
        &mut self,
        loss: &ScoreTable,
        verdict: &ProbabilityRecord,
        scorer: &mut ScorerHandle,
        replication: &dyn Replication,
    ) -> Result<Option<usize>, JobError> {
        let Some(boundary) = self.unsaved.take() else { return Ok(None) };
        let state = self.write(boundary, loss, verdict, scorer, replication)?;
        Ok(Some(state.epochs_done))
    }

    /// Records the scorer's totals in the boundary's state, and writes a checkpoint of
    /// it with every score table and the snapshots the scorer has yet to score; returns
    /// that state. In a group, the write is not cut short by the liveness watch (a finished
    /// epoch would be lost).
    fn write(
        &self,
        boundary: EpochBoundary,
        loss: &ScoreTable,
        verdict: &ProbabilityRecord,
        scorer: &mut ScorerHandle,
        replication: &dyn Replication,
    ) -> Result<CheckpointState, JobError> {
        let EpochBoundary { mut state, model, optimizer, plugins } = boundary;
        let Some(checkpoints) = &self.checkpoints else { return Ok(state) };
        let (report, pending) = scorer.checkpoint()?;
        state.score_seconds = report.seconds;
        state.scored_samples = report.scored_samples;
        let mut tensors = loss.to_tensors();
        tensors.extend(verdict.to_tensors()?);
        for table in &report.tables {
            tensors.extend(table.to_tensors());
        }
        let writing = replication.uninterruptible();
        let path = checkpoints.write(&state, &model, &optimizer, &tensors, &plugins, &pending)?;
        drop(writing);
        self.events.do_send(JobEvent::CheckpointWritten { epochs_done: state.epochs_done, path });
        Ok(state)
    }
}
