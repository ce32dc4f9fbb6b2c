//! The plugin trait and the values its hooks receive.

use crate::settings::SettingProblem;
use crate::{Hook, Host};
use std::fmt;
use tch::Tensor;

/// An error a plugin reports from a hook; the host names the plugin and hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError(pub String);

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PluginError {}

impl From<tch::TchError> for PluginError {
    fn from(e: tch::TchError) -> Self {
        PluginError(format!("libtorch: {e}"))
    }
}

impl From<String> for PluginError {
    fn from(s: String) -> Self {
        PluginError(s)
    }
}

impl From<&str> for PluginError {
    fn from(s: &str) -> Self {
        PluginError(s.to_string())
    }
}

/// What a hook returns.
pub type PluginResult<T = ()> = Result<T, PluginError>;

/// The job, as plugins see it.
#[derive(Debug, Clone)]
pub struct JobInfo<'a> {
    /// Run name.
    pub run: &'a str,
    /// Run directory.
    pub run_dir: &'a str,
    /// Training samples.
    pub samples: usize,
    /// Classes.
    pub classes: usize,
    /// Epochs.
    pub epochs: usize,
    /// Job seed.
    pub seed: u64,
}

/// The training labels, rewritable in `on_dataset_ready`.
#[derive(Debug)]
pub struct DatasetView<'a> {
    /// One label per sample, in `0..classes`. The rest of the job sees what is here
    /// when the hook returns.
    pub labels: &'a mut [i64],
    /// Classes.
    pub classes: usize,
}

/// One optimizer step. Row `i` is sample `indices[i]`.
#[derive(Debug, Clone)]
pub struct BatchInfo<'a> {
    /// 0-based epoch.
    pub epoch: usize,
    /// Step within the epoch.
    pub step: usize,
    /// Sample indices of the batch.
    pub indices: &'a [i64],
    /// Per-sample training losses, same order.
    pub losses: &'a [f32],
    /// Labels trained on (after label noise), same order.
    pub labels: &'a [i64],
    /// Logits of the training forward pass (train mode: dropout and batch statistics
    /// as the optimizer saw them), `[B, classes]` row-major. Empty unless the plugin
    /// subscribes to [`Hook::TrainBatchOutputs`](crate::Hook::TrainBatchOutputs).
    pub logits: &'a [f32],
    /// Classes.
    pub classes: usize,
}

impl BatchInfo<'_> {
    /// Whether the logits are here (the plugin subscribes to `TrainBatchOutputs`).
    pub fn has_outputs(&self) -> bool {
        !self.logits.is_empty() || self.indices.is_empty()
    }

    /// The logits of row `i`. Panics (reported as this hook's error) unless the plugin
    /// subscribes to `TrainBatchOutputs`.
    pub fn logits_of(&self, i: usize) -> &[f32] {
        assert!(self.has_outputs(), "no logits in on_train_batch_end: subscribe to Hook::TrainBatchOutputs");
        &self.logits[i * self.classes..(i + 1) * self.classes]
    }

    /// The class with the largest logit in row `i` (the first of equal ones, as
    /// `argmax` gives it).
    pub fn predicted(&self, i: usize) -> usize {
        let row = self.logits_of(i);
        (1..row.len()).fold(0, |best, c| if row[c] > row[best] { c } else { best })
    }

    /// Whether row `i` is classified as its label.
    pub fn correct(&self, i: usize) -> bool {
        self.predicted(i) as i64 == self.labels[i]
    }

    /// The logit of row `i`'s label minus the largest other logit: positive when the
    /// sample is classified correctly (the margin of AUM, Pleiss et al. 2020).
    pub fn margin(&self, i: usize) -> f32 {
        let row = self.logits_of(i);
        let label = self.labels[i] as usize;
        let other = row.iter().enumerate().filter(|(c, _)| *c != label).map(|(_, v)| *v).fold(f32::NEG_INFINITY, f32::max);
        row[label] - other
    }
}

/// One epoch's training statistics.
#[derive(Debug, Clone, Copy)]
pub struct EpochInfo {
    /// 0-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Training accuracy.
    pub accuracy: f64,
}

/// Where a scoring batch sits in the pass over the training set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreBatch {
    /// 0-based epoch of the snapshot being scored.
    pub epoch: usize,
    /// Index of the batch's first sample (samples are scored in order, so sample
    /// `offset + i` is row `i`). Seed per-sample randomness from `(epoch, index)` and a
    /// score will not depend on batching or on a resume.
    pub offset: usize,
}

/// What a per-sample array is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayKind {
    /// A score (higher = more memorized, by convention).
    Score,
    /// A 0/1 mask, e.g. which samples had their label changed.
    Mask,
    /// Class labels.
    Labels,
}

impl ArrayKind {
    /// Its code in [`crate::abi::ArrayC::kind`].
    pub fn code(self) -> u32 {
        match self {
            ArrayKind::Score => 0,
            ArrayKind::Mask => 1,
            ArrayKind::Labels => 2,
        }
    }

    /// The kind with this code, if any.
    pub fn from_code(code: u32) -> Option<ArrayKind> {
        match code {
            0 => Some(ArrayKind::Score),
            1 => Some(ArrayKind::Mask),
            2 => Some(ArrayKind::Labels),
            _ => None,
        }
    }
}

/// A named per-sample array.
#[derive(Debug, Clone)]
pub struct NamedArray<'a> {
    /// Its name.
    pub name: &'a str,
    /// What it is.
    pub kind: ArrayKind,
    /// One value per training sample (masks as 0/1, labels as numbers).
    pub values: &'a [f32],
}

/// A memscope plugin. Implement `name`, `hooks` and `create`, override the hooks you
/// subscribe to, and export it with [`crate::export_plugin!`].
pub trait Plugin: Send + Sized + 'static {
    /// The name jobs use to refer to the plugin.
    fn name() -> &'static str;

    /// The plugin's own version.
    fn version() -> &'static str {
        "0.1.0"
    }

    /// The hooks the host should call; others are never called.
    fn hooks() -> &'static [Hook];

    /// Creates the plugin from the TOML text of the job's `[plugins.config]` table.
    /// Parse it with `deny_unknown_fields` and say what is wrong.
    fn create(config: &str, host: &Host) -> PluginResult<Self>;

    /// Every problem with the settings `config` (the text `create` receives), found
    /// without creating the plugin: the daemon checks a job with it when the job is
    /// submitted, so that bad settings are refused then, all of them at once, instead
    /// of failing the job when it runs. [`crate::settings::check`] does it for a
    /// settings struct and the plugin's own checks of its values (share them with
    /// `create` through [`crate::settings::parse_checked`]). The default finds
    /// nothing; the host then creates the plugin with the settings, and what `create`
    /// refuses is the one problem reported.
    fn check_settings(_config: &str) -> Vec<SettingProblem> {
        Vec::new()
    }

    /// The job is configured and about to load its data.
    fn on_job_start(&mut self, _host: &Host, _job: &JobInfo<'_>) -> PluginResult {
        Ok(())
    }

    /// The training set is loaded; labels may be rewritten.
    fn on_dataset_ready(&mut self, _host: &Host, _data: &mut DatasetView<'_>) -> PluginResult {
        Ok(())
    }

    /// One optimizer step finished. Carries each sample's logits too when the plugin
    /// subscribes to [`Hook::TrainBatchOutputs`].
    fn on_train_batch_end(&mut self, _host: &Host, _batch: &BatchInfo<'_>) -> PluginResult {
        Ok(())
    }

    /// One epoch finished.
    fn on_train_epoch_end(&mut self, _host: &Host, _epoch: &EpochInfo) -> PluginResult {
        Ok(())
    }

    /// The plugin's state, for a checkpoint: whatever `load_state` needs to continue
    /// after a resume exactly as the uninterrupted run would. Only called for plugins
    /// that subscribe to [`Hook::SaveState`], at each epoch end while the job writes
    /// checkpoints (after that epoch's `on_train_epoch_end`); the bytes of the epoch a
    /// checkpoint holds go into it (`plugin-NN-NAME.state`, checksummed like the
    /// checkpoint's other files). [`crate::state::State`] encodes named arrays.
    fn save_state(&mut self, _host: &Host) -> PluginResult<Vec<u8>> {
        Ok(Vec::new())
    }

    /// A resumed job gives back what `save_state` returned at the checkpoint it resumes
    /// from, after `on_job_start` and `on_dataset_ready` (which run again on resume) and
    /// before the first training step. Only called for plugins that subscribe to
    /// [`Hook::LoadState`], and only when the checkpoint holds a state for them.
    fn load_state(&mut self, _host: &Host, _state: &[u8]) -> PluginResult {
        Ok(())
    }

    /// Scores one batch of a weight snapshot: return `float32 [B]`, every value finite.
    /// The host checks each batch: another dtype or shape (`int64`, `float64`,
    /// `[B, 1]`, a wrong length) or a NaN/infinity fails this call, naming the plugin,
    /// the batch and the first bad sample. Run the model with
    /// [`Host::forward`]; autograd flows through it. Only called for plugins that
    /// subscribe to [`Hook::ScoreBatch`]; the score is named after the plugin.
    fn score_batch(&mut self, _host: &Host, _batch: &ScoreBatch, _images: &Tensor, _labels: &Tensor) -> PluginResult<Tensor> {
        Err(PluginError("this plugin does not score".into()))
    }

    /// A scorer finished a pass over the training set.
    fn on_scores(&mut self, _host: &Host, _epoch: usize, _scores: &NamedArray<'_>) -> PluginResult {
        Ok(())
    }

    /// The job ended; `arrays` holds every final score, mask and the labels as trained.
    fn on_job_end(&mut self, _host: &Host, _ok: bool, _arrays: &[NamedArray<'_>]) -> PluginResult {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_helpers_read_the_logits_of_each_row() {
        // Row 0: logits (1, 3, 2), label 2: predicted 1, wrong, margin 2 - 3 = -1.
        // Row 1: logits (5, 1, 5), label 0: argmax takes the first of equal ones, so
        // predicted 0, correct, margin 5 - 5 = 0.
        let batch = BatchInfo {
            epoch: 0,
            step: 0,
            indices: &[7, 9],
            losses: &[0.5, 0.5],
            labels: &[2, 0],
            logits: &[1.0, 3.0, 2.0, 5.0, 1.0, 5.0],
            classes: 3,
        };
        assert!(batch.has_outputs());
        assert_eq!(batch.logits_of(1), &[5.0, 1.0, 5.0]);
        assert_eq!((batch.predicted(0), batch.correct(0), batch.margin(0)), (1, false, -1.0));
        assert_eq!((batch.predicted(1), batch.correct(1), batch.margin(1)), (0, true, 0.0));
    }

    #[test]
    #[should_panic(expected = "subscribe to Hook::TrainBatchOutputs")]
    fn without_the_subscription_the_helpers_say_what_is_missing() {
        let batch = BatchInfo { epoch: 0, step: 0, indices: &[1], losses: &[0.1], labels: &[0], logits: &[], classes: 2 };
        assert!(!batch.has_outputs());
        batch.correct(0);
    }
}
