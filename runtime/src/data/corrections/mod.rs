//! Label corrections a person decided (`corrections.csv`, which the review page
//! writes into a run), applied by the next run that names the file in
//! `[data] corrections`: the loop from a run's verdict back to its data, with no change
//! to the dataset's files.
//!
//! `file.rs` reads and checks the rows; `locate.rs` finds the sample each row names in
//! the training set as read (by source, else by index), the last row per sample
//! winning; `apply.rs` relabels and excludes, and says what it did (`summary.json`'s
//! `corrections`). They run when the data is loaded, before plugins or the network
//! see a label.

mod apply;
mod file;
mod locate;

pub use apply::{AppliedCorrections, CorrectionsSummary};
pub use file::{Action, CorrectionRow, CorrectionsFile, CORRECTIONS_HEADER};
pub use locate::Located;
