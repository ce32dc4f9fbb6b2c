//! Training history: the probability of each sample's label after every epoch
//! (`predictions/label_prob_epochs.npy`) with the data map's coordinates from it, and
//! the median of every per-epoch score, the line a sample's history is seen against.

use super::arrays::{read_probabilities, Matrix};
use crate::ReviewError;
use memscope_report::Score;
use std::path::Path;

/// The probability of the label as trained, one row per training epoch 1..E.
pub const LABEL_PROB_EPOCHS: &str = "predictions/label_prob_epochs.npy";

/// The probability of each sample's label over training, and its data-map point
/// (Swayamdipta et al. 2020, Dataset Cartography): confidence is the mean over epochs,
/// variability the standard deviation.
#[derive(Debug, Clone)]
pub struct LabelHistory {
    epochs: Matrix,
    /// Mean probability of the label over epochs, per sample.
    pub confidence: Vec<f32>,
    /// Standard deviation of it over epochs (population, as the paper), per sample.
    pub variability: Vec<f32>,
}

impl LabelHistory {
    /// Reads `predictions/label_prob_epochs.npy` of `dir` (`None` when the run has
    /// none), which must be `[epochs, samples]`.
    pub fn read(dir: &Path, samples: usize) -> Result<Option<LabelHistory>, ReviewError> {
        let path = dir.join(LABEL_PROB_EPOCHS);
        if !path.exists() {
            return Ok(None);
        }
        let epochs = read_probabilities(&path, None, Some(samples), &format!("[epochs, {samples}] (epochs, samples)"))?;
        if epochs.rows == 0 {
            return Err(ReviewError::run_file(&path, "no epochs (0 rows)"));
        }
        let e = epochs.rows as f64;
        let mut confidence = vec![0.0f32; samples];
        let mut variability = vec![0.0f32; samples];
        for i in 0..samples {
            let values = (0..epochs.rows).map(|r| epochs.values[r * samples + i] as f64);
            let mean = values.clone().sum::<f64>() / e;
            let variance = values.map(|v| (v - mean) * (v - mean)).sum::<f64>() / e;
            confidence[i] = mean as f32;
            variability[i] = variance.sqrt() as f32;
        }
        Ok(Some(LabelHistory { epochs, confidence, variability }))
    }

    /// How many epochs.
    pub fn epochs(&self) -> usize {
        self.epochs.rows
    }

    /// Sample `i`'s probability of its label after each epoch.
    pub fn of(&self, i: usize) -> Vec<f32> {
        (0..self.epochs.rows).map(|r| self.epochs.values[r * self.epochs.cols + i]).collect()
    }

    /// The median over samples after each epoch.
    pub fn medians(&self) -> Vec<f32> {
        (0..self.epochs.rows).map(|r| median(self.epochs.row(r))).collect()
    }
}

/// The median of each score over samples, per scored epoch (empty for scores without
/// `_epochs.npy`), in the order of the run's scores.
#[derive(Debug, Clone)]
pub struct ScoreMedians(pub Vec<Vec<f32>>);

impl ScoreMedians {
    /// Computes them once, when the run is opened.
    pub fn of(scores: &[Score]) -> ScoreMedians {
        ScoreMedians(
            scores.iter().map(|s| s.epochs.as_ref().map(|e| e.rows.iter().map(|r| median(r)).collect()).unwrap_or_default()).collect(),
        )
    }
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(values: &[f32]) -> f32 {
    if values.is_empty() {
        return f32::NAN;
    }
    let mut sorted = values.to_vec();
    let mid = sorted.len() / 2;
    let (_, upper, _) = sorted.select_nth_unstable_by(mid, f32::total_cmp);
    let upper = *upper;
    if values.len() % 2 == 1 {
        return upper;
    }
    let lower = sorted[..mid].iter().copied().fold(f32::NEG_INFINITY, f32::max);
    (lower + upper) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn confidence_is_the_mean_and_variability_the_standard_deviation_over_epochs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("predictions")).unwrap();
        // Two epochs, three samples: always sure, learned late, flipping.
        let values = [1.0f32, 0.0, 0.2, 1.0, 1.0, 0.8];
        tch::Tensor::from_slice(&values).view([2, 3]).write_npy(dir.path().join(LABEL_PROB_EPOCHS)).unwrap();
        let history = LabelHistory::read(dir.path(), 3).unwrap().unwrap();
        assert_eq!(history.epochs(), 2);
        assert_eq!(history.confidence, vec![1.0, 0.5, 0.5]);
        assert_eq!(history.variability[0], 0.0);
        assert_eq!(history.variability[1], 0.5);
        assert!((history.variability[2] - 0.3).abs() < 1e-6);
        assert_eq!(history.of(2), vec![0.2, 0.8]);
    }

    #[test]
    fn a_history_of_another_run_is_named_with_its_shape() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("predictions")).unwrap();
        tch::Tensor::from_slice(&[0.5f32; 6]).view([2, 3]).write_npy(dir.path().join(LABEL_PROB_EPOCHS)).unwrap();
        let error = LabelHistory::read(dir.path(), 4).unwrap_err().to_string();
        assert!(error.contains("label_prob_epochs.npy: shape [2, 3]; expected [epochs, 4]"), "{error}");
    }
}
