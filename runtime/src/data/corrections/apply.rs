//! Applying located corrections to the training set: relabels first, then the
//! excluded samples leave it. What was done goes into `summary.json`.

use super::{Action, Located};
use crate::data::{DataError, Dataset};
use serde::{Deserialize, Serialize};

/// What a run's corrections did (`summary.json`'s `corrections`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrectionsSummary {
    /// The corrections file, as the job names it.
    pub file: String,
    /// SHA-256 of the file (hex).
    pub sha256: String,
    /// Rows in the file.
    pub rows: usize,
    /// Samples given another label.
    pub relabelled: usize,
    /// Samples left out of the training set.
    pub excluded: usize,
    /// Samples whose last row is `keep` (or a relabel to the label they have): left
    /// as the data gives them.
    pub kept: usize,
    /// Samples named past `data.limit`, which this run does not train on.
    pub beyond_limit: usize,
    /// Training samples before the exclusions (after `limit`).
    pub samples_read: usize,
}

/// Corrections applied to a training set.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedCorrections {
    /// What was done.
    pub summary: CorrectionsSummary,
    /// For each sample of the corrected set, its index in the set as read (a run's
    /// `kept_indices.npy`): how a user matches this run's per-sample outputs with
    /// another run's.
    pub kept_indices: Vec<usize>,
}

impl Located {
    /// Applies the decisions to `train`, the first `train.len()` samples of the set
    /// they were located in (its class names final): relabels, then keeps the samples
    /// not excluded. Every `relabel` row must name a class, by name or integer.
    pub fn apply(self, train: &mut Dataset) -> Result<AppliedCorrections, DataError> {
        let error = |message: String| DataError::corrections(&self.path, message);
        for (line, label) in &self.relabels {
            if class_of(train, label).is_none() {
                return Err(error(format!("line {line}: label `{label}` is not a class of the dataset (classes: {})", class_list(train))));
            }
        }
        let samples_read = train.len();
        let (mut relabelled, mut excluded, mut kept, mut beyond_limit) = (0, 0, 0, 0);
        let mut keep = vec![true; samples_read];
        for (&i, (_, action)) in &self.decisions {
            if i >= samples_read {
                beyond_limit += 1;
                continue;
            }
            match action {
                Action::Relabel(label) => {
                    let class = class_of(train, label).expect("every relabel names a class (checked above)");
                    if train.labels[i] == class {
                        kept += 1;
                    } else {
                        train.labels[i] = class;
                        relabelled += 1;
                    }
                }
                Action::Exclude => {
                    keep[i] = false;
                    excluded += 1;
                }
                Action::Keep => kept += 1,
            }
        }
        if excluded == samples_read {
            return Err(error(format!("excludes all {samples_read} samples of the training set")));
        }
        let kept_indices: Vec<usize> = (0..samples_read).filter(|&i| keep[i]).collect();
        if excluded > 0 {
            train.select(&kept_indices);
        }
        if beyond_limit > 0 {
            tracing::warn!(
                "{}: {beyond_limit} corrected sample(s) lie past `data.limit` = {samples_read} and are not trained on",
                self.path.display()
            );
        }
        let summary = CorrectionsSummary {
            file: self.path.display().to_string(),
            sha256: self.sha256,
            rows: self.rows,
            relabelled,
            excluded,
            kept,
            beyond_limit,
            samples_read,
        };
        Ok(AppliedCorrections { summary, kept_indices })
    }
}

/// The class `label` names: a class name, else the class's integer.
fn class_of(train: &Dataset, label: &str) -> Option<i64> {
    train
        .class_names
        .iter()
        .position(|name| name == label)
        .or_else(|| label.parse::<usize>().ok().filter(|&c| c < train.classes))
        .map(|c| c as i64)
}

/// The class names for an error, the first 20 of a long list.
fn class_list(train: &Dataset) -> String {
    let mut names: Vec<&str> = train.class_names.iter().take(20).map(String::as_str).collect();
    if train.class_names.len() > 20 {
        names.push("...");
    }
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use crate::data::corrections::CorrectionsFile;
    use crate::data::{Access, Dataset, ImageShape, PixelStore, Sources};
    use std::path::PathBuf;

    /// Six one-pixel samples of classes `a`, `b`, `c`, files `/d/0.png` .. `/d/5.png`.
    fn six() -> Dataset {
        let sources = Sources::List((0..6).map(|i| format!("/d/{i}.png")).collect());
        let mut d = Dataset::new(
            "six".into(),
            ImageShape { channels: 1, height: 1, width: 1 },
            PixelStore::floats((0..6).map(|v| v as f32).collect(), 1),
            vec![0, 1, 2, 0, 1, 2],
            3,
            sources,
        );
        d.class_names = vec!["a".into(), "b".into(), "c".into()];
        d
    }

    fn corrections(text: &str) -> (tempfile::TempDir, CorrectionsFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corrections.csv");
        std::fs::write(&path, text).unwrap();
        let file = CorrectionsFile::read(&path, &Access::Anything).unwrap();
        (dir, file)
    }

    #[test]
    fn relabels_and_exclusions_by_source_and_index_with_the_last_row_winning() {
        let (_dir, file) = corrections(
            "index,source,action,label,time\n\
             ,/d/1.png,relabel,c,t\n\
             4,,exclude,,t\n\
             ,/d/0.png,exclude,,t\n\
             0,,keep,,t\n\
             ,/d/../d/2.png,relabel,0,t\n\
             5,/d/5.png,relabel,c,t\n",
        );
        let mut d = six();
        let applied = file.locate(&d, None, &[]).unwrap().apply(&mut d).unwrap();
        // 1 -> c; 4 excluded; 0 excluded then kept; 2 (named with `..`) -> a; 5 already c.
        assert_eq!(d.labels, [0, 2, 0, 0, 2]);
        assert_eq!(applied.kept_indices, [0, 1, 2, 3, 5]);
        assert_eq!(d.sources.to_vec(), ["/d/0.png", "/d/1.png", "/d/2.png", "/d/3.png", "/d/5.png"]);
        assert_eq!(d.image(4), [5.0]);
        let s = &applied.summary;
        assert_eq!((s.rows, s.relabelled, s.excluded, s.kept, s.beyond_limit, s.samples_read), (6, 2, 1, 2, 0, 6));
        assert_eq!(s.sha256.len(), 64);
    }

    #[test]
    fn relative_sources_are_found_under_the_dataset_directory() {
        let (_dir, file) = corrections("source,action,label\n3.png,relabel,b\n");
        let mut d = six();
        let applied = file.locate(&d, None, &[PathBuf::from("/d")]).unwrap().apply(&mut d).unwrap();
        assert_eq!((d.labels[3], applied.summary.relabelled), (1, 1));
    }

    #[test]
    fn samples_past_the_limit_are_counted_not_applied() {
        let (_dir, file) = corrections("index,action,label\n1,exclude,\n5,relabel,a\n");
        let mut d = six();
        let located = file.locate(&d, None, &[]).unwrap();
        d.truncate(3);
        let applied = located.apply(&mut d).unwrap();
        assert_eq!((applied.kept_indices.as_slice(), applied.summary.beyond_limit, applied.summary.samples_read), (&[0, 2][..], 1, 3));
    }

    #[test]
    fn unknown_samples_and_classes_are_errors_naming_file_and_line() {
        let mut test = six();
        test.sources = Sources::List((0..6).map(|i| format!("/t/{i}.png")).collect());
        for (text, expected) in [
            ("index,action,label\n0,keep,\n6,exclude,\n", "line 3: index 6 is not a sample: the training set has 6 samples (0..=5)"),
            ("source,action,label\n/d/9.png,exclude,\n", "line 2: source `/d/9.png` is not a sample of the training set (six)"),
            (
                "source,action,label\n/t/1.png,exclude,\n",
                "line 2: `/t/1.png` is a sample of the test set; corrections apply to the training set only",
            ),
            ("index,action,label\n0,relabel,dog\n0,keep,\n", "line 2: label `dog` is not a class of the dataset (classes: a, b, c)"),
            ("index,action,label\n0,relabel,3\n", "line 2: label `3` is not a class"),
        ] {
            let (_dir, file) = corrections(text);
            let mut d = six();
            let err = file.locate(&d, Some(&test), &[]).and_then(|l| l.apply(&mut d)).unwrap_err().to_string();
            let prefix = format!("corrections file {}: {expected}", file.path.display());
            assert!(err.starts_with(&prefix), "{err}\nexpected {prefix}");
        }
        let (_dir, file) = corrections(&format!("index,action,label\n{}", (0..6).map(|i| format!("{i},exclude,\n")).collect::<String>()));
        let mut d = six();
        let err = file.locate(&d, None, &[]).unwrap().apply(&mut d).unwrap_err().to_string();
        assert!(err.ends_with("excludes all 6 samples of the training set"), "{err}");
    }
}
