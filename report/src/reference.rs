//! Reference scores to plot a run's scores against (e.g. Feldman & Zhang memorization
//! for the paper's memorization-vs-curvature plot): the files named in the baseline
//! comparer's `against` list of the run's config, and `memscope report --reference`.
//! Formats as the comparer reads them: `.npy`, `.npz` with a key, `.csv` (the last
//! column, an optional header line). Relative paths are relative to the working
//! directory, as for the comparer.

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
    /// The file holds sample indices sorted by ascending score rather than scores.
    pub ranking: bool,
}

/// A reference score, one value per sample (NaN where a memorization estimate is
/// undefined).
#[derive(Debug, Clone)]
pub struct Reference {
    /// Name shown in the report.
    pub name: String,
    /// The values.
    pub values: Vec<f64>,
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
        ReferenceSpec { name, path, key, ranking: false }
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
                ranking: t.kind.as_deref() == Some("ranking"),
            })
            .collect()
    }

    /// Reads the reference and checks that it has one value per sample.
    pub fn read(&self, samples: usize) -> Result<Reference, ReportError> {
        let path = &self.path;
        let values = match memscope_reference::estimate_file(path) {
            Some(_) => memscope_reference::read_memorization(path),
            None => memscope_reference::read_values(path, self.key.as_deref()),
        };
        let values = values.map_err(|e| ReportError::reference(path, e.to_string()))?;
        if values.len() != samples {
            return Err(ReportError::reference(path, format!("{} values, but the run has {samples} samples", values.len())));
        }
        let values = if self.ranking {
            memscope_reference::ranking_to_score(&values).map_err(|e| ReportError::reference(path, e.to_string()))?
        } else {
            values
        };
        Ok(Reference { name: self.name.clone(), values })
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
        assert_eq!(ReferenceSpec::parse("fz.npy"), ReferenceSpec { name: "fz".into(), path: "fz.npy".into(), key: None, ranking: false });
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
            config = { against = ["noise_mask", { file = "fz.npz", key = "mem" }, { name = "order", file = "r.csv", kind = "ranking" }, "est/mem.npy"] }
        "#;
        let config = memscope::config::parse_job(text, "<text>", &[], Path::new(".")).unwrap();
        let specs = ReferenceSpec::from_baseline(&config);
        assert_eq!(specs.len(), 3);
        assert_eq!((specs[0].name.as_str(), specs[0].key.as_deref(), specs[0].ranking), ("mem", Some("mem"), false));
        assert_eq!((specs[1].name.as_str(), specs[1].ranking), ("order", true));
        assert_eq!((specs[2].path.as_path(), specs[2].ranking), (Path::new("est/mem.npy"), false));
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
