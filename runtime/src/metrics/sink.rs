//! Job events as metrics: a processor on the event bus.

use super::Metric;
use crate::actors::{EventProcessor, JobEvent};

/// Records a job's events as metrics labelled with its run name.
pub struct MetricsSink {
    run: String,
}

impl MetricsSink {
    /// A sink for the run called `run`.
    pub fn new(run: &str) -> Self {
        MetricsSink { run: run.to_string() }
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
                self.gauge(Metric::Epoch, *start_epoch as f64);
                self.gauge(Metric::JobRunning, 1.0);
            }
            JobEvent::TrainBatchEnd { samples, .. } => {
                metrics::counter!(Metric::TrainSamples.name(), "run" => run.clone()).increment(*samples as u64);
                metrics::counter!(Metric::TrainSteps.name(), "run" => run).increment(1);
            }
            JobEvent::TrainEpochEnd(stats) => {
                self.gauge(Metric::Epoch, (stats.epoch + 1) as f64);
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
                let mean = values.iter().map(|&v| v as f64).sum::<f64>() / values.len().max(1) as f64;
                metrics::gauge!(Metric::ScoreMean.name(), "run" => run, "scorer" => scorer.clone(), "subset" => "all").set(mean);
            }
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
