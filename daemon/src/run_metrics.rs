//! Each job's metric series, in a registry of its own: a long-lived daemon would
//! otherwise keep every series of every run it ever ran (21 runs gave 1,072
//! `memscope_` lines). A finished run's registry is dropped, series and memory, once
//! `metrics_retention_seconds` have passed, long enough for Prometheus to scrape its
//! final values. `/metrics` renders the daemon's own registry and every kept run's as
//! one page.

use memscope_prometheus::{merge_pages, run_recorder, MetricsError};
use metrics_exporter_prometheus::{PrometheusHandle, PrometheusRecorder};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The registries of the runs the daemon still shows.
#[derive(Default)]
pub struct RunMetrics {
    runs: Mutex<Vec<RunSeries>>,
}

struct RunSeries {
    id: String,
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    finished: Option<Instant>,
}

impl RunMetrics {
    /// The recorder of job `id`'s series: the one it had if it is still kept (a
    /// resumed job's counters go on counting), else a new one.
    pub fn recorder(&self, id: &str) -> Result<Arc<PrometheusRecorder>, MetricsError> {
        let mut runs = self.runs.lock().expect("run metrics lock");
        if let Some(run) = runs.iter_mut().find(|r| r.id == id) {
            run.finished = None;
            return Ok(run.recorder.clone());
        }
        let recorder = Arc::new(run_recorder()?);
        let handle = recorder.handle();
        runs.push(RunSeries { id: id.to_string(), recorder: recorder.clone(), handle, finished: None });
        Ok(recorder)
    }

    /// Job `id`'s process ended: its series expire after the retention.
    pub fn finished(&self, id: &str) {
        if let Some(run) = self.runs.lock().expect("run metrics lock").iter_mut().find(|r| r.id == id) {
            run.finished = Some(Instant::now());
        }
    }

    /// Drops the series of runs that finished more than `retention` ago.
    pub fn expire(&self, retention: Duration) {
        self.runs.lock().expect("run metrics lock").retain(|r| r.finished.is_none_or(|at| at.elapsed() < retention));
    }

    /// How many runs' series are kept.
    #[cfg(test)]
    pub fn kept(&self) -> usize {
        self.runs.lock().expect("run metrics lock").len()
    }

    /// The daemon's page (`daemon`, its own registry) with every kept run's series.
    pub fn render(&self, daemon: &PrometheusHandle) -> String {
        let handles: Vec<PrometheusHandle> = self.runs.lock().expect("run metrics lock").iter().map(|r| r.handle.clone()).collect();
        let pages: Vec<String> = std::iter::once(daemon.render()).chain(handles.iter().map(PrometheusHandle::render)).collect();
        merge_pages(pages.iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(metrics: &RunMetrics, id: &str, value: f64) {
        let recorder = metrics.recorder(id).unwrap();
        metrics::with_local_recorder(&*recorder, || metrics::gauge!("memscope_epoch", "run" => id.to_string()).set(value));
    }

    #[test]
    fn a_finished_runs_series_go_after_the_retention_and_a_running_ones_stay() {
        let daemon = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder().handle();
        let metrics = RunMetrics::default();
        record(&metrics, "a", 1.0);
        record(&metrics, "b", 2.0);
        let page = metrics.render(&daemon);
        assert!(page.contains("memscope_epoch{run=\"a\"} 1") && page.contains("memscope_epoch{run=\"b\"} 2"), "{page}");
        assert_eq!(page.matches("# TYPE memscope_epoch gauge").count(), 1, "{page}");

        metrics.finished("a");
        metrics.expire(Duration::from_secs(3600));
        assert_eq!(metrics.kept(), 2, "within the retention");
        metrics.expire(Duration::ZERO);
        assert_eq!(metrics.kept(), 1, "a expired, b still runs");
        let page = metrics.render(&daemon);
        assert!(!page.contains("run=\"a\"") && page.contains("memscope_epoch{run=\"b\"} 2"), "{page}");
    }
}
