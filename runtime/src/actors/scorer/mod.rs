//! The scorer: receives weight snapshots on the scoring schedule and runs every
//! snapshot scorer over the whole training set in eval mode, on a thread of its own
//! while training goes on (GPU), or on the trainer's thread between epochs (CPU).
//!
//! Where it runs and which samples it scores are the job's [`super::replication`]'s
//! to say. In a process group each rank scores its block of samples
//! ([`ScoreSharding`]), gathered so that every rank holds, and tells its plugins, the
//! whole set's scores; a scorer thread gathers through a group of its own, so that
//! its collectives and the trainer's each keep one order on every rank.
//!
//! A snapshot's scoring is told as it goes (`ScoringStarted`, `ScoringProgress` per
//! scorer, `ScoresReady`, `ScoringEnded`): a pass over a large set takes minutes, and
//! a display that heard nothing in that time would look frozen.
//!
//! `thread.rs` is the scorer on a thread of its own (its queue, what it publishes for
//! checkpoints, the CUDA streams snapshots cross); `profile.rs` the profiles of the
//! passes (`MEMSCOPE_PROFILE_SCORING`).

mod profile;
mod thread;

pub use profile::Profiling;

pub use thread::ScorerThread;

use super::replication::ScoreSharding;
use super::{JobError, JobEvent};
use crate::data::Dataset;
use crate::model::{channels_last, ModelError, ModelSource, Network, Snapshot};
use crate::plugins::PluginSet;
use crate::scores::{BatchPosition, ScoreError, ScoreTable, SnapshotScorer};
use actix::Recipient;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tch::Device;
use thread::{settle, Published};

/// The least time between two `ScoringProgress` events of one pass: often enough for
/// a progress bar, few enough for the JSON event stream the daemon reads.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// What the scorer has accumulated.
#[derive(Debug, Clone)]
pub struct ScorerReport {
    /// One table per snapshot scorer.
    pub tables: Vec<ScoreTable>,
    /// Seconds spent scoring (including before a resume).
    pub seconds: f64,
    /// Samples scored (including before a resume).
    pub scored_samples: u64,
}

/// Everything the scorer thread needs.
pub struct ScorerSetup {
    /// Where the network comes from, to build the scorer's own copy of it.
    pub model: ModelSource,
    /// The training set (labels as trained).
    pub data: Arc<Dataset>,
    /// Device to score on.
    pub device: Device,
    /// Samples per scoring batch.
    pub batch_size: usize,
    /// libtorch intra-op threads of this thread (0 = libtorch's default).
    pub threads: usize,
    /// The scorers, each paired with its table (restored from a checkpoint when resuming).
    pub scorers: Vec<(Box<dyn SnapshotScorer>, ScoreTable)>,
    /// Accumulated time and samples from before a resume.
    pub seconds: f64,
    /// See `seconds`.
    pub scored_samples: u64,
    /// Where the scoring events go.
    pub events: Recipient<JobEvent>,
    /// Plugins, told `on_scores`.
    pub plugins: Arc<PluginSet>,
    /// Where each snapshot's pass is profiled to, if anywhere ([`Profiling::from_env`]).
    pub profiling: Option<Profiling>,
}

/// The scoring work, on whichever thread runs it.
pub struct Scorer {
    setup: ScorerSetup,
    /// Built on the first snapshot, not before: any libtorch work on a thread gives it
    /// its own OpenMP team, and once the process has more OpenMP threads than cores
    /// libgomp stops spin-waiting, which slows training by a third on a 2-core machine.
    /// A job without snapshot scorers thus never pays for it.
    network: Option<Network>,
    /// Whether this runs on a thread of its own (which then sets its thread count).
    own_thread: bool,
    /// On a thread of its own: where each finished snapshot's tables are published
    /// (a copy of every table per snapshot; scoring one takes far longer).
    published: Option<Arc<Mutex<Published>>>,
}

impl Scorer {
    /// Runs every scorer over the training set with the snapshot's weights (this
    /// process's block of it, gathered with the others').
    fn score(&mut self, snapshot: Snapshot, sharding: &dyn ScoreSharding) -> Result<(), JobError> {
        let ScorerSetup { model, data, device, batch_size, threads, scorers, seconds, scored_samples, events, plugins, profiling } =
            &mut self.setup;
        if scorers.is_empty() {
            return Ok(());
        }
        let network = match &mut self.network {
            Some(network) => network,
            empty => {
                if self.own_thread && *threads > 0 {
                    tch::set_num_threads(*threads as i32);
                }
                // On CUDA a thread of its own scores on a stream of its own: on the
                // default stream its kernels would queue behind the trainer's.
                if let (true, Device::Cuda(i)) = (self.own_thread, *device) {
                    memscope_torch_ext::use_side_stream(i).map_err(ModelError::from)?;
                }
                let mut network = Network::build(model, data.shape, data.classes, *device)?;
                // Built-ins score fastest channels-last (see `score_all`).
                if network.arch().is_some() {
                    network.use_channels_last()?;
                }
                empty.insert(network)
            }
        };
        network.load_snapshot(&snapshot)?;
        if self.own_thread {
            // The snapshot is freed below, on this thread: the copies out of it must
            // be done before its memory can go back to the trainer's stream.
            settle(*device)?;
        }
        let block = sharding.block(data.len());
        // Events count epochs from 1.
        let epoch = snapshot.epoch + 1;
        let profile = match profiling {
            Some(_) => Some(memscope_torch_ext::Profile::start(*device != Device::Cpu).map_err(ModelError::from)?),
            None => None,
        };
        let snapshot_started = Instant::now();
        events.do_send(JobEvent::ScoringStarted {
            epoch,
            scorers: scorers.iter().map(|(_, t)| t.name.clone()).collect(),
            samples: block.len(),
        });
        let mut dropped = Vec::new();
        for (k, (scorer, table)) in scorers.iter_mut().enumerate() {
            let start = Instant::now();
            let mut progress = ProgressEvents { events: &*events, epoch, scorer: table.name.clone(), total: block.len(), last: None };
            let mine = match score_all(scorer.as_mut(), network, snapshot.epoch, data, block.clone(), *batch_size, &mut progress) {
                Err(JobError::Score(e @ ScoreError::Disabled { .. })) => {
                    tracing::warn!("{e}");
                    Err(())
                }
                other => Ok(other?),
            };
            // Every process drops a scorer that any process dropped, so that all issue
            // the same collectives.
            let disabled = sharding.any_dropped(mine.is_err(), *device)?;
            let values = match mine {
                Ok(values) if !disabled => sharding.gather(values, data.len(), *device)?,
                _ => {
                    dropped.push(k);
                    continue;
                }
            };
            plugins.scores(snapshot.epoch, &table.name, &values)?;
            let took = start.elapsed().as_secs_f64();
            *seconds += took;
            *scored_samples += block.len() as u64;
            table.push(snapshot.epoch, values.clone());
            events.do_send(JobEvent::ScoresReady { epoch, scorer: table.name.clone(), values: Arc::new(values), seconds: took });
        }
        for k in dropped.into_iter().rev() {
            scorers.remove(k);
        }
        if let (Some(profiling), Some(profile)) = (profiling, profile) {
            profiling.save(profile, epoch)?;
        }
        events.do_send(JobEvent::ScoringEnded { epoch, seconds: snapshot_started.elapsed().as_secs_f64() });
        if let Some(published) = &self.published {
            let report = self.report();
            let mut published = published.lock().expect("the trainer does not panic holding the lock");
            published.report = Some(report);
            published.snapshots += 1;
        }
        Ok(())
    }

    fn report(&self) -> ScorerReport {
        let s = &self.setup;
        ScorerReport { tables: s.scorers.iter().map(|(_, t)| t.clone()).collect(), seconds: s.seconds, scored_samples: s.scored_samples }
    }
}

/// The trainer's end of the scorer: the trainer's own thread, or a thread of its own
/// fed through a bounded queue.
pub enum ScorerHandle {
    /// Scores on the caller's thread, between epochs. On a CPU whose cores the
    /// trainer already uses, overlapping gains no compute, and a second OpenMP team
    /// makes libgomp stop spin-waiting for both: measured a quarter slower scoring on
    /// digits.
    Inline(Box<Scorer>),
    /// Scoring overlaps training (on a GPU, the scorer's kernels fill the gaps of the
    /// trainer's).
    Thread(ScorerThread),
}

impl ScorerHandle {
    /// Scores on the caller's thread: see [`ScorerHandle::Inline`].
    pub fn inline(setup: ScorerSetup) -> Self {
        ScorerHandle::Inline(Box::new(Scorer { setup, network: None, own_thread: false, published: None }))
    }

    /// Starts the scorer thread, which scores this process's block of `sharding`'s and
    /// gathers through it: see [`ScorerHandle::Thread`].
    pub fn spawn(setup: ScorerSetup, sharding: Box<dyn ScoreSharding + Send>) -> Self {
        ScorerHandle::Thread(ScorerThread::spawn(setup, sharding))
    }

    /// Whether the scorer runs on a thread of its own (its seconds then overlap
    /// training).
    pub fn is_thread(&self) -> bool {
        matches!(self, ScorerHandle::Thread(_))
    }

    /// Scores a snapshot now (inline: this process's block of `sharding`, gathered
    /// with the others'), or queues it for the thread, which scores through its own
    /// sharding (blocks while the queue is full).
    pub fn score(&mut self, snapshot: Snapshot, sharding: &dyn ScoreSharding) -> Result<(), JobError> {
        match self {
            ScorerHandle::Inline(scorer) => scorer.score(snapshot, sharding),
            ScorerHandle::Thread(thread) => thread.score(snapshot),
        }
    }

    /// What a checkpoint records, without waiting: the tables of every snapshot
    /// scored so far, and the snapshots still queued (oldest first), which a resumed
    /// run scores. Inline, every snapshot handed over is scored.
    pub fn checkpoint(&mut self) -> Result<(ScorerReport, Vec<Snapshot>), JobError> {
        match self {
            ScorerHandle::Inline(scorer) => Ok((scorer.report(), Vec::new())),
            ScorerHandle::Thread(thread) => thread.checkpoint(),
        }
    }

    /// The tables of every snapshot handed over, once a thread has scored them all.
    pub fn report(&mut self) -> Result<ScorerReport, JobError> {
        match self {
            ScorerHandle::Inline(scorer) => Ok(scorer.report()),
            ScorerHandle::Thread(thread) => thread.report(),
        }
    }

    /// Stops the scorer after pending work and returns the final report.
    pub fn finish(self) -> Result<ScorerReport, JobError> {
        match self {
            ScorerHandle::Inline(scorer) => Ok(scorer.report()),
            ScorerHandle::Thread(thread) => thread.finish(),
        }
    }
}

/// `ScoringProgress` of one scorer's pass: after the first batch, the last, and at
/// most every [`PROGRESS_EVERY`] between them.
struct ProgressEvents<'a> {
    events: &'a Recipient<JobEvent>,
    /// 1-based.
    epoch: usize,
    scorer: String,
    total: usize,
    last: Option<Instant>,
}

impl ProgressEvents<'_> {
    fn scored(&mut self, done: usize) {
        if done < self.total && self.last.is_some_and(|last| last.elapsed() < PROGRESS_EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        self.events.do_send(JobEvent::ScoringProgress { epoch: self.epoch, scorer: self.scorer.clone(), done, total: self.total });
    }
}

/// One pass of `scorer` over `samples` of the training set, in order, without
/// augmentation.
fn score_all(
    scorer: &mut dyn SnapshotScorer,
    network: &Network,
    epoch: usize,
    data: &Dataset,
    samples: std::ops::Range<usize>,
    batch_size: usize,
    progress: &mut ProgressEvents<'_>,
) -> Result<Vec<f32>, JobError> {
    let n = samples.end;
    let first = samples.start;
    let mut values = Vec::with_capacity(samples.len());
    for start in samples.step_by(batch_size) {
        let end = (start + batch_size).min(n);
        let (images, labels) = data.tensors(start..end, network.device())?;
        // Scorers run many passes per batch: channels-last is the fast layout for a
        // channels-last network.
        let images = if network.is_channels_last() { channels_last(&images) } else { images };
        let scores = scorer.score_batch(network, BatchPosition { epoch, offset: start }, &images, &labels)?;
        let scores = Vec::<f32>::try_from(&scores.f_to_device(Device::Cpu)?.f_flatten(0, -1)?)?;
        if scores.len() != end - start {
            return Err(ScoreError::WrongLength { scorer: scorer.name().to_string(), expected: end - start, found: scores.len() }.into());
        }
        values.extend(scores);
        progress.scored(end - first);
    }
    Ok(values)
}
