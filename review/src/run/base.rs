//! `ReviewRun`: everything the page shows about one run, read when it is opened.

use super::history::{LabelHistory, ScoreMedians};
use super::verdict::{Flag, Probabilities, Verdict};
use crate::corrections::{Action, Decision, Decisions, SampleNames};
use crate::ReviewError;
use memscope::data::Access;
use memscope_report::{RunInputs, Score};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// A run opened for review. Everything but the decisions is read once and never
/// changes; the decisions change as they are made, behind a lock.
#[derive(Debug)]
pub struct ReviewRun {
    inputs: RunInputs,
    sources: Vec<String>,
    probs: Option<Probabilities>,
    verdict: Option<Verdict>,
    history: Option<LabelHistory>,
    medians: ScoreMedians,
    decisions: Mutex<Decisions>,
}

impl ReviewRun {
    /// Opens the run directory `dir`: what the report reads (re-opening the dataset
    /// through `access`, image formats from the decoded-image cache), then the
    /// verdict's files and `corrections.csv` where the run has them.
    pub fn open(dir: &Path, access: &Access) -> Result<ReviewRun, ReviewError> {
        let inputs = RunInputs::read(dir, access)?;
        let samples = inputs.samples();
        let sources = read_sources(dir, &inputs)?;
        let classes = inputs.dataset.class_names.len();
        let probs = Probabilities::read(dir, samples, classes)?;
        let verdict = Verdict::read(dir, &inputs.labels, classes)?;
        let history = LabelHistory::read(dir, samples)?;
        let medians = ScoreMedians::of(&inputs.scores);
        let names = SampleNames { sources: &sources, classes: &inputs.dataset.class_names };
        let decisions = Decisions::read(dir, &names)?;
        Ok(ReviewRun { inputs, sources, probs, verdict, history, medians, decisions: Mutex::new(decisions) })
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.inputs.dir
    }

    /// The run's name (its config's `name`).
    pub fn name(&self) -> &str {
        &self.inputs.config.name
    }

    /// Number of training samples.
    pub fn samples(&self) -> usize {
        self.inputs.samples()
    }

    /// The class names, in label order.
    pub fn classes(&self) -> &[String] {
        &self.inputs.dataset.class_names
    }

    /// The label sample `i` was trained with.
    pub fn given(&self, i: usize) -> i64 {
        self.inputs.labels[i]
    }

    /// The label before a plugin (the noise injector) rewrote it, when one did.
    pub fn original(&self, i: usize) -> Option<i64> {
        let original = self.inputs.original_label(i);
        (original != self.given(i)).then_some(original)
    }

    /// Where sample `i` came from (`sources.json`).
    pub fn source(&self, i: usize) -> &str {
        &self.sources[i]
    }

    /// The scores, the main one first.
    pub fn scores(&self) -> &[Score] {
        &self.inputs.scores
    }

    /// Each score's median per scored epoch.
    pub fn medians(&self) -> &ScoreMedians {
        &self.medians
    }

    /// The class probabilities, when the run has them.
    pub fn probs(&self) -> Option<&Probabilities> {
        self.probs.as_ref()
    }

    /// The verdict, when the run has one.
    pub fn verdict(&self) -> Option<&Verdict> {
        self.verdict.as_ref()
    }

    /// Why sample `i` was flagged, if it was.
    pub fn flag(&self, i: usize) -> Option<&Flag> {
        self.verdict.as_ref().and_then(|v| v.flags[i].as_ref())
    }

    /// The probability of each sample's label over training, when the run has it.
    pub fn history(&self) -> Option<&LabelHistory> {
        self.history.as_ref()
    }

    /// The probability of sample `i`'s given label: the verdict's, else from the
    /// class probabilities.
    pub fn given_prob(&self, i: usize) -> Option<f32> {
        self.flag(i).map(|f| f.given_prob).or_else(|| self.probs.as_ref().map(|p| p.of(i)[self.given(i) as usize]))
    }

    /// The label suggested for sample `i` and its probability: the verdict's for a
    /// flagged sample, else the most likely class (which may be the given one).
    pub fn suggested(&self, i: usize) -> Option<(i64, f32)> {
        self.flag(i).map(|f| (f.suggested, f.suggested_prob)).or_else(|| self.probs.as_ref().map(|p| p.most_likely(i)))
    }

    /// The decisions, locked.
    pub fn decisions(&self) -> MutexGuard<'_, Decisions> {
        self.decisions.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Decides on sample `i` and appends the row to `corrections.csv`.
    pub fn decide(&self, i: usize, action: Action, label: Option<i64>) -> Result<Decision, ReviewError> {
        let names = SampleNames { sources: &self.sources, classes: self.classes() };
        self.decisions().decide(i, action, label, &names)
    }

    /// Sample `i`'s image, as the report reads it: `[channels, height, width]` values
    /// in [0, 1], with its shape.
    pub fn image(&self, i: usize) -> (Vec<f32>, memscope::data::ImageShape) {
        (self.inputs.dataset.image(i), self.inputs.dataset.shape)
    }

    /// The corrections file.
    pub fn corrections_path(&self) -> PathBuf {
        self.decisions().path().to_path_buf()
    }
}

/// `sources.json` of the run (the names a job matches corrections against), else the
/// re-opened dataset's own.
fn read_sources(dir: &Path, inputs: &RunInputs) -> Result<Vec<String>, ReviewError> {
    let path = dir.join("sources.json");
    if !path.exists() {
        return Ok(inputs.dataset.sources.to_vec());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| ReviewError::io(&path, e))?;
    let sources: Vec<String> =
        serde_json::from_str(&text).map_err(|e| ReviewError::run_file(&path, format!("not a JSON array of strings: {e}")))?;
    if sources.len() != inputs.samples() {
        return Err(ReviewError::run_file(
            &path,
            format!("{} sources, but the run has {} samples (labels.npy)", sources.len(), inputs.samples()),
        ));
    }
    Ok(sources)
}
