//! The time a job has left: the training steps still to run at the measured time per
//! step, plus the snapshot passes still to score at each scorer's measured time per
//! sample. Scoring is most of a job's time with costly scorers (curvature: minutes a
//! snapshot), so an estimate from training alone promised hours too few, then froze.
//!
//! Times are passed in (no clock here), so the arithmetic is tested as it is.

use std::collections::HashMap;

/// A running mean of seconds per unit (step, sample).
#[derive(Debug, Default, Clone, Copy)]
struct Rate {
    seconds: f64,
    units: f64,
}

impl Rate {
    fn add(&mut self, seconds: f64, units: usize) {
        self.seconds += seconds;
        self.units += units as f64;
    }

    fn per_unit(&self) -> Option<f64> {
        (self.units > 0.0).then(|| self.seconds / self.units)
    }
}

/// What is left of the job, in seconds; `None` where nothing was measured yet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Remaining {
    /// The training steps left.
    pub training: Option<f64>,
    /// The scoring left: the rest of the snapshot in progress and every snapshot to come.
    pub scoring: Option<f64>,
}

/// The estimate, fed from the job's events.
#[derive(Debug, Default)]
pub struct Eta {
    steps_left: usize,
    step: Rate,
    /// Snapshot scorers, in the order they run.
    scorers: Vec<String>,
    /// Samples each scorer scores per snapshot.
    samples: usize,
    /// Scored epochs (1-based) whose scoring has not begun.
    snapshots_left: Vec<usize>,
    /// Seconds per sample of each scorer, over its finished passes.
    finished: HashMap<String, Rate>,
    /// Seconds per sample of each scorer's pass in progress (before a pass of it ended).
    live: HashMap<String, f64>,
    /// Samples each scorer has scored in the snapshot in progress.
    current: Option<HashMap<String, usize>>,
}

impl Eta {
    /// The job starts (or resumes) with `steps` training steps to run; `scored_epochs`
    /// (1-based) will be scored by `scorers`, `samples` samples each.
    pub fn start(&mut self, steps: usize, scorers: &[String], scored_epochs: &[usize], samples: usize) {
        *self = Eta { steps_left: steps, scorers: scorers.to_vec(), samples, snapshots_left: scored_epochs.to_vec(), ..Eta::default() };
    }

    /// One training step ended, `seconds` after the one before it (`None` for an
    /// epoch's first step, whose time includes what happened between epochs).
    pub fn step(&mut self, seconds: Option<f64>) {
        self.steps_left = self.steps_left.saturating_sub(1);
        if let Some(seconds) = seconds {
            self.step.add(seconds, 1);
        }
    }

    /// The snapshot of `epoch` (1-based) begins scoring, `samples` samples a scorer.
    pub fn scoring_started(&mut self, epoch: usize, samples: usize) {
        self.snapshots_left.retain(|&e| e != epoch);
        self.samples = samples;
        self.current = Some(HashMap::new());
    }

    /// `scorer` has scored `done` samples of this snapshot, in `seconds` so far.
    pub fn scored(&mut self, scorer: &str, done: usize, seconds: f64) {
        if let Some(current) = &mut self.current {
            current.insert(scorer.to_string(), done);
        }
        if done > 0 {
            self.live.insert(scorer.to_string(), seconds / done as f64);
        }
    }

    /// `scorer` finished its pass over `samples` samples in `seconds`.
    pub fn pass_done(&mut self, scorer: &str, samples: usize, seconds: f64) {
        self.finished.entry(scorer.to_string()).or_default().add(seconds, samples);
        if let Some(current) = &mut self.current {
            current.insert(scorer.to_string(), samples);
        }
    }

    /// The snapshot in progress is scored.
    pub fn scoring_ended(&mut self) {
        self.current = None;
    }

    /// The time left, as far as it is known.
    pub fn remaining(&self) -> Remaining {
        let training = match self.steps_left {
            0 => Some(0.0),
            steps => self.step.per_unit().map(|s| s * steps as f64),
        };
        let mut scoring = Some(0.0);
        for scorer in &self.scorers {
            let done = self.current.as_ref().map_or(0, |c| c.get(scorer).copied().unwrap_or(0));
            let in_progress = self.current.as_ref().map_or(0, |_| self.samples.saturating_sub(done));
            let samples = in_progress + self.samples * self.snapshots_left.len();
            if samples == 0 {
                continue;
            }
            let rate = self.finished.get(scorer).and_then(Rate::per_unit).or_else(|| self.live.get(scorer).copied());
            scoring = match (scoring, rate) {
                (Some(total), Some(rate)) => Some(total + rate * samples as f64),
                _ => None,
            };
        }
        Remaining { training, scoring }
    }
}

/// `2h 05m`, `3m 12s`, `45s`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_time_left_counts_the_scoring_still_to_come() {
        let mut eta = Eta::default();
        // 4 epochs of 10 steps, snapshots of epochs 2 and 4 scored by two scorers over 100 samples.
        eta.start(40, &names(&["curvature", "eval_loss"]), &[2, 4], 100);
        eta.step(None);
        assert_eq!(eta.remaining().training, None, "no step measured yet");
        for _ in 0..9 {
            eta.step(Some(0.5));
        }
        // 30 steps of 0.5 s left; scoring not measured yet.
        assert_eq!(eta.remaining(), Remaining { training: Some(15.0), scoring: None });

        eta.scoring_started(2, 100);
        eta.scored("curvature", 25, 5.0);
        // curvature 0.2 s a sample measured live: 75 left now + 100 at epoch 4; eval_loss unknown.
        assert_eq!(eta.remaining().scoring, None);
        eta.pass_done("curvature", 100, 10.0);
        eta.scored("eval_loss", 50, 1.0);
        // curvature 0.1 s a sample (its pass) x 100 (epoch 4); eval_loss 0.02 x (50 + 100).
        let left = eta.remaining().scoring.unwrap();
        assert!((left - (10.0 + 3.0)).abs() < 1e-9, "{left}");
        eta.pass_done("eval_loss", 100, 1.0);
        eta.scoring_ended();
        let left = eta.remaining().scoring.unwrap();
        assert!((left - (10.0 + 1.0)).abs() < 1e-9, "{left}");

        // The last snapshot scored: nothing left but its steps.
        eta.scoring_started(4, 100);
        eta.pass_done("curvature", 100, 10.0);
        eta.pass_done("eval_loss", 100, 1.0);
        eta.scoring_ended();
        assert_eq!(eta.remaining().scoring, Some(0.0));
    }

    #[test]
    fn a_job_without_scorers_has_only_training_left() {
        let mut eta = Eta::default();
        eta.start(3, &[], &[], 100);
        eta.step(None);
        eta.step(Some(2.0));
        assert_eq!(eta.remaining(), Remaining { training: Some(2.0), scoring: Some(0.0) });
        eta.step(Some(2.0));
        assert_eq!(eta.remaining(), Remaining { training: Some(0.0), scoring: Some(0.0) });
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration(44.6), "45s");
        assert_eq!(duration(192.0), "3m 12s");
        assert_eq!(duration(7500.0), "2h 05m");
        assert_eq!(duration(-1.0), "0s");
    }
}
