//! The job config schema. Field doc comments are the user documentation.

use super::{DataConfig, Precision, Purpose, ScoreWindow};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One training-and-scoring job. In TOML only `name` and `[data]` are required; in
/// code, [`JobConfig::new`] (or [`Default`]) gives every other key the value the TOML
/// gives an absent key (the same `defaults` functions; a test checks that they agree),
/// and struct update syntax sets the rest:
///
/// ```
/// use memscope_base::config::{JobConfig, TrainConfig};
/// let job = JobConfig { train: TrainConfig { epochs: 3, ..Default::default() }, ..JobConfig::new("in-code") };
/// assert_eq!((job.train.epochs, job.train.batch_size), (3, 64));
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// Run name; the run directory is `<out>/<name>`.
    pub name: String,
    /// Seed for initialization, shuffling, augmentation and plugins.
    #[serde(default)]
    pub seed: u64,
    /// Where tensors live: `auto` (CUDA when available), `cpu`, `cuda` or `cuda:N`.
    #[serde(default)]
    pub device: DeviceChoice,
    /// libtorch intra-op threads. 0 (the default): on the CPU, the cores other processes
    /// leave free, measured before training and once a second while it runs (one per
    /// core on an idle machine); libtorch's default where `OMP_NUM_THREADS` is set or
    /// the job is `deterministic`. Set a count for runs that agree bit for bit whatever
    /// else the machine runs.
    #[serde(default)]
    pub threads: usize,
    /// Deterministic algorithms only (`torch.use_deterministic_algorithms(True)`, cuDNN's
    /// deterministic mode, no cuDNN autotuning): on CUDA, two runs of the job (a resumed
    /// one, one on several processes) then agree as they do on the CPU, at some cost in
    /// speed. The CPU paths are deterministic either way. Process-wide, as in PyTorch:
    /// in a program that embeds memscope, it stays on for the rest of the process.
    #[serde(default)]
    pub deterministic: bool,
    /// The training set (and optional held-out test set). Required unless a program
    /// gives the job its own dataset.
    #[serde(default)]
    pub data: DataConfig,
    /// The network.
    #[serde(default)]
    pub model: ModelConfig,
    /// Optimization.
    #[serde(default)]
    pub train: TrainConfig,
    /// When and how samples are scored.
    #[serde(default)]
    pub score: ScoreConfig,
    /// Checkpoints for resuming.
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
    /// Prometheus metrics.
    #[serde(default, skip_serializing_if = "MetricsConfig::is_off")]
    pub metrics: MetricsConfig,
    /// The HTML/PNG report written to `<run>/report/` when the job ends.
    #[serde(default)]
    pub report: ReportConfig,
    /// Extra directories to search for plugins, before `MEMSCOPE_PLUGIN_PATH` and the
    /// directory of the `memscope` executable. Relative to the config file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugin_dirs: Vec<PathBuf>,
    /// Plugins, by name, in the order their hooks run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginConfig>,
}

impl JobConfig {
    /// A job named `name` with every other key at its default (no `[data]`: the program
    /// gives the dataset, or sets `data`).
    pub fn new(name: &str) -> Self {
        JobConfig { name: name.to_string(), ..JobConfig::default() }
    }
}

impl Default for JobConfig {
    /// The job `job`: every key at the value TOML gives it when absent.
    fn default() -> Self {
        JobConfig {
            name: "job".to_string(),
            seed: 0,
            device: DeviceChoice::default(),
            threads: 0,
            deterministic: false,
            data: DataConfig::default(),
            model: ModelConfig::default(),
            train: TrainConfig::default(),
            score: ScoreConfig::default(),
            checkpoint: CheckpointConfig::default(),
            metrics: MetricsConfig::default(),
            report: ReportConfig::default(),
            plugin_dirs: Vec::new(),
            plugins: Vec::new(),
        }
    }
}

/// Prometheus metrics of a job.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve metrics over HTTP on this address (e.g. `127.0.0.1:9464`); off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Keep serving this many seconds after the job ended, so a scraper sees the
    /// final values.
    #[serde(default)]
    pub linger_seconds: u64,
}

impl MetricsConfig {
    fn is_off(&self) -> bool {
        self.listen.is_none() && self.linger_seconds == 0
    }
}

/// The report (`<run>/report/index.html`, PNGs and CSVs), written at the end of
/// `memscope run` and by `memscope report RUN_DIR`, which reads these settings from the
/// run's `config.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// Write the report when the job ends (`memscope run --no-report` skips it once).
    #[serde(default = "defaults::report_enabled")]
    pub enabled: bool,
    /// Samples in each grid of the highest and lowest scores.
    #[serde(default = "defaults::top_k")]
    pub top_k: usize,
    /// Two images are near-duplicates when the root-mean-square difference of their
    /// pixels (in `[0, 1]`, the values the network sees) is at most this. The default
    /// 0.03 catches exact copies and copies with slight noise or re-encoding (uniform
    /// noise of +-0.01 gives about 0.006); in sklearn digits and MNIST no two images
    /// with different labels are within 0.05 of each other. 0 keeps exact copies only.
    #[serde(default = "defaults::duplicate_distance")]
    pub duplicate_distance: f64,
    /// Conflicting duplicate pairs shown in the report's picture and table
    /// (`conflicting_duplicates.csv` lists them all).
    #[serde(default = "defaults::pairs_shown")]
    pub pairs_shown: usize,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            enabled: defaults::report_enabled(),
            top_k: defaults::top_k(),
            duplicate_distance: defaults::duplicate_distance(),
            pairs_shown: defaults::pairs_shown(),
        }
    }
}

/// A plugin the job uses, found by name in the plugin directories.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The plugin's name (its library is `libmemscope_plugin_<name>.so` or
    /// `lib<name>.so`, with `-` written `_`, in a plugin directory).
    pub name: String,
    /// When true, a plugin that fails to load or fails in a hook is reported and
    /// skipped instead of ending the job.
    #[serde(default)]
    pub optional: bool,
    /// The plugin's own settings, handed to it as TOML text.
    #[serde(default)]
    pub config: toml::Table,
}

/// Device selection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// CUDA device 0 when available, else CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// A CUDA device by index.
    Cuda(usize),
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|i| i.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| format!("unknown device `{other}`, expected auto, cpu, cuda or cuda:N")),
        }
    }
}

impl Serialize for DeviceChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for DeviceChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Network architectures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// Two hidden layers (256, 128) with ReLU.
    Mlp,
    /// conv3x3(32)-ReLU-conv3x3(64)-ReLU-maxpool2-fc(128)-ReLU-fc(classes).
    #[default]
    Cnn,
    /// ResNet-18, CIFAR variant (3x3 stem, no max-pool).
    Resnet18,
}

impl Arch {
    /// The name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Mlp => "mlp",
            Arch::Cnn => "cnn",
            Arch::Resnet18 => "resnet18",
        }
    }
}

/// The network: a built-in architecture (`arch`, the default) or your own model
/// (`torchscript`), not both.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// A built-in architecture: `mlp`, `cnn` (the default) or `resnet18`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<Arch>,
    /// Your own model: a TorchScript file saved by `torch.jit.script(model).save(path)`.
    /// Its `forward` takes a float batch `[B, C, H, W]` (the dataset's images) and returns
    /// logits `[B, classes]`. Training starts from the weights in the file (fine-tuning
    /// a pretrained model is a normal use). Relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torchscript: Option<PathBuf>,
}

/// Optimizers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// SGD with optional momentum, Nesterov momentum and weight decay.
    Sgd,
    /// Adam (weight decay added to the gradient, as `torch.optim.Adam`).
    Adam,
}

/// Learning-rate schedules, stepped once per epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    /// The same rate throughout.
    Constant,
    /// Multiply by `gamma` every `step_epochs` epochs.
    Step,
    /// Cosine annealing from `lr` to 0 over the run.
    Cosine,
}

/// Optimization.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training set.
    #[serde(default = "defaults::epochs")]
    pub epochs: usize,
    /// Samples per optimizer step.
    #[serde(default = "defaults::batch_size")]
    pub batch_size: usize,
    /// `sgd` or `adam`.
    #[serde(default = "defaults::optimizer")]
    pub optimizer: OptimizerKind,
    /// Learning rate.
    #[serde(default = "defaults::lr")]
    pub lr: f64,
    /// SGD momentum (0 = plain SGD).
    #[serde(default = "defaults::momentum")]
    pub momentum: f64,
    /// SGD: use Nesterov momentum.
    #[serde(default)]
    pub nesterov: bool,
    /// L2 weight decay added to the gradient.
    #[serde(default)]
    pub weight_decay: f64,
    /// `constant`, `step` or `cosine`.
    #[serde(default = "defaults::schedule")]
    pub schedule: ScheduleKind,
    /// Step schedule: epochs between decays.
    #[serde(default = "defaults::step_epochs")]
    pub step_epochs: usize,
    /// Step schedule: decay factor.
    #[serde(default = "defaults::gamma")]
    pub gamma: f64,
    /// Batches the loader may prepare ahead of the trainer (channel capacity).
    #[serde(default = "defaults::prefetch")]
    pub prefetch: usize,
    /// Train on a seeded random part of the training set only (e.g. `subset = {
    /// fraction = 0.7, seed = 3 }`); every sample is still scored and evaluated, and the
    /// run writes which ones it trained on (`subset_mask.npy`). This is how the models
    /// of `memscope estimate memorization` hold samples out. Absent: the whole set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<SubsetConfig>,
    /// The training step's precision: `"32"` (float32, the default), `"bf16-mixed"`
    /// (autocast to bfloat16, on the CPU or CUDA) or `"fp16-mixed"` (autocast to
    /// float16 with a dynamic loss scaler, CUDA only). The weights, the optimizer and
    /// scoring stay float32; `summary.json` records both precisions.
    #[serde(default, skip_serializing_if = "Precision::is_full")]
    pub precision: Precision,
}

/// A seeded random part of the training set.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubsetConfig {
    /// The share of the training set trained on, in (0, 1]: `round(fraction * N)`
    /// samples (at least one).
    pub fraction: f64,
    /// Which samples: the same seed and dataset size always give the same subset. By
    /// default the job's `seed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: defaults::epochs(),
            batch_size: defaults::batch_size(),
            optimizer: defaults::optimizer(),
            lr: defaults::lr(),
            momentum: defaults::momentum(),
            nesterov: false,
            weight_decay: 0.0,
            schedule: defaults::schedule(),
            step_epochs: defaults::step_epochs(),
            gamma: defaults::gamma(),
            prefetch: defaults::prefetch(),
            subset: None,
            precision: Precision::Full,
        }
    }
}

/// When samples are scored.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreConfig {
    /// Score a weight snapshot every k-th epoch (the last epoch is always scored).
    #[serde(default = "defaults::every")]
    pub every: usize,
    /// Samples per scoring batch.
    #[serde(default = "defaults::score_batch_size")]
    pub batch_size: usize,
    /// Built-in scores: `loss` (cumulative training loss, free) and `eval_loss`
    /// (per-sample loss of each snapshot in eval mode, mean over scored epochs).
    #[serde(default = "defaults::builtin")]
    pub builtin: Vec<String>,
    /// How a score's per-epoch values combine into its one value per sample, by score
    /// name (e.g. `[score.aggregate.curvature] to = 6`). A score not listed keeps its
    /// default: `loss` sums every epoch (Cumulative Sample Loss), every other score is
    /// the mean over all scored epochs (the curvature paper's choice). Per-epoch values
    /// are always kept in `scores/<name>_epochs.npy`, whatever is chosen here.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub aggregate: std::collections::BTreeMap<String, AggregateConfig>,
    /// What the scores are for: `label-noise` (finding mislabeled samples, the
    /// default) or `memorization` (finding what the network memorized, as Feldman &
    /// Zhang's estimate measures it). It picks how snapshot scores combine their
    /// epochs: alike for `label-noise`; for `memorization` weighed rising with the
    /// square root of the epoch's place in the window (the late epochs count most).
    #[serde(default)]
    pub purpose: Purpose,
    /// The scored epochs snapshot scores (curvature, `eval_loss`, plugin scores)
    /// combine: the first ones (`"40%"`, `6`: epochs 1 up to that one) or the last ones
    /// (`{ last = "60%" }`, `{ last = 10 }`); a share is of `train.epochs`, rounded up.
    /// By default every scored epoch (`"100%"`, the curvature paper's mean), for either
    /// purpose: chosen by its worst case over run lengths, datasets and purposes (README,
    /// "Which epochs a score combines"). When no scored epoch falls inside (a sparse
    /// `every`), the nearest scored one is used. `loss` sums every epoch;
    /// `[score.aggregate.<score>]` overrides either per score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<ScoreWindow>,
}

impl ScoreConfig {
    /// The window snapshot scores combine: the job's, else its purpose's default.
    pub fn window(&self) -> ScoreWindow {
        self.window.unwrap_or(self.purpose.default_window())
    }
}

impl Default for ScoreConfig {
    fn default() -> Self {
        ScoreConfig {
            every: defaults::every(),
            batch_size: defaults::score_batch_size(),
            builtin: defaults::builtin(),
            aggregate: Default::default(),
            purpose: Purpose::default(),
            window: None,
        }
    }
}

/// How one score's per-epoch values combine. Choosing without a ground-truth mask: the
/// report's `signal_<score>.png` (and `curves` in `summary.json`) show, per scored
/// epoch, the mean of the highest values; a window that ends where that mean starts to
/// fall (the network has begun to fit the hard samples) keeps the epochs where the
/// memorization signal is strongest.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateConfig {
    /// `mean` or `sum` over the chosen epochs; by default the score's own (see
    /// `score.aggregate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduce: Option<Reduce>,
    /// First epoch used (1-based, inclusive); by default the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<usize>,
    /// Last epoch used (1-based, inclusive): an epoch (`to = 6` is "the first 6
    /// epochs") or a share of `train.epochs` (`to = "40%"`, rounded up); by default
    /// `score.window` for snapshot scores, the last epoch for `loss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<EpochBound>,
    /// Weighting of the epochs in the window: `uniform` (the default), `decay` (epoch
    /// `e` weighs `0.5^((e - first) / half_life)`: the early epochs count most) or
    /// `rising` (epoch `e` weighs `(e - first + 1)^power`: the late epochs count most).
    #[serde(default)]
    pub weighting: Weighting,
    /// `decay` only: epochs over which the weight halves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_life: Option<f64>,
    /// `rising` only: the exponent (default 0.5, the square root; 1 is linear).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<f64>,
}

/// The last epoch of a window: an epoch number, or a share of the run's epochs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EpochBound {
    /// This epoch (1-based).
    Epoch(usize),
    /// This percentage of `train.epochs`, rounded up, at least epoch 1 (`"40%"`).
    Percent(f64),
}

impl EpochBound {
    /// The epoch (1-based) this bound is in a run of `epochs` epochs.
    pub fn resolve(self, epochs: usize) -> usize {
        match self {
            EpochBound::Epoch(e) => e,
            EpochBound::Percent(p) => ((p / 100.0 * epochs as f64 - 1e-9).ceil() as usize).max(1),
        }
    }
}

impl std::fmt::Display for EpochBound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EpochBound::Epoch(e) => write!(f, "{e}"),
            EpochBound::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for EpochBound {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EpochBound::Epoch(e) => s.serialize_u64(*e as u64),
            EpochBound::Percent(_) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for EpochBound {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = EpochBound;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an epoch (1-based) or a percentage of the epochs like \"40%\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<EpochBound, E> {
                usize::try_from(v).map(EpochBound::Epoch).map_err(|_| E::custom(format!("{v} is not an epoch")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<EpochBound, E> {
                Ok(EpochBound::Epoch(v as usize))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EpochBound, E> {
                let percent = v.trim().strip_suffix('%').and_then(|p| p.trim().parse::<f64>().ok());
                match percent {
                    Some(p) if p > 0.0 && p <= 100.0 => Ok(EpochBound::Percent(p)),
                    _ => Err(E::custom(format!("`{v}` is not a percentage in (0%, 100%] like \"40%\""))),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// How per-epoch values reduce to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reduce {
    /// The (weighted) mean.
    Mean,
    /// The (weighted) sum.
    Sum,
}

/// Weights of the epochs in an aggregation window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weighting {
    /// Every epoch counts the same.
    #[default]
    Uniform,
    /// Exponential decay from the window's first epoch (see `half_life`).
    Decay,
    /// Rising from the window's first epoch (see `power`).
    Rising,
}

/// Checkpoints: atomic, the last `keep` kept.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Write a checkpoint every k epochs (0 = never; the last epoch is always written
    /// when checkpoints are on).
    #[serde(default = "defaults::checkpoint_every")]
    pub every: usize,
    /// How many checkpoints to keep.
    #[serde(default = "defaults::keep")]
    pub keep: usize,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig { every: defaults::checkpoint_every(), keep: defaults::keep() }
    }
}

mod defaults {
    use super::{OptimizerKind, ScheduleKind};
    pub fn epochs() -> usize {
        30
    }
    pub fn batch_size() -> usize {
        64
    }
    pub fn optimizer() -> OptimizerKind {
        OptimizerKind::Sgd
    }
    pub fn lr() -> f64 {
        0.05
    }
    pub fn momentum() -> f64 {
        0.9
    }
    pub fn schedule() -> ScheduleKind {
        ScheduleKind::Constant
    }
    pub fn step_epochs() -> usize {
        10
    }
    pub fn gamma() -> f64 {
        0.1
    }
    pub fn prefetch() -> usize {
        8
    }
    pub fn every() -> usize {
        1
    }
    pub fn score_batch_size() -> usize {
        512
    }
    pub fn builtin() -> Vec<String> {
        vec!["loss".to_string()]
    }
    pub fn checkpoint_every() -> usize {
        5
    }
    pub fn keep() -> usize {
        2
    }
    pub fn report_enabled() -> bool {
        true
    }
    pub fn top_k() -> usize {
        40
    }
    pub fn duplicate_distance() -> f64 {
        0.03
    }
    pub fn pairs_shown() -> usize {
        24
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_and_toml_defaults_agree() {
        let parsed: JobConfig = toml::from_str("name = \"job\"\n").unwrap();
        assert_eq!(JobConfig::default(), parsed);
        let parsed: JobConfig = toml::from_str("name = \"a\"\n[data]\n[train]\n[score]\n[checkpoint]\n[report]\n[model]\n").unwrap();
        assert_eq!(JobConfig::new("a"), parsed);
    }
}
