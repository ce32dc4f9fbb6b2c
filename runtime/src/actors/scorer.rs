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

use super::replication::ScoreSharding;
use super::{JobError, JobEvent};
use crate::data::Dataset;
use crate::model::{channels_last, ModelError, ModelSource, Network, Snapshot};
use crate::plugins::PluginSet;
use crate::scores::{BatchPosition, ScoreError, ScoreTable, SnapshotScorer};
use actix::Recipient;
use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tch::Device;

/// Snapshots in flight before the trainer waits for the scorer (bounds memory).
const SNAPSHOT_QUEUE: usize = 2;

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

enum Request {
    Snapshot(Snapshot),
    /// Answer with the report once every earlier snapshot is scored.
    Report(Sender<ScorerReport>),
}

/// What a scorer thread has finished, published after each snapshot: what a
/// checkpoint records without waiting for the snapshots still queued.
#[derive(Default)]
struct Published {
    /// The tables and totals after the newest finished snapshot (none before the
    /// first, then the tables as the thread started).
    report: Option<ScorerReport>,
    /// Snapshots finished by the thread.
    snapshots: usize,
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
    /// Where each snapshot's scoring pass is profiled to ([`PROFILE_ENV`]).
    profile_dir: Option<PathBuf>,
}

/// Set to a directory, each snapshot's scoring pass (every scorer over the samples) is
/// profiled by libtorch's profiler, and its Chrome trace saved there as
/// `scoring-epoch-E.json` (`-rank-R` added in a group): which operators, and on CUDA
/// which kernels, the time goes to (`bench/profile_summary.py` sums them).
pub const PROFILE_ENV: &str = "MEMSCOPE_PROFILE_SCORING";

/// The directory [`PROFILE_ENV`] names, if any.
fn profile_dir() -> Option<PathBuf> {
    std::env::var_os(PROFILE_ENV).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Saves the profile of the snapshot after `epoch` (1-based) into `dir`.
fn save_profile(profile: memscope_torch_ext::Profile, dir: &Path, epoch: usize) -> Result<(), JobError> {
    std::fs::create_dir_all(dir).map_err(|e| JobError::io(dir, e))?;
    let rank = std::env::var("RANK").ok().filter(|_| std::env::var("WORLD_SIZE").is_ok_and(|w| w != "1"));
    let name = match rank {
        Some(rank) => format!("scoring-epoch-{epoch}-rank-{rank}.json"),
        None => format!("scoring-epoch-{epoch}.json"),
    };
    let path = dir.join(name);
    let events = profile.save(&path).map_err(ModelError::from)?;
    tracing::info!("profiled the scoring of epoch {epoch}: {events} events in {}", path.display());
    Ok(())
}

impl Scorer {
    /// Runs every scorer over the training set with the snapshot's weights (this
    /// process's block of it, gathered with the others').
    fn score(&mut self, snapshot: Snapshot, sharding: &dyn ScoreSharding) -> Result<(), JobError> {
        let ScorerSetup { model, data, device, batch_size, threads, scorers, seconds, scored_samples, events, plugins } = &mut self.setup;
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
        let profile = match &self.profile_dir {
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
        if let (Some(dir), Some(profile)) = (&self.profile_dir, profile) {
            save_profile(profile, dir, epoch)?;
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
        ScorerHandle::Inline(Box::new(Scorer { setup, network: None, own_thread: false, published: None, profile_dir: profile_dir() }))
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

/// A scorer on a thread of its own.
pub struct ScorerThread {
    /// Dropped to tell the thread to stop once its queue is empty.
    requests: Option<Sender<Request>>,
    /// Taken when the thread is joined.
    thread: Option<JoinHandle<Result<(), JobError>>>,
    /// What the thread has finished.
    published: Arc<Mutex<Published>>,
    /// The tables as the thread started, for a checkpoint before its first snapshot.
    initial: ScorerReport,
    /// The snapshots sent and not known to be finished, oldest first (their tensors
    /// shared with the thread's copies, which nobody writes).
    sent: VecDeque<Snapshot>,
    /// Snapshots sent before `sent`'s first (finished by the thread).
    acknowledged: usize,
}

impl ScorerThread {
    fn spawn(setup: ScorerSetup, sharding: Box<dyn ScoreSharding + Send>) -> Self {
        let (tx, rx) = bounded::<Request>(SNAPSHOT_QUEUE);
        let published = Arc::new(Mutex::new(Published::default()));
        let initial = Scorer { setup, network: None, own_thread: true, published: Some(published.clone()), profile_dir: profile_dir() };
        let initial_report = initial.report();
        let thread = std::thread::Builder::new()
            .name("memscope-scorer".into())
            .spawn(move || {
                let mut scorer = initial;
                for request in rx {
                    match request {
                        Request::Snapshot(snapshot) => scorer.score(snapshot, sharding.as_ref())?,
                        Request::Report(reply) => {
                            let _ = reply.send(scorer.report());
                        }
                    }
                }
                Ok(())
            })
            .expect("spawning the scorer thread");
        ScorerThread {
            requests: Some(tx),
            thread: Some(thread),
            published,
            initial: initial_report,
            sent: VecDeque::new(),
            acknowledged: 0,
        }
    }

    fn score(&mut self, snapshot: Snapshot) -> Result<(), JobError> {
        // The snapshot was copied on the trainer's stream; the scorer reads it on its
        // own.
        if let Some((_, variable)) = snapshot.variables.first() {
            settle(variable.device())?;
        }
        self.forget_finished();
        self.sent.push_back(shallow(&snapshot));
        let sent = self.requests.as_ref().map(|tx| tx.send(Request::Snapshot(snapshot)).is_ok());
        if sent == Some(true) {
            Ok(())
        } else {
            Err(self.failure())
        }
    }

    fn report(&mut self) -> Result<ScorerReport, JobError> {
        let (tx, rx) = bounded(1);
        let sent = self.requests.as_ref().map(|r| r.send(Request::Report(tx)).is_ok());
        if sent != Some(true) {
            return Err(self.failure());
        }
        // If the scorer fails first, the request stays queued in a channel we still
        // hold a sender of, so the reply never disconnects: watch the thread too.
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(report) => return Ok(report),
                Err(RecvTimeoutError::Timeout) if !self.thread.as_ref().is_none_or(|t| t.is_finished()) => {}
                Err(_) => return Err(self.failure()),
            }
        }
    }

    fn checkpoint(&mut self) -> Result<(ScorerReport, Vec<Snapshot>), JobError> {
        if self.thread.as_ref().is_none_or(|t| t.is_finished()) {
            return Err(self.failure());
        }
        let published = self.published.lock().expect("the scorer does not panic holding the lock");
        let done = published.snapshots - self.acknowledged;
        let report = published.report.clone().unwrap_or_else(|| self.initial.clone());
        drop(published);
        self.acknowledge(done);
        Ok((report, self.sent.iter().map(shallow).collect()))
    }

    /// Lets go of the snapshots the thread has finished: a process that writes no
    /// checkpoint (a job in memory, the other ranks of a group) would otherwise hold
    /// every snapshot of the run.
    fn forget_finished(&mut self) {
        let done = self.published.lock().expect("the scorer does not panic holding the lock").snapshots - self.acknowledged;
        self.acknowledge(done);
    }

    fn acknowledge(&mut self, done: usize) {
        self.sent.drain(..done);
        self.acknowledged += done;
    }

    fn finish(mut self) -> Result<ScorerReport, JobError> {
        let report = self.report()?;
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            thread.join().map_err(|p| JobError::from_panic("scorer", p))??;
        }
        Ok(report)
    }

    /// The scorer thread stopped early: join it and return why.
    fn failure(&mut self) -> JobError {
        self.requests = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(Err(e))) => e,
            Some(Err(panic)) => JobError::from_panic("scorer", panic),
            _ => JobError::Panicked { thread: "scorer".into(), message: "stopped without an error".into() },
        }
    }
}

impl Drop for ScorerThread {
    fn drop(&mut self) {
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// On CUDA, waits for the work the calling thread has queued on its current stream
/// (its stream alone): how tensors cross between the trainer's stream and the scorer
/// thread's.
fn settle(device: Device) -> Result<(), JobError> {
    if let Device::Cuda(i) = device {
        memscope_torch_ext::synchronize_current_stream(i).map_err(ModelError::from)?;
    }
    Ok(())
}

/// Another handle on `snapshot`'s tensors (a snapshot is a copy nobody writes).
fn shallow(snapshot: &Snapshot) -> Snapshot {
    Snapshot { epoch: snapshot.epoch, variables: snapshot.variables.iter().map(|(name, t)| (name.clone(), t.shallow_clone())).collect() }
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
