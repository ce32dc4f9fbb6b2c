//! What memscope's programs share without libtorch: the typed job and daemon configs
//! ([`config`]), the events of a job ([`events`]) and the metrics they become
//! ([`metrics`]), logging ([`logging`]), how paths are kept ([`paths`]), where plugin and Parquet files are found
//! ([`plugin_files`], [`shards`]), the plugin settings check the daemon asks of the
//! engine ([`settings_check`]), and how the daemon forwards the review page to the
//! engine that serves it ([`review_engine`]).
//!
//! A crate of its own so that the daemon, which only checks jobs, runs their processes
//! and follows their events, links no libtorch: an idle daemon linked against the core
//! library held 391 MB of libtorch it never used. The core library (`memscope`)
//! re-exports these modules under the same paths (`memscope::config`,
//! `memscope::metrics`, `memscope::logging`, `memscope::actors::JobEvent`).

#![warn(missing_docs)]

pub mod config;
pub mod events;
pub mod logging;
pub mod metrics;
pub mod paths;
pub mod plugin_files;
pub mod review_engine;
pub mod settings_check;
pub mod shards;

/// Name of the cumulative training loss score (Cumulative Sample Loss): the sum over
/// epochs of each sample's training loss, recorded by the trainer at no extra cost.
pub const CUMULATIVE_LOSS: &str = "loss";
