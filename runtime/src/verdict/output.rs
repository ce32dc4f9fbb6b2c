//! What the verdict hands out: the flagged samples (`label_issues.csv`), their summary
//! (`summary.json`'s `label_issues`), the probabilities it used (`predictions/`), and
//! the same in memory for a program ([`crate::JobOutcome::verdict`]).

use super::VerdictError;
use crate::data::csv_field;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The file of flagged samples in a run directory.
pub const LABEL_ISSUES_FILE: &str = "label_issues.csv";
/// The directory of the probabilities the verdict used.
pub const PREDICTIONS_DIR: &str = "predictions";
/// `predictions/probs.npy`: float32 `[N, C]`, averaged over the verdict's epochs.
pub const PROBS_FILE: &str = "probs.npy";
/// `predictions/label_prob_epochs.npy`: float32 `[E, N]`, the probability of each
/// sample's label as trained, one row per training epoch.
pub const LABEL_PROB_EPOCHS_FILE: &str = "label_prob_epochs.npy";
/// How many of the first rows `summary.json` repeats.
pub const SUMMARY_ROWS: usize = 20;

/// The columns of `label_issues.csv`, in order (the field names of [`LabelIssue`]).
pub const COLUMNS: [&str; 10] = [
    "rank",
    "index",
    "source",
    "given_label",
    "given_name",
    "given_prob",
    "suggested_label",
    "suggested_name",
    "suggested_prob",
    "flagged_by",
];

/// One flagged sample: a row of `label_issues.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelIssue {
    /// 1-based; 1 is the most likely wrong.
    pub rank: usize,
    /// The sample's 0-based index in the run's training set.
    pub index: usize,
    /// Where the sample came from (as in `sources.json`).
    pub source: String,
    /// The label it was trained with.
    pub given_label: i64,
    /// That label's class name.
    pub given_name: String,
    /// The averaged probability of the given label.
    pub given_prob: f32,
    /// The label the verdict suggests instead.
    pub suggested_label: i64,
    /// That label's class name.
    pub suggested_name: String,
    /// The averaged probability of the suggested label.
    pub suggested_prob: f32,
    /// The signal that flagged it (`confident_learning`).
    pub flagged_by: String,
}

/// `summary.json`'s `label_issues`: how the verdict was reached and its first rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelIssues {
    /// `label_issues.csv`, relative to the run directory; absent for a job in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The rule, in words: which probabilities, which epochs, which flags.
    pub rule: String,
    /// The 1-based training epochs whose probabilities were averaged.
    pub epochs: Vec<usize>,
    /// How many samples were flagged.
    pub flagged: usize,
    /// Each class's threshold (the mean probability of the class over the samples
    /// labelled with it); `null` for a class no sample is labelled with.
    pub thresholds: Vec<Option<f64>>,
    /// The first rows of `label_issues.csv`.
    pub issues: Vec<LabelIssue>,
}

impl LabelIssues {
    /// The averaged epochs in words: `epochs 2-5`, `epoch 1`.
    pub fn span(&self) -> String {
        span(&self.epochs)
    }
}

/// 1-based epochs in words: `epochs 2-5`, `epoch 1`, `no epoch`.
pub fn span(epochs: &[usize]) -> String {
    match (epochs.first(), epochs.last()) {
        (Some(first), Some(last)) if first == last => format!("epoch {first}"),
        (Some(first), Some(last)) => format!("epochs {first}-{last}"),
        _ => "no epoch".into(),
    }
}

/// The verdict of one training: every flagged sample, most likely wrong first, and the
/// probabilities it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The rule, in words.
    pub rule: String,
    /// The 1-based training epochs whose probabilities were averaged.
    pub epochs: Vec<usize>,
    /// Each class's threshold (`None`: no sample is labelled with the class).
    pub thresholds: Vec<Option<f64>>,
    /// Every flagged sample, ranked.
    pub issues: Vec<LabelIssue>,
    /// Number of classes (the width of `probs`).
    pub classes: usize,
    /// The averaged class probabilities, `[N, C]` row-major.
    pub probs: Vec<f32>,
    /// The probability of each sample's label as trained, one row of `N` per training
    /// epoch (1, 2, ...).
    pub label_prob_epochs: Vec<Vec<f32>>,
}

impl Verdict {
    /// The averaged class probabilities of sample `i`.
    pub fn probs_of(&self, i: usize) -> &[f32] {
        &self.probs[i * self.classes..(i + 1) * self.classes]
    }

    /// What `summary.json` says of it, naming `file` (none for a job in memory).
    pub fn summary(&self, file: Option<String>) -> LabelIssues {
        LabelIssues {
            file,
            rule: self.rule.clone(),
            epochs: self.epochs.clone(),
            flagged: self.issues.len(),
            thresholds: self.thresholds.clone(),
            issues: self.issues.iter().take(SUMMARY_ROWS).cloned().collect(),
        }
    }

    /// Writes `label_issues.csv` and `predictions/` into the run directory `root`;
    /// returns the CSV's path.
    pub fn write(&self, root: &Path) -> Result<PathBuf, VerdictError> {
        let csv = root.join(LABEL_ISSUES_FILE);
        std::fs::write(&csv, self.csv()).map_err(|source| VerdictError::Io { path: csv.clone(), source })?;
        let dir = root.join(PREDICTIONS_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| VerdictError::Io { path: dir.clone(), source })?;
        let samples = self.probs.len() / self.classes.max(1);
        Tensor::from_slice(&self.probs).view([samples as i64, self.classes as i64]).write_npy(dir.join(PROBS_FILE))?;
        let rows: Vec<f32> = self.label_prob_epochs.concat();
        Tensor::from_slice(&rows)
            .view([self.label_prob_epochs.len() as i64, samples as i64])
            .write_npy(dir.join(LABEL_PROB_EPOCHS_FILE))?;
        Ok(csv)
    }

    /// `label_issues.csv`: the header, then one line per flagged sample (fields with
    /// commas, quotes or line breaks quoted, RFC 4180).
    pub fn csv(&self) -> String {
        let mut text = COLUMNS.join(",");
        text.push('\n');
        for i in &self.issues {
            let fields = [
                i.rank.to_string(),
                i.index.to_string(),
                csv_field(&i.source).into_owned(),
                i.given_label.to_string(),
                csv_field(&i.given_name).into_owned(),
                format!("{:.6}", i.given_prob),
                i.suggested_label.to_string(),
                csv_field(&i.suggested_name).into_owned(),
                format!("{:.6}", i.suggested_prob),
                csv_field(&i.flagged_by).into_owned(),
            ];
            text.push_str(&fields.join(","));
            text.push('\n');
        }
        text
    }
}

/// Reads `label_issues.csv` (as [`Verdict::csv`] writes it): the rows in file order, or
/// a message naming the line and what is wrong with it.
pub fn read_label_issues(text: &str) -> Result<Vec<LabelIssue>, String> {
    let records = crate::data::parse_csv(text)?;
    let mut records = records.into_iter();
    let Some((_, header)) = records.next() else {
        return Err("empty file (expected a header line)".into());
    };
    if header != COLUMNS {
        return Err(format!("line 1: header `{}`, expected `{}`", header.join(","), COLUMNS.join(",")));
    }
    records
        .map(|(line, f)| {
            let bad = |column: &str, e: &dyn std::fmt::Display| format!("line {line}: `{column}`: {e}");
            if f.len() != COLUMNS.len() {
                return Err(format!("line {line}: {} fields, expected {}", f.len(), COLUMNS.len()));
            }
            Ok(LabelIssue {
                rank: f[0].parse().map_err(|e| bad("rank", &e))?,
                index: f[1].parse().map_err(|e| bad("index", &e))?,
                source: f[2].clone(),
                given_label: f[3].parse().map_err(|e| bad("given_label", &e))?,
                given_name: f[4].clone(),
                given_prob: f[5].parse().map_err(|e| bad("given_prob", &e))?,
                suggested_label: f[6].parse().map_err(|e| bad("suggested_label", &e))?,
                suggested_name: f[7].clone(),
                suggested_prob: f[8].parse().map_err(|e| bad("suggested_prob", &e))?,
                flagged_by: f[9].clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(rank: usize, source: &str) -> LabelIssue {
        LabelIssue {
            rank,
            index: 7,
            source: source.into(),
            given_label: 1,
            given_name: "shirt, long".into(),
            given_prob: 0.125,
            suggested_label: 0,
            suggested_name: "coat".into(),
            suggested_prob: 0.75,
            flagged_by: "confident_learning".into(),
        }
    }

    #[test]
    fn the_csv_has_the_contract_columns_and_quotes_what_needs_it() {
        let verdict = Verdict {
            rule: "r".into(),
            epochs: vec![1, 2],
            thresholds: vec![Some(0.5), None],
            issues: vec![issue(1, "a/b.png"), issue(2, "say \"hi\".png")],
            classes: 2,
            probs: vec![0.0; 16],
            label_prob_epochs: vec![vec![0.0; 8]; 2],
        };
        let text = verdict.csv();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "rank,index,source,given_label,given_name,given_prob,suggested_label,suggested_name,suggested_prob,flagged_by"
        );
        assert_eq!(lines[1], "1,7,a/b.png,1,\"shirt, long\",0.125000,0,coat,0.750000,confident_learning");
        assert_eq!(lines[2], "2,7,\"say \"\"hi\"\".png\",1,\"shirt, long\",0.125000,0,coat,0.750000,confident_learning");
        assert_eq!(read_label_issues(&text).unwrap(), verdict.issues, "the CSV reads back as written");
        let broken = text.replace("0.750000,confident", "high,confident");
        assert_eq!(read_label_issues(&broken).unwrap_err(), "line 2: `suggested_prob`: invalid float literal");
        let summary = verdict.summary(Some(LABEL_ISSUES_FILE.into()));
        assert_eq!((summary.flagged, summary.issues.len()), (2, 2));
        let json = serde_json::to_value(&summary).unwrap();
        let row = json["issues"][0].as_object().unwrap();
        assert_eq!(row.keys().map(String::as_str).collect::<std::collections::BTreeSet<_>>(), COLUMNS.into_iter().collect());
        assert_eq!(json["thresholds"], serde_json::json!([0.5, null]));
    }
}
