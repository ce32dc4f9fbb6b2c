//! How many libtorch threads a job with `threads = 0` trains with: the cores that
//! other processes leave free, measured before training and again as it goes.
//!
//! libtorch's default is one thread per core. When another process keeps a core busy,
//! the OpenMP threads then wait on each other at every parallel region while that core
//! is taken: measured on 2 cores beside one busy process (`bench/busy.sh`, BENCHMARKS.md),
//! two threads trained the digits `cnn` 3.6x slower than alone, one thread as fast as
//! alone. libgomp's wait policy (`OMP_WAIT_POLICY=PASSIVE`, `GOMP_SPINCOUNT`) was
//! measured too: it cost 40 % on an idle machine, or did not help.
//!
//! A count set by the user is kept: `threads > 0` in the job, or `OMP_NUM_THREADS`
//! (which libtorch's default follows), and `deterministic = true` keeps libtorch's
//! default so that two runs sum in the same order.

mod cpu_time;

pub use cpu_time::CpuReading;

use std::time::Duration;

/// How often, at most, the trainer measures the free cores again.
const EVERY: Duration = Duration::from_secs(1);

/// The shortest measurement the first choice is made from.
const FIRST_MEASUREMENT: Duration = Duration::from_millis(100);

/// The thread count of an adaptive job, adjusted from the trainer's thread.
pub struct ThreadBudget {
    /// The cores this process may run on (affinity and cgroup quota).
    allowed: usize,
    /// The reading the next measurement starts from.
    since: CpuReading,
    /// The counts set so far, in order (empty before the first choice).
    used: Vec<usize>,
}

impl ThreadBudget {
    /// An adaptive budget for a job whose `threads` is `threads` and whose
    /// `deterministic` is `deterministic`; `None` where the count is fixed (by the job,
    /// by `OMP_NUM_THREADS`, by determinism) or the CPU time cannot be read.
    pub fn adaptive(threads: usize, deterministic: bool) -> Option<Self> {
        let fixed_by_env = std::env::var_os("OMP_NUM_THREADS").is_some_and(|v| !v.is_empty());
        if threads > 0 || deterministic || fixed_by_env {
            return None;
        }
        let allowed = std::thread::available_parallelism().map_or(1, |n| n.get());
        Some(Self { allowed, since: CpuReading::now()?, used: Vec::new() })
    }

    /// Called by the trainer before each step: the first time, chooses the count from
    /// what the others used since the budget was made (waiting out the rest of a short
    /// measurement); then, once a second, again from the last second. Sets libtorch's
    /// count for the calling thread when it changes.
    pub fn adjust(&mut self) {
        let current = self.used.last().copied();
        match current {
            None => {
                if let Some(rest) = FIRST_MEASUREMENT.checked_sub(self.since.at.elapsed()) {
                    std::thread::sleep(rest);
                }
            }
            Some(_) if self.since.at.elapsed() < EVERY => return,
            Some(_) => {}
        }
        let Some(now) = CpuReading::now() else { return };
        let Some(others) = now.others_busy_since(&self.since) else { return };
        self.since = now;
        let threads = free_cores(self.allowed, now.cores, others);
        if current == Some(threads) {
            return;
        }
        tch::set_num_threads(threads as i32);
        if current.is_some() {
            tracing::info!("training on {threads} threads: other processes keep {others:.1} of {} cores busy", now.cores);
        }
        self.used.push(threads);
    }

    /// The counts set, in the order chosen (empty where the CPU time could not be read).
    pub fn into_used(self) -> Vec<usize> {
        self.used
    }
}

/// The threads to use: the machine's cores less those the others kept busy (rounded),
/// at most the cores this process may use, at least one.
pub fn free_cores(allowed: usize, machine_cores: usize, others_busy: f64) -> usize {
    let free = (machine_cores as f64 - others_busy).round().max(1.0) as usize;
    free.min(allowed).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_machine_gives_every_allowed_core() {
        assert_eq!(free_cores(2, 2, 0.0), 2);
        assert_eq!(free_cores(2, 2, 0.3), 2);
        // A container allowed 4 of a host's 64 cores keeps to its 4.
        assert_eq!(free_cores(4, 64, 10.0), 4);
    }

    #[test]
    fn a_core_kept_busy_by_others_is_left_to_them() {
        assert_eq!(free_cores(2, 2, 0.6), 1);
        assert_eq!(free_cores(2, 2, 1.0), 1);
        assert_eq!(free_cores(8, 8, 3.2), 5);
    }

    #[test]
    fn one_thread_is_left_however_busy_the_machine() {
        assert_eq!(free_cores(2, 2, 2.0), 1);
        assert_eq!(free_cores(2, 2, 7.5), 1);
    }

    #[test]
    fn a_count_the_user_set_is_kept() {
        assert!(ThreadBudget::adaptive(3, false).is_none(), "threads = 3");
        assert!(ThreadBudget::adaptive(0, true).is_none(), "deterministic");
    }
}
