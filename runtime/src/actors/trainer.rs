//! The trainer: owns the network and optimizer on the job thread, consumes the
//! loader's batches, records each sample's training loss (the `loss` score), hands
//! snapshots to the scorer on schedule, and writes checkpoints.
//!
//! [`Trainer::new`] sets up (optimizer, score tables, resume, scorer); [`Trainer::run`]
//! trains epoch by epoch ([`Trainer::step`] per batch, [`Trainer::end_epoch`] after
//! each epoch) and [`Trainer::finish`] collects the scores and runs the eval passes.
//!
//! In a process group (data-parallel training, [`crate::dist`]) every rank holds the
//! whole network: rank 0's weights are broadcast at the start, each rank trains on its
//! shard of every global batch ([`Shard`]), the gradients are summed across ranks in
//! buckets during the backward pass by c10d's own `Reducer`, as DDP does
//! ([`GradientReducer`]), and the epoch's totals and per-sample losses are
//! summed across ranks at its end. Snapshots are scored on the trainer's thread, each
//! rank its block of samples ([`super::scorer`]). After training every rank checks
//! that it holds rank 0's weights bit for bit.

use super::scorer::{ScorerHandle, ScorerSetup};
use super::{EpochStats, JobError, JobEvent, PartialScores};
use crate::config::JobConfig;
use crate::data::{spawn_loader, Batch, Dataset, Feed, LoaderHandle, Shard, TrainingSamples};
use crate::dist::{broadcast_from_rank0, ranks_differing_from_rank0, DistError, DistTimings, GradientReducer, ProcessGroup, Reduce};
use crate::model::{learning_rate, CheckpointData, CheckpointState, Checkpoints, Network, Optimizer, Weights};
use crate::plugins::{PluginSet, PluginStates};
use crate::scores::{builtin_snapshot_scorer, set_windows, Aggregate, ScoreTable, SnapshotScorer, CUMULATIVE_LOSS};
use crate::seeding;
use crate::threads::ThreadBudget;
use crate::verdict::{ProbabilityRecord, Recorded};
use actix::Recipient;
use memscope_sdk::{BatchInfo, Hook};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tch::{Device, Kind, Reduction, Tensor};

/// Steps between reads of the running loss for progress display (each read syncs
/// the device).
const RUNNING_EVERY: usize = 10;

/// Copies of what a checkpoint at an epoch's end holds, taken when no checkpoint was
/// due then.
struct EpochBoundary {
    state: CheckpointState,
    model: Vec<(String, Tensor)>,
    optimizer: Vec<(String, Tensor)>,
    plugins: PluginStates,
}

/// What a checkpoint holds besides the counters and the scorer's tables.
struct CheckpointParts<'a> {
    model: &'a [(String, Tensor)],
    optimizer: &'a [(String, Tensor)],
    loss: &'a ScoreTable,
    verdict: &'a ProbabilityRecord,
    plugins: &'a PluginStates,
}

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
    checkpoints: Option<Checkpoints>,
    events: Recipient<JobEvent>,
    cancel: Arc<AtomicBool>,
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
    /// The snapshot scorers' names (none: no snapshot is taken).
    snapshot_scorers: Vec<String>,
    /// Per-sample losses reach the CPU every step only when a plugin wants them.
    batch_hook: bool,
    /// Per-sample logits too, only when a plugin subscribes to `train_batch_outputs`.
    batch_outputs: bool,
    /// The state at the end of the newest epoch that no checkpoint holds yet, so that a
    /// stop (Ctrl-C, a cancel, a daemon shutdown) can still write it: a stopped job
    /// then loses at most the epoch it was in, whatever `checkpoint.every` is.
    unsaved: Option<EpochBoundary>,
    /// In a group: sums each step's gradients across ranks during backward (declared
    /// before the group, so that it is dropped first).
    reducer: Option<GradientReducer>,
    /// The process group of a data-parallel job.
    group: Option<ProcessGroup>,
    /// In a group: some rank's cancel flag was set, as the last step's all-reduce
    /// told every rank, so that all of them stop before the same step.
    group_cancelled: bool,
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

        let mut state = CheckpointState {
            epochs_done: 0,
            steps: 0,
            samples: n,
            train_seconds: 0.0,
            score_seconds: 0.0,
            scored_samples: 0,
            world: group.as_ref().map_or(1, |g| g.world()),
        };
        // (Checked against the job when read: the same samples and number of processes.)
        if let Some(checkpoint) = &resume {
            checkpoint.restore(&mut network, &mut optimizer)?;
            loss_table.restore(&checkpoint.scores)?;
            verdict.restore(&checkpoint.scores)?;
            for (_, table) in &mut snapshot_scorers {
                table.restore(&checkpoint.scores)?;
            }
            state = checkpoint.state.clone();
            // Stateful plugins continue where they were, dropped ones stay dropped.
            plugins.load_states(&checkpoint.plugins)?;
        }
        let start_epoch = state.epochs_done;
        if let Some(group) = &group {
            // Every rank built the same network from the same seed; the broadcast makes
            // that a fact rather than an assumption (a model file that differs on one
            // machine, a kernel that initializes differently).
            let variables: Vec<Tensor> = network.variables()?.into_iter().map(|(_, t)| t).collect();
            broadcast_from_rank0(group, &variables)?;
        }
        let reducer = group.as_ref().map(|g| g.gradient_reducer(optimizer.params())).transpose()?;

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
        };
        // In a group the scorer shares the trainer's thread: collectives must come from
        // one thread, in the same order on every rank.
        let scorer =
            if device == Device::Cpu || group.is_some() { ScorerHandle::inline(scorer_setup) } else { ScorerHandle::spawn(scorer_setup) };
        let batch_hook = plugins.wants(Hook::OnTrainBatchEnd);
        let batch_outputs = plugins.wants(Hook::TrainBatchOutputs);
        let epoch_losses = Tensor::zeros([n as i64], (Kind::Float, device));
        let thread_budget = if device == Device::Cpu { ThreadBudget::adaptive(config.threads, config.deterministic) } else { None };
        Ok(Trainer {
            config,
            network,
            optimizer,
            train,
            samples,
            test,
            device,
            checkpoints,
            events,
            cancel,
            run_dir,
            plugins,
            scorer,
            state,
            start_epoch,
            record_loss,
            loss_table,
            epoch_losses,
            verdict,
            snapshot_scorers: snapshot_scorer_names,
            batch_hook,
            batch_outputs,
            unsaved: None,
            group,
            reducer,
            group_cancelled: false,
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
            scored_epochs: (self.start_epoch..epochs).filter(|&e| self.scores_snapshot(e)).map(|e| e + 1).collect(),
        });
        let loader = spawn_loader(
            self.train.clone(),
            self.config.data.augment.clone(),
            self.config.seed,
            batch_size,
            Feed { samples: self.samples.indices().clone(), epochs: self.start_epoch..epochs },
            self.config.train.prefetch,
            self.group.as_ref().map_or(Shard::WHOLE, |g| Shard { rank: g.rank(), world: g.world() }),
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
        if self.group.is_some() {
            // Each rank fills in its shard's rows; the sum across ranks is the epoch's.
            if self.record_loss {
                let _ = self.epoch_losses.f_zero_()?;
            }
            self.verdict.clear_epoch()?;
        }
        loop {
            // A rank alone reads its flag; ranks read the group's verdict (see `step`).
            let cancelled = if self.group.is_some() { self.group_cancelled } else { self.cancel.load(Ordering::Relaxed) };
            if cancelled {
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
        let logits = self.network.forward(&images, true)?;
        let per_sample = logits.f_cross_entropy_loss::<Tensor>(&labels, None, Reduction::None, -100, 0.0)?;
        match (&self.group, &mut self.reducer) {
            (Some(group), Some(reducer)) => {
                // Each rank's loss is its samples' sum over the global batch size, so
                // the ranks' summed gradients are the global batch's mean gradient,
                // however unevenly a short last batch was split. A rank without a
                // sample still takes part in every bucket, with a zero gradient.
                let loss = if batch.labels.size()[0] == 0 {
                    zero_loss(self.optimizer.params())?
                } else {
                    per_sample.f_sum(Kind::Float)?.f_div_scalar(batch.global_size as f64)?
                };
                reducer.backward(group, &loss)?;
                let grads = self.optimizer.params().iter().map(Tensor::f_grad).collect::<Result<Vec<_>, _>>()?;
                let grad = Optimizer::flatten(&grads)?;
                // Every rank learns whether any rank was asked to stop by a one-value
                // all-reduce, only where the running loss is read (a device sync),
                // on the same steps on every rank; the flag stays set, so a later read
                // still sees it.
                if batch.step % RUNNING_EVERY == RUNNING_EVERY - 1 || batch.last_in_epoch {
                    let mut flag =
                        Tensor::from_slice(&[if self.cancel.load(Ordering::Relaxed) { 1.0f32 } else { 0.0 }]).f_to_device(device)?;
                    group.all_reduce(&mut flag, Reduce::Sum)?;
                    self.group_cancelled = flag.f_double_value(&[0])? > 0.0;
                }
                self.optimizer.step_flat(lr, grad)?;
            }
            _ => {
                let grads = self.optimizer.gradients(&per_sample.f_mean(Kind::Float)?)?;
                self.optimizer.step(lr, &grads)?;
            }
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
        let (loss_sum, correct) = match &self.group {
            None => (totals.loss_sum.f_double_value(&[])?, totals.correct.f_int64_value(&[])? as f64),
            Some(group) => {
                let mut sums = Tensor::f_stack(&[totals.loss_sum, totals.correct.f_to_kind(Kind::Double)?], 0)?;
                group.all_reduce(&mut sums, Reduce::Sum)?;
                if self.record_loss {
                    group.all_reduce(&mut self.epoch_losses, Reduce::Sum)?;
                }
                group.all_reduce(self.verdict.epoch_mut(), Reduce::Sum)?;
                (sums.f_double_value(&[0])?, sums.f_double_value(&[1])?)
            }
        };
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
            self.scorer.score(self.network.snapshot(epoch)?, self.group.as_ref())?;
        }
        let every = if self.checkpoints.is_some() { self.config.checkpoint.every } else { 0 };
        // The plugins' state at this epoch's end, for whichever checkpoint holds it.
        let plugins = if every > 0 { self.plugins.save_states()? } else { PluginStates::default() };
        if every > 0 && ((epoch + 1).is_multiple_of(every) || last) {
            let (model, optimizer) = (self.network.variables()?, self.optimizer.state());
            let parts =
                CheckpointParts { model: &model, optimizer: &optimizer, loss: &self.loss_table, verdict: &self.verdict, plugins: &plugins };
            write_checkpoint(self.checkpoints.as_ref(), &mut self.scorer, &mut self.state, parts, &self.events, self.group.as_ref())?;
            self.unsaved = None;
        } else if every > 0 {
            self.unsaved = Some(EpochBoundary {
                state: self.state.clone(),
                model: self.network.snapshot(epoch)?.variables,
                optimizer: self.optimizer.state().into_iter().map(|(name, t)| (name, t.copy())).collect(),
                plugins,
            });
        }
        Ok(())
    }

    /// Whether the weights at the end of `epoch` (0-based) are scored: every
    /// `score.every`-th epoch and the last, when there is a snapshot scorer.
    fn scores_snapshot(&self, epoch: usize) -> bool {
        !self.snapshot_scorers.is_empty() && ((epoch + 1).is_multiple_of(self.config.score.every) || epoch + 1 == self.config.train.epochs)
    }

    /// The cancel flag was seen: writes the newest epoch no checkpoint holds yet, and
    /// returns the error that ends the job.
    fn stop(&mut self) -> JobError {
        if let Some(mut boundary) = self.unsaved.take() {
            // The scorer holds only snapshots up to that epoch: the checkpoint waits
            // for them, as at any epoch end.
            let saved = CheckpointParts {
                model: &boundary.model,
                optimizer: &boundary.optimizer,
                loss: &self.loss_table,
                verdict: &self.verdict,
                plugins: &boundary.plugins,
            };
            let group = self.group.as_ref();
            if let Err(e) = write_checkpoint(self.checkpoints.as_ref(), &mut self.scorer, &mut boundary.state, saved, &self.events, group) {
                return e;
            }
            tracing::info!("stopping: wrote a checkpoint at epoch {}", boundary.state.epochs_done);
        }
        let partial = match self.partial_scores() {
            Ok(partial) => partial,
            Err(e) => return e,
        };
        JobError::Cancelled { epochs_done: self.state.epochs_done, run_dir: self.run_dir.clone(), world: self.state.world, partial }
    }

    /// The tables of the epochs done, once the scorer has scored every snapshot it was
    /// handed, combined as a job of that many epochs would combine them.
    fn partial_scores(&mut self) -> Result<Box<PartialScores>, JobError> {
        let mut scores = Vec::new();
        if self.record_loss {
            scores.push(self.loss_table.clone());
        }
        scores.extend(self.scorer.report()?.tables);
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
            group,
            reducer,
            thread_budget,
            ..
        } = self;
        if let Some(group) = &group {
            let variables: Vec<Tensor> = network.variables()?.into_iter().map(|(_, t)| t).collect();
            let ranks = ranks_differing_from_rank0(group, &variables)?;
            // The last collective of the job.
            group.finished();
            if !ranks.is_empty() {
                return Err(DistError::Diverged { ranks }.into());
            }
        }
        let report = scorer.finish()?;
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
        let dist = reducer.map(|r| r.timings().clone());
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
            threads,
            weights: Weights::of(&network)?,
        })
    }
}

/// A loss of exactly zero that reaches every parameter: its backward pass gives each a
/// zero gradient, so a rank without a sample in a step still fills every bucket.
fn zero_loss(params: &[Tensor]) -> Result<Tensor, tch::TchError> {
    let mut loss = Tensor::f_zeros([], (Kind::Float, params.first().map_or(Device::Cpu, Tensor::device)))?;
    for p in params {
        loss = loss.f_add(&p.f_sum(Kind::Float)?.f_mul_scalar(0.0)?)?;
    }
    Ok(loss)
}

/// Waits for the scorer's queued snapshots, records its totals in `state`, and writes
/// a checkpoint of `state`, the parts and every score table (nothing without a place
/// for checkpoints: a job in memory). In a `group`, the write is not cut short by the
/// liveness watch (a finished epoch would be lost).
fn write_checkpoint(
    checkpoints: Option<&Checkpoints>,
    scorer: &mut ScorerHandle,
    state: &mut CheckpointState,
    parts: CheckpointParts<'_>,
    events: &Recipient<JobEvent>,
    group: Option<&ProcessGroup>,
) -> Result<(), JobError> {
    let Some(checkpoints) = checkpoints else { return Ok(()) };
    let report = scorer.report()?;
    state.score_seconds = report.seconds;
    state.scored_samples = report.scored_samples;
    let mut tensors = parts.loss.to_tensors();
    tensors.extend(parts.verdict.to_tensors()?);
    for table in &report.tables {
        tensors.extend(table.to_tensors());
    }
    let writing = group.map(ProcessGroup::uninterruptible);
    let path = checkpoints.write(state, parts.model, parts.optimizer, &tensors, parts.plugins)?;
    drop(writing);
    events.do_send(JobEvent::CheckpointWritten { epochs_done: state.epochs_done, path });
    Ok(())
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
