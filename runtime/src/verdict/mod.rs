//! The label-issue verdict of one training (DESIGN.md, "Answers, not scores"): which
//! samples are likely mislabelled, what their label should be, and how sure the network
//! is, from the class probabilities the training passes already compute.
//!
//! - `record`: the trainer's record of the probabilities (no extra forward pass),
//!   kept across a resume in the checkpoints;
//! - [`window`]: the epochs averaged, those before the network fits the wrong labels;
//! - [`confident`]: confident learning's thresholds, count and ranking;
//! - [`decide()`]: the verdict from the record;
//! - `output`: `label_issues.csv`, `summary.json`'s `label_issues`, `predictions/`.

pub mod confident;
mod decide;
mod error;
mod output;
mod record;
pub mod window;

pub use decide::{decide, FLAGGED_BY};
pub use error::VerdictError;
pub use output::{
    read_label_issues, span, LabelIssue, LabelIssues, Verdict, COLUMNS, LABEL_ISSUES_FILE, LABEL_PROB_EPOCHS_FILE, PREDICTIONS_DIR,
    PROBS_FILE, SUMMARY_ROWS,
};
pub use record::{ProbabilityRecord, Recorded};
