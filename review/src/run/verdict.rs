//! The verdict of a run, when it has one (runs made before it do not): the flagged
//! samples of `label_issues.csv` with their rank, suggested label and signal, the rule
//! and epochs from `summary.json`'s `label_issues`, and the class probabilities of
//! `predictions/probs.npy` that give every other sample its most likely class.

use super::arrays::{read_probabilities, Matrix};
use crate::ReviewError;
use std::path::Path;

/// The file of flagged samples in a run directory.
pub const LABEL_ISSUES: &str = "label_issues.csv";
/// The class probabilities the verdict used, `[samples, classes]`.
pub const PROBS: &str = "predictions/probs.npy";

/// Why one sample was flagged.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    /// 1-based rank, most likely wrong first.
    pub rank: usize,
    /// The label the verdict suggests.
    pub suggested: i64,
    /// Its probability.
    pub suggested_prob: f32,
    /// The probability of the given label.
    pub given_prob: f32,
    /// The signal that flagged it (`confident_learning`).
    pub by: String,
}

/// The flagged samples and how they were chosen.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The stated rule, from `summary.json`.
    pub rule: Option<String>,
    /// The 1-based training epochs whose probabilities were averaged.
    pub epochs: Vec<usize>,
    /// One entry per sample: why it was flagged, or `None`.
    pub flags: Vec<Option<Flag>>,
}

impl Verdict {
    /// Reads `label_issues.csv` of `dir` (`None` when the run has none) for a run of
    /// these labels as trained and this many classes.
    pub fn read(dir: &Path, labels: &[i64], classes: usize) -> Result<Option<Verdict>, ReviewError> {
        let path = dir.join(LABEL_ISSUES);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| ReviewError::io(&path, e))?;
        let rows = memscope::data::parse_csv(&text).map_err(|e| ReviewError::run_file(&path, e))?;
        let mut rows = rows.into_iter();
        let Some((_, header)) = rows.next() else {
            return Err(ReviewError::run_file(&path, "empty file (no header line)"));
        };
        let column = |name: &str| {
            header.iter().position(|h| h == name).ok_or_else(|| ReviewError::run_file(&path, format!("no column `{name}` in its header")))
        };
        let [rank, index, given_label, given_prob, suggested_label, suggested_prob, flagged_by] =
            ["rank", "index", "given_label", "given_prob", "suggested_label", "suggested_prob", "flagged_by"].map(column);
        let (rank, index, given_label, given_prob) = (rank?, index?, given_label?, given_prob?);
        let (suggested_label, suggested_prob, flagged_by) = (suggested_label?, suggested_prob?, flagged_by?);

        let mut flags = vec![None; labels.len()];
        for (line, fields) in rows {
            let bad = |message: String| ReviewError::run_file(&path, format!("line {line}: {message}"));
            let cell = |c: usize| {
                fields
                    .get(c)
                    .map(String::as_str)
                    .ok_or_else(|| bad(format!("{} fields, fewer than the header's {}", fields.len(), header.len())))
            };
            let number = |c: usize| -> Result<f64, ReviewError> {
                let text = cell(c)?;
                text.trim().parse::<f64>().map_err(|_| bad(format!("`{}` is `{text}`, not a number", header[c])))
            };
            let i = number(index)?;
            if i < 0.0 || i.fract() != 0.0 || i as usize >= labels.len() {
                return Err(bad(format!("index {i} is not a sample of the run (0..{})", labels.len())));
            }
            let i = i as usize;
            if number(given_label)? as i64 != labels[i] {
                return Err(bad(format!("given_label {} but the run trained sample {i} as {}", cell(given_label)?, labels[i])));
            }
            let suggested = number(suggested_label)?;
            if suggested < 0.0 || suggested.fract() != 0.0 || suggested as usize >= classes {
                return Err(bad(format!("suggested_label {suggested} is not a class (0..{classes})")));
            }
            flags[i] = Some(Flag {
                rank: number(rank)? as usize,
                suggested: suggested as i64,
                suggested_prob: number(suggested_prob)? as f32,
                given_prob: number(given_prob)? as f32,
                by: cell(flagged_by)?.to_string(),
            });
        }
        let (rule, epochs) = summary_entry(dir)?;
        Ok(Some(Verdict { rule, epochs, flags }))
    }

    /// How many samples are flagged.
    pub fn flagged(&self) -> usize {
        self.flags.iter().flatten().count()
    }
}

/// `summary.json`'s `label_issues.rule` and `.epochs`, when it has them.
fn summary_entry(dir: &Path) -> Result<(Option<String>, Vec<usize>), ReviewError> {
    let path = dir.join("summary.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok((None, Vec::new()));
    };
    let summary: serde_json::Value = serde_json::from_str(&text).map_err(|e| ReviewError::run_file(&path, format!("not JSON: {e}")))?;
    let entry = &summary["label_issues"];
    let rule = entry["rule"].as_str().map(str::to_string);
    let epochs = entry["epochs"].as_array().map(|a| a.iter().filter_map(|e| e.as_u64()).map(|e| e as usize).collect()).unwrap_or_default();
    Ok((rule, epochs))
}

/// The class probabilities of every sample (`predictions/probs.npy`).
#[derive(Debug, Clone)]
pub struct Probabilities(Matrix);

impl Probabilities {
    /// Reads `predictions/probs.npy` of `dir` (`None` when the run has none), which
    /// must be `[samples, classes]`.
    pub fn read(dir: &Path, samples: usize, classes: usize) -> Result<Option<Probabilities>, ReviewError> {
        let path = dir.join(PROBS);
        if !path.exists() {
            return Ok(None);
        }
        let expected = format!("[{samples}, {classes}] (samples, classes)");
        Ok(Some(Probabilities(read_probabilities(&path, Some(samples), Some(classes), &expected)?)))
    }

    /// The probability of every class for sample `i`.
    pub fn of(&self, i: usize) -> &[f32] {
        self.0.row(i)
    }

    /// The most likely class of sample `i` and its probability (the first of equals).
    pub fn most_likely(&self, i: usize) -> (i64, f32) {
        let row = self.of(i);
        let best = (0..row.len()).fold(0, |best, c| if row[c] > row[best] { c } else { best });
        (best as i64, row[best])
    }
}
