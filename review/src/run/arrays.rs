//! The verdict's arrays (`predictions/*.npy`): float32 matrices whose shape is checked
//! against the run, read through the one `.npy` reader memscope trusts.

use crate::ReviewError;
use std::path::Path;
use tch::Kind;

/// A row-major matrix of `rows x cols` values.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// `rows * cols` values, row after row.
    pub values: Vec<f32>,
}

impl Matrix {
    /// Row `r`.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.values[r * self.cols..(r + 1) * self.cols]
    }
}

/// Reads a 2-D floating-point array of probabilities (every value in [0, 1]);
/// `rows` or `cols`, when given, must match (`what` names them in the error).
pub fn read_probabilities(path: &Path, rows: Option<usize>, cols: Option<usize>, what: &str) -> Result<Matrix, ReviewError> {
    let tensor = memscope_reference::read_npy(path).map_err(|e| ReviewError::run_file(path, format!("not a readable .npy file: {e}")))?;
    let shape = tensor.size();
    let [r, c] = shape.as_slice() else {
        return Err(ReviewError::run_file(path, format!("shape {shape:?}; expected {what}")));
    };
    let (r, c) = (*r as usize, *c as usize);
    if rows.is_some_and(|n| n != r) || cols.is_some_and(|n| n != c) {
        return Err(ReviewError::run_file(path, format!("shape {shape:?}; expected {what}")));
    }
    if !tensor.is_floating_point() {
        return Err(ReviewError::run_file(path, format!("dtype {:?}; expected float32", tensor.kind())));
    }
    let values =
        Vec::<f32>::try_from(&tensor.flatten(0, -1).to_kind(Kind::Float)).map_err(|e| ReviewError::run_file(path, e.to_string()))?;
    if let Some(i) = values.iter().position(|v| !(0.0..=1.0).contains(v)) {
        return Err(ReviewError::run_file(path, format!("value {i} is {}; probabilities lie in [0, 1]", values[i])));
    }
    Ok(Matrix { rows: r, cols: c, values })
}
