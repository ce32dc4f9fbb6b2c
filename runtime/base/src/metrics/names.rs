//! Every metric memscope exports. No metric name is written anywhere else.

/// A metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Constant 1 with `version`, `torch_version` and `device` labels.
    BuildInfo,
    /// Epochs completed.
    Epoch,
    /// Epochs the job will train.
    Epochs,
    /// Mean training loss of the last epoch.
    TrainLoss,
    /// Training accuracy of the last epoch.
    TrainAccuracy,
    /// Training samples processed.
    TrainSamples,
    /// Optimizer steps taken.
    TrainSteps,
    /// Training throughput of the last epoch.
    TrainSamplesPerSecond,
    /// Duration of each epoch's training steps.
    EpochDuration,
    /// Duration of each optimizer step.
    StepDuration,
    /// Eval-mode loss after training (label `subset`: `train` or `test`).
    EvalLoss,
    /// Eval-mode accuracy after training (label `subset`: `train` or `test`).
    EvalAccuracy,
    /// Hook failures of plugins (label `plugin`), optional ones included.
    PluginErrors,
    /// Duration of each scoring pass (label `scorer`).
    ScoreDuration,
    /// Samples scored (label `scorer`).
    ScoredSamples,
    /// Distribution of per-sample scores of each pass (label `scorer`), log buckets.
    ScoreValue,
    /// Mean score of the last pass (labels `scorer`, `subset`: `all`, or the two sides
    /// of a mask: `noisy` / `clean` for the noise mask).
    ScoreMean,
    /// AUROC of the last pass against a mask (labels `scorer`, `subset` = the mask).
    ScoreAuroc,
    /// Checkpoints written.
    Checkpoints,
    /// Whether the job is running (1) or ended (0).
    JobRunning,
    /// Whether the job ended successfully (1) or not (0), once ended.
    JobSucceeded,
    /// Daemon: jobs in each state (label `state`).
    DaemonJobs,
    /// Daemon: jobs accepted by `POST /v1/jobs`.
    DaemonSubmissions,
    /// Daemon: API request latency (labels `method`, `status`).
    ApiRequestDuration,
}

impl Metric {
    /// Every metric, for documentation and tests.
    pub const ALL: [Metric; 24] = [
        Metric::BuildInfo,
        Metric::Epoch,
        Metric::Epochs,
        Metric::TrainLoss,
        Metric::TrainAccuracy,
        Metric::TrainSamples,
        Metric::TrainSteps,
        Metric::TrainSamplesPerSecond,
        Metric::EpochDuration,
        Metric::StepDuration,
        Metric::EvalLoss,
        Metric::EvalAccuracy,
        Metric::PluginErrors,
        Metric::ScoreDuration,
        Metric::ScoredSamples,
        Metric::ScoreValue,
        Metric::ScoreMean,
        Metric::ScoreAuroc,
        Metric::Checkpoints,
        Metric::JobRunning,
        Metric::JobSucceeded,
        Metric::DaemonJobs,
        Metric::DaemonSubmissions,
        Metric::ApiRequestDuration,
    ];

    /// The exported name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::BuildInfo => "memscope_build_info",
            Metric::Epoch => "memscope_epoch",
            Metric::Epochs => "memscope_epochs",
            Metric::TrainLoss => "memscope_train_loss",
            Metric::TrainAccuracy => "memscope_train_accuracy_ratio",
            Metric::TrainSamples => "memscope_train_samples_total",
            Metric::TrainSteps => "memscope_train_steps_total",
            Metric::TrainSamplesPerSecond => "memscope_train_samples_per_second",
            Metric::EpochDuration => "memscope_epoch_duration_seconds",
            Metric::StepDuration => "memscope_train_step_duration_seconds",
            Metric::EvalLoss => "memscope_eval_loss",
            Metric::EvalAccuracy => "memscope_eval_accuracy_ratio",
            Metric::PluginErrors => "memscope_plugin_errors_total",
            Metric::ScoreDuration => "memscope_score_duration_seconds",
            Metric::ScoredSamples => "memscope_scored_samples_total",
            Metric::ScoreValue => "memscope_score_value",
            Metric::ScoreMean => "memscope_score_mean",
            Metric::ScoreAuroc => "memscope_score_auroc_ratio",
            Metric::Checkpoints => "memscope_checkpoints_total",
            Metric::JobRunning => "memscope_job_running",
            Metric::JobSucceeded => "memscope_job_succeeded",
            Metric::DaemonJobs => "memscope_daemon_jobs",
            Metric::DaemonSubmissions => "memscope_daemon_submissions_total",
            Metric::ApiRequestDuration => "memscope_api_request_duration_seconds",
        }
    }

    /// The help text.
    pub fn help(self) -> &'static str {
        match self {
            Metric::BuildInfo => "memscope build: version, torch version and device as labels",
            Metric::Epoch => "Epochs completed",
            Metric::Epochs => "Epochs the job trains",
            Metric::TrainLoss => "Mean training loss of the last epoch",
            Metric::TrainAccuracy => "Training accuracy of the last epoch",
            Metric::TrainSamples => "Training samples processed",
            Metric::TrainSteps => "Optimizer steps taken",
            Metric::TrainSamplesPerSecond => "Training samples per second in the last epoch",
            Metric::EpochDuration => "Seconds of training per epoch",
            Metric::StepDuration => "Seconds per optimizer step",
            Metric::EvalLoss => "Eval-mode loss after training, on the train or test subset",
            Metric::EvalAccuracy => "Eval-mode accuracy after training, on the train or test subset",
            Metric::PluginErrors => "Plugin hook failures",
            Metric::ScoreDuration => "Seconds per scoring pass over the training set",
            Metric::ScoredSamples => "Samples scored",
            Metric::ScoreValue => "Per-sample scores of each scoring pass",
            Metric::ScoreMean => "Mean per-sample score of the last scoring pass",
            Metric::ScoreAuroc => "AUROC of the last scoring pass against a mask (subset = the mask)",
            Metric::Checkpoints => "Checkpoints written",
            Metric::JobRunning => "1 while the job runs, 0 once it ended",
            Metric::JobSucceeded => "1 if the job completed, 0 if it failed (set when it ends)",
            Metric::DaemonJobs => "Jobs known to the daemon, by state",
            Metric::DaemonSubmissions => "Jobs accepted by the daemon",
            Metric::ApiRequestDuration => "Seconds to answer an API request",
        }
    }

    /// Explicit histogram buckets (histograms are otherwise exported as summaries).
    pub fn buckets(self) -> Option<Vec<f64>> {
        match self {
            Metric::ApiRequestDuration => Some(vec![0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0]),
            Metric::StepDuration => Some(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0]),
            Metric::EpochDuration | Metric::ScoreDuration => {
                Some(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0])
            }
            // Scores span orders of magnitude (curvature from 1e-8 to 1e3): log scale.
            Metric::ScoreValue => Some((-8..=4).flat_map(|e| [1.0, 3.0].map(|m| m * 10f64.powi(e))).collect()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = std::collections::HashSet::new();
        for m in Metric::ALL {
            let n = m.name();
            assert!(seen.insert(n), "{n} twice");
            assert!(n.starts_with("memscope_") && n.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{n}");
            assert!(!m.help().is_empty());
        }
        let buckets = Metric::ScoreValue.buckets().unwrap();
        assert!(buckets.windows(2).all(|w| w[0] < w[1]));
    }
}
