//! memscope's metrics in Prometheus's format, with explicit histogram buckets: the
//! exporter of a single run (an HTTP listener on its own thread, serving whatever the
//! process records) and the recorders the daemon renders on its own `/metrics`,
//! their pages merged into one ([`merge_pages`]).
//!
//! A crate of its own: the core library records through the `metrics` facade only, so
//! a program that embeds it pulls in no HTTP server.

mod merge;

pub use merge::merge_pages;

use memscope_base::metrics::Metric;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use std::net::SocketAddr;

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
#[error("metrics exporter on {addr}: {message}")]
pub struct MetricsError {
    /// The listen address.
    pub addr: SocketAddr,
    /// What went wrong.
    pub message: String,
}

/// Starts serving metrics on `addr` and records `memscope_build_info` with this device
/// and libtorch version. Must be called outside an async runtime (the exporter runs its
/// own), once per process.
pub fn install_exporter(addr: SocketAddr, device: &str, torch_version: &str) -> Result<(), MetricsError> {
    let error = |message: String| MetricsError { addr, message };
    // Fail early with a clear message when the port is taken.
    std::net::TcpListener::bind(addr).map_err(|e| error(e.to_string()))?;
    with_buckets(PrometheusBuilder::new().with_http_listener(addr)).map_err(error)?.install().map_err(|e| error(e.to_string()))?;
    describe(device, torch_version);
    Ok(())
}

/// Installs the recorder without a listener of its own, for a server that serves
/// `/metrics` itself (the daemon): the handle renders the text format.
/// `memscope_build_info` gets this device and libtorch version (the daemon, which loads
/// no libtorch, gives an empty one: in Prometheus an empty label is no label).
pub fn install_recorder(device: &str, torch_version: &str) -> Result<PrometheusHandle, MetricsError> {
    let error = |message: String| MetricsError { addr: SocketAddr::from(([0, 0, 0, 0], 0)), message };
    let handle = with_buckets(PrometheusBuilder::new()).map_err(error)?.install_recorder().map_err(|e| error(e.to_string()))?;
    describe(device, torch_version);
    Ok(handle)
}

/// A recorder of its own for one run's series (not installed): record into it with
/// `metrics::with_local_recorder`, render it with its handle. The daemon keeps one per
/// job, so that a finished run's series can be dropped as a whole.
pub fn run_recorder() -> Result<PrometheusRecorder, MetricsError> {
    let error = |message: String| MetricsError { addr: SocketAddr::from(([0, 0, 0, 0], 0)), message };
    let recorder = with_buckets(PrometheusBuilder::new()).map_err(error)?.build_recorder();
    metrics::with_local_recorder(&recorder, || {
        for metric in Metric::ALL {
            metrics::describe_gauge!(metric.name(), metric.help());
        }
    });
    Ok(recorder)
}

fn with_buckets(mut builder: PrometheusBuilder) -> Result<PrometheusBuilder, String> {
    for metric in Metric::ALL {
        if let Some(buckets) = metric.buckets() {
            builder = builder.set_buckets_for_metric(Matcher::Full(metric.name().to_string()), &buckets).map_err(|e| e.to_string())?;
        }
    }
    Ok(builder)
}

fn describe(device: &str, torch_version: &str) {
    for metric in Metric::ALL {
        metrics::describe_gauge!(metric.name(), metric.help());
    }
    metrics::gauge!(
        Metric::BuildInfo.name(),
        "version" => env!("CARGO_PKG_VERSION"),
        "torch_version" => torch_version.to_string(),
        "device" => device.to_string()
    )
    .set(1.0);
}
