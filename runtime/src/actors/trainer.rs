//! The trainer: owns the network and optimizer on the job thread, consumes the
//! loader's batches, records each sample's training loss (the `loss` score), hands
//! snapshots to the scorer on schedule, and has its [`Checkpointer`] write checkpoints.
//!
//! [`Trainer::new`] sets up (optimizer, score tables, resume, scorer); [`Trainer::run`]
//! trains epoch by epoch ([`Trainer::step`] per batch, [`Trainer::end_epoch`] after
//! each epoch) and [`Trainer::finish`] collects the scores and runs the eval passes.
//!
//! Whatever differs between one process and a data-parallel group (rank 0's weights
//! broadcast at the start, each rank's shard of every global batch, gradients summed
//! across ranks during backward, the epoch's totals and per-sample rows summed at its
//! end, the cancel agreement, score sharding, the check of the replicas at the end) is
//! the job's [`Replication`]'s ([`super::replication`]).

use super::checkpointing::{Checkpointer, Training};
use super::replication::{replication, Replication};
use super::scorer::{Profiling, ScorerHandle, ScorerSetup};
use super::{EpochStats, JobError, JobEvent, PartialScores};
use crate::config::JobConfig;
use crate::data::{spawn_loader, Batch, Dataset, Feed, LoaderHandle, TrainingSamples};
use crate::dist::{DistTimings, ProcessGroup};
use crate::model::{learning_rate, CheckpointData, CheckpointState, Checkpoints, MixedPrecision, Network, Optimizer, Snapshot, Weights};
use crate::plugins::PluginSet;
use crate::scores::{builtin_snapshot_scorer, set_windows, Aggregate, ScoreTable, SnapshotScorer, CUMULATIVE_LOSS};
use crate::seeding;
use crate::threads::ThreadBudget;
use crate::verdict::{ProbabilityRecord, Recorded};
use actix::Recipient;
use memscope_sdk::{BatchInfo, Hook};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;
use tch::{Device, Kind, Reduction, Tensor};

/// Steps between reads of the running loss for progress display (each read syncs
/// the device).
const RUNNING_EVERY: usize = 10;

/// Everything the trainer needs.
pub struct TrainerSetup {
    /// The job.
    pub config: JobConfig,
    /// The network, built from the job's model source with its initial weights (the
    /// trainer loads a checkpoint's over them when resuming).
    pub network: Network,
    /// Training set, labels as trained.
    pub train: Arc<Dataset>,
    /// Held-out test set.
    pub test: Option<Dataset>,
    /// Device for model and batches.
    pub device: Device,
    /// Where checkpoints go; none for a job in memory (then none is written).
    pub checkpoints: Option<Checkpoints>,
    /// What to continue from: a checkpoint's contents (in a group, rank 0's on every rank).
    pub resume: Option<CheckpointData>,
    /// Where events go.
    pub events: Recipient<JobEvent>,
    /// Set to stop at the next step.
    pub cancel: Arc<AtomicBool>,
    /// The run directory (for the cancel message).
    pub run_dir: Option<PathBuf>,
    /// The job's plugins.
    pub plugins: Arc<PluginSet>,
    /// The process group of a data-parallel job; `None` for a single process.
    pub group: Option<ProcessGroup>,
}

/// Loss and accuracy of one eval pass.
#[derive(Debug, Clone, Copy)]
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
}

/// An eval pass's outcome for each sample.
#[derive(Debug, Clone, Default)]
pub struct SampleEvaluation {
    /// Cross-entropy of each sample.
    pub losses: Vec<f64>,
    /// Whether each sample's predicted class is its label.
    pub correct: Vec<bool>,
}

impl SampleEvaluation {
    /// Mean loss and accuracy over the samples `keep` selects (all when `None`).
    pub fn over(&self, keep: Option<&[bool]>) -> Evaluation {
        let chosen = |i: &usize| keep.is_none_or(|k| k[*i]);
        let n = (0..self.correct.len()).filter(chosen).count().max(1) as f64;
        let loss = (0..self.losses.len()).filter(chosen).map(|i| self.losses[i]).sum::<f64>();
        let correct = (0..self.correct.len()).filter(chosen).filter(|&i| self.correct[i]).count();
        Evaluation { loss: loss / n, accuracy: correct as f64 / n }
    }
}

/// What training produced.
pub struct TrainResult {
    /// Counters and timings at the end.
    pub state: CheckpointState,
    /// Every score table: `loss` first (when enabled), then snapshot scores.
    pub tables: Vec<ScoreTable>,
    /// The samples trained on: the whole set, or the job's `[train] subset`.
    pub samples: TrainingSamples,
    /// The class probabilities of the training passes, for the verdict.
    pub recorded: Recorded,
    /// Eval-mode pass over the samples trained on, after training.
    pub train_eval: Evaluation,
    /// Eval-mode pass over the training samples left out by `[train] subset`.
    pub held_out_eval: Option<Evaluation>,
    /// Whether the final network classifies each sample of the training set as
    /// labelled (eval mode): `correct.npy`.
    pub correct: Vec<bool>,
    /// Eval-mode pass over the test set, when given.
    pub test_eval: Option<Evaluation>,
    /// Trainable parameters.
    pub parameters: i64,
    /// First epoch trained by this process.
    pub start_epoch: usize,
    /// How the gradients were reduced across the group; `None` for a single process.
    pub dist: Option<DistTimings>,
    /// Whether snapshots were scored on a thread of the scorer's own, overlapping
    /// training (else inline, between epochs).
    pub scorer_thread: bool,
    /// The libtorch thread counts training used, in the order chosen (one entry unless
    /// `threads = 0` adapted to other processes' load, see [`crate::threads`]).
    pub threads: Vec<usize>,
    /// The trained network's variables, for the program that ran the job.
    pub weights: Weights,
}

/// Sums over the steps of one epoch, kept on the device (read once at its end).
struct EpochTotals {
    loss_sum: Tensor,
    correct: Tensor,
    seen: usize,
}

/// The training loop's state between steps.
pub struct Trainer {
    config: JobConfig,
    network: Network,
    optimizer: Optimizer,
    train: Arc<Dataset>,
    /// The samples each epoch trains on.
    samples: TrainingSamples,
    test: Option<Dataset>,
    device: Device,
    checkpointer: Checkpointer,
    events: Recipient<JobEvent>,
    run_dir: Option<PathBuf>,
    plugins: Arc<PluginSet>,
    scorer: ScorerHandle,
    /// Counters and timings, as a checkpoint records them.
    state: CheckpointState,
    /// First epoch trained by this process.
    start_epoch: usize,
    /// Whether the `loss` score (Cumulative Sample Loss) is recorded.
    record_loss: bool,
    loss_table: ScoreTable,
    /// This epoch's per-sample losses, on the device (a row of `loss_table` at its end).
    epoch_losses: Tensor,
    /// Each sample's class probabilities from the training passes (the verdict's input).
    verdict: ProbabilityRecord,
    /// The snapshots the checkpoint resumed from had not scored yet, scored first.
    pending: Vec<Snapshot>,
    /// The snapshot scorers' names (none: no snapshot is taken).
    snapshot_scorers: Vec<String>,
    /// Per-sample losses reach the CPU every step only when a plugin wants them.
    batch_hook: bool,
    /// Per-sample logits too, only when a plugin subscribes to `train_batch_outputs`.
    batch_outputs: bool,
    /// The training step's precision (`train.precision`).
    precision: MixedPrecision,
    /// One process or a data-parallel group (declared after the scorer, which uses its
    /// collectives, so that it is dropped last).
    replication: Box<dyn Replication>,
    /// With `threads = 0` on the CPU: the count follows the cores other processes leave free.
    thread_budget: Option<ThreadBudget>,
}

impl Trainer {
    /// Sets up the optimizer and score tables, restores the checkpoint to resume from
    /// (network, optimizer, tables, counters) and starts the scorer.
    pub fn new(setup: TrainerSetup) -> Result<Self, JobError> {
        let TrainerSetup { config, mut network, train, test, device, checkpoints, resume, events, cancel, run_dir, plugins, group } = setup;
        let n = train.len();
        let samples = TrainingSamples::for_job(config.train.subset.as_ref(), config.seed, n);
        let mut optimizer = Optimizer::new(&config.train, network.parameters()?);

        let record_loss = config.score.builtin.iter().any(|b| b == CUMULATIVE_LOSS);
        let mut loss_table = ScoreTable::new(CUMULATIVE_LOSS, Aggregate::Sum, n);
        let mut verdict = ProbabilityRecord::new(&train.labels, train.classes, device)?;
        let builtin = config.score.builtin.iter().filter_map(|name| builtin_snapshot_scorer(name));
        let from_plugins = plugins.scorers().into_iter().map(|s| Box::new(s) as Box<dyn SnapshotScorer>);
        let mut snapshot_scorers: Vec<_> = builtin
            .chain(from_plugins)
            .map(|s| {
                let table = ScoreTable::new(s.name(), Aggregate::Mean, n);
                (s, table)
            })
            .collect();
        let snapshot_scorer_names: Vec<String> = snapshot_scorers.iter().map(|(_, t)| t.name.clone()).collect();

        let mut state =
            CheckpointState { epochs_done: 0, steps: 0, samples: n, train_seconds: 0.0, score_seconds: 0.0, scored_samples: 0, world: 1 };
        // (Checked against the job when read: the same samples and number of processes.)
        let mut pending = Vec::new();
        if let Some(mut checkpoint) = resume {
            checkpoint.restore(&mut network, &mut optimizer)?;
            loss_table.restore(&checkpoint.scores)?;
            verdict.restore(&checkpoint.scores)?;
            for (_, table) in &mut snapshot_scorers {
                table.restore(&checkpoint.scores)?;
            }
            state = checkpoint.state.clone();
            // Stateful plugins continue where they were, dropped ones stay dropped.
            plugins.load_states(&checkpoint.plugins)?;
            pending = std::mem::take(&mut checkpoint.pending);
        }
        let start_epoch = state.epochs_done;
        let replication = replication(group, &network, &optimizer, cancel)?;
        state.world = replication.world();

        let scorer_setup = ScorerSetup {
            model: network.source().clone(),
            data: train.clone(),
            device,
            batch_size: config.score.batch_size,
            threads: config.threads,
            scorers: snapshot_scorers,
            seconds: state.score_seconds,
            scored_samples: state.scored_samples,
            events: events.clone(),
            plugins: plugins.clone(),
            profiling: Profiling::from_env(replication.shard()),
        };
        let scorer = match replication.scorer_thread(device)? {
            Some(sharding) => ScorerHandle::spawn(scorer_setup, sharding),
            None => ScorerHandle::inline(scorer_setup),
        };
        let batch_hook = plugins.wants(Hook::OnTrainBatchEnd);
        let batch_outputs = plugins.wants(Hook::TrainBatchOutputs);
        let epoch_losses = Tensor::zeros([n as i64], (Kind::Float, device));
        let thread_budget = if device == Device::Cpu { ThreadBudget::adaptive(config.threads, config.deterministic) } else { None };
        let checkpointer = Checkpointer::new(checkpoints, config.checkpoint.every, events.clone());
        let precision = MixedPrecision::new(config.train.precision, device)
            .map_err(|message| JobError::Setting { key: "train.precision".into(), message })?;
        Ok(Trainer {
            config,
            network,
            optimizer,
            train,
            samples,
            test,
            device,
            checkpointer,
            events,
            run_dir,
            plugins,
            scorer,
            state,
            start_epoch,
            record_loss,
            loss_table,
            epoch_losses,
            verdict,
            pending,
            snapshot_scorers: snapshot_scorer_names,
            batch_hook,
            batch_outputs,
            precision,
            replication,
            thread_budget,
        })
    }

    /// Announces the job, trains every remaining epoch, then [`Trainer::finish`]es.
    pub fn run(mut self) -> Result<TrainResult, JobError> {
        let (n, epochs) = (self.samples.len(), self.config.train.epochs);
        let batch_size = self.config.train.batch_size;
        self.events.do_send(JobEvent::JobStarted {
            run: self.config.name.clone(),
            samples: n,
            epochs,
            start_epoch: self.start_epoch + 1,
            steps_per_epoch: n.div_ceil(batch_size),
            device: format!("{:?}", self.device).to_lowercase(),
            scorers: self.snapshot_scorers.clone(),
            scored_epochs: self
                .pending
                .iter()
                .map(|s| s.epoch + 1)
                .chain((self.start_epoch..epochs).filter(|&e| self.scores_snapshot(e)).map(|e| e + 1))
                .collect(),
        });
        for snapshot in std::mem::take(&mut self.pending) {
            tracing::info!("scoring the snapshot of epoch {} the checkpoint had not scored", snapshot.epoch + 1);
            self.scorer.score(snapshot, self.replication.scores())?;
        }
        let loader = spawn_loader(
            self.train.clone(),
            self.config.data.augment.clone(),
            self.config.seed,
            batch_size,
            Feed { samples: self.samples.indices().clone(), epochs: self.start_epoch..epochs },
            self.config.train.prefetch,
            self.replication.shard(),
        );
        // The first choice waits out a short measurement: before the epochs' clocks start.
        self.adjust_threads();
        for epoch in self.start_epoch..epochs {
            self.epoch(epoch, &loader)?;
        }
        drop(loader);
        self.finish()
    }

    /// With `threads = 0` on the CPU: follows the cores other processes leave free.
    fn adjust_threads(&mut self) {
        if let Some(budget) = &mut self.thread_budget {
            budget.adjust();
        }
    }

    /// Trains one epoch: every batch, then [`Trainer::end_epoch`]. Stops at the first
    /// step that finds the cancel flag set.
    fn epoch(&mut self, epoch: usize, loader: &LoaderHandle) -> Result<(), JobError> {
        let lr = learning_rate(&self.config.train, epoch);
        // What draws from libtorch's generator while training (dropout) draws the
        // same in epoch k whether or not the process restarted before it.
        tch::manual_seed(seeding::torch_seed(self.config.seed, epoch));
        let started = Instant::now();
        let mut totals = EpochTotals {
            loss_sum: Tensor::zeros([], (Kind::Double, self.device)),
            correct: Tensor::zeros([], (Kind::Int64, self.device)),
            seen: 0,
        };
        if self.replication.fills_own_rows() {
            // Each rank fills in its shard's rows; the sum across ranks is the epoch's.
            if self.record_loss {
                let _ = self.epoch_losses.f_zero_()?;
            }
            self.verdict.clear_epoch()?;
        }
        loop {
            if self.replication.cancelled() {
                return Err(self.stop());
            }
            let batch = loader
                .next()
                .map_err(|_| JobError::Panicked { thread: "loader".into(), message: "stopped before the last epoch".into() })?;
            let last = batch.last_in_epoch;
            self.step(epoch, lr, &batch, &mut totals)?;
            if last {
                break;
            }
        }
        self.end_epoch(epoch, lr, totals, started.elapsed().as_secs_f64())
    }

    /// One optimizer step on `batch`: forward, per-sample losses, update, the
    /// `on_train_batch_end` hook and the step's event.
    fn step(&mut self, epoch: usize, lr: f64, batch: &Batch, totals: &mut EpochTotals) -> Result<(), JobError> {
        self.adjust_threads();
        let device = self.device;
        let step_started = Instant::now();
        let images = batch.images.f_to_device(device)?;
        let labels = batch.labels.f_to_device(device)?;
        let (logits, per_sample) = {
            // Autocast covers the forward pass and the loss, not the backward pass.
            let _autocast = self.precision.autocast()?;
            let logits = self.network.forward(&images, true)?;
            let per_sample = logits.f_cross_entropy_loss::<Tensor>(&labels, None, Reduction::None, -100, 0.0)?;
            (logits, per_sample)
        };
        // What is recorded from the step (the losses, the verdict's probabilities, the
        // plugins' logits) is float32 whatever the step's precision.
        let float32 = |t: Tensor| if t.kind() == Kind::Float { Ok(t) } else { t.f_to_kind(Kind::Float) };
        let (logits, per_sample) = (float32(logits)?, float32(per_sample)?);
        // Processes agree on a stop only where the running loss is read (a device
        // sync), on the same steps everywhere.
        let agree_on_cancel = batch.step % RUNNING_EVERY == RUNNING_EVERY - 1 || batch.last_in_epoch;
        let grad = self.replication.backward(&self.optimizer, &per_sample, batch, self.precision.loss_scale(), agree_on_cancel)?;
        if let Some(grad) = self.precision.unscale(grad)? {
            self.optimizer.step_flat(lr, grad)?;
        }

        let per_sample = per_sample.f_detach()?;
        if self.batch_hook {
            let indices = Vec::<i64>::try_from(&batch.indices)?;
            let losses = Vec::<f32>::try_from(&per_sample.f_to_device(Device::Cpu)?)?;
            let labels = Vec::<i64>::try_from(&batch.labels)?;
            let logits = match self.batch_outputs {
                true => Vec::<f32>::try_from(
                    &logits.f_detach()?.f_to_device(Device::Cpu)?.f_to_kind(Kind::Float)?.f_contiguous()?.f_flatten(0, -1)?,
                )?,
                false => Vec::new(),
            };
            let classes = self.train.classes;
            let step = BatchInfo { epoch, step: batch.step, indices: &indices, losses: &losses, labels: &labels, logits: &logits, classes };
            self.plugins.train_batch_end(&step)?;
        }
        let indices = batch.indices.f_to_device(device)?;
        if self.record_loss {
            let _ = self.epoch_losses.f_index_copy_(0, &indices, &per_sample)?;
        }
        self.verdict.observe(&indices, &logits)?;
        totals.loss_sum += per_sample.f_sum(Kind::Double)?;
        totals.correct += logits.f_argmax(-1, false)?.f_eq_tensor(&labels)?.f_sum(Kind::Int64)?;
        totals.seen += batch.labels.size()[0] as usize;
        self.state.steps += 1;
        let running = (batch.step % RUNNING_EVERY == RUNNING_EVERY - 1)
            .then(|| (totals.loss_sum.double_value(&[]) / totals.seen as f64, totals.correct.int64_value(&[]) as f64 / totals.seen as f64));
        self.events.do_send(JobEvent::TrainBatchEnd {
            epoch: epoch + 1,
            step: batch.step,
            samples: batch.labels.size()[0] as usize,
            seconds: step_started.elapsed().as_secs_f64(),
            running,
        });
        Ok(())
    }

    /// After an epoch's last step: its statistics (the `loss` row, the hook, the
    /// event), a snapshot for the scorer when due, and a checkpoint when due (else the
    /// copies a stop before the next one would write).
    fn end_epoch(&mut self, epoch: usize, lr: f64, totals: EpochTotals, seconds: f64) -> Result<(), JobError> {
        // The epoch's means are over the samples it trained on.
        let (n, epochs) = (self.samples.len(), self.config.train.epochs);
        let mut rows = vec![self.verdict.epoch_mut()];
        if self.record_loss {
            rows.insert(0, &mut self.epoch_losses);
        }
        let (loss_sum, correct) = self.replication.reduce_epoch(totals.loss_sum, totals.correct, &mut rows)?;
        let loss = loss_sum / n as f64;
        let accuracy = correct / n as f64;
        self.state.train_seconds += seconds;
        self.state.epochs_done = epoch + 1;
        if self.record_loss {
            self.loss_table.push(epoch, Vec::<f32>::try_from(&self.epoch_losses.f_to_device(Device::Cpu)?)?);
        }
        self.verdict.end_epoch(epoch)?;
        self.plugins.train_epoch_end(epoch, loss, accuracy)?;
        self.events.do_send(JobEvent::TrainEpochEnd(EpochStats {
            epoch: epoch + 1,
            epochs,
            loss,
            accuracy,
            seconds,
            samples_per_second: n as f64 / seconds,
            lr,
        }));

        let last = epoch + 1 == epochs;
        if self.scores_snapshot(epoch) {
            self.scorer.score(self.network.snapshot(epoch)?, self.replication.scores())?;
        }
        let training = Training {
            network: &self.network,
            optimizer: &self.optimizer,
            plugins: &self.plugins,
            loss: &self.loss_table,
            verdict: &self.verdict,
        };
        self.checkpointer.end_epoch(epoch, last, training, &mut self.state, &mut self.scorer, self.replication.as_ref())
    }

    /// Whether the weights at the end of `epoch` (0-based) are scored: every
    /// `score.every`-th epoch and the last, when there is a snapshot scorer.
    fn scores_snapshot(&self, epoch: usize) -> bool {
        !self.snapshot_scorers.is_empty() && ((epoch + 1).is_multiple_of(self.config.score.every) || epoch + 1 == self.config.train.epochs)
    }

    /// The cancel flag was seen: writes the newest epoch no checkpoint holds yet, and
    /// returns the error that ends the job.
    fn stop(&mut self) -> JobError {
        // The scorer holds only snapshots up to the newest finished epoch, as at any
        // epoch end.
        match self.checkpointer.write_unsaved(&self.loss_table, &self.verdict, &mut self.scorer, self.replication.as_ref()) {
            Ok(Some(epochs)) => tracing::info!("stopping: wrote a checkpoint at epoch {epochs}"),
            Ok(None) => {}
            Err(e) => return e,
        }
        let partial = match self.partial_scores() {
            Ok(partial) => partial,
            Err(e) => return e,
        };
        JobError::Cancelled { epochs_done: self.state.epochs_done, run_dir: self.run_dir.clone(), world: self.state.world, partial }
    }

    /// The tables of the epochs done, combined as a job of that many epochs would
    /// combine them. A scorer thread first scores the snapshots still queued (as its
    /// end would anyway, and in a group every rank's alike), so every scored epoch
    /// done is there.
    fn partial_scores(&mut self) -> Result<Box<PartialScores>, JobError> {
        let mut scores = Vec::new();
        if self.record_loss {
            scores.push(self.loss_table.clone());
        }
        let report = self.scorer.report()?;
        scores.extend(report.tables);
        set_windows(&self.config.score, &mut scores, self.state.epochs_done);
        let directions = scores.iter().map(|t| (t.name.clone(), self.plugins.direction(&t.name))).collect();
        Ok(Box::new(PartialScores { scores, directions }))
    }

    /// After the last epoch: the scorer's tables and totals, then eval passes over the
    /// training set and the test set.
    pub fn finish(self) -> Result<TrainResult, JobError> {
        let Trainer {
            config,
            network,
            train,
            samples,
            test,
            events,
            scorer,
            mut state,
            start_epoch,
            record_loss,
            loss_table,
            verdict,
            replication,
            thread_budget,
            ..
        } = self;
        // The scorer first: a scorer thread in a group still gathers with the others.
        let scorer_thread = scorer.is_thread();
        let report = scorer.finish()?;
        let dist = replication.finish(&network)?;
        state.score_seconds = report.seconds;
        state.scored_samples = report.scored_samples;
        let mut tables = Vec::new();
        if record_loss {
            tables.push(loss_table);
        }
        tables.extend(report.tables);

        let eval_batch = config.score.batch_size;
        let per_sample = evaluate(&network, &train, eval_batch)?;
        let (train_eval, held_out_eval) = match samples.is_whole() {
            true => (per_sample.over(None), None),
            false => {
                let mask = samples.mask();
                let out: Vec<bool> = mask.iter().map(|m| !m).collect();
                (per_sample.over(Some(&mask)), Some(per_sample.over(Some(&out))))
            }
        };
        let test_eval = test.as_ref().map(|t| evaluate(&network, t, eval_batch).map(|e| e.over(None))).transpose()?;
        for (subset, eval) in [("train", Some(train_eval)), ("held_out", held_out_eval), ("test", test_eval)] {
            if let Some(e) = eval {
                events.do_send(JobEvent::Evaluated { subset: subset.to_string(), loss: e.loss, accuracy: e.accuracy });
            }
        }
        let recorded = verdict.finish()?;
        // libtorch's count where it is fixed, or where the CPU time could not be read.
        let threads = thread_budget
            .map(ThreadBudget::into_used)
            .filter(|used| !used.is_empty())
            .unwrap_or_else(|| vec![tch::get_num_threads().max(1) as usize]);
        Ok(TrainResult {
            state,
            tables,
            samples,
            recorded,
            train_eval,
            held_out_eval,
            correct: per_sample.correct,
            test_eval,
            parameters: network.parameter_count()?,
            start_epoch,
            dist,
            scorer_thread,
            threads,
            weights: Weights::of(&network)?,
        })
    }
}

/// Each sample's loss and correctness under `network` in eval mode over `data`,
/// without augmentation.
fn evaluate(network: &Network, data: &Dataset, batch_size: usize) -> Result<SampleEvaluation, JobError> {
    let device = network.device();
    let mut out = SampleEvaluation { losses: Vec::with_capacity(data.len()), correct: Vec::with_capacity(data.len()) };
    tch::no_grad(|| -> Result<(), JobError> {
        for start in (0..data.len()).step_by(batch_size) {
            let end = (start + batch_size).min(data.len());
            let (images, labels) = data.tensors(start..end, device)?;
            let logits = network.forward(&images, false)?;
            let losses = logits.f_cross_entropy_loss::<Tensor>(&labels, None, Reduction::None, -100, 0.0)?;
            out.losses.extend(Vec::<f64>::try_from(&losses.f_to_kind(Kind::Double)?.f_to_device(Device::Cpu)?)?);
            let correct = logits.f_argmax(-1, false)?.f_eq_tensor(&labels)?;
            out.correct.extend(Vec::<bool>::try_from(&correct.f_to_device(Device::Cpu)?)?);
        }
        Ok(())
    })?;
    Ok(out)
}
