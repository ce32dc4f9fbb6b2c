//! The baseline comparer. On `on_job_end` it compares each score with each `against`
//! target and publishes the results (into `summary.json`, as metrics, and printed by
//! `memscope run` as a short table):
//!
//! - a mask (e.g. `noise_mask` from the noise injector, or a file of a user's own
//!   known-bad samples, `kind = "mask"`): AUROC, average precision, precision at the
//!   number of positives and at each `k`;
//! - a reference score, from another array of the run or a file (`.npy`, `.npz` with
//!   `key`, `.csv`), or a sample-index ranking (`kind = "ranking"`, indices sorted by
//!   ascending score): cosine, Pearson, Spearman, top-k overlap and the mean reference
//!   score of the top and bottom k by score;
//! - a memorization estimate of `memscope estimate memorization` (its directory or its
//!   `mem.npy`, `kind = "memorization"`, found by itself too): the same measures, as
//!   Feldman & Zhang's tables give them, over the samples whose estimate is defined.
//!
//! A file without `kind` is a mask when it holds only 0 and 1 (a bool array), else a
//! score.
//!
//! ```toml
//! [[plugins]]
//! name = "baseline"
//! config = { against = ["noise_mask", "runs/digits-memorization/mem.npy", { name = "fz", file = "fz_tr_mem.npy" }, { file = "flipped.npy", kind = "mask" }], k = [100, 1000] }
//! ```
//! A plain string is a file when it has a file's extension (`.npy`, `.npz`, `.csv`) or
//! a `/`, else the name of an array of the run. Relative file paths are relative to the
//! working directory of `memscope`.
//!
//! Each score is read the way its plugin declares it (`Plugin::scores`): one where lower
//! means more memorized (a confidence) is turned round first, so an AUROC always says
//! how well the score's "memorized" end finds the marked samples.

pub mod reference;

use memscope_sdk::settings::{self, SettingProblem};
use memscope_sdk::{ArrayKind, Hook, Host, Level, NamedArray, Plugin, PluginError, PluginResult};
use memscope_stats::*;
use serde::Deserialize;
use std::path::PathBuf;

/// A comparison target.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Target {
    /// A per-sample array of the run, by name (`noise_mask`, `eval_loss`, ...), or a
    /// file named by its path (see [`Target::file`]).
    Array(String),
    /// A reference file.
    File(FileTarget),
}

/// A reference file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTarget {
    /// Name used in results (default: the file stem).
    #[serde(default)]
    pub name: Option<String>,
    /// The file.
    pub file: PathBuf,
    /// Array name inside an `.npz`.
    #[serde(default)]
    pub key: Option<String>,
    /// `score` (one value per sample), `ranking` (sample indices, ascending score) or
    /// `mask` (one 0/1 or bool per sample). Without it: a mask when every value is 0
    /// or 1, else a score.
    #[serde(default)]
    pub kind: Option<ReferenceKind>,
}

/// What a reference file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReferenceKind {
    /// One value per sample.
    Score,
    /// Sample indices sorted by ascending score.
    Ranking,
    /// One 0/1 (or bool) per sample: the samples a score should find.
    Mask,
    /// A memorization estimate (`memscope estimate memorization`): its directory or
    /// its `mem.npy`, NaN where a sample's estimate is undefined. An estimate named
    /// without `kind` or as a `score` is read as this too.
    Memorization,
}

impl Target {
    /// The file a plain string names, when it looks like one: a file's extension
    /// (`.npy`, `.npz`, `.csv`) or a `/` (an estimate directory).
    pub fn file(&self) -> Option<FileTarget> {
        let Target::Array(text) = self else { return None };
        let path = std::path::Path::new(text);
        let extension = path.extension().and_then(|e| e.to_str());
        let looks_like_file = matches!(extension, Some("npy" | "npz" | "csv")) || text.contains('/');
        looks_like_file.then(|| FileTarget { name: None, file: path.to_path_buf(), key: None, kind: None })
    }
}

/// `[plugins.config]` of the comparer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineConfig {
    /// What to compare against.
    pub against: Vec<Target>,
    /// Which scores to compare (default: every score of the run).
    #[serde(default)]
    pub scores: Vec<String>,
    /// The k of top-k overlaps, precision at k and mean reference at k (values not
    /// below the number of samples are skipped).
    #[serde(default = "default_k")]
    pub k: Vec<usize>,
}

impl BaselineConfig {
    /// What is wrong with the values (their types are right).
    pub fn problems(&self) -> Vec<SettingProblem> {
        if self.against.is_empty() {
            return vec![SettingProblem::new("against", "lists nothing to compare with")];
        }
        Vec::new()
    }
}

fn default_k() -> Vec<usize> {
    vec![1000, 5000, 10000]
}

/// The comparer.
pub struct Baseline {
    config: BaselineConfig,
}

impl Plugin for Baseline {
    fn name() -> &'static str {
        "baseline"
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn hooks() -> &'static [Hook] {
        &[Hook::OnJobEnd]
    }

    fn check_settings(config: &str) -> Vec<SettingProblem> {
        settings::check(config, BaselineConfig::problems)
    }

    fn create(config: &str, _host: &Host) -> PluginResult<Self> {
        let config = settings::parse_checked(config, BaselineConfig::problems)?;
        Ok(Baseline { config })
    }

    fn on_job_end(&mut self, host: &Host, ok: bool, arrays: &[NamedArray<'_>]) -> PluginResult {
        if !ok {
            return Ok(());
        }
        let available: Vec<&str> = arrays.iter().map(|a| a.name).collect();
        let scores: Vec<&NamedArray<'_>> = arrays
            .iter()
            .filter(|a| a.kind == ArrayKind::Score && (self.config.scores.is_empty() || self.config.scores.iter().any(|s| s == a.name)))
            .collect();
        for wanted in &self.config.scores {
            if !scores.iter().any(|s| s.name == wanted) {
                return Err(format!("no score `{wanted}` in this run (has {available:?})").into());
            }
        }
        for target in &self.config.against {
            let (name, values, is_mask) = self.resolve(target, arrays, &available)?;
            // A memorization estimate is undefined (NaN) for samples no model trained
            // on or none left out: those are left out of its comparisons.
            let defined: Vec<usize> = (0..values.len()).filter(|&i| !values[i].is_nan()).collect();
            if defined.len() < values.len() {
                host.log(
                    Level::Warn,
                    &format!(
                        "{name}: {} of {} samples have no defined estimate and are left out",
                        values.len() - defined.len(),
                        values.len()
                    ),
                );
            }
            let reference: Vec<f64> = defined.iter().map(|&i| values[i]).collect();
            for score in &scores {
                if score.name == name {
                    continue;
                }
                // Read the way its plugin declares (a confidence turned round).
                let s: Vec<f64> = score.oriented();
                if let Some(i) = s.iter().position(|v| !v.is_finite()) {
                    return Err(format!("score `{}` has a non-finite value at sample {i}", score.name).into());
                }
                let results = if is_mask {
                    let mask: Vec<bool> = values.iter().map(|&v| v != 0.0).collect();
                    compare_mask(&s, &mask, &self.config.k)
                } else {
                    let s: Vec<f64> = defined.iter().map(|&i| s[i]).collect();
                    compare_reference(&s, &reference, &self.config.k)
                };
                for (metric, value) in &results {
                    host.publish_metric(&format!("{metric}/{}/{name}", score.name), *value);
                }
                host.publish_comparison(score.name, &name, &results)?;
            }
        }
        Ok(())
    }
}

impl Baseline {
    /// The target's name, values, and whether it is a mask.
    fn resolve(&self, target: &Target, arrays: &[NamedArray<'_>], available: &[&str]) -> PluginResult<(String, Vec<f64>, bool)> {
        let n = arrays.first().map_or(0, |a| a.values.len());
        if let Some(file) = target.file() {
            return self.resolve(&Target::File(file), arrays, available);
        }
        match target {
            Target::Array(name) => {
                let array = arrays.iter().find(|a| a.name == name).ok_or_else(|| {
                    PluginError(format!(
                        "no array `{name}` in this run (has {available:?}; a mask such as noise_mask needs its plugin configured)"
                    ))
                })?;
                Ok((name.clone(), array.oriented(), array.kind == ArrayKind::Mask))
            }
            Target::File(file) => {
                let estimate = file.kind == Some(ReferenceKind::Memorization)
                    || (matches!(file.kind, None | Some(ReferenceKind::Score)) && memscope_reference::estimate_file(&file.file).is_some());
                let mut values = match estimate {
                    true => reference::read_memorization(&file.file)?,
                    false => reference::read_values(&file.file, file.key.as_deref())?,
                };
                if values.len() != n {
                    return Err(format!("reference {} has {} values, the run has {n} samples", file.file.display(), values.len()).into());
                }
                let is_mask = match file.kind {
                    _ if estimate => false,
                    Some(ReferenceKind::Ranking) => {
                        values = reference::ranking_to_score(&values, &file.file)?;
                        false
                    }
                    Some(ReferenceKind::Mask) => {
                        reference::check_mask(&values, &file.file)?;
                        true
                    }
                    Some(ReferenceKind::Score | ReferenceKind::Memorization) => false,
                    None => memscope_reference::as_mask(&values).is_some(),
                };
                // An estimate is `mem` (its file's stem) whether named by its directory or its file.
                let name = file.name.clone().unwrap_or_else(|| match estimate {
                    true => "mem".into(),
                    false => file.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "reference".into()),
                });
                Ok((name, values, is_mask))
            }
        }
    }
}

/// Binary-target measures of `score` against `mask`.
pub fn compare_mask(score: &[f64], mask: &[bool], ks: &[usize]) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    if let Some(a) = auroc(score, mask) {
        out.push(("auroc".to_string(), a));
    }
    if let Some(ap) = average_precision(score, mask) {
        out.push(("average_precision".to_string(), ap));
    }
    let positives = mask.iter().filter(|&&m| m).count();
    if positives > 0 {
        out.push(("precision_at_positives".to_string(), precision_at(score, mask, positives)));
    }
    for &k in ks.iter().filter(|&&k| k > 0 && k < score.len()) {
        out.push((format!("precision_at_{k}"), precision_at(score, mask, k)));
    }
    out
}

/// Reference-score measures of `score` against `reference`.
pub fn compare_reference(score: &[f64], reference: &[f64], ks: &[usize]) -> Vec<(String, f64)> {
    let mut out = vec![
        ("cosine".to_string(), cosine(score, reference)),
        ("pearson".to_string(), pearson(score, reference)),
        ("spearman".to_string(), spearman(score, reference)),
    ];
    for &k in ks.iter().filter(|&&k| k > 0 && k < score.len()) {
        out.push((format!("top_k_overlap_{k}"), top_k_overlap(score, reference, k)));
        out.push((format!("mean_reference_top_{k}"), mean_reference(score, reference, k, true)));
        out.push((format!("mean_reference_bottom_{k}"), mean_reference(score, reference, k, false)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn reference_dir() -> PathBuf {
        // In the repository (tests/data/reference/README.md gives their source), so
        // a plain clone runs this test.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/reference/cifar100");
        assert!(dir.exists(), "the reference data is missing at {}", dir.display());
        dir
    }

    fn get(results: &[(String, f64)], name: &str) -> f64 {
        results.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name} in {results:?}")).1
    }

    /// The facts of tests/data/reference/README.md, reproduced from the real files.
    #[test]
    fn reproduces_the_published_cifar100_curvature_vs_memorization_facts() {
        let dir = reference_dir();
        let fz = reference::read_values(&dir.join("fz_tr_mem.npy"), None).unwrap();
        assert_eq!(fz.len(), 50_000);
        assert_eq!(fz.iter().filter(|&&v| v >= 0.25).count(), 18_099);
        assert!(fz.iter().all(|v| (0.0..=1.0).contains(v)));

        let path = dir.join("curvature_sorted_ascending.npy");
        let ranking = reference::read_values(&path, None).unwrap();
        let curvature = reference::ranking_to_score(&ranking, &path).unwrap();
        let results = compare_reference(&curvature, &fz, &[1000, 5000, 10000]);
        let spearman = get(&results, "spearman");
        assert!((spearman - 0.81).abs() < 0.01, "spearman {spearman}");
        for (k, expected) in [(1000, 0.19), (5000, 0.44), (10000, 0.59)] {
            let overlap = get(&results, &format!("top_k_overlap_{k}"));
            assert!((overlap - expected).abs() < 0.01, "top-{k} overlap {overlap}, expected about {expected}");
        }
        let top = get(&results, "mean_reference_top_5000");
        let bottom = get(&results, "mean_reference_bottom_5000");
        assert!((top - 0.75).abs() < 0.01, "mean fz of the 5000 highest-curvature samples {top}");
        assert!(bottom < 0.001, "mean fz of the 5000 lowest-curvature samples {bottom}");
    }

    /// A plain string is a file when it has a file's extension or a `/`, else the name
    /// of one of the run's arrays.
    #[test]
    fn plain_strings_that_name_files_are_file_targets() {
        let config: BaselineConfig =
            toml::from_str(r#"against = ["noise_mask", "runs/d-memorization/mem.npy", "ref.csv", "runs/d-memorization", "eval_loss"]"#)
                .unwrap();
        let files: Vec<Option<PathBuf>> = config.against.iter().map(|t| t.file().map(|f| f.file)).collect();
        let want = [None, Some("runs/d-memorization/mem.npy".into()), Some("ref.csv".into()), Some("runs/d-memorization".into()), None];
        assert_eq!(files, want);
    }

    #[test]
    fn a_file_of_zeros_and_ones_is_a_mask_and_kind_mask_insists_on_it() {
        let target = |text: &str| -> FileTarget {
            toml::from_str::<BaselineConfig>(&format!("against = [{text}]"))
                .map(|c| match &c.against[0] {
                    Target::File(f) => f.clone(),
                    _ => panic!("not a file"),
                })
                .unwrap()
        };
        assert_eq!(target(r#"{ file = "m.npy", kind = "mask" }"#).kind, Some(ReferenceKind::Mask));
        assert_eq!(target(r#"{ file = "m.npy" }"#).kind, None);
        let err = reference::check_mask(&[0.0, 1.0, 0.5], Path::new("m.npy")).unwrap_err().0;
        assert_eq!(err, "reference m.npy (kind = \"mask\"): value 2 is 0.5: a mask holds only 0 and 1 (false and true)");
        // A mask finds its samples: AUROC and AP, not a rank correlation.
        let results = compare_mask(&[0.9, 0.1, 0.8, 0.2], &[true, false, true, false], &[]);
        assert_eq!((get(&results, "auroc"), get(&results, "average_precision")), (1.0, 1.0));
    }

    #[test]
    fn npz_reference_by_key_and_clear_errors() {
        let dir = reference_dir();
        let pairs = dir.join("fz_high_infl_pairs_infl0.15_mem0.25.npz");
        let mem = reference::read_values(&pairs, Some("mem")).unwrap();
        assert_eq!(mem.len(), 1015);
        let err = reference::read_values(&pairs, Some("nope")).unwrap_err().0;
        assert!(err.contains("no array `nope`") && err.contains("tr_idx"), "{err}");
        let err = reference::read_values(&pairs, None).unwrap_err().0;
        assert!(err.contains("needs `key`"), "{err}");
        let err = reference::ranking_to_score(&[0.0, 0.0, 1.0], Path::new("r.npy")).unwrap_err().0;
        assert!(err.contains("entry 1"), "{err}");
    }
}
