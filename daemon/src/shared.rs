//! What the HTTP handlers and the job runner share: the queue, live progress of
//! running jobs, the reloadable settings, and the channel to the runner.

use super::plugin_check::SettingsChecker;
use super::review::ReviewEngine;
use super::run_metrics::RunMetrics;
use super::{Policy, RunnerCommand, Store};
use memscope_base::config::DaemonConfig;
use memscope_base::events::JobEvent;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Settings that SIGHUP may change while jobs run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config as last loaded.
    pub config: DaemonConfig,
    /// The bearer token, when authentication is on.
    pub token: Option<String>,
    /// What submitted jobs may do.
    pub policy: Policy,
}

impl Settings {
    /// Settings from a validated config.
    pub fn new(config: DaemonConfig) -> Result<Settings, String> {
        let token = config.token()?;
        let policy = Policy::new(&config.data_roots, &config.plugin_dirs, config.job_threads);
        Ok(Settings { config, token, policy })
    }
}

/// Where a running job is, from the events its process reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Progress {
    /// Epochs completed.
    pub epoch: usize,
    /// Epochs to train.
    pub epochs: usize,
    /// Mean training loss of the last epoch.
    pub loss: Option<f64>,
    /// Training accuracy of the last epoch.
    pub accuracy: Option<f64>,
    /// Training throughput of the last epoch.
    pub samples_per_second: Option<f64>,
    /// Scoring passes finished.
    pub scoring_passes: usize,
    /// Epochs completed at the newest checkpoint.
    pub checkpoint_epoch: Option<usize>,
    /// The snapshot being scored, while one is.
    pub scoring: Option<ScoringProgress>,
}

/// Where the scoring of a snapshot is.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScoringProgress {
    /// The training epoch (1-based) whose weights are scored.
    pub epoch: usize,
    /// The scorer at work.
    pub scorer: String,
    /// Samples it has scored.
    pub done: usize,
    /// Samples it scores.
    pub total: usize,
}

impl Progress {
    /// Takes in one event of the job.
    pub fn update(&mut self, event: &JobEvent) {
        match event {
            JobEvent::JobStarted { epochs, start_epoch, .. } => {
                self.epochs = *epochs;
                self.epoch = start_epoch - 1;
            }
            JobEvent::TrainEpochEnd(stats) => {
                self.epoch = stats.epoch;
                self.loss = Some(stats.loss);
                self.accuracy = Some(stats.accuracy);
                self.samples_per_second = Some(stats.samples_per_second);
            }
            JobEvent::ScoresReady { .. } => self.scoring_passes += 1,
            JobEvent::ScoringProgress { epoch, scorer, done, total } => {
                self.scoring = Some(ScoringProgress { epoch: *epoch, scorer: scorer.clone(), done: *done, total: *total })
            }
            JobEvent::ScoringEnded { .. } => self.scoring = None,
            JobEvent::CheckpointWritten { epochs_done, .. } => self.checkpoint_epoch = Some(*epochs_done),
            _ => {}
        }
    }
}

/// The daemon's shared state.
pub struct Shared {
    /// The persistent queue.
    pub store: Mutex<Store>,
    /// Progress of jobs that ran in this daemon's lifetime.
    pub progress: Mutex<HashMap<String, Progress>>,
    /// Reloadable settings.
    pub settings: RwLock<Settings>,
    /// Cleared when shutdown begins: no new submissions, `/readyz` fails.
    accepting: AtomicBool,
    /// Commands to the runner thread.
    pub runner: crossbeam_channel::Sender<RunnerCommand>,
    /// Renders the daemon's own metrics registry for `/metrics`.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Each job's series, dropped after the retention once it finished.
    pub run_metrics: RunMetrics,
    /// Checks submitted plugin settings (and keeps the answers).
    pub settings_checker: Arc<SettingsChecker>,
    /// The process serving the review pages, when one runs.
    pub review_engine: Arc<ReviewEngine>,
}

impl Shared {
    /// Shared state around an opened store.
    pub fn new(
        store: Store,
        settings: Settings,
        runner: crossbeam_channel::Sender<RunnerCommand>,
        metrics: metrics_exporter_prometheus::PrometheusHandle,
        settings_checker: SettingsChecker,
        review_engine: ReviewEngine,
    ) -> Shared {
        Shared {
            store: Mutex::new(store),
            progress: Mutex::new(HashMap::new()),
            settings: RwLock::new(settings),
            accepting: AtomicBool::new(true),
            runner,
            metrics,
            run_metrics: RunMetrics::default(),
            settings_checker: Arc::new(settings_checker),
            review_engine: Arc::new(review_engine),
        }
    }

    /// Whether new jobs are accepted.
    pub fn accepting(&self) -> bool {
        self.accepting.load(Ordering::SeqCst)
    }

    /// Stops accepting new jobs (shutdown has begun).
    pub fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::SeqCst);
    }

    /// A copy of the current settings.
    pub fn settings(&self) -> Settings {
        self.settings.read().expect("settings lock").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::Progress;
    use memscope_base::events::JobEvent;

    #[test]
    fn progress_shows_the_snapshot_being_scored_and_counts_epochs_done() {
        let mut p = Progress::default();
        let started = JobEvent::JobStarted {
            run: "r".into(),
            samples: 10,
            epochs: 4,
            start_epoch: 3,
            steps_per_epoch: 1,
            device: "cpu".into(),
            scorers: vec!["curvature".into()],
            scored_epochs: vec![4],
        };
        p.update(&started);
        assert_eq!((p.epoch, p.epochs), (2, 4), "resumed after 2 epochs");
        p.update(&JobEvent::ScoringProgress { epoch: 4, scorer: "curvature".into(), done: 6, total: 10 });
        let shown = serde_json::to_value(&p).unwrap();
        assert_eq!(shown["scoring"], serde_json::json!({"epoch": 4, "scorer": "curvature", "done": 6, "total": 10}));
        p.update(&JobEvent::ScoringEnded { epoch: 4, seconds: 1.0 });
        assert!(p.scoring.is_none());
    }
}
