//! A score's values per scored epoch, and how they combine into one value per sample.

use super::ScoreError;
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

/// One score: a row of per-sample values for each scored epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreTable {
    /// The score's name.
    pub name: String,
    /// How rows combine.
    pub aggregate: Aggregate,
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
        ScoreTable { name: name.to_string(), aggregate, samples, epochs: Vec::new(), rows: Vec::new() }
    }

    /// Adds the values of one epoch.
    pub fn push(&mut self, epoch: usize, values: Vec<f32>) {
        debug_assert_eq!(values.len(), self.samples);
        self.epochs.push(epoch);
        self.rows.push(values);
    }

    /// One value per sample: the rows combined (zeros when nothing was scored).
    pub fn combined(&self) -> Vec<f32> {
        let mut acc = vec![0f64; self.samples];
        for row in &self.rows {
            for (a, v) in acc.iter_mut().zip(row) {
                *a += *v as f64;
            }
        }
        let div = match self.aggregate {
            Aggregate::Sum => 1.0,
            Aggregate::Mean => self.rows.len().max(1) as f64,
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
}
