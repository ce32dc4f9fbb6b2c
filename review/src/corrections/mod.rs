//! Decisions on samples (relabel to a class, exclude, keep), kept as
//! `corrections.csv` in the run directory: one row appended per decision as it is
//! made, the last row of a sample winning, the file a later job names in
//! `[data] corrections` (the shared contract in `docs/ARCHITECTURE.md`, "The review
//! page").

mod decisions;
mod time;

pub use decisions::{Action, Decision, Decisions, SampleNames, CORRECTIONS, HEADER};
pub use time::rfc3339_utc;
