//! The scorer on a thread of its own, fed snapshots through a bounded queue; what it has
//! finished is published after each snapshot, for checkpoints that do not wait for it.

use super::{Scorer, ScorerReport, ScorerSetup};
use crate::actors::replication::ScoreSharding;
use crate::actors::JobError;
use crate::model::{ModelError, Snapshot};
use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tch::Device;

/// Snapshots in flight before the trainer waits for the scorer (bounds memory).
const SNAPSHOT_QUEUE: usize = 2;

pub(super) enum Request {
    Snapshot(Snapshot),
    /// Answer with the report once every earlier snapshot is scored.
    Report(Sender<ScorerReport>),
}

/// What a scorer thread has finished, published after each snapshot: what a
/// checkpoint records without waiting for the snapshots still queued.
#[derive(Default)]
pub(super) struct Published {
    /// The tables and totals after the newest finished snapshot (none before the
    /// first, then the tables as the thread started).
    pub(super) report: Option<ScorerReport>,
    /// Snapshots finished by the thread.
    pub(super) snapshots: usize,
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
    pub(super) fn spawn(setup: ScorerSetup, sharding: Box<dyn ScoreSharding + Send>) -> Self {
        let (tx, rx) = bounded::<Request>(SNAPSHOT_QUEUE);
        let published = Arc::new(Mutex::new(Published::default()));
        let initial = Scorer { setup, network: None, own_thread: true, published: Some(published.clone()) };
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

    pub(super) fn score(&mut self, snapshot: Snapshot) -> Result<(), JobError> {
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

    pub(super) fn report(&mut self) -> Result<ScorerReport, JobError> {
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

    pub(super) fn checkpoint(&mut self) -> Result<(ScorerReport, Vec<Snapshot>), JobError> {
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

    pub(super) fn finish(mut self) -> Result<ScorerReport, JobError> {
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
pub(super) fn settle(device: Device) -> Result<(), JobError> {
    if let Device::Cuda(i) = device {
        memscope_torch_ext::synchronize_current_stream(i).map_err(ModelError::from)?;
    }
    Ok(())
}

/// Another handle on `snapshot`'s tensors (a snapshot is a copy nobody writes).
fn shallow(snapshot: &Snapshot) -> Snapshot {
    Snapshot { epoch: snapshot.epoch, variables: snapshot.variables.iter().map(|(name, t)| (name.clone(), t.shallow_clone())).collect() }
}
