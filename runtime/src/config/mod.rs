//! Typed job configuration: parsed from TOML with `deny_unknown_fields`, overridden
//! with `--set key=value`, then checked by `validate()`, which lists every problem.

mod bounds;
mod daemon;
mod error;
mod job;
mod load;
mod validate;

pub use bounds::{MAX_BATCH_SIZE, MAX_NAME_LENGTH, MAX_PREFETCH};
pub use daemon::{load_daemon_file, DaemonConfig};
pub use error::{ConfigError, Problem};
pub use job::{
    Arch, AugmentConfig, CheckpointConfig, DataConfig, DataFormat, DeviceChoice, JobConfig,
    MetricsConfig, ModelConfig, OptimizerKind, PluginConfig, ReportConfig, ScheduleKind, ScoreConfig, TrainConfig,
};
pub use load::{load_job_file, parse_job, parse_job_unchecked};
pub use validate::MAX_TOP_K;
