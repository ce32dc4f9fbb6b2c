//! Typed job configuration: parsed from TOML with `deny_unknown_fields`, overridden
//! with `--set key=value`, then checked by `validate()`, which lists every problem.

mod bounds;
mod daemon;
mod data;
mod error;
mod job;
mod load;
mod overrides;
mod precision;
mod validate;
mod window;

pub use bounds::{MAX_BATCH_SIZE, MAX_NAME_LENGTH, MAX_PREFETCH};
pub use daemon::{load_daemon_file, DaemonConfig, GpuChoice};
pub use data::{AugmentConfig, BadImagePolicy, DataConfig, DataFormat, ImageSize, Normalize, ResizeMode, MAX_IMAGE_SIDE};
pub use error::{ConfigError, Problem};
pub use job::{
    AggregateConfig, Arch, CheckpointConfig, DeviceChoice, EpochBound, JobConfig, MetricsConfig, ModelConfig, OptimizerKind, PluginConfig,
    Reduce, ReportConfig, ScheduleKind, ScoreConfig, SubsetConfig, TrainConfig, Weighting,
};
pub use load::{load_job_file, parse_job, parse_job_unchecked};
pub use precision::Precision;
pub use validate::{BUILTIN_SCORES, MAX_TOP_K};
pub use window::{Purpose, ScoreWindow, LABEL_NOISE_WINDOW, MEMORIZATION_WINDOW};
