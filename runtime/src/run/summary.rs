//! `summary.json`: the machine-readable result of a run.

use serde::{Deserialize, Serialize};

/// Where the time went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Seconds this process spent reading the dataset before training: decoding
    /// images too, on a cache miss.
    #[serde(default)]
    pub data_seconds: f64,
    /// Images this process decoded (0 when the decoded-image cache held them all, and
    /// for formats that are not encoded images).
    #[serde(default)]
    pub decoded_images: usize,
    /// Seconds in training steps (all epochs, including before a resume).
    pub train_seconds: f64,
    /// Seconds in snapshot scoring passes (overlapping training when `scorer_thread`).
    pub score_seconds: f64,
    /// Whether snapshots were scored on a thread of their own, overlapping training
    /// (on a GPU, or with `MEMSCOPE_SCORER_THREAD=1`), rather than on the trainer's
    /// thread between epochs (on the CPU, where that measured faster).
    #[serde(default)]
    pub scorer_thread: bool,
    /// Samples scored, summed over scorers and snapshots.
    pub scored_samples: u64,
    /// Wall-clock seconds of this process, from start to summary.
    pub total_seconds: f64,
    /// Training samples per second (samples x epochs / train_seconds).
    pub train_samples_per_second: f64,
    /// The seconds each plugin took in its hooks in this process (not before a resume):
    /// what each scorer adds to the run. With the scorer on its own thread (CUDA),
    /// `score_batch` time overlaps training.
    #[serde(default)]
    pub plugins: Vec<crate::plugins::PluginSeconds>,
    /// A data-parallel run's gradient reduction: the group's size, the bucket cap,
    /// buckets per step and all-reduce seconds. Absent for a single process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dist: Option<crate::dist::DistTimings>,
}

/// A score file written by the run: a score combined over its scored epochs, or one
/// a plugin published whole with `publish_array`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreFile {
    /// Score name.
    pub name: String,
    /// Path relative to the run directory; absent for a job run in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The plugin that published this score whole (`publish_array`); absent for the
    /// scores memscope combines over epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// How epochs were combined (`sum` or `mean`), or `published` for a score a
    /// plugin published whole (then `epochs` is empty).
    pub aggregate: String,
    /// The training epochs (1-based) that contributed: the scored epochs inside its
    /// `[score.aggregate]` window or `score.window`.
    pub epochs: Vec<usize>,
    /// Every scored epoch (1-based), one per row of `scores/<name>_epochs.npy`.
    /// Summaries written before it existed counted `epochs` from 0
    /// ([`Summary::from_json`] reads them as if from 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scored_epochs: Vec<usize>,
    /// The weight of each contributing epoch, when they differ (`weighting = "decay"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
    /// Which values mean more memorized: `higher` (the convention) or `lower`, as the
    /// plugin writing the score declares it. Comparisons and rankings read it that way.
    #[serde(default = "higher")]
    pub direction: String,
}

fn higher() -> String {
    "higher".into()
}

/// A comparison of a score with a target, published by a plugin (the baseline
/// comparer): `auroc`, `average_precision`, `cosine`, `spearman`, `pearson`,
/// `top_k_overlap@K`, ... appear as keys next to `score` and `against`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The score compared.
    pub score: String,
    /// What it was compared against.
    pub against: String,
    /// The plugin that computed it.
    pub plugin: String,
    /// The measures, by name.
    #[serde(flatten)]
    pub metrics: std::collections::BTreeMap<String, f64>,
}

/// A run that trained on part of its training set (`[train] subset`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubsetSummary {
    /// The share asked for.
    pub fraction: f64,
    /// The seed that chose the samples.
    pub seed: u64,
    /// Samples trained on (`subset_mask.npy` says which).
    pub samples: usize,
    /// Accuracy on the training samples left out (eval mode), after training; absent
    /// when none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_out_accuracy: Option<f64>,
    /// Mean loss on them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_out_loss: Option<f64>,
}

/// The precisions a run trained and scored in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrecisionSummary {
    /// `train.precision`: `"32"`, `"bf16-mixed"` or `"fp16-mixed"`.
    pub train: String,
    /// Scoring's: always `"32"` (finite differences subtract two nearly equal
    /// gradients; no lower precision has been measured to keep the scores right). On
    /// CUDA, float32 tensors, with libtorch's default of TF32 for cuDNN convolutions.
    pub score: String,
}

impl Default for PrecisionSummary {
    /// What runs before the setting recorded: float32 both.
    fn default() -> Self {
        PrecisionSummary { train: "32".into(), score: "32".into() }
    }
}

/// The result of a run. Epochs count from 1 (`scores[].epochs`,
/// `scores[].scored_epochs`, `curves[].epochs`), as in the job's settings, the plots
/// and the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Run name.
    pub name: String,
    /// Dataset description.
    pub dataset: String,
    /// Training samples.
    pub samples: usize,
    /// Classes.
    pub classes: usize,
    /// The model: a built-in architecture (`cnn`) or `torchscript <file name>`.
    pub arch: String,
    /// Trainable parameters.
    pub parameters: i64,
    /// Whether libtorch's deterministic algorithms were on (the job's `deterministic`,
    /// or a program embedding memscope that turned them on itself).
    #[serde(default)]
    pub deterministic: bool,
    /// Device used.
    pub device: String,
    /// The precisions of training (`train.precision`) and of scoring.
    #[serde(default)]
    pub precision: PrecisionSummary,
    /// The libtorch thread counts training used, in the order chosen: one entry, unless
    /// `threads = 0` followed the cores other processes left free and that changed.
    #[serde(default)]
    pub threads: Vec<usize>,
    /// Epochs trained.
    pub epochs: usize,
    /// Epochs completed before this process resumed the run (0 unless resumed: it
    /// then trained epochs `resumed_at_epoch + 1` to `epochs`).
    pub resumed_at_epoch: usize,
    /// Accuracy on the samples trained on (eval mode, labels as trained) after training:
    /// the whole training set, or the `[train] subset`.
    pub train_accuracy: f64,
    /// Mean training-set loss (eval mode) after training.
    pub train_loss: f64,
    /// The part of the training set trained on, when the job set `[train] subset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<SubsetSummary>,
    /// Accuracy on the held-out test set, when one is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    /// Mean test loss, when a test set is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_loss: Option<f64>,
    /// Where the time went.
    pub timings: Timings,
    /// Score files.
    pub scores: Vec<ScoreFile>,
    /// Each score's signal per scored epoch: AUROC and AP against each mask (the noise
    /// injector's), or without one the mean of its highest values.
    #[serde(default)]
    pub curves: Vec<crate::scores::EpochCurve>,
    /// Comparisons of scores with targets.
    pub comparisons: Vec<Comparison>,
    /// For each comparison target, every score compared with it, best first: which
    /// score finds the problems in this data best.
    #[serde(default)]
    pub rankings: Vec<super::ScoreRanking>,
    /// Every plugin the run loaded: name, versions, the library file with its size and
    /// SHA-256, and whether it is a debug build.
    #[serde(default)]
    pub plugins: Vec<crate::plugins::PluginRecord>,
    /// Optional plugins that failed and were dropped: the plugin, the hook that failed
    /// and the error. None of their scores is in `scores` or `comparisons`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped_plugins: Vec<crate::plugins::DroppedPlugin>,
    /// The label-issue verdict: the rule, the epochs averaged, the thresholds, how many
    /// samples were flagged and the first of them (`label_issues.csv` holds them all).
    /// Absent in summaries written before the verdict existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_issues: Option<crate::verdict::LabelIssues>,
    /// Image files (or Parquet rows) left out as unreadable under
    /// `data.on_bad_image = "skip"`, each with the decoder's message.
    #[serde(default)]
    pub skipped_images: Vec<crate::data::SkippedImage>,
    /// What `[data] corrections` did: the file, its SHA-256, and how many samples were
    /// relabelled, excluded and kept as they are. Absent without corrections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrections: Option<crate::data::corrections::CorrectionsSummary>,
    /// What looks wrong with the results, in words (a comparison far below chance: a
    /// score that reads the other way round). Also logged as warnings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Summary {
    /// Reads `summary.json`'s text, from this version or an older one: summaries
    /// written before `scores[].scored_epochs` existed counted the epochs of
    /// `scores[].epochs` and `curves[].epochs` from 0, and are read counting from 1.
    pub fn from_json(text: &str) -> Result<Summary, serde_json::Error> {
        let mut summary: Summary = serde_json::from_str(text)?;
        let counted_from_zero = summary.scores.iter().any(|s| s.aggregate != "published" && s.scored_epochs.is_empty());
        if counted_from_zero {
            for score in &mut summary.scores {
                score.epochs.iter_mut().for_each(|e| *e += 1);
            }
            for curve in &mut summary.curves {
                curve.epochs.iter_mut().for_each(|e| *e += 1);
            }
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::Summary;

    /// The fields a summary must have, with `scores` and `curves` given.
    fn summary(scores: &str, curves: &str) -> String {
        format!(
            r#"{{"name": "r", "dataset": "d", "samples": 4, "classes": 2, "arch": "cnn", "parameters": 1, "device": "cpu",
               "epochs": 8, "resumed_at_epoch": 0, "train_accuracy": 1.0, "train_loss": 0.1,
               "timings": {{"train_seconds": 1.0, "score_seconds": 1.0, "scored_samples": 4, "total_seconds": 2.0, "train_samples_per_second": 4.0}},
               "scores": {scores}, "curves": {curves}, "comparisons": []}}"#
        )
    }

    #[test]
    fn an_older_summary_counting_epochs_from_zero_reads_from_one() {
        let old = summary(
            r#"[{"name": "curvature", "aggregate": "mean", "epochs": [1, 3]}]"#,
            r#"[{"score": "curvature", "epochs": [1, 3, 5, 7]}]"#,
        );
        let read = Summary::from_json(&old).unwrap();
        assert_eq!(read.scores[0].epochs, [2, 4]);
        assert_eq!(read.curves[0].epochs, [2, 4, 6, 8]);
        let new = summary(
            r#"[{"name": "curvature", "aggregate": "mean", "epochs": [2, 4], "scored_epochs": [2, 4, 6, 8]}]"#,
            r#"[{"score": "curvature", "epochs": [2, 4, 6, 8]}]"#,
        );
        let read = Summary::from_json(&new).unwrap();
        assert_eq!((read.scores[0].epochs.as_slice(), read.scores[0].scored_epochs.as_slice()), (&[2, 4][..], &[2, 4, 6, 8][..]));
        assert_eq!(read.curves[0].epochs, [2, 4, 6, 8]);
    }
}
