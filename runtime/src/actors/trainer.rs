//! The trainer: owns the network and optimizer on the job thread, consumes the
//! loader's batches, records each sample's training loss (the `loss` score), hands
//! snapshots to the scorer on schedule, and writes checkpoints.

use super::scorer::{ScorerHandle, ScorerSetup};
use super::{EpochStats, JobError, JobEvent};
use crate::config::JobConfig;
use crate::data::{spawn_loader, Dataset};
use crate::model::{learning_rate, Checkpoint, CheckpointState, Checkpoints, Network, Optimizer};
use crate::plugins::PluginSet;
use crate::scores::{builtin_snapshot_scorer, Aggregate, ScoreTable, SnapshotScorer, CUMULATIVE_LOSS};
use crate::seeding;
use memscope_sdk::Hook;
use actix::Recipient;
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
}

/// What a checkpoint holds besides the counters and the scorer's tables.
struct CheckpointParts<'a> {
    model: &'a [(String, Tensor)],
    optimizer: &'a [(String, Tensor)],
    loss: &'a ScoreTable,
}

/// Waits for the scorer's queued snapshots, records its totals in `state`, and writes
/// a checkpoint of `state`, the parts and every score table.
fn write_checkpoint(
    checkpoints: &Checkpoints,
    scorer: &mut ScorerHandle,
    state: &mut CheckpointState,
    parts: CheckpointParts<'_>,
    events: &Recipient<JobEvent>,
) -> Result<(), JobError> {
    let report = scorer.report()?;
    state.score_seconds = report.seconds;
    state.scored_samples = report.scored_samples;
    let mut tensors = parts.loss.to_tensors();
    for table in &report.tables {
        tensors.extend(table.to_tensors());
    }
    let path = checkpoints.write(state, parts.model, parts.optimizer, &tensors)?;
    events.do_send(JobEvent::CheckpointWritten { epochs_done: state.epochs_done, path });
    Ok(())
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
    /// Where checkpoints go.
    pub checkpoints: Checkpoints,
    /// The checkpoint to continue from.
    pub resume: Option<Checkpoint>,
    /// Where events go.
    pub events: Recipient<JobEvent>,
    /// Set to stop at the next step.
    pub cancel: Arc<AtomicBool>,
    /// The run directory (for the cancel message).
    pub run_dir: PathBuf,
    /// The job's plugins.
    pub plugins: Arc<PluginSet>,
}

/// Loss and accuracy of one eval pass.
#[derive(Debug, Clone, Copy)]
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
}

/// What training produced.
pub struct TrainResult {
    /// Counters and timings at the end.
    pub state: CheckpointState,
    /// Every score table: `loss` first (when enabled), then snapshot scores.
    pub tables: Vec<ScoreTable>,
    /// Eval-mode pass over the training set after training.
    pub train_eval: Evaluation,
    /// Eval-mode pass over the test set, when given.
    pub test_eval: Option<Evaluation>,
    /// Trainable parameters.
    pub parameters: i64,
    /// First epoch trained by this process.
    pub start_epoch: usize,
}

/// Trains to the configured number of epochs (from the checkpoint when resuming).
pub fn train(setup: TrainerSetup) -> Result<TrainResult, JobError> {
    let TrainerSetup { config, mut network, train, test, device, checkpoints, resume, events, cancel, run_dir, plugins } = setup;
    let n = train.len();
    let epochs = config.train.epochs;
    let mut optimizer = Optimizer::new(&config.train, network.parameters()?);

    let record_loss = config.score.builtin.iter().any(|b| b == CUMULATIVE_LOSS);
    let mut loss_table = ScoreTable::new(CUMULATIVE_LOSS, Aggregate::Sum, n);
    let builtin = config.score.builtin.iter().filter_map(|name| builtin_snapshot_scorer(name));
    let from_plugins = plugins.scorers().into_iter().map(|s| Box::new(s) as Box<dyn SnapshotScorer>);
    let mut snapshot_scorers: Vec<_> = builtin
        .chain(from_plugins)
        .map(|s| {
            let table = ScoreTable::new(s.name(), Aggregate::Mean, n);
            (s, table)
        })
        .collect();

    let has_snapshot_scorers = !snapshot_scorers.is_empty();
    let mut state = CheckpointState {
        epochs_done: 0,
        steps: 0,
        samples: n,
        train_seconds: 0.0,
        score_seconds: 0.0,
        scored_samples: 0,
    };
    if let Some(checkpoint) = &resume {
        if checkpoint.state.samples != n {
            return Err(JobError::RunDir {
                path: checkpoint.dir.clone(),
                message: format!("checkpoint is for {} samples, the dataset has {n}", checkpoint.state.samples),
            });
        }
        checkpoint.restore(&mut network, &mut optimizer)?;
        let saved = checkpoint.scores()?;
        loss_table.restore(&saved)?;
        for (_, table) in &mut snapshot_scorers {
            table.restore(&saved)?;
        }
        state = checkpoint.state.clone();
    }
    let start_epoch = state.epochs_done;

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
    let mut scorer = if device == Device::Cpu { ScorerHandle::inline(scorer_setup) } else { ScorerHandle::spawn(scorer_setup) };
    // Per-sample losses reach the CPU every step only when a plugin wants them.
    let batch_hook = plugins.wants(Hook::OnTrainBatchEnd);

    let batch_size = config.train.batch_size;
    let steps_per_epoch = n.div_ceil(batch_size);
    events.do_send(JobEvent::JobStarted {
        run: config.name.clone(),
        samples: n,
        epochs,
        start_epoch,
        steps_per_epoch,
        device: format!("{device:?}").to_lowercase(),
    });
    let loader = spawn_loader(
        train.clone(),
        config.data.augment.clone(),
        config.seed,
        batch_size,
        start_epoch..epochs,
        config.train.prefetch,
    );
    let mut epoch_losses = Tensor::zeros([n as i64], (Kind::Float, device));
    // The state at the end of the newest epoch that no checkpoint holds yet, so that a
    // stop (Ctrl-C, a cancel, a daemon shutdown) can still write it: a stopped job
    // then loses at most the epoch it was in, whatever `checkpoint.every` is.
    let mut unsaved: Option<EpochBoundary> = None;

    for epoch in start_epoch..epochs {
        let lr = learning_rate(&config.train, epoch);
        // What draws from libtorch's generator while training (dropout) draws the
        // same in epoch k whether or not the process restarted before it.
        tch::manual_seed(seeding::torch_seed(config.seed, epoch));
        let started = Instant::now();
        let mut loss_sum = Tensor::zeros([], (Kind::Double, device));
        let mut correct = Tensor::zeros([], (Kind::Int64, device));
        let mut seen = 0usize;
        loop {
            if cancel.load(Ordering::Relaxed) {
                if let Some(mut boundary) = unsaved.take() {
                    // The scorer holds only snapshots up to that epoch: the checkpoint
                    // waits for them, as at any epoch end.
                    let saved = CheckpointParts { model: &boundary.model, optimizer: &boundary.optimizer, loss: &loss_table };
                    write_checkpoint(&checkpoints, &mut scorer, &mut boundary.state, saved, &events)?;
                    tracing::info!("stopping: wrote a checkpoint at epoch {}", boundary.state.epochs_done);
                }
                return Err(JobError::Cancelled { epochs_done: state.epochs_done, run_dir });
            }
            let batch = loader.next().map_err(|_| JobError::Panicked {
                thread: "loader".into(),
                message: "stopped before the last epoch".into(),
            })?;
            let step_started = Instant::now();
            let images = batch.images.f_to_device(device)?;
            let labels = batch.labels.f_to_device(device)?;
            let logits = network.forward(&images, true)?;
            let per_sample = logits.f_cross_entropy_loss::<Tensor>(&labels, None, Reduction::None, -100, 0.0)?;
            let grads = optimizer.gradients(&per_sample.f_mean(Kind::Float)?)?;
            optimizer.step(lr, &grads)?;

            let per_sample = per_sample.f_detach()?;
            if batch_hook {
                let indices = Vec::<i64>::try_from(&batch.indices)?;
                let losses = Vec::<f32>::try_from(&per_sample.f_to_device(Device::Cpu)?)?;
                plugins.train_batch_end(epoch, batch.step, &indices, &losses)?;
            }
            if record_loss {
                let _ = epoch_losses.f_index_copy_(0, &batch.indices.f_to_device(device)?, &per_sample)?;
            }
            loss_sum += per_sample.f_sum(Kind::Double)?;
            correct += logits.f_argmax(-1, false)?.f_eq_tensor(&labels)?.f_sum(Kind::Int64)?;
            seen += batch.labels.size()[0] as usize;
            state.steps += 1;
            let running = (batch.step % RUNNING_EVERY == RUNNING_EVERY - 1).then(|| {
                (loss_sum.double_value(&[]) / seen as f64, correct.int64_value(&[]) as f64 / seen as f64)
            });
            events.do_send(JobEvent::TrainBatchEnd {
                epoch,
                step: batch.step,
                samples: batch.labels.size()[0] as usize,
                seconds: step_started.elapsed().as_secs_f64(),
                running,
            });
            if batch.last_in_epoch {
                break;
            }
        }
        let loss = loss_sum.f_double_value(&[])? / n as f64;
        let accuracy = correct.f_int64_value(&[])? as f64 / n as f64;
        let seconds = started.elapsed().as_secs_f64();
        state.train_seconds += seconds;
        state.epochs_done = epoch + 1;
        if record_loss {
            loss_table.push(epoch, Vec::<f32>::try_from(&epoch_losses.f_to_device(Device::Cpu)?)?);
        }
        plugins.train_epoch_end(epoch, loss, accuracy)?;
        events.do_send(JobEvent::TrainEpochEnd(EpochStats {
            epoch,
            epochs,
            loss,
            accuracy,
            seconds,
            samples_per_second: n as f64 / seconds,
            lr,
        }));

        let last = epoch + 1 == epochs;
        if has_snapshot_scorers && ((epoch + 1) % config.score.every == 0 || last) {
            scorer.score(network.snapshot(epoch)?)?;
        }
        let every = config.checkpoint.every;
        if every > 0 && ((epoch + 1) % every == 0 || last) {
            let (model, optimizer_state) = (network.variables()?, optimizer.state());
            let parts = CheckpointParts { model: &model, optimizer: &optimizer_state, loss: &loss_table };
            write_checkpoint(&checkpoints, &mut scorer, &mut state, parts, &events)?;
            unsaved = None;
        } else if every > 0 {
            unsaved = Some(EpochBoundary {
                state: state.clone(),
                model: network.snapshot(epoch)?.variables,
                optimizer: optimizer.state().into_iter().map(|(name, t)| (name, t.copy())).collect(),
            });
        }
    }
    drop(loader);

    let report = scorer.finish()?;
    state.score_seconds = report.seconds;
    state.scored_samples = report.scored_samples;
    let mut tables = Vec::new();
    if record_loss {
        tables.push(loss_table);
    }
    tables.extend(report.tables);

    let eval_batch = config.score.batch_size;
    let train_eval = evaluate(&network, &train, eval_batch)?;
    let test_eval = test.as_ref().map(|t| evaluate(&network, t, eval_batch)).transpose()?;
    for (subset, eval) in [("train", Some(train_eval)), ("test", test_eval)] {
        if let Some(e) = eval {
            events.do_send(JobEvent::Evaluated { subset: subset.to_string(), loss: e.loss, accuracy: e.accuracy });
        }
    }
    Ok(TrainResult {
        state,
        tables,
        train_eval,
        test_eval,
        parameters: network.parameter_count()?,
        start_epoch,
    })
}

/// Loss and accuracy of `network` in eval mode over `data`, without augmentation.
fn evaluate(network: &Network, data: &Dataset, batch_size: usize) -> Result<Evaluation, JobError> {
    let device = network.device();
    let mut loss = 0.0;
    let mut correct = 0i64;
    tch::no_grad(|| -> Result<(), JobError> {
        for start in (0..data.len()).step_by(batch_size) {
            let end = (start + batch_size).min(data.len());
            let (images, labels) = data.tensors(start..end, device)?;
            let logits = network.forward(&images, false)?;
            loss += logits.f_cross_entropy_loss::<Tensor>(&labels, None, Reduction::Sum, -100, 0.0)?.f_double_value(&[])?;
            correct += logits.f_argmax(-1, false)?.f_eq_tensor(&labels)?.f_sum(Kind::Int64)?.f_int64_value(&[])?;
        }
        Ok(())
    })?;
    let n = data.len() as f64;
    Ok(Evaluation { loss: loss / n, accuracy: correct as f64 / n })
}
