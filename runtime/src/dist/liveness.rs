//! The group's liveness watch: which rank is gone, and an end for a rank stuck waiting
//! for it.
//!
//! A collective alone cannot tell which rank failed it: in a group of more than two,
//! an all-reduce that lost a peer fails (or waits) on every survivor alike. And a peer
//! that is not dead but silent (a frozen process, a machine cut off the network, a
//! NCCL kernel spinning on a peer that will never answer) holds every other rank until
//! the group's timeout, 30 minutes by default.
//!
//! So each rank keeps a sign of life in the group's store, as torchelastic's
//! rendezvous keeps its heartbeats: a thread adds 1 to the counter `alive/<rank>`
//! every interval, over a store connection of its own. Rank 0 reads every rank's
//! counter, the others rank 0's (the store's load grows with the group, not with its
//! square). A rank whose counter has not moved for `MEMSCOPE_DIST_LIVENESS` seconds is
//! lost; once a collective has failed, every rank reads every counter and a few
//! seconds of silence are enough to say who caused it. A rank that ends leaves
//! `done/<rank>` (finished) or `ended/<rank>` (ended with its own error), so that the
//! others can tell a rank that left from one that vanished. Whoever finds a lost rank
//! writes the finding under `lost`, which every rank reads.
//!
//! What a finding does: a collective that fails names the lost rank in its error, and
//! a rank that has not ended a short grace after the finding (stuck in a collective,
//! which cannot be interrupted, or in a CUDA read behind an NCCL collective that
//! returned at once) prints the finding and ends its process itself. Not while it
//! writes a checkpoint ([`super::ProcessGroup::uninterruptible`]), nor once it is past
//! its last collective. Checkpoints are written to the side and renamed into place, so
//! ending loses nothing that was written.

use super::Launch;
use memscope_torch_ext::StoreClient;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a rank may give no sign of life before it counts as lost, unless
/// `MEMSCOPE_DIST_LIVENESS` says otherwise: long enough that a loaded machine does not
/// make a healthy rank look lost (a false finding ends the job), short beside the
/// group's timeout.
pub const DEFAULT_LOST_AFTER: Duration = Duration::from_secs(60);

/// Once a collective has failed, this much silence names the rank that caused it (or
/// `lost_after`, when shorter): the failure already says something is wrong.
const NAMING_SILENCE: Duration = Duration::from_secs(4);

/// The longest a sign of life waits between beats.
const MAX_INTERVAL: Duration = Duration::from_secs(1);

/// The liveness watch's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivenessTiming {
    /// Silence after which a rank counts as lost (`MEMSCOPE_DIST_LIVENESS`).
    pub lost_after: Duration,
}

impl LivenessTiming {
    fn interval(&self) -> Duration {
        (self.lost_after / 5).min(MAX_INTERVAL)
    }

    fn naming_silence(&self) -> Duration {
        NAMING_SILENCE.min(self.lost_after)
    }

    /// How long a failed collective waits for the watch to say who caused it; also
    /// the grace a rank stuck in a collective gets after a finding before it ends.
    pub(super) fn naming_wait(&self) -> Duration {
        self.naming_silence() + 3 * self.interval()
    }
}

/// What the main thread tells the watch, and what the watch found.
#[derive(Debug, Default)]
struct State {
    stop: bool,
    /// The job got past its last collective: leave `done`, not `ended`.
    finished: bool,
    /// A collective failed: read every rank with the short silence.
    collective_failed: bool,
    /// The collectives this rank's threads are waiting in (the trainer's, and a scorer
    /// thread's in a group of its own), oldest first.
    in_collective: Vec<&'static str>,
    /// Sections the watch must not cut short (rank 0 writing a checkpoint).
    uninterruptible: usize,
    /// The lost rank(s), in words, and when this rank learnt of it.
    lost: Option<(String, Instant)>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running liveness watch of one rank; stopping it (drop) leaves this rank's end in
/// the store.
#[derive(Debug)]
pub(super) struct Liveness {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    timing: LivenessTiming,
}

impl Liveness {
    /// Starts the watch of `launch`'s rank, with a store connection of its own.
    pub(super) fn start(launch: &Launch, timing: LivenessTiming) -> Result<Liveness, String> {
        let prefix = format!("memscope/{}/liveness", launch.restart);
        // A call to a store that stopped answering fails after a few beats.
        let store = StoreClient::connect(&launch.master_addr, launch.master_port, &prefix, timing.naming_silence())
            .map_err(|e| format!("the liveness watch cannot reach the store: {}", e.message()))?;
        let shared = Arc::new(Shared { state: Mutex::new(State::default()), changed: Condvar::new() });
        let watch = Watch::new(launch, timing, store, shared.clone());
        let thread = std::thread::Builder::new()
            .name(format!("memscope-liveness-{}", launch.rank))
            .spawn(move || watch.run())
            .map_err(|e| format!("cannot start the liveness watch: {e}"))?;
        Ok(Liveness { shared, thread: Some(thread), timing })
    }

    /// A thread of this rank waits in collective `op` from now until it calls
    /// `leave_collective(op)`.
    pub(super) fn enter_collective(&self, op: &'static str) {
        self.shared.state().in_collective.push(op);
    }

    pub(super) fn leave_collective(&self, op: &'static str) {
        let mut state = self.shared.state();
        if let Some(i) = state.in_collective.iter().position(|&o| o == op) {
            state.in_collective.remove(i);
        }
    }

    /// The job is past its last collective: this rank's end is a finish.
    pub(super) fn finished(&self) {
        self.shared.state().finished = true;
    }

    /// Until [`Liveness::interruptible`], the watch does not end this process.
    pub(super) fn uninterruptible(&self) {
        self.shared.state().uninterruptible += 1;
    }

    pub(super) fn interruptible(&self) {
        self.shared.state().uninterruptible -= 1;
    }

    /// A collective failed: which rank(s) are lost, in words, waiting a little for
    /// the watch to find out; `None` when every rank still shows signs of life.
    pub(super) fn lost_after_failure(&self) -> Option<String> {
        let deadline = Instant::now() + self.timing.naming_wait();
        let mut state = self.shared.state();
        state.collective_failed = true;
        self.shared.changed.notify_all();
        loop {
            if let Some((lost, _)) = &state.lost {
                return Some(lost.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            state = self.shared.changed.wait_timeout(state, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

impl Drop for Liveness {
    fn drop(&mut self) {
        self.shared.state().stop = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The watch's own thread: beats, reads, finds.
struct Watch {
    rank: usize,
    world: usize,
    /// Rank 0 serves the store (no launcher's agent does).
    rank0_serves_store: bool,
    store_addr: String,
    timing: LivenessTiming,
    /// The watch's own connection; `None` once a call on it failed (a TCPStore
    /// connection does not recover: its host is gone).
    store: Option<StoreClient>,
    shared: Arc<Shared>,
    /// Per rank: the counter last read, and when it last moved (or the watch began).
    seen: Vec<(i64, Instant)>,
    /// When the store last answered.
    store_answered: Instant,
    /// Ranks that finished: no longer watched.
    finished_ranks: Vec<bool>,
    /// When this watch last looked.
    last_look: Instant,
}

impl Watch {
    fn new(launch: &Launch, timing: LivenessTiming, store: StoreClient, shared: Arc<Shared>) -> Watch {
        let now = Instant::now();
        Watch {
            rank: launch.rank,
            world: launch.world,
            rank0_serves_store: !launch.agent_store,
            store_addr: format!("{}:{}", launch.master_addr, launch.master_port),
            timing,
            store: Some(store),
            shared,
            seen: vec![(0, now); launch.world],
            store_answered: now,
            finished_ranks: vec![false; launch.world],
            last_look: now,
        }
    }

    fn run(mut self) {
        let mut collective_failed = false;
        loop {
            if let Some(lost) = self.look(collective_failed) {
                let mut state = self.shared.state();
                if state.lost.is_none() {
                    state.lost = Some((lost, Instant::now()));
                    self.shared.changed.notify_all();
                }
            }
            self.end_if_lost();
            let state = self.shared.state();
            // Until the next beat, or at once when a collective fails or the rank ends.
            let (state, _) = self
                .shared
                .changed
                .wait_timeout_while(state, self.timing.interval(), |s| !s.stop && s.collective_failed == collective_failed)
                .unwrap_or_else(|p| p.into_inner());
            if state.stop {
                break;
            }
            collective_failed = state.collective_failed;
        }
        let (finished, failed) = {
            let state = self.shared.state();
            (state.finished, state.collective_failed || state.lost.is_some())
        };
        let key = if finished { "done" } else { "ended" };
        let key = format!("{key}/{}", self.rank);
        // A set is not answered; the check after it returns once it is stored.
        if let Some(store) = &mut self.store {
            let _ = store.set(&key, b"1").and_then(|()| store.check(&key));
        }
        if self.rank == 0 && self.rank0_serves_store && failed {
            self.linger();
        }
    }

    /// One beat and one look: this rank's sign of life, then the others' and the
    /// group's finding. The lost rank(s) in words, if any.
    fn look(&mut self, collective_failed: bool) -> Option<String> {
        let now = Instant::now();
        // The time since the last look ended is the wait between looks, unless this
        // process itself was stopped (Ctrl-Z of a whole job, a suspended VM): then no
        // silence of the others can be judged over that time.
        if now - self.last_look > 2 * self.timing.interval() + Duration::from_secs(1) {
            for seen in &mut self.seen {
                seen.1 = now;
            }
            self.store_answered = now;
        }
        let read = match self.store.take() {
            Some(mut store) => {
                let read = self.beat_and_read(&mut store, collective_failed);
                if read.is_ok() {
                    self.store = Some(store);
                }
                read.ok()
            }
            None => None,
        };
        let lost = match read {
            Some(lost) => {
                self.store_answered = Instant::now();
                lost
            }
            None => {
                let silence = self.store_answered.elapsed();
                (silence > self.silence_allowed(collective_failed)).then(|| self.store_lost(silence))
            }
        };
        self.last_look = Instant::now();
        lost
    }

    fn silence_allowed(&self, collective_failed: bool) -> Duration {
        if collective_failed {
            self.timing.naming_silence()
        } else {
            self.timing.lost_after
        }
    }

    fn beat_and_read(&mut self, store: &mut StoreClient, collective_failed: bool) -> Result<Option<String>, memscope_torch_ext::ExtError> {
        store.add(&format!("alive/{}", self.rank), 1)?;
        if store.check("lost")? {
            return Ok(Some(String::from_utf8_lossy(&store.get("lost")?).into_owned()));
        }
        let watched: Vec<usize> = if self.rank == 0 || collective_failed {
            (0..self.world).filter(|&r| r != self.rank && !self.finished_ranks[r]).collect()
        } else if self.finished_ranks[0] {
            Vec::new()
        } else {
            vec![0]
        };
        let keys: Vec<String> = watched.iter().map(|r| format!("alive/{r}")).collect();
        let counters = store.counters(&keys)?;
        let now = Instant::now();
        let allowed = self.silence_allowed(collective_failed);
        let mut lost = Vec::new();
        for (&r, &counter) in watched.iter().zip(&counters) {
            if counter != self.seen[r].0 {
                self.seen[r] = (counter, now);
                continue;
            }
            let silence = now - self.seen[r].1;
            if silence <= allowed {
                continue;
            }
            // What happened to rank r, and what that means.
            if store.check(&format!("done/{r}"))? {
                self.finished_ranks[r] = true;
            } else if store.check(&format!("ended/{r}"))? {
                lost.push((format!("rank {r} left the group"), "its own output says why"));
            } else {
                lost.push((format!("rank {r} gave no sign of life for {:.1} s", silence.as_secs_f64()), "killed, frozen or cut off"));
            }
        }
        if lost.is_empty() {
            return Ok(None);
        }
        let me = self.rank;
        let finding = lost.iter().map(|(what, why)| format!("{what} ({why}; seen by rank {me})")).collect::<Vec<_>>().join(", and ");
        store.set("lost", finding.as_bytes())?;
        Ok(Some(finding))
    }

    /// The store stopped answering for `silence`: who that means is lost.
    fn store_lost(&self, silence: Duration) -> String {
        let who = if self.rank0_serves_store {
            "rank 0, which serves it, has ended or is cut off"
        } else {
            "the launcher that serves it (torchrun's agent, `memscope launch` on node 0) is gone"
        };
        format!("the group's store at {} has not answered for {:.1} s: {who}", self.store_addr, silence.as_secs_f64())
    }

    /// `naming_wait` after a finding, a rank that has not ended by itself (a failed
    /// collective's error ends it well before) ends its process with the finding. It
    /// is stuck in a collective that cannot be interrupted, or in a wait on one: an
    /// NCCL collective returns at once and hangs the next read of a CUDA tensor. Not
    /// once the rank is past its last collective, nor while it writes a checkpoint.
    fn end_if_lost(&self) {
        let state = self.shared.state();
        let Some((lost, since)) = &state.lost else { return };
        if state.finished || state.uninterruptible > 0 || since.elapsed() < self.timing.naming_wait() {
            return;
        }
        let why = match state.in_collective.first() {
            Some(op) => format!("{op} cannot complete: {lost}. This rank ends here: a collective in progress cannot be interrupted"),
            None => format!("{lost}. This rank ends here: the group cannot go on without it"),
        };
        let line = format!("error: rank {} of {}: {why}\n", self.rank, self.world);
        let _ = std::io::stderr().write_all(line.as_bytes());
        // Without unwinding or exit handlers: the main thread is inside libtorch, and
        // NCCL's teardown would wait on the collective that cannot end.
        super::exit::end_now(1)
    }

    /// Rank 0 serves the store: after a failure it stays until the other ranks have
    /// ended or fallen silent (at most `naming_wait`), so that they can still read the
    /// finding and name the lost rank.
    fn linger(&mut self) {
        let deadline = Instant::now() + self.timing.naming_wait();
        while Instant::now() < deadline {
            let others: Vec<usize> = (1..self.world).filter(|&r| !self.finished_ranks[r]).collect();
            let keys: Vec<String> = others.iter().map(|r| format!("alive/{r}")).collect();
            let Some(store) = &mut self.store else { return };
            let Ok(counters) = store.counters(&keys) else { return };
            let now = Instant::now();
            let mut waiting = false;
            for (&r, &counter) in others.iter().zip(&counters) {
                if counter != self.seen[r].0 {
                    self.seen[r] = (counter, now);
                }
                let left = store.check(&format!("done/{r}")).unwrap_or(true) || store.check(&format!("ended/{r}")).unwrap_or(true);
                let silent = now - self.seen[r].1 > self.timing.naming_silence();
                waiting |= !left && !silent;
            }
            if !waiting {
                return;
            }
            std::thread::sleep(self.timing.interval());
        }
    }
}
