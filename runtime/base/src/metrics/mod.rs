//! Metrics: names in one enum (Prometheus conventions: `memscope_` prefix, base units,
//! `_total` counters, labels `run`, `scorer`, `plugin`, `subset` only, never per
//! sample), and a bus processor that turns job events into them, recorded through the
//! `metrics` facade. Serving them in Prometheus's format is `memscope-prometheus`'s.

mod names;
mod sink;

pub use names::Metric;
pub use sink::MetricsSink;
