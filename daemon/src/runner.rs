//! The runner thread: starts queued jobs while slots are free, reaps finished ones,
//! relays cancellation, and on shutdown interrupts every job and waits for it within
//! the grace period. It is the only place job processes are started or reaped.

use super::child::{last_error, JobProcess};
use super::gpus;
use super::shared::Shared;
use super::store::{now, JobState};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use memscope_base::metrics::Metric;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the runner is asked to do.
#[derive(Debug)]
pub enum RunnerCommand {
    /// A job was queued, or settings changed: look for work now.
    Wake,
    /// Stop this running job (it was marked `cancel_requested`).
    Cancel(String),
    /// Interrupt every job, wait for them within the grace period, then answer.
    Shutdown(Sender<()>),
}

/// How often the runner checks its processes when nothing is asked of it.
const TICK: Duration = Duration::from_millis(200);

/// Starts the runner thread.
pub fn spawn_runner(shared: Arc<Shared>, commands: Receiver<RunnerCommand>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("memscope-runner".into()).spawn(move || Runner { shared, running: Vec::new() }.run(commands))
}

struct Runner {
    shared: Arc<Shared>,
    running: Vec<JobProcess>,
}

impl Runner {
    fn run(mut self, commands: Receiver<RunnerCommand>) {
        loop {
            match commands.recv_timeout(TICK) {
                Ok(RunnerCommand::Wake) | Err(RecvTimeoutError::Timeout) => {}
                Ok(RunnerCommand::Cancel(id)) => {
                    if let Some(process) = self.running.iter_mut().find(|p| p.id == id) {
                        process.interrupt();
                    }
                }
                Ok(RunnerCommand::Shutdown(done)) => {
                    self.shutdown();
                    let _ = done.send(());
                    return;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.reap(false);
            let retention = self.shared.settings().config.metrics_retention_seconds;
            self.shared.run_metrics.expire(Duration::from_secs(retention));
            self.kill_overdue();
            self.start_queued();
            self.publish_counts();
        }
    }

    fn grace(&self) -> Duration {
        Duration::from_secs(self.shared.settings().config.shutdown_grace_seconds)
    }

    /// Starts the oldest queued jobs while fewer than `max_running_jobs` run and, under
    /// a daemon with `gpus`, while the oldest one's GPUs are free: jobs start in the
    /// order they were queued, so one waiting for a GPU is not overtaken.
    fn start_queued(&mut self) {
        let settings = self.shared.settings();
        while self.running.len() < settings.config.max_running_jobs {
            let mut store = self.shared.store.lock().expect("store lock");
            let Some(next) = store.list().find(|r| r.state == JobState::Queued).cloned() else { return };
            let placed = match &settings.gpus {
                None => None,
                Some(all) if next.gpus_requested > all.len() => {
                    // Accepted before a reload took GPUs away: it can never start.
                    let why = format!("asks for {} GPU(s); this daemon now has {} ({all:?})", next.gpus_requested, all.len());
                    tracing::warn!("job {} failed: {why}", next.id);
                    let failed = store.update(&next.id, |r| {
                        r.state = JobState::Failed;
                        r.finished_at = Some(now());
                        r.message = Some(why);
                    });
                    if let Err(e) = failed {
                        tracing::error!("job {}: cannot write its record: {e}", next.id);
                        return;
                    }
                    continue;
                }
                Some(all) => {
                    let busy: Vec<u32> = self.running.iter().flat_map(|p| p.gpus.iter().copied()).collect();
                    match gpus::place(all, &busy, next.gpus_requested) {
                        Some(placed) => Some(placed),
                        None => {
                            let waiting = format!("waiting for {} GPU(s): GPU(s) {busy:?} are in use", next.gpus_requested);
                            if next.message.as_deref() != Some(waiting.as_str()) {
                                if let Err(e) = store.update(&next.id, |r| r.message = Some(waiting)) {
                                    tracing::error!("job {}: cannot write its record: {e}", next.id);
                                }
                            }
                            return;
                        }
                    }
                }
            };
            let (config, log) = (store.config_path(&next.id), store.log_path(&next.id));
            let attempt = next.attempts + 1;
            let label = format!("{}-{}", next.name, next.id);
            let started = JobProcess::start(&self.shared, &next.id, &next.run_dir, &config, &log, attempt, label, placed.as_deref());
            let update = match started {
                Ok(process) => {
                    let on = if process.gpus.is_empty() { String::new() } else { format!(" on GPU(s) {:?}", process.gpus) };
                    tracing::info!("job {} ({}) started{on}, attempt {attempt}", next.id, next.name);
                    let gpus = process.gpus.clone();
                    self.running.push(process);
                    store.update(&next.id, |r| {
                        r.state = JobState::Running;
                        r.attempts = attempt;
                        r.started_at = Some(now());
                        r.message = None;
                        r.gpus = gpus;
                    })
                }
                Err(e) => {
                    tracing::error!("job {}: cannot start its process: {e}", next.id);
                    store.update(&next.id, |r| {
                        r.state = JobState::Failed;
                        r.finished_at = Some(now());
                        r.message = Some(format!("cannot start the job process: {e}"));
                    })
                }
            };
            if let Err(e) = update {
                tracing::error!("job {}: cannot write its record: {e}", next.id);
            }
        }
    }

    /// Records every job whose process ended. During shutdown, a job that stopped
    /// without completing goes back to the queue, to resume at the next start.
    fn reap(&mut self, shutting_down: bool) {
        let mut index = 0;
        while index < self.running.len() {
            let status = match self.running[index].child.try_wait() {
                Ok(Some(status)) => status,
                Ok(None) => {
                    index += 1;
                    continue;
                }
                Err(e) => {
                    tracing::error!("job {}: cannot wait for its process: {e}", self.running[index].id);
                    index += 1;
                    continue;
                }
            };
            let mut process = self.running.swap_remove(index);
            process.join_readers();
            self.shared.run_metrics.finished(&process.id);
            let mut store = self.shared.store.lock().expect("store lock");
            let log = store.log_path(&process.id);
            let result = store.update(&process.id, |r| {
                let completed = status.success() && r.run_dir.join("summary.json").exists();
                let (state, message) = if completed {
                    (JobState::Completed, "completed".to_string())
                } else if r.cancel_requested {
                    (JobState::Cancelled, "cancelled".to_string())
                } else if shutting_down {
                    (JobState::Queued, "interrupted by a daemon shutdown; resumes from its last checkpoint".to_string())
                } else {
                    let why = last_error(&log).unwrap_or_else(|| format!("the job process ended with {status}"));
                    (JobState::Failed, why)
                };
                r.state = state;
                r.message = Some(message);
                if state.is_final() {
                    r.finished_at = Some(now());
                }
            });
            match result {
                Ok(r) if r.state == JobState::Failed => {
                    tracing::warn!("job {} ({}) failed: {}", r.id, r.name, r.message.unwrap_or_default())
                }
                Ok(r) => tracing::info!("job {} ({}): {}", r.id, r.name, r.message.unwrap_or_default()),
                Err(e) => tracing::error!("job {}: cannot write its record: {e}", process.id),
            }
        }
    }

    /// Kills jobs that did not stop within the grace period after SIGINT.
    fn kill_overdue(&mut self) {
        let grace = self.grace();
        for process in &mut self.running {
            if process.interrupted_at.is_some_and(|at| at.elapsed() > grace) {
                tracing::warn!("job {} did not stop within {grace:?}: killing it", process.id);
                process.kill();
            }
        }
    }

    fn shutdown(&mut self) {
        let grace = self.grace();
        tracing::info!("stopping {} running job(s) (grace {grace:?})", self.running.len());
        for process in &mut self.running {
            process.interrupt();
        }
        let deadline = Instant::now() + grace;
        while !self.running.is_empty() && Instant::now() < deadline {
            self.reap(true);
            std::thread::sleep(Duration::from_millis(50));
        }
        for process in &mut self.running {
            tracing::warn!("job {} did not stop within {grace:?}: killing it", process.id);
            process.kill();
        }
        while !self.running.is_empty() {
            self.reap(true);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn publish_counts(&self) {
        let store = self.shared.store.lock().expect("store lock");
        for state in JobState::ALL {
            let count = store.list().filter(|r| r.state == state).count();
            metrics::gauge!(Metric::DaemonJobs.name(), "state" => state.name()).set(count as f64);
        }
    }
}
