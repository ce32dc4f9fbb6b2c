//! The progress display: a bar with epoch, loss, accuracy, samples/s and ETA when
//! stderr is a terminal, one log line per epoch otherwise.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use memscope::actors::{EventProcessor, JobEvent};
use std::time::Instant;

pub struct Progress {
    bar: ProgressBar,
    quiet: bool,
    epochs: usize,
    window: (Instant, usize),
    samples_per_second: f64,
    shown: (f64, f64),
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        let target = if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
                .expect("valid progress template")
                .progress_chars("=> "),
        );
        Progress { bar, quiet, epochs: 0, window: (Instant::now(), 0), samples_per_second: 0.0, shown: (f64::NAN, f64::NAN) }
    }

    fn message(&self) -> String {
        format!("loss {:.4} acc {:.4} {:.0} samples/s", self.shown.0, self.shown.1, self.samples_per_second)
    }
}

impl EventProcessor for Progress {
    fn process(&mut self, event: &JobEvent) {
        match event {
            JobEvent::JobStarted { run, samples, epochs, start_epoch, steps_per_epoch, device } => {
                self.epochs = *epochs;
                self.bar.set_position(0);
                self.bar.reset_eta();
                self.bar.set_length((*steps_per_epoch * (epochs - start_epoch)) as u64);
                self.bar.set_prefix(format!("epoch {}/{epochs}", start_epoch + 1));
                self.window = (Instant::now(), 0);
                if !self.quiet {
                    let from = if *start_epoch > 0 { format!(", resuming at epoch {}", start_epoch + 1) } else { String::new() };
                    tracing::info!("run {run}: {samples} samples, {epochs} epochs on {device}{from}");
                }
            }
            JobEvent::TrainBatchEnd { epoch, samples, running, .. } => {
                self.window.1 += samples;
                let elapsed = self.window.0.elapsed().as_secs_f64();
                if elapsed > 0.5 {
                    self.samples_per_second = self.window.1 as f64 / elapsed;
                    self.window = (Instant::now(), 0);
                }
                if let Some(r) = running {
                    self.shown = *r;
                }
                self.bar.set_prefix(format!("epoch {}/{}", epoch + 1, self.epochs));
                self.bar.set_message(self.message());
                self.bar.inc(1);
            }
            JobEvent::TrainEpochEnd(stats) => {
                self.shown = (stats.loss, stats.accuracy);
                self.bar.set_message(self.message());
                let line = format!(
                    "epoch {}/{}: loss {:.4}, accuracy {:.4}, {:.0} samples/s, lr {:.4}",
                    stats.epoch + 1,
                    stats.epochs,
                    stats.loss,
                    stats.accuracy,
                    stats.samples_per_second,
                    stats.lr
                );
                if self.bar.is_hidden() {
                    if !self.quiet {
                        tracing::info!("{line}");
                    }
                } else {
                    self.bar.println(line);
                }
            }
            JobEvent::ScoresReady { epoch, scorer, seconds, .. } => {
                tracing::debug!("scored {scorer} at epoch {} in {seconds:.2}s", epoch + 1);
            }
            JobEvent::CheckpointWritten { path, .. } => tracing::debug!("checkpoint {}", path.display()),
            JobEvent::DataDecoding { done, total } => {
                if self.bar.length() != Some(*total as u64) {
                    self.bar.set_length(*total as u64);
                    self.bar.set_prefix("decoding images");
                    self.bar.set_message("");
                    self.bar.reset_eta();
                }
                self.bar.set_position(*done as u64);
                if self.bar.is_hidden() && !self.quiet && (*done == *total || *done % 10_000 < 256) {
                    tracing::info!("decoded {done} of {total} images");
                }
            }
            JobEvent::MaskReady { .. } | JobEvent::Evaluated { .. } => {}
            JobEvent::JobEnded { .. } => self.bar.finish_and_clear(),
        }
    }
}
