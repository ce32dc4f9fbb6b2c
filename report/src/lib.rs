//! The report of a run: what a person looks at to see what was memorized.
//!
//! `write_report` reads a finished run directory (config, labels, masks, scores,
//! summary) and the dataset its config names, and writes `<run>/report/`:
//!
//! - `index.html`: one self-contained page (no script, no network) showing the PNGs
//!   beside it and linking the CSVs;
//! - per score `<name>`: `top_<name>.png` and `bottom_<name>.png` (grids of the highest
//!   and lowest `top_k` samples, captioned with index, score, label as trained and
//!   the original label where the noise injector changed it, framed red when it did),
//!   `hist_<name>.png` (distribution, noisy vs clean when the mask is known),
//!   `roc_<name>.png` (against the noise mask), `epochs_<name>.png` (per scored epoch,
//!   top samples), `signal_<name>.png` (AUROC and AP against the noise mask per scored
//!   epoch, or the mean of the top values: where the memorization signal peaks) and
//!   `vs_<reference>_<name>.png` (binned against each reference);
//! - `conflicting_duplicates.png` / `.csv`: identical or near-identical images with
//!   different labels as trained, ranked by curvature (or the first score);
//! - `scores.csv`: every sample, its labels, every score and its rank.

#![warn(missing_docs)]

mod canvas;
mod csv;
pub mod duplicates;
mod error;
mod grid;
mod html;
mod inputs;
mod plots;
mod ranking;
mod reference;
mod signal;
mod tiles;
mod write;

pub use canvas::{Picture, CHART_SIZE};
pub use error::ReportError;
pub use inputs::{RunInputs, Score, MAIN_SCORE};
pub use reference::{Reference, ReferenceKind, ReferenceSpec};
pub use write::{write_report, ReportOutcome, ReportRequest, REPORT_DIR};
