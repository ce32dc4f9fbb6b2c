//! The progress display. On a terminal, indicatif bars: one for the epoch's training
//! steps (loss, accuracy, samples/s and the time the whole job has left, scoring
//! included) and, while a snapshot is scored, one for the scorer at work (samples
//! scored out of the total). Without a terminal (a pipe, a daemon job's log), one log
//! line per epoch and one per scored snapshot instead. `--quiet` shows neither.

mod eta;

use eta::{duration, Eta};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use memscope::actors::{EventProcessor, JobEvent};
use std::time::Instant;

/// The snapshot being scored: its scorers and what each has done.
struct Scoring {
    /// The training epoch (1-based) whose weights are scored.
    epoch: usize,
    scorers: Vec<String>,
    samples: usize,
    bar: ProgressBar,
    /// When the pass of the scorer at work began.
    pass_started: Instant,
    /// Each finished pass: scorer, samples, seconds.
    passes: Vec<(String, usize, f64)>,
}

pub struct Progress {
    multi: MultiProgress,
    train: ProgressBar,
    scoring: Option<Scoring>,
    /// `--quiet`: no bar and no line.
    quiet: bool,
    epochs: usize,
    /// Samples trained since the window's start, for samples/s.
    window: (Instant, usize),
    samples_per_second: Option<f64>,
    /// The running loss and accuracy, once the trainer has reported them.
    shown: Option<(f64, f64)>,
    /// When the last training step of this epoch ended.
    last_step: Option<Instant>,
    eta: Eta,
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}").expect("valid progress template").progress_chars("=> ")
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        let target = if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
        let multi = MultiProgress::with_draw_target(target);
        let train = multi.add(ProgressBar::new(0));
        train.set_style(bar_style());
        Progress {
            multi,
            train,
            scoring: None,
            quiet,
            epochs: 0,
            window: (Instant::now(), 0),
            samples_per_second: None,
            shown: None,
            last_step: None,
            eta: Eta::default(),
        }
    }

    /// A line above the bars, or a log line when there are none.
    fn line(&self, line: String) {
        if self.quiet {
            return;
        }
        if self.multi.is_hidden() {
            tracing::info!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    /// The training bar's message: what is measured so far, and the time left.
    fn message(&self) -> String {
        let mut parts = Vec::new();
        if let Some((loss, accuracy)) = self.shown {
            parts.push(format!("loss {loss:.4} acc {accuracy:.4}"));
        }
        if let Some(rate) = self.samples_per_second {
            parts.push(format!("{rate:.0} samples/s"));
        }
        let left = self.eta.remaining();
        match (left.training, left.scoring) {
            (Some(training), Some(scoring)) if scoring > 0.0 => {
                parts.push(format!("ETA {} (scoring {})", duration(training + scoring), duration(scoring)))
            }
            (Some(training), Some(_)) => parts.push(format!("ETA {}", duration(training))),
            (Some(training), None) => parts.push(format!("ETA {} + scoring", duration(training))),
            (None, _) => {}
        }
        parts.join(" · ")
    }

    /// `JobStarted`.
    fn started(&mut self, event: &JobEvent) {
        let JobEvent::JobStarted { run, samples, epochs, start_epoch, steps_per_epoch, device, scorers, scored_epochs: scored } = event
        else {
            return;
        };
        let (samples, epochs, start_epoch) = (*samples, *epochs, *start_epoch);
        self.epochs = epochs;
        let steps = steps_per_epoch * (epochs + 1).saturating_sub(start_epoch);
        self.eta.start(steps, scorers, scored, samples);
        self.train.set_position(0);
        self.train.reset_eta();
        self.train.set_length(steps as u64);
        self.train.set_prefix(format!("epoch {start_epoch}/{epochs}"));
        self.train.set_message(self.message());
        self.window = (Instant::now(), 0);
        let from = if start_epoch > 1 { format!(", resuming at epoch {start_epoch}") } else { String::new() };
        let scoring = match scored.len() {
            0 => String::new(),
            n => format!("; scoring {} at {n} epoch(s)", scorers.join(", ")),
        };
        self.line(format!("run {run}: {samples} samples, {epochs} epochs on {device}{from}{scoring}"));
    }

    fn scoring_started(&mut self, epoch: usize, scorers: &[String], samples: usize) {
        self.eta.scoring_started(epoch, samples);
        let bar = self.multi.add(ProgressBar::new(samples as u64));
        bar.set_style(bar_style());
        if let Some(first) = scorers.first() {
            bar.set_prefix(format!("scoring epoch {epoch}: {first} (1/{})", scorers.len()));
        }
        self.scoring = Some(Scoring { epoch, scorers: scorers.to_vec(), samples, bar, pass_started: Instant::now(), passes: Vec::new() });
        self.train.set_message(self.message());
    }

    fn scoring_progress(&mut self, scorer: &str, done: usize) {
        let Some(scoring) = &mut self.scoring else { return };
        let seconds = scoring.pass_started.elapsed().as_secs_f64();
        self.eta.scored(scorer, done, seconds);
        let k = scoring.scorers.iter().position(|s| s == scorer).map_or(0, |k| k + 1);
        scoring.bar.set_prefix(format!("scoring epoch {}: {scorer} ({k}/{})", scoring.epoch, scoring.scorers.len()));
        scoring.bar.set_position(done as u64);
        if seconds > 0.0 {
            scoring.bar.set_message(format!("{:.0} samples/s", done as f64 / seconds));
        }
        self.train.set_message(self.message());
    }

    fn pass_done(&mut self, scorer: &str, samples: usize, seconds: f64) {
        self.eta.pass_done(scorer, samples, seconds);
        if let Some(scoring) = &mut self.scoring {
            scoring.passes.push((scorer.to_string(), samples, seconds));
            scoring.pass_started = Instant::now();
            scoring.bar.set_position(0);
        }
    }

    /// `scored epoch 4 in 41.3 s: curvature 1797 samples in 40.1 s (45/s), eval_loss
    /// 1797 samples in 1.2 s (1498/s)`.
    fn scoring_ended(&mut self, epoch: usize, seconds: f64) {
        self.eta.scoring_ended();
        let Some(scoring) = self.scoring.take() else { return };
        self.multi.remove(&scoring.bar);
        scoring.bar.finish_and_clear();
        let passes: Vec<String> = scoring
            .passes
            .iter()
            .map(|(scorer, samples, seconds)| {
                format!("{scorer} {samples} samples in {seconds:.1} s ({:.0}/s)", *samples as f64 / seconds.max(1e-9))
            })
            .collect();
        let dropped = scoring.scorers.len() - scoring.passes.len();
        let dropped = if dropped > 0 { format!(" ({dropped} scorer(s) dropped)") } else { String::new() };
        let what = if passes.is_empty() { format!("no scorer of {} samples", scoring.samples) } else { passes.join(", ") };
        self.line(format!("scored epoch {epoch} in {seconds:.1} s: {what}{dropped}"));
        self.train.set_message(self.message());
    }
}

impl EventProcessor for Progress {
    fn process(&mut self, event: &JobEvent) {
        match event {
            JobEvent::JobStarted { .. } => self.started(event),
            JobEvent::TrainBatchEnd { epoch, samples, running, .. } => {
                let now = Instant::now();
                self.eta.step(self.last_step.map(|last| (now - last).as_secs_f64()));
                self.last_step = Some(now);
                self.window.1 += samples;
                let elapsed = self.window.0.elapsed().as_secs_f64();
                if elapsed > 0.5 {
                    self.samples_per_second = Some(self.window.1 as f64 / elapsed);
                    self.window = (Instant::now(), 0);
                }
                if let Some(r) = running {
                    self.shown = Some(*r);
                }
                self.train.set_prefix(format!("epoch {epoch}/{}", self.epochs));
                self.train.set_message(self.message());
                self.train.inc(1);
            }
            JobEvent::TrainEpochEnd(stats) => {
                // What happens between epochs (scoring, checkpoints) is not a step's time.
                self.last_step = None;
                self.window = (Instant::now(), 0);
                self.shown = Some((stats.loss, stats.accuracy));
                self.train.set_message(self.message());
                self.line(format!(
                    "epoch {}/{}: loss {:.4}, accuracy {:.4}, {:.0} samples/s, lr {:.4}",
                    stats.epoch, stats.epochs, stats.loss, stats.accuracy, stats.samples_per_second, stats.lr
                ));
            }
            JobEvent::ScoringStarted { epoch, scorers, samples } => self.scoring_started(*epoch, scorers, *samples),
            JobEvent::ScoringProgress { scorer, done, .. } => self.scoring_progress(scorer, *done),
            JobEvent::ScoresReady { scorer, values, seconds, .. } => self.pass_done(scorer, values.len(), *seconds),
            JobEvent::ScoringEnded { epoch, seconds } => self.scoring_ended(*epoch, *seconds),
            JobEvent::CheckpointWritten { path, .. } => tracing::debug!("checkpoint {}", path.display()),
            JobEvent::DataDecoding { done, total } => {
                if self.train.length() != Some(*total as u64) {
                    self.train.set_length(*total as u64);
                    self.train.set_prefix("decoding images");
                    self.train.set_message("");
                    self.train.reset_eta();
                }
                self.train.set_position(*done as u64);
                if self.multi.is_hidden() && !self.quiet && (*done == *total || *done % 10_000 < 256) {
                    tracing::info!("decoded {done} of {total} images");
                }
            }
            JobEvent::MaskReady { .. } | JobEvent::Evaluated { .. } => {}
            JobEvent::JobEnded { .. } => {
                if let Some(scoring) = self.scoring.take() {
                    scoring.bar.finish_and_clear();
                }
                self.train.finish_and_clear();
            }
        }
    }
}
