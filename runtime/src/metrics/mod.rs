//! Metrics: names in one enum (Prometheus conventions: `memscope_` prefix, base units,
//! `_total` counters, labels `run`, `scorer`, `plugin`, `subset` only, never per
//! sample), a bus processor that turns job events into them, and the exporter.

mod exporter;
mod merge;
mod names;
mod sink;

pub use exporter::{install_exporter, install_recorder, run_recorder, MetricsError};
pub use merge::merge_pages;
pub use names::Metric;
pub use sink::MetricsSink;
