//! Reading reference scores: `.npy`, `.npz` (with a key) or `.csv` (one value per
//! line), and turning a sample-index ranking into a score.

use memscope_sdk::{PluginError, PluginResult};
use std::path::Path;
use tch::{Kind, Tensor};

/// Reads a 1-D array of numbers from `path` (`key` selects an `.npz` member).
pub fn read_values(path: &Path, key: Option<&str>) -> PluginResult<Vec<f64>> {
    let shown = path.display();
    if !path.exists() {
        return Err(PluginError(format!("reference {shown}: no such file")));
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let tensor = match ext {
        "npy" => Tensor::read_npy(path).map_err(|e| PluginError(format!("reference {shown}: {e}")))?,
        "npz" => {
            let key = key.ok_or_else(|| PluginError(format!("reference {shown}: an .npz needs `key`")))?;
            let arrays = Tensor::read_npz(path).map_err(|e| PluginError(format!("reference {shown}: {e}")))?;
            let names: Vec<String> = arrays.iter().map(|(n, _)| n.clone()).collect();
            arrays
                .into_iter()
                .find(|(n, _)| n == key || *n == format!("{key}.npy"))
                .map(|(_, t)| t)
                .ok_or_else(|| PluginError(format!("reference {shown}: no array `{key}` (has {names:?})")))?
        }
        "csv" | "txt" => return read_csv(path),
        other => return Err(PluginError(format!("reference {shown}: unknown extension `{other}` (npy, npz or csv)"))),
    };
    if tensor.dim() != 1 {
        return Err(PluginError(format!("reference {shown}: expected a 1-D array, found shape {:?}", tensor.size())));
    }
    let values = Vec::<f64>::try_from(&tensor.to_kind(Kind::Double)).map_err(|e| PluginError(format!("reference {shown}: {e}")))?;
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(PluginError(format!("reference {shown}: value {i} is {} (not finite)", values[i])));
    }
    Ok(values)
}

fn read_csv(path: &Path) -> PluginResult<Vec<f64>> {
    let text = std::fs::read_to_string(path).map_err(|e| PluginError(format!("reference {}: {e}", path.display())))?;
    let mut values = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let cell = line.split(',').next_back().unwrap_or("").trim();
        if cell.is_empty() {
            continue;
        }
        match cell.parse::<f64>() {
            Ok(v) if v.is_finite() => values.push(v),
            Ok(v) => return Err(PluginError(format!("reference {} line {}: {v} is not finite", path.display(), n + 1))),
            Err(_) if n == 0 => {} // a header
            Err(_) => return Err(PluginError(format!("reference {} line {}: `{cell}` is not a number", path.display(), n + 1))),
        }
    }
    Ok(values)
}

/// A ranking (sample indices sorted by ascending score) as a score: each sample's
/// position in it. Every index must appear exactly once.
pub fn ranking_to_score(ranking: &[f64], path: &Path) -> PluginResult<Vec<f64>> {
    let n = ranking.len();
    let mut score = vec![f64::NAN; n];
    for (position, &index) in ranking.iter().enumerate() {
        let i = index as usize;
        if index < 0.0 || index.fract() != 0.0 || i >= n || !score[i].is_nan() {
            return Err(PluginError(format!(
                "ranking {}: entry {position} is {index}, not a new sample index in 0..{n}",
                path.display()
            )));
        }
        score[i] = position as f64;
    }
    Ok(score)
}
