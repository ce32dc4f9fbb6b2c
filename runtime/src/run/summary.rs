//! `summary.json`: the machine-readable result of a run.

use serde::{Deserialize, Serialize};

/// Where the time went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Seconds in training steps (all epochs, including before a resume).
    pub train_seconds: f64,
    /// Seconds in snapshot scoring passes (on the scorer thread, overlapping training).
    pub score_seconds: f64,
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
    /// Epochs (0-based) that contributed (those in its `[score.aggregate]` window).
    pub epochs: Vec<usize>,
    /// The weight of each contributing epoch, when they differ (`weighting = "decay"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
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

/// The result of a run.
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
    /// Epochs trained.
    pub epochs: usize,
    /// Epoch this process started at (0 unless resumed).
    pub resumed_at_epoch: usize,
    /// Accuracy on the training set (eval mode, labels as trained) after training.
    pub train_accuracy: f64,
    /// Mean training-set loss (eval mode) after training.
    pub train_loss: f64,
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
}
