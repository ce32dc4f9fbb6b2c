//! Reference per-sample scores, as the baseline comparer and the report read them:
//! `.npy`, `.npz` (a member chosen by key), or `.csv` (the last column, an optional
//! header line), sample-index rankings turned into scores, and masks (a bool array,
//! or numbers that are all 0 or 1: a user's own list of known-bad samples). One
//! reader, so that a file the comparer accepts is one the report can plot.
//!
//! Errors say what is wrong with the file; callers put the file's name in front.

#![warn(missing_docs)]

mod npy;

pub use npy::{parse_npy, read_npy, read_npz};
use std::path::Path;
use tch::Kind;

/// What is wrong with a reference file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReferenceError {
    /// The file does not exist.
    #[error("no such file")]
    Missing,
    /// libtorch could not read it.
    #[error("{0}")]
    Unreadable(String),
    /// An `.npz` was given without saying which array.
    #[error("an .npz needs `key` (the array's name)")]
    NoKey,
    /// The `.npz` has no array of that name.
    #[error("no array `{key}` (has {names:?})")]
    NoSuchArray {
        /// The key asked for.
        key: String,
        /// The arrays it has.
        names: Vec<String>,
    },
    /// The extension is not one of the known formats.
    #[error("unknown extension `{0}` (npy, npz or csv)")]
    UnknownFormat(String),
    /// The array is not 1-D.
    #[error("expected a 1-D array, found shape {0:?}")]
    NotOneDimensional(Vec<i64>),
    /// A value is NaN or infinite.
    #[error("value {index} is {value} (not finite)")]
    NotFinite {
        /// 0-based position.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A CSV cell is not a number.
    #[error("line {line}: `{cell}` is not a number")]
    NotANumber {
        /// 1-based line.
        line: usize,
        /// The cell.
        cell: String,
    },
    /// A reference read as a mask holds a value other than 0 and 1.
    #[error("value {index} is {value}: a mask holds only 0 and 1 (false and true)")]
    NotAMask {
        /// 0-based position.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A ranking entry is not a new sample index.
    #[error("ranking entry {position} is {index}, not a new sample index in 0..{samples}")]
    BadRanking {
        /// 0-based position in the ranking.
        position: usize,
        /// The entry.
        index: f64,
        /// Samples.
        samples: usize,
    },
}

/// Reads a 1-D array of finite numbers from `path`; `key` selects an `.npz` member.
pub fn read_values(path: &Path, key: Option<&str>) -> Result<Vec<f64>, ReferenceError> {
    if !path.exists() {
        return Err(ReferenceError::Missing);
    }
    let unreadable = |e: tch::TchError| ReferenceError::Unreadable(e.to_string());
    let tensor = match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "npy" => read_npy(path).map_err(ReferenceError::Unreadable)?,
        "npz" => {
            let key = key.ok_or(ReferenceError::NoKey)?;
            let arrays = read_npz(path).map_err(ReferenceError::Unreadable)?;
            let names: Vec<String> = arrays.iter().map(|(n, _)| n.clone()).collect();
            arrays
                .into_iter()
                .find(|(n, _)| n == key || *n == format!("{key}.npy"))
                .map(|(_, t)| t)
                .ok_or(ReferenceError::NoSuchArray { key: key.to_string(), names })?
        }
        "csv" | "txt" => return read_csv(path),
        other => return Err(ReferenceError::UnknownFormat(other.to_string())),
    };
    if tensor.dim() != 1 {
        return Err(ReferenceError::NotOneDimensional(tensor.size()));
    }
    let values = Vec::<f64>::try_from(&tensor.to_kind(Kind::Double)).map_err(unreadable)?;
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(ReferenceError::NotFinite { index, value: values[index] }),
        None => Ok(values),
    }
}

/// The last column of each line; a first line that is not a number is a header.
fn read_csv(path: &Path) -> Result<Vec<f64>, ReferenceError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReferenceError::Unreadable(e.to_string()))?;
    let mut values = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let cell = line.split(',').next_back().unwrap_or("").trim();
        if cell.is_empty() {
            continue;
        }
        match cell.parse::<f64>() {
            Ok(v) if v.is_finite() => values.push(v),
            Ok(v) => return Err(ReferenceError::NotFinite { index: values.len(), value: v }),
            Err(_) if n == 0 => {}
            Err(_) => return Err(ReferenceError::NotANumber { line: n + 1, cell: cell.to_string() }),
        }
    }
    Ok(values)
}

/// `values` as a mask (a bool array reads as 0 and 1), when every value is 0 or 1 and
/// both occur. A reference whose kind is not given is a mask exactly then: AUROC and
/// average precision measure a score against it, where a rank correlation with a
/// two-valued variable would say little.
pub fn as_mask(values: &[f64]) -> Option<Vec<bool>> {
    let mask = to_mask(values).ok()?;
    (mask.iter().any(|&m| m) && mask.iter().any(|&m| !m)).then_some(mask)
}

/// `values` as a mask; any value other than 0 and 1 is an error.
pub fn to_mask(values: &[f64]) -> Result<Vec<bool>, ReferenceError> {
    values
        .iter()
        .enumerate()
        .map(|(index, &value)| match value {
            0.0 => Ok(false),
            1.0 => Ok(true),
            _ => Err(ReferenceError::NotAMask { index, value }),
        })
        .collect()
}

/// A ranking (sample indices sorted by ascending score) as a score: each sample's
/// position in it. Every index must appear exactly once.
pub fn ranking_to_score(ranking: &[f64]) -> Result<Vec<f64>, ReferenceError> {
    let n = ranking.len();
    let mut score = vec![f64::NAN; n];
    for (position, &index) in ranking.iter().enumerate() {
        let i = index as usize;
        if index < 0.0 || index.fract() != 0.0 || i >= n || !score[i].is_nan() {
            return Err(ReferenceError::BadRanking { position, index, samples: n });
        }
        score[i] = position as f64;
    }
    Ok(score)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Tensor;

    #[test]
    fn a_ranking_becomes_positions_and_repeats_are_refused() {
        assert_eq!(ranking_to_score(&[2.0, 0.0, 1.0]).unwrap(), vec![1.0, 2.0, 0.0]);
        assert!(matches!(ranking_to_score(&[0.0, 0.0]), Err(ReferenceError::BadRanking { position: 1, .. })));
    }

    #[test]
    fn bool_and_zero_one_arrays_are_masks_and_scores_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flipped.npy");
        // A bool .npy as NumPy writes it (libtorch cannot write one).
        let dict = "{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }";
        let header = format!("{dict}{}\n", " ".repeat((64 - (10 + dict.len() + 1) % 64) % 64));
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        bytes.extend([1u8, 0, 0, 1]);
        std::fs::write(&path, bytes).unwrap();
        let values = read_values(&path, None).unwrap();
        assert_eq!(as_mask(&values), Some(vec![true, false, false, true]));
        assert_eq!(as_mask(&[0.0, 1.0, 1.0]), Some(vec![false, true, true]));
        assert_eq!(as_mask(&[0.0, 0.5, 1.0]), None, "a score");
        assert_eq!(as_mask(&[1.0, 1.0]), None, "one class only: nothing to rank against");
        assert_eq!(to_mask(&[0.0, 2.0]).unwrap_err(), ReferenceError::NotAMask { index: 1, value: 2.0 });
    }

    #[test]
    fn csv_takes_the_last_column_after_an_optional_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ref.csv");
        std::fs::write(&path, "index,score\n0,0.5\n1,0.25\n").unwrap();
        assert_eq!(read_values(&path, None).unwrap(), vec![0.5, 0.25]);
        std::fs::write(&path, "0.5\nlots\n").unwrap();
        assert_eq!(read_values(&path, None).unwrap_err(), ReferenceError::NotANumber { line: 2, cell: "lots".into() });
    }

    #[test]
    fn npz_members_are_found_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pairs.npz");
        Tensor::write_npz(&[("mem", Tensor::from_slice(&[0.5f32, 1.0]))], &path).unwrap();
        assert_eq!(read_values(&path, Some("mem")).unwrap(), vec![0.5, 1.0]);
        assert!(matches!(read_values(&path, Some("nope")), Err(ReferenceError::NoSuchArray { .. })));
        assert_eq!(read_values(&path, None).unwrap_err(), ReferenceError::NoKey);
        assert_eq!(read_values(&dir.path().join("none.npy"), None).unwrap_err(), ReferenceError::Missing);
    }
}
