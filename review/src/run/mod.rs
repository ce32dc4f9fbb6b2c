//! A run opened for review: what the report reads (config, labels, scores, dataset),
//! the verdict's files when the run has them, and the decisions made so far. Read
//! once and kept, so a page of 60,000 samples is sorted from memory.

mod arrays;
mod base;
mod history;
mod verdict;

pub use base::ReviewRun;
pub use history::{LabelHistory, ScoreMedians};
pub use verdict::{Flag, Probabilities, Verdict};
