//! The run directory: where a job's resolved config, labels, scores, checkpoints and
//! summary are written, and the summary's shape.

mod dir;
mod npy;
mod ranking;
mod summary;

pub use dir::RunDir;
pub use npy::{write_bool_npy, write_bool_npy_shaped};
pub use ranking::{inverted_warnings, measure_label, rank_scores, RankedScore, ScoreRanking, TargetKind, INVERTED_AUROC};
pub use summary::{Comparison, PrecisionSummary, ScoreFile, SubsetSummary, Summary, Timings};
