//! Reference scores to plot a run's scores against (e.g. Feldman & Zhang memorization
//! for the paper's memorization-vs-curvature plot): the files named in the baseline
//! comparer's `against` list of the run's config, and `memscope report --reference`.
//! Formats as the comparer reads them: `.npy`, `.npz` with a key, `.csv` (the last
//! column, an optional header line). Relative paths are relative to the working
//! directory, as for the comparer. A reference of only 0 and 1 (a bool array: a
//! user's own known-bad samples) is a mask, as the comparer takes it: the report
//! gives AUROC, AP and the per-epoch signal against it instead of a correlation.

use super::ReportError;
use memscope::config::JobConfig;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where a reference comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceSpec {
    /// Name shown in the report (default: the file stem, or the `.npz` key).
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// The array inside an `.npz`.
    pub key: Option<String>,
    /// What the file holds.
    pub kind: ReferenceKind,
}

/// What a reference file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceKind {
    /// Not said: a mask when every value is 0 or 1, else a score.
    Unsaid,
    /// One value per sample.
    Score,
    /// Sample indices sorted by ascending score.
    Ranking,
    /// One 0/1 (or bool) per sample.
    Mask,
}

/// A reference, one value per sample (NaN where a memorization estimate is
/// undefined).
#[derive(Debug, Clone)]
pub struct Reference {
    /// Name shown in the report.
    pub name: String,
    /// The values (0 and 1 for a mask).
    pub values: Vec<f64>,
    /// The samples it marks, when it is a mask.
    pub mask: Option<Vec<bool>>,
}

impl ReferenceSpec {
    /// `FILE`, or `FILE.npz:KEY` for an array inside an `.npz`. A memorization estimate
    /// (its directory or `mem.npy`) is named `mem`, as the comparer names it.
    pub fn parse(text: &str) -> Self {
        let (path, key) = match text.rsplit_once(':') {
            Some((file, key)) if file.ends_with(".npz") && !key.is_empty() => (PathBuf::from(file), Some(key.to_string())),
            _ => (PathBuf::from(text), None),
        };
        let name = key.clone().unwrap_or_else(|| default_name(&path));
        ReferenceSpec { name, path, key, kind: ReferenceKind::Unsaid }
    }

    /// The reference files in the `against` list of the run's baseline comparer
    /// (`{ file, key, kind, name }` entries, and plain strings that name a file as the
    /// comparer reads them: a `.npy`, `.npz` or `.csv` extension or a `/`; other strings
    /// are names of run arrays).
    pub fn from_baseline(config: &JobConfig) -> Vec<Self> {
        /// The comparer's file target (see `plugins/baseline`), as much as the report needs.
        #[derive(Deserialize)]
        struct FileTarget {
            name: Option<String>,
            file: PathBuf,
            key: Option<String>,
            kind: Option<String>,
        }
        let against = config
            .plugins
            .iter()
            .filter(|p| p.name == "baseline")
            .filter_map(|p| p.config.get("against").and_then(|a| a.as_array()))
            .flatten();
        against
            .filter_map(|target| match target.as_str() {
                Some(text) if looks_like_file(text) => Some(FileTarget { name: None, file: text.into(), key: None, kind: None }),
                _ => FileTarget::deserialize(target.clone()).ok(),
            })
            .map(|t| ReferenceSpec {
                name: t.name.or_else(|| t.key.clone()).unwrap_or_else(|| default_name(&t.file)),
                path: t.file,
                key: t.key,
                kind: match t.kind.as_deref() {
                    Some("ranking") => ReferenceKind::Ranking,
                    Some("mask") => ReferenceKind::Mask,
                    Some("score") => ReferenceKind::Score,
                    _ => ReferenceKind::Unsaid,
                },
            })
            .collect()
    }

    /// Reads the reference and checks that it has one value per sample.
    pub fn read(&self, samples: usize) -> Result<Reference, ReportError> {
        let path = &self.path;
        let estimate = memscope_reference::estimate_file(path).is_some();
        let values = match estimate {
            true => memscope_reference::read_memorization(path),
            false => memscope_reference::read_values(path, self.key.as_deref()),
        };
        let values = values.map_err(|e| ReportError::reference(path, e.to_string()))?;
        if values.len() != samples {
            return Err(ReportError::reference(path, format!("{} values, but the run has {samples} samples", values.len())));
        }
        let bad = |e: memscope_reference::ReferenceError| ReportError::reference(path, e.to_string());
        let (values, mask) = match self.kind {
            // A memorization estimate is a score, NaN where undefined.
            _ if estimate => (values, None),
            ReferenceKind::Ranking => (memscope_reference::ranking_to_score(&values).map_err(bad)?, None),
            ReferenceKind::Mask => {
                let mask = memscope_reference::to_mask(&values).map_err(bad)?;
                (values, Some(mask))
            }
            ReferenceKind::Score => (values, None),
            ReferenceKind::Unsaid => {
                let mask = memscope_reference::as_mask(&values);
                (values, mask)
            }
        };
        Ok(Reference { name: self.name.clone(), values, mask })
    }
}

/// The file's stem, or `mem` for a memorization estimate (as the comparer names it).
fn default_name(path: &Path) -> String {
    if memscope_reference::estimate_file(path).is_some() {
        return "mem".into();
    }
    path.file_stem().and_then(|s| s.to_str()).unwrap_or("reference").to_string()
}

/// Whether a plain `against` string names a file (as the comparer decides).
fn looks_like_file(text: &str) -> bool {
    let extension = Path::new(text).extension().and_then(|e| e.to_str());
    matches!(extension, Some("npy" | "npz" | "csv")) || text.contains('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_text_names_a_file_or_an_npz_member() {
        assert_eq!(
            ReferenceSpec::parse("fz.npy"),
            ReferenceSpec { name: "fz".into(), path: "fz.npy".into(), key: None, kind: ReferenceKind::Unsaid }
        );
        let member = ReferenceSpec::parse("dir/cifar100.npz:tr_mem");
        assert_eq!((member.name.as_str(), member.key.as_deref()), ("tr_mem", Some("tr_mem")));
        assert_eq!(member.path, PathBuf::from("dir/cifar100.npz"));
    }

    #[test]
    fn baseline_file_targets_become_references_and_array_names_do_not() {
        let text = r#"
            name = "t"
            [data]
            format = "digits"
            [[plugins]]
            name = "baseline"
            config = { against = ["noise_mask", { file = "fz.npz", key = "mem" }, { name = "order", file = "r.csv", kind = "ranking" }, { file = "bad.npy", kind = "mask" }, "est/mem.npy"] }
        "#;
        let config = memscope::config::parse_job(text, "<text>", &[], Path::new(".")).unwrap();
        let specs = ReferenceSpec::from_baseline(&config);
        assert_eq!(specs.len(), 4);
        assert_eq!((specs[0].name.as_str(), specs[0].key.as_deref(), specs[0].kind), ("mem", Some("mem"), ReferenceKind::Unsaid));
        assert_eq!((specs[1].name.as_str(), specs[1].kind), ("order", ReferenceKind::Ranking));
        assert_eq!((specs[2].name.as_str(), specs[2].kind), ("bad", ReferenceKind::Mask));
        assert_eq!((specs[3].path.as_path(), specs[3].kind), (Path::new("est/mem.npy"), ReferenceKind::Unsaid));
    }

    #[test]
    fn a_bool_or_zero_one_reference_is_a_mask_and_a_declared_mask_must_be_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flipped.npy");
        memscope::run::write_bool_npy(&path, &[false, true, false, true]).unwrap();
        let read = ReferenceSpec::parse(path.to_str().unwrap()).read(4).unwrap();
        assert_eq!(read.mask, Some(vec![false, true, false, true]));
        let csv = dir.path().join("bad.csv");
        std::fs::write(&csv, "0\n1\n1\n0\n").unwrap();
        assert!(ReferenceSpec::parse(csv.to_str().unwrap()).read(4).unwrap().mask.is_some(), "0/1 numbers are a mask too");
        std::fs::write(&csv, "0\n1\n0.5\n0\n").unwrap();
        assert!(ReferenceSpec::parse(csv.to_str().unwrap()).read(4).unwrap().mask.is_none(), "a score");
        let declared = ReferenceSpec { kind: ReferenceKind::Mask, ..ReferenceSpec::parse(csv.to_str().unwrap()) };
        let err = declared.read(4).unwrap_err().to_string();
        assert!(err.contains("bad.csv") && err.contains("value 2 is 0.5: a mask holds only 0 and 1"), "{err}");
    }

    #[test]
    fn csv_values_of_the_wrong_count_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ref.csv");
        std::fs::write(&path, "index,score\n0,0.5\n1,0.25\n").unwrap();
        let spec = ReferenceSpec::parse(path.to_str().unwrap());
        assert_eq!(spec.read(2).unwrap().values, vec![0.5, 0.25]);
        let err = spec.read(3).unwrap_err().to_string();
        assert!(err.contains("ref.csv") && err.contains("2 values") && err.contains("3 samples"), "{err}");
    }
}
