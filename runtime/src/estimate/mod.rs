//! Memorization ground truth on the user's own data: Feldman & Zhang's estimate
//! (NeurIPS 2020) from K trainings of a job's own model and recipe, each on a seeded
//! random subset of the training set (`memscope estimate memorization`).
//!
//! Each model is an ordinary job ([`EstimatePlan::model_config`]: the job with
//! `[train] subset` and its own seed), so it runs, resumes and reports as any job, on
//! any engine: this machine (the engine runs them one after another or N at a time),
//! the daemon's queue, a Slurm array task or a Kubernetes Indexed Job pod (one model
//! per task). A model's output is small: its `subset_mask.npy` and `correct.npy`. The
//! aggregation ([`read_model`], [`write_estimate`]) reads whichever models finished and
//! says how many back each sample; [`Memorization`] is its arithmetic.

mod arithmetic;
mod error;
mod files;
mod plan;

pub use arithmetic::{Memorization, ModelOutcome};
pub use error::EstimateError;
pub use files::{read_model, write_estimate, EstimateSummary, FinishedModel};
pub use plan::{EstimatePlan, ModelStatus, SubmittedModel, MAX_MODELS};
