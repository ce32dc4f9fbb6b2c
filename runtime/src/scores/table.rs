//! A score's values per scored epoch, and how they combine into one value per sample.

use super::ScoreError;
use crate::config::{AggregateConfig, Reduce, ScoreConfig, Weighting};
use crate::scores::CUMULATIVE_LOSS;
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
    /// How the epochs inside weigh.
    pub weights: EpochWeights,
}

/// The weight of each epoch inside a window, counted from its first epoch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum EpochWeights {
    /// Every epoch the same.
    #[default]
    Uniform,
    /// Exponential decay: epoch `e` weighs `0.5^((e - from) / half_life)`.
    Decay {
        /// Epochs over which the weight halves.
        half_life: f64,
    },
    /// Rising: epoch `e` weighs `(e - from + 1)^power`.
    Rising {
        /// The exponent (0.5: the square root).
        power: f64,
    },
}

impl EpochWeights {
    /// The weights a `weighting` setting names (`half_life` 1 and `power` 0.5 when
    /// absent: validation asks for `half_life`).
    pub fn from_config(weighting: Weighting, half_life: Option<f64>, power: Option<f64>) -> Self {
        match weighting {
            Weighting::Uniform => EpochWeights::Uniform,
            Weighting::Decay => EpochWeights::Decay { half_life: half_life.unwrap_or(1.0) },
            Weighting::Rising => EpochWeights::Rising { power: power.unwrap_or(DEFAULT_RISING_POWER) },
        }
    }
}

/// The exponent of `weighting = "rising"` unless a job sets `power`.
pub const DEFAULT_RISING_POWER: f64 = 0.5;

impl EpochWindow {
    /// The window a job's `[score.aggregate.<name>]` asks for (1-based epochs there)
    /// in a run of `epochs` epochs.
    pub fn from_config(config: &AggregateConfig, epochs: usize) -> Self {
        let from = config.from.unwrap_or(1).saturating_sub(1);
        let weights = EpochWeights::from_config(config.weighting, config.half_life, config.power);
        EpochWindow { from, to: config.to.map(|t| t.resolve(epochs).saturating_sub(1)), weights }
    }

    /// Whether `epoch` (0-based) is inside.
    pub fn contains(&self, epoch: usize) -> bool {
        epoch >= self.from && self.to.is_none_or(|to| epoch <= to)
    }

    /// The weight of `epoch` (0-based), inside the window.
    pub fn weight(&self, epoch: usize) -> f64 {
        let k = (epoch - self.from) as f64;
        match self.weights {
            EpochWeights::Uniform => 1.0,
            EpochWeights::Decay { half_life } => 0.5f64.powf(k / half_life),
            EpochWeights::Rising { power } => (k + 1.0).powf(power),
        }
    }

    /// Whether every epoch weighs the same.
    pub fn is_uniform(&self) -> bool {
        self.weights == EpochWeights::Uniform
    }
}

/// Sets how each table combines for a run of `epochs` epochs: its
/// `[score.aggregate.<name>]`, else the job's window (`score.window`, the purpose's
/// weighting); the cumulative loss keeps every epoch. A cancelled job's tables get it
/// for the epochs it completed.
pub fn set_windows(score: &ScoreConfig, tables: &mut [ScoreTable], epochs: usize) {
    for table in tables {
        if let Some(aggregate) = score.aggregate.get(&table.name) {
            table.set_aggregation(aggregate, epochs);
        } else if table.name != CUMULATIVE_LOSS {
            let (first, last) = score.window().epochs(epochs);
            table.set_window(first, last, EpochWeights::from_config(score.purpose.weighting(), None, None));
        }
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

    /// Combines the epochs `first..=last` (1-based, `score.window`) with `weights`, or,
    /// when no scored epoch is inside (a sparse `score.every`), the scored epoch nearest
    /// to them.
    pub fn set_window(&mut self, first: usize, last: usize, weights: EpochWeights) {
        let (from, to) = (first.saturating_sub(1), last.saturating_sub(1));
        let inside = self.epochs.iter().any(|&e| (from..=to).contains(&e));
        let nearest = |e: &usize| if *e < from { from - e } else { e.saturating_sub(to) };
        let (from, to) = match self.epochs.iter().min_by_key(|e| nearest(e)) {
            Some(&e) if !inside => (e, e),
            _ => (from, to),
        };
        self.window = EpochWindow { from, to: Some(to), weights };
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
        Tensor::from_slice(&flat).view([self.rows.len() as i64, self.samples as i64]).write_npy(&per_epoch).map_err(storage)?;
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

    /// Rising weights over epochs 1..=4 (sample 0's values 1..=4): with power 1 the
    /// weights are 1, 2, 3, 4 (sum 10), so the mean is (1 + 4 + 9 + 16) / 10 = 3; with
    /// the default square root, 1, sqrt 2, sqrt 3, 2.
    #[test]
    fn rising_weights_count_the_late_epochs_most() {
        let linear = with(Aggregate::Mean, "to = 4\nweighting = \"rising\"\npower = 1.0");
        assert_eq!(linear.combined()[0], 3.0);
        assert_eq!(linear.weights(), vec![(0, 1.0), (1, 2.0), (2, 3.0), (3, 4.0)]);
        let root = with(Aggregate::Mean, "to = 4\nweighting = \"rising\"");
        let w = [1.0, 2f64.sqrt(), 3f64.sqrt(), 2.0];
        let want = (w[0] + 2.0 * w[1] + 3.0 * w[2] + 4.0 * w[3]) / w.iter().sum::<f64>();
        assert!((root.combined()[0] as f64 - want).abs() < 1e-6, "{:?} vs {want}", root.combined());
        // Counted from the window's first epoch: epochs 3..=4 weigh 1 and sqrt 2.
        let mut late = six_epochs(Aggregate::Mean);
        late.set_window(3, 4, EpochWeights::Rising { power: 0.5 });
        let want = (3.0 + 4.0 * 2f64.sqrt()) / (1.0 + 2f64.sqrt());
        assert!((late.combined()[0] as f64 - want).abs() < 1e-6);
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
        sparse.set_window(1, 2, EpochWeights::Uniform);
        assert_eq!(sparse.combined(), vec![3.0]);
        sparse.set_window(1, 6, EpochWeights::Uniform);
        assert_eq!(sparse.combined(), vec![4.5]);
        // The last epochs: 4..=6 holds epoch 6; 4..=4 holds none, and epoch 3 (0-based
        // 2) is nearer than 6.
        sparse.set_window(4, 6, EpochWeights::Uniform);
        assert_eq!(sparse.combined(), vec![6.0]);
        sparse.set_window(4, 4, EpochWeights::Uniform);
        assert_eq!(sparse.combined(), vec![3.0]);
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
