//! The data map (`GET api/datamap`): each sample's confidence (mean probability of its
//! label over training) against its variability (the standard deviation), with the
//! flagged ones marked. Values are rounded to 4 decimals, which a 1,000-pixel plot
//! cannot tell apart, to keep 60,000 points under a megabyte.

use crate::{ReviewError, ReviewRun};
use serde::Serialize;

/// `GET api/datamap`.
#[derive(Debug, Serialize)]
pub struct DataMap {
    /// Training epochs the points summarize.
    pub epochs: usize,
    /// Per sample, in index order.
    pub confidence: Vec<f32>,
    /// Per sample, in index order.
    pub variability: Vec<f32>,
    /// The flagged samples' indices.
    pub flagged: Vec<usize>,
}

impl DataMap {
    /// The data map of `run`; an error when it has no label history.
    pub fn of(run: &ReviewRun) -> Result<DataMap, ReviewError> {
        let history = run.history().ok_or_else(|| {
            ReviewError::NotFound("this run has no data map: it has no predictions/label_prob_epochs.npy (made before the verdict)".into())
        })?;
        let round = |values: &[f32]| values.iter().map(|v| (v * 1e4).round() / 1e4).collect();
        let flagged = (0..run.samples()).filter(|&i| run.flag(i).is_some()).collect();
        Ok(DataMap { epochs: history.epochs(), confidence: round(&history.confidence), variability: round(&history.variability), flagged })
    }
}
