//! A score's values per scored epoch, and how they combine into one value per sample.

use super::ScoreError;
use crate::config::{AggregateConfig, Reduce, Weighting};
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// How per-epoch values combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Sum over epochs (Cumulative Sample Loss).
    Sum,
    /// Mean over scored epochs (snapshot scores, as the curvature paper averages).
    Mean,
}

/// Which scored epochs combine, and with what weight: by default all of them, alike.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EpochWindow {
    /// First epoch used (0-based, inclusive).
    pub from: usize,
    /// Last epoch used (0-based, inclusive); `None` = the last.
    pub to: Option<usize>,
    /// Exponential decay from `from`: epoch `e` weighs `0.5^((e - from) / half_life)`.
    pub half_life: Option<f64>,
}

impl EpochWindow {
    /// The window a job's `[score.aggregate.<name>]` asks for (1-based epochs there)
    /// in a run of `epochs` epochs.
    pub fn from_config(config: &AggregateConfig, epochs: usize) -> Self {
        let from = config.from.unwrap_or(1).saturating_sub(1);
        let half_life = (config.weighting == Weighting::Decay).then_some(config.half_life.unwrap_or(1.0));
        EpochWindow { from, to: config.to.map(|t| t.resolve(epochs).saturating_sub(1)), half_life }
    }

    /// Whether `epoch` (0-based) is inside.
    pub fn contains(&self, epoch: usize) -> bool {
        epoch >= self.from && self.to.is_none_or(|to| epoch <= to)
    }

    /// The weight of `epoch` (0-based), inside the window.
    pub fn weight(&self, epoch: usize) -> f64 {
        match self.half_life {
            Some(h) => 0.5f64.powf((epoch - self.from) as f64 / h),
            None => 1.0,
        }
    }

    /// Whether every epoch weighs the same.
    pub fn is_uniform(&self) -> bool {
        self.half_life.is_none()
    }
}

/// One score: a row of per-sample values for each scored epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreTable {
    /// The score's name.
    pub name: String,
    /// How rows combine.
    pub aggregate: Aggregate,
    /// Which rows combine, with what weights.
    pub window: EpochWindow,
    /// Samples per row.
    pub samples: usize,
    /// Scored epochs (0-based), one per row.
    pub epochs: Vec<usize>,
    /// Rows of `samples` values.
    pub rows: Vec<Vec<f32>>,
}

impl ScoreTable {
    /// An empty table.
    pub fn new(name: &str, aggregate: Aggregate, samples: usize) -> Self {
        ScoreTable { name: name.to_string(), aggregate, window: EpochWindow::default(), samples, epochs: Vec::new(), rows: Vec::new() }
    }

    /// Combines the epochs up to `to` (1-based `score.window`), or the first scored
    /// epoch when none is that early.
    pub fn set_window_end(&mut self, to: usize) {
        let first = self.epochs.iter().min().map_or(0, |&e| e + 1);
        self.window = EpochWindow { to: Some(to.max(first).saturating_sub(1)), ..EpochWindow::default() };
    }

    /// Applies a job's `[score.aggregate.<name>]` setting for a run of `epochs` epochs.
    pub fn set_aggregation(&mut self, config: &AggregateConfig, epochs: usize) {
        if let Some(reduce) = config.reduce {
            self.aggregate = match reduce {
                Reduce::Mean => Aggregate::Mean,
                Reduce::Sum => Aggregate::Sum,
            };
        }
        self.window = EpochWindow::from_config(config, epochs);
    }

    /// The scored epochs (0-based) that combine, each with its weight, in row order.
    pub fn weights(&self) -> Vec<(usize, f64)> {
        self.epochs.iter().filter(|&&e| self.window.contains(e)).map(|&e| (e, self.window.weight(e))).collect()
    }

    /// Adds the values of one epoch.
    pub fn push(&mut self, epoch: usize, values: Vec<f32>) {
        debug_assert_eq!(values.len(), self.samples);
        self.epochs.push(epoch);
        self.rows.push(values);
    }

    /// One value per sample: the rows in the window combined with their weights
    /// (zeros when no row is in the window).
    pub fn combined(&self) -> Vec<f32> {
        let mut acc = vec![0f64; self.samples];
        let mut total = 0.0;
        for (row, &epoch) in self.rows.iter().zip(&self.epochs) {
            if !self.window.contains(epoch) {
                continue;
            }
            let w = self.window.weight(epoch);
            total += w;
            for (a, v) in acc.iter_mut().zip(row) {
                *a += w * *v as f64;
            }
        }
        let div = match self.aggregate {
            Aggregate::Sum => 1.0,
            Aggregate::Mean if total > 0.0 => total,
            Aggregate::Mean => 1.0,
        };
        acc.into_iter().map(|a| (a / div) as f32).collect()
    }

    /// Named tensors for a checkpoint.
    pub fn to_tensors(&self) -> Vec<(String, Tensor)> {
        let flat: Vec<f32> = self.rows.concat();
        let epochs: Vec<i64> = self.epochs.iter().map(|&e| e as i64).collect();
        vec![
            (format!("{}.values", self.name), Tensor::from_slice(&flat).view([self.rows.len() as i64, self.samples as i64])),
            (format!("{}.epochs", self.name), Tensor::from_slice(&epochs)),
        ]
    }

    /// Restores the rows of this table from checkpoint tensors (absent = nothing scored).
    pub fn restore(&mut self, tensors: &[(String, Tensor)]) -> Result<(), ScoreError> {
        let find = |suffix: &str| tensors.iter().find(|(n, _)| *n == format!("{}.{suffix}", self.name)).map(|(_, t)| t);
        let (Some(values), Some(epochs)) = (find("values"), find("epochs")) else {
            return Ok(());
        };
        let bad = |message: String| ScoreError::Storage { scorer: self.name.clone(), message };
        let epochs = Vec::<i64>::try_from(epochs)?;
        let size = values.size();
        if size != [epochs.len() as i64, self.samples as i64] {
            return Err(bad(format!("checkpointed values have shape {size:?}, expected [{}, {}]", epochs.len(), self.samples)));
        }
        let flat = Vec::<f32>::try_from(&values.to_kind(Kind::Float).flatten(0, -1))?;
        self.epochs = epochs.into_iter().map(|e| e as usize).collect();
        self.rows = flat.chunks(self.samples.max(1)).map(|c| c.to_vec()).take(self.epochs.len()).collect();
        Ok(())
    }

    /// Writes `<dir>/<name>.npy` (combined, float32 [N]) and `<dir>/<name>_epochs.npy`
    /// (float32 [scored epochs, N]); returns the first path.
    pub fn write_npy(&self, dir: &Path) -> Result<PathBuf, ScoreError> {
        let combined = dir.join(format!("{}.npy", self.name));
        let per_epoch = dir.join(format!("{}_epochs.npy", self.name));
        let storage = |e: tch::TchError| ScoreError::Storage { scorer: self.name.clone(), message: e.to_string() };
        Tensor::from_slice(&self.combined()).write_npy(&combined).map_err(storage)?;
        let flat: Vec<f32> = self.rows.concat();
        Tensor::from_slice(&flat)
            .view([self.rows.len() as i64, self.samples as i64])
            .write_npy(&per_epoch)
            .map_err(storage)?;
        Ok(combined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_and_mean_combine_rows_and_survive_a_checkpoint() {
        let mut t = ScoreTable::new("s", Aggregate::Mean, 2);
        t.push(0, vec![1.0, 2.0]);
        t.push(3, vec![3.0, 6.0]);
        assert_eq!(t.combined(), vec![2.0, 4.0]);
        let mut back = ScoreTable::new("s", Aggregate::Mean, 2);
        back.restore(&t.to_tensors()).unwrap();
        assert_eq!(back, t);
        let mut sum = ScoreTable::new("s", Aggregate::Sum, 2);
        sum.restore(&t.to_tensors()).unwrap();
        assert_eq!(sum.combined(), vec![4.0, 8.0]);
    }

    /// Rows of epochs 1..=6 (1-based), values 1..=6 for sample 0 and their squares for
    /// sample 1: every aggregation option against the same numbers worked by hand.
    fn six_epochs(aggregate: Aggregate) -> ScoreTable {
        let mut t = ScoreTable::new("s", aggregate, 2);
        for e in 0..6 {
            let v = (e + 1) as f32;
            t.push(e, vec![v, v * v]);
        }
        t
    }

    fn with(aggregate: Aggregate, config: &str) -> ScoreTable {
        let mut t = six_epochs(aggregate);
        t.set_aggregation(&toml::from_str::<AggregateConfig>(config).unwrap(), 6);
        t
    }

    #[test]
    fn each_aggregation_option_matches_the_hand_computed_values() {
        // The mean over all epochs: (1+...+6)/6 = 3.5, (1+4+...+36)/6 = 91/6.
        assert_eq!(six_epochs(Aggregate::Mean).combined(), vec![3.5, 91.0 / 6.0]);
        // The first 3 epochs: (1+2+3)/3 = 2, (1+4+9)/3 = 14/3.
        assert_eq!(with(Aggregate::Mean, "to = 3").combined(), vec![2.0, 14.0 / 3.0]);
        // Epochs 2..=4 summed: 2+3+4 = 9, 4+9+16 = 29.
        assert_eq!(with(Aggregate::Mean, "from = 2\nto = 4\nreduce = \"sum\"").combined(), vec![9.0, 29.0]);
        // `loss` (a sum) reduced by the mean instead: as the plain mean.
        assert_eq!(with(Aggregate::Sum, "reduce = \"mean\"").combined(), vec![3.5, 91.0 / 6.0]);
        // Decay with half-life 1 over epochs 1..=3: weights 1, 1/2, 1/4 (sum 7/4):
        // (1 + 2/2 + 3/4) / (7/4) = 11/7 and (1 + 4/2 + 9/4) / (7/4) = 3.
        let decay = with(Aggregate::Mean, "to = 3\nweighting = \"decay\"\nhalf_life = 1.0");
        let got = decay.combined();
        assert!((got[0] - 11.0 / 7.0).abs() < 1e-6 && (got[1] - 3.0).abs() < 1e-6, "{got:?}");
        assert_eq!(decay.weights(), vec![(0, 1.0), (1, 0.5), (2, 0.25)]);
        // Half-life 2 starting at epoch 3: weights of epochs 3, 4, 5 are 1, 2^-1/2, 1/2.
        let late = with(Aggregate::Sum, "from = 3\nto = 5\nweighting = \"decay\"\nhalf_life = 2.0");
        let want = 3.0 + 4.0 * 0.5f64.sqrt() + 5.0 * 0.5;
        assert!((late.combined()[0] as f64 - want).abs() < 1e-5, "{:?} vs {want}", late.combined());
    }

    #[test]
    fn shares_of_the_epochs_round_up_and_a_default_window_reaches_a_scored_epoch() {
        // 40 % of 6 epochs is 2.4: epochs 1..=3.
        assert_eq!(with(Aggregate::Mean, "to = \"40%\"").combined(), vec![2.0, 14.0 / 3.0]);
        assert_eq!(crate::config::EpochBound::Percent(40.0).resolve(15), 6);
        assert_eq!(crate::config::EpochBound::Percent(40.0).resolve(10), 4);
        assert_eq!(crate::config::EpochBound::Percent(1.0).resolve(10), 1);
        // Scored at epochs 3 and 6 only (every = 3): a window to epoch 2 takes epoch 3.
        let mut sparse = ScoreTable::new("s", Aggregate::Mean, 1);
        sparse.push(2, vec![3.0]);
        sparse.push(5, vec![6.0]);
        sparse.set_window_end(2);
        assert_eq!(sparse.combined(), vec![3.0]);
        sparse.set_window_end(6);
        assert_eq!(sparse.combined(), vec![4.5]);
    }

    #[test]
    fn a_window_only_chooses_rows_it_never_drops_them() {
        let t = with(Aggregate::Mean, "to = 2");
        assert_eq!(t.rows.len(), 6, "every epoch's row is kept for _epochs.npy and checkpoints");
        let mut back = with(Aggregate::Mean, "to = 2");
        back.rows.clear();
        back.epochs.clear();
        back.restore(&t.to_tensors()).unwrap();
        assert_eq!(back.combined(), vec![1.5, 2.5]);
    }
}
