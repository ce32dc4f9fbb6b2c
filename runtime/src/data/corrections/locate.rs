//! Which sample each row names: by `source` when the row gives one (as the run's
//! `sources.json` writes it; a relative path is also tried against the corrections
//! file's directory and the dataset's), else by `index`. The last row for a sample
//! wins, so a `keep` undoes an earlier decision.

use super::{Action, CorrectionsFile};
use crate::data::{normalize_path, DataError, Dataset};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The decision for every sample a corrections file names, by index in the training
/// set as read (before `limit`).
#[derive(Debug, Clone)]
pub struct Located {
    /// The file.
    pub(super) path: PathBuf,
    /// Its SHA-256.
    pub(super) sha256: String,
    /// Its rows.
    pub(super) rows: usize,
    /// Sample index -> (line, action) of the last row naming it.
    pub(super) decisions: BTreeMap<usize, (usize, Action)>,
    /// Every `relabel` row's line and label, superseded ones included: each must name
    /// a class.
    pub(super) relabels: Vec<(usize, String)>,
}

/// Where a source was found.
enum Found {
    One(usize),
    /// The dataset names several samples so (a program's dataset may).
    Several(Vec<usize>),
}

impl CorrectionsFile {
    /// Finds every row's sample in `train` (the training set as read, before `limit`).
    /// Relative sources are also looked up under `bases` (the dataset's directory);
    /// `test` only makes the error for a test-set sample say so.
    pub fn locate(&self, train: &Dataset, test: Option<&Dataset>, bases: &[PathBuf]) -> Result<Located, DataError> {
        let error = |message: String| DataError::corrections(&self.path, message);
        let by_source = match self.rows.iter().any(|r| !r.source.is_empty()) {
            true => source_index(train),
            false => HashMap::new(),
        };
        let mut bases: Vec<PathBuf> = bases.to_vec();
        if let Some(dir) = self.path.parent() {
            bases.insert(0, dir.to_path_buf());
        }
        let mut decisions = BTreeMap::new();
        let mut relabels = Vec::new();
        for row in &self.rows {
            let line = row.line;
            let sample = if row.source.is_empty() {
                let i = row.index.expect("a row without a source has an index (checked when read)");
                if i >= train.len() {
                    return Err(error(format!(
                        "line {line}: index {i} is not a sample: the training set has {} samples (0..={})",
                        train.len(),
                        train.len() - 1
                    )));
                }
                i
            } else {
                match find(&by_source, &row.source, &bases) {
                    Some(Found::One(i)) => i,
                    Some(Found::Several(all)) => {
                        let all: Vec<String> = all.iter().map(|i| i.to_string()).collect();
                        return Err(error(format!(
                            "line {line}: source `{}` names several samples ({}); name the sample by index instead",
                            row.source,
                            all.join(", ")
                        )));
                    }
                    None if test.is_some_and(|t| (0..t.len()).any(|i| t.source(i) == row.source)) => {
                        return Err(error(format!(
                            "line {line}: `{}` is a sample of the test set; corrections apply to the training set only",
                            row.source
                        )));
                    }
                    None => {
                        return Err(error(format!(
                            "line {line}: source `{}` is not a sample of the training set ({})",
                            row.source, train.description
                        )))
                    }
                }
            };
            if let Action::Relabel(label) = &row.action {
                relabels.push((line, label.clone()));
            }
            decisions.insert(sample, (line, row.action.clone()));
        }
        Ok(Located { path: self.path.clone(), sha256: self.sha256.clone(), rows: self.rows.len(), decisions, relabels })
    }
}

/// Every source of `train` with the samples it names.
fn source_index(train: &Dataset) -> HashMap<String, Found> {
    let mut index: HashMap<String, Found> = HashMap::with_capacity(train.len());
    for i in 0..train.len() {
        match index.entry(train.source(i).into_owned()) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Found::One(i));
            }
            std::collections::hash_map::Entry::Occupied(mut slot) => {
                let all = match slot.get() {
                    Found::One(first) => vec![*first, i],
                    Found::Several(all) => all.iter().copied().chain([i]).collect(),
                };
                slot.insert(Found::Several(all));
            }
        }
    }
    index
}

/// The sample `source` names: as written, else (a relative path) under each base.
fn find(index: &HashMap<String, Found>, source: &str, bases: &[PathBuf]) -> Option<Found> {
    let copy = |found: &Found| match found {
        Found::One(i) => Found::One(*i),
        Found::Several(all) => Found::Several(all.clone()),
    };
    if let Some(found) = index.get(source) {
        return Some(copy(found));
    }
    if Path::new(source).is_absolute() {
        return index.get(&normalize_path(Path::new(source)).display().to_string()).map(copy);
    }
    bases.iter().find_map(|base| index.get(&normalize_path(&base.join(source)).display().to_string()).map(copy))
}
