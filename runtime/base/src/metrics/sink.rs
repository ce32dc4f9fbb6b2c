//! Job events as metrics: a processor on the event bus.

use super::Metric;
use crate::events::{EventProcessor, JobEvent};
use std::sync::Arc;

/// Records a job's events as metrics labelled with its run name.
pub struct MetricsSink {
    run: String,
    /// Masks published by plugins, to split score means and measure AUROC.
    masks: Vec<(String, Arc<Vec<bool>>)>,
}

/// Names of the two sides of a mask, for the `subset` label.
fn sides(mask: &str) -> (String, String) {
    if mask == "noise_mask" {
        ("noisy".into(), "clean".into())
    } else {
        (mask.to_string(), format!("not_{mask}"))
    }
}

impl MetricsSink {
    /// A sink for the run called `run`.
    pub fn new(run: &str) -> Self {
        MetricsSink { run: run.to_string(), masks: Vec::new() }
    }

    fn score_mean(&self, scorer: &str, subset: &str, values: impl Iterator<Item = f32>) {
        let (sum, n) = values.fold((0.0f64, 0usize), |(s, n), v| (s + v as f64, n + 1));
        if n > 0 {
            metrics::gauge!(Metric::ScoreMean.name(), "run" => self.run.clone(), "scorer" => scorer.to_string(), "subset" => subset.to_string())
                .set(sum / n as f64);
        }
    }

    fn gauge(&self, metric: Metric, value: f64) {
        metrics::gauge!(metric.name(), "run" => self.run.clone()).set(value);
    }
}

impl EventProcessor for MetricsSink {
    fn process(&mut self, event: &JobEvent) {
        let run = self.run.clone();
        match event {
            JobEvent::JobStarted { epochs, start_epoch, .. } => {
                self.gauge(Metric::Epochs, *epochs as f64);
                // Epochs completed so far.
                self.gauge(Metric::Epoch, (start_epoch - 1) as f64);
                self.gauge(Metric::JobRunning, 1.0);
            }
            JobEvent::TrainBatchEnd { samples, seconds, .. } => {
                metrics::histogram!(Metric::StepDuration.name(), "run" => run.clone()).record(*seconds);
                metrics::counter!(Metric::TrainSamples.name(), "run" => run.clone()).increment(*samples as u64);
                metrics::counter!(Metric::TrainSteps.name(), "run" => run).increment(1);
            }
            JobEvent::TrainEpochEnd(stats) => {
                self.gauge(Metric::Epoch, stats.epoch as f64);
                self.gauge(Metric::TrainLoss, stats.loss);
                self.gauge(Metric::TrainAccuracy, stats.accuracy);
                self.gauge(Metric::TrainSamplesPerSecond, stats.samples_per_second);
                metrics::histogram!(Metric::EpochDuration.name(), "run" => run).record(stats.seconds);
            }
            JobEvent::ScoresReady { scorer, values, seconds, .. } => {
                let labels = [("run", run.clone()), ("scorer", scorer.clone())];
                metrics::histogram!(Metric::ScoreDuration.name(), &labels).record(*seconds);
                metrics::counter!(Metric::ScoredSamples.name(), &labels).increment(values.len() as u64);
                let histogram = metrics::histogram!(Metric::ScoreValue.name(), &labels);
                for v in values.iter() {
                    histogram.record(*v as f64);
                }
                self.score_mean(scorer, "all", values.iter().copied());
                for (name, mask) in &self.masks {
                    if mask.len() != values.len() {
                        continue;
                    }
                    let (inside, outside) = sides(name);
                    self.score_mean(scorer, &inside, values.iter().zip(mask.iter()).filter(|(_, &m)| m).map(|(v, _)| *v));
                    self.score_mean(scorer, &outside, values.iter().zip(mask.iter()).filter(|(_, &m)| !m).map(|(v, _)| *v));
                    let scores: Vec<f64> = values.iter().map(|&v| v as f64).collect();
                    if let Some(auroc) = memscope_stats::auroc(&scores, mask) {
                        metrics::gauge!(Metric::ScoreAuroc.name(), "run" => run.clone(), "scorer" => scorer.clone(), "subset" => name.clone())
                            .set(auroc);
                    }
                }
            }
            JobEvent::Evaluated { subset, loss, accuracy } => {
                metrics::gauge!(Metric::EvalLoss.name(), "run" => run.clone(), "subset" => subset.clone()).set(*loss);
                metrics::gauge!(Metric::EvalAccuracy.name(), "run" => run, "subset" => subset.clone()).set(*accuracy);
            }
            JobEvent::MaskReady { name, mask } => {
                self.masks.retain(|(n, _)| n != name);
                self.masks.push((name.clone(), mask.clone()));
            }
            // Decoding happens once per dataset, before training: a log line, not a series.
            // A scoring pass's progress is the display's; its result is `ScoresReady`.
            JobEvent::DataDecoding { .. }
            | JobEvent::ScoringStarted { .. }
            | JobEvent::ScoringProgress { .. }
            | JobEvent::ScoringEnded { .. } => {}
            JobEvent::CheckpointWritten { .. } => {
                metrics::counter!(Metric::Checkpoints.name(), "run" => run).increment(1);
            }
            JobEvent::JobEnded { ok, .. } => {
                self.gauge(Metric::JobRunning, 0.0);
                self.gauge(Metric::JobSucceeded, if *ok { 1.0 } else { 0.0 });
            }
        }
    }
}
