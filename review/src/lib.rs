//! The review page of a finished run: a person decides, sample by sample, which
//! labels to fix, and the decisions land in `corrections.csv`, which the next job
//! applies through `[data] corrections`.
//!
//! - [`ReviewRun`] opens a run directory once: what the report reads (config, labels,
//!   scores, the dataset re-opened through the decoded-image cache), the verdict's
//!   `label_issues.csv` and `predictions/*.npy` when the run has them (older runs open
//!   without), and the decisions so far.
//! - [`views`] builds the API's JSON from it: pages of cards sorted and filtered,
//!   one sample, its history over epochs, the data map, the answer to a decision.
//! - [`http`] serves the bundled page and the API with actix-web: on its own for
//!   `memscope review RUN` ([`http::serve`]), or for the daemon, which links no
//!   libtorch and forwards its `/v1/jobs/{id}/review/` to an engine process serving
//!   every run it names ([`http::serve_for_daemon`]).
//!
//! The core library stays free of HTTP: this crate is one of its edges, as the
//! report and the daemon are.

#![warn(missing_docs)]

pub mod corrections;
mod error;
pub mod http;
mod run;
mod thumbnail;
pub mod views;

pub use error::ReviewError;
pub use run::{Flag, LabelHistory, Probabilities, ReviewRun, ScoreMedians, Verdict};
