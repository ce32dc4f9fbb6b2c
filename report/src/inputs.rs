//! Reading a finished run directory: its config, labels, masks, scores and summary,
//! and the dataset its config names, re-opened so the report can show the images.
//! Every per-sample array is checked against the number of samples in `labels.npy`.

use super::ReportError;
use memscope::config::{parse_job, JobConfig};
use memscope::data::{load_data, Access, Dataset, LoadOptions};
use memscope::run::{RunDir, Summary};
use memscope::verdict::{read_label_issues, LabelIssue, LabelIssues, LABEL_ISSUES_FILE};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// The score whose ranking orders the duplicates and is shown first, when present.
pub const MAIN_SCORE: &str = "curvature";

/// One per-sample score of the run.
#[derive(Debug, Clone)]
pub struct Score {
    /// The score's name (its file is `scores/<name>.npy`).
    pub name: String,
    /// One value per sample, combined over scored epochs.
    pub values: Vec<f32>,
    /// The values of each scored epoch, when `scores/<name>_epochs.npy` exists.
    pub epochs: Option<EpochScores>,
}

/// A score's values per scored epoch.
#[derive(Debug, Clone)]
pub struct EpochScores {
    /// The 1-based epoch number of each row.
    pub epoch_numbers: Vec<usize>,
    /// One row of `samples` values per scored epoch.
    pub rows: Vec<Vec<f32>>,
}

/// Everything the report is made from.
#[derive(Debug)]
pub struct RunInputs {
    /// The run directory.
    pub dir: PathBuf,
    /// The run's resolved config.
    pub config: JobConfig,
    /// `summary.json`, when the run wrote one.
    pub summary: Option<Summary>,
    /// Labels as trained (after any plugin rewrote them).
    pub labels: Vec<i64>,
    /// Labels before a plugin rewrote them (`original_labels.npy`), when one did.
    pub original_labels: Option<Vec<i64>>,
    /// Which labels the noise injector changed (`noise_mask.npy`), when it ran.
    pub noise_mask: Option<Vec<bool>>,
    /// The scores, the main score first, then by name.
    pub scores: Vec<Score>,
    /// The training images, in sample order.
    pub dataset: Dataset,
    /// The samples the run's verdict flagged (`label_issues.csv`), when it has one.
    pub flagged: Option<Flagged>,
}

/// The run's label-issue verdict, as `label_issues.csv` and `summary.json` give it.
#[derive(Debug, Clone)]
pub struct Flagged {
    /// Every flagged sample, most likely wrong first.
    pub issues: Vec<LabelIssue>,
    /// How the verdict was reached (`summary.json`'s `label_issues`), when given.
    pub summary: Option<LabelIssues>,
    /// The position in `issues` of each flagged sample, by sample index.
    positions: HashMap<usize, usize>,
}

impl Flagged {
    /// The verdict's `issues` (ranked) and its summary.
    pub fn new(issues: Vec<LabelIssue>, summary: Option<LabelIssues>) -> Self {
        let positions = issues.iter().enumerate().map(|(p, issue)| (issue.index, p)).collect();
        Flagged { issues, summary, positions }
    }

    /// The verdict on sample `i`, when it was flagged.
    pub fn issue(&self, i: usize) -> Option<&LabelIssue> {
        self.positions.get(&i).map(|&p| &self.issues[p])
    }
}

impl RunInputs {
    /// Reads the run directory `dir` and re-opens its dataset (image formats: from
    /// the decoded-image cache when it is still there), opening files through `access`.
    pub fn read(dir: &Path, access: &Access) -> Result<Self, ReportError> {
        if !dir.exists() {
            return Err(ReportError::RunDirMissing { path: dir.to_path_buf() });
        }
        let not_a_run = |message: &str| ReportError::NotARunDir { path: dir.to_path_buf(), message: message.to_string() };
        if !dir.is_dir() {
            return Err(not_a_run("not a directory"));
        }
        let run = RunDir::new(dir.to_path_buf());
        if !run.config().exists() {
            return Err(not_a_run("no config.toml"));
        }
        if !run.labels().exists() {
            return Err(not_a_run("no labels.npy"));
        }
        if !run.scores().is_dir() {
            return Err(not_a_run("no scores/ directory (did the run finish?)"));
        }

        let config = read_config(&run.config())?;
        let labels = read_labels(&run.labels(), None)?;
        let samples = labels.len();
        let summary = read_summary(&run.summary())?;
        let original_path = dir.join("original_labels.npy");
        let original_labels = original_path.exists().then(|| read_labels(&original_path, Some(samples))).transpose()?;
        let mask_path = dir.join("noise_mask.npy");
        let noise_mask = mask_path.exists().then(|| read_mask(&mask_path, samples)).transpose()?;
        let scores = read_scores(&run.scores(), samples, summary.as_ref(), &config)?;
        if scores.is_empty() {
            return Err(not_a_run("no score files in scores/ (did the run finish?)"));
        }

        // A run with corrections trained on the samples its `kept_indices.npy` names:
        // those are selected, rather than the corrections file applied again (it may
        // have grown since, as the review page appends to it).
        let options = LoadOptions { access: access.clone(), progress: None, skip_corrections: true };
        let mut dataset = load_data(&config.data, &options)?.train;
        if run.kept_indices().exists() {
            let kept = read_labels(&run.kept_indices(), Some(samples))?;
            if let Some(&bad) = kept.iter().find(|&&i| i < 0 || i as usize >= dataset.len()) {
                return Err(ReportError::run_file(
                    &run.kept_indices(),
                    format!(
                        "names sample {bad}, but the dataset ({}) now has {}; was the data changed?",
                        dataset.description,
                        dataset.len()
                    ),
                ));
            }
            dataset.select(&kept.iter().map(|&i| i as usize).collect::<Vec<_>>());
        }
        if dataset.len() != samples {
            return Err(ReportError::run_file(
                &run.labels(),
                format!(
                    "the run trained on {samples} samples, but its dataset ({}) now has {}; was the data changed?",
                    dataset.description,
                    dataset.len()
                ),
            ));
        }
        let flagged = read_flagged(&dir.join(LABEL_ISSUES_FILE), samples, summary.as_ref())?;
        Ok(RunInputs { dir: dir.to_path_buf(), config, summary, labels, original_labels, noise_mask, scores, dataset, flagged })
    }

    /// Number of samples.
    pub fn samples(&self) -> usize {
        self.labels.len()
    }

    /// The score that orders the duplicates: curvature when the run has it, else the
    /// first score.
    pub fn main_score(&self) -> &Score {
        &self.scores[0]
    }

    /// The label of sample `i` before any plugin rewrote it.
    pub fn original_label(&self, i: usize) -> i64 {
        self.original_labels.as_ref().map_or(self.labels[i], |o| o[i])
    }

    /// Whether sample `i`'s label was changed by the noise injector.
    pub fn is_noisy(&self, i: usize) -> bool {
        self.noise_mask.as_ref().is_some_and(|m| m[i])
    }
}

/// The config as run. Paths in it were made absolute when the run was created; a
/// relative path (from an older run) is taken relative to the working directory.
fn read_config(path: &Path) -> Result<JobConfig, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::run_file(path, format!("cannot read: {e}")))?;
    parse_job(&text, &path.display().to_string(), &[], Path::new(".")).map_err(ReportError::Config)
}

fn read_summary(path: &Path) -> Result<Option<Summary>, ReportError> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::run_file(path, format!("cannot read: {e}")))?;
    Summary::from_json(&text).map(Some).map_err(|e| ReportError::run_file(path, format!("not a run summary: {e}")))
}

/// `label_issues.csv`, when the run wrote one (runs from before the verdict did not),
/// each row's index checked against the run's samples.
fn read_flagged(path: &Path, samples: usize, summary: Option<&Summary>) -> Result<Option<Flagged>, ReportError> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::run_file(path, format!("cannot read: {e}")))?;
    let issues = read_label_issues(&text).map_err(|e| ReportError::run_file(path, e))?;
    if let Some(issue) = issues.iter().find(|i| i.index >= samples) {
        return Err(ReportError::run_file(
            path,
            format!("rank {} names sample {}, but the run has {samples} samples", issue.rank, issue.index),
        ));
    }
    Ok(Some(Flagged::new(issues, summary.and_then(|s| s.label_issues.clone()))))
}

fn read_npy(path: &Path) -> Result<Tensor, ReportError> {
    memscope_reference::read_npy(path).map_err(|e| ReportError::run_file(path, format!("not a readable .npy file: {e}")))
}

fn to_vec<T>(tensor: &Tensor, path: &Path) -> Result<Vec<T>, ReportError>
where
    Vec<T>: for<'a> TryFrom<&'a Tensor, Error = tch::TchError>,
{
    Vec::<T>::try_from(&tensor.flatten(0, -1)).map_err(|e| ReportError::run_file(path, e.to_string()))
}

/// A 1-D array of `expected` values (any length when `None`).
fn check_length(tensor: &Tensor, expected: Option<usize>, path: &Path) -> Result<(), ReportError> {
    let shape = tensor.size();
    match (shape.as_slice(), expected) {
        ([n], Some(e)) if *n as usize != e => {
            Err(ReportError::run_file(path, format!("{n} values, but the run has {e} samples (labels.npy)")))
        }
        ([_], _) => Ok(()),
        _ => Err(ReportError::run_file(path, format!("expected a 1-D array, found shape {shape:?}"))),
    }
}

fn read_labels(path: &Path, expected: Option<usize>) -> Result<Vec<i64>, ReportError> {
    let tensor = read_npy(path)?;
    check_length(&tensor, expected, path)?;
    match tensor.kind() {
        Kind::Int64 | Kind::Int | Kind::Int16 | Kind::Int8 | Kind::Uint8 => to_vec(&tensor.to_kind(Kind::Int64), path),
        other => Err(ReportError::run_file(path, format!("labels have dtype {other:?}; expected integers"))),
    }
}

fn read_mask(path: &Path, samples: usize) -> Result<Vec<bool>, ReportError> {
    let tensor = read_npy(path)?;
    check_length(&tensor, Some(samples), path)?;
    match tensor.kind() {
        Kind::Bool | Kind::Uint8 => Ok(to_vec::<u8>(&tensor.to_kind(Kind::Uint8), path)?.into_iter().map(|v| v != 0).collect()),
        other => Err(ReportError::run_file(path, format!("mask has dtype {other:?}; expected bool"))),
    }
}

fn read_floats(tensor: &Tensor, path: &Path) -> Result<Vec<f32>, ReportError> {
    if !tensor.is_floating_point() {
        return Err(ReportError::run_file(path, format!("dtype {:?}; expected floating point", tensor.kind())));
    }
    let values = to_vec::<f32>(&tensor.to_kind(Kind::Float), path)?;
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(ReportError::run_file(path, format!("value {i} is {} (not finite)", values[i])));
    }
    Ok(values)
}

/// `scores/<name>.npy` for every name, with `<name>_epochs.npy` when present.
fn read_scores(dir: &Path, samples: usize, summary: Option<&Summary>, config: &JobConfig) -> Result<Vec<Score>, ReportError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ReportError::run_file(dir, format!("cannot list: {e}")))?;
    let mut names: Vec<String> = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| ReportError::run_file(dir, format!("cannot list: {e}")))?.path();
        let is_npy = path.extension().is_some_and(|e| e == "npy");
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()).filter(|_| is_npy) {
            if !stem.ends_with("_epochs") {
                names.push(stem.to_string());
            }
        }
    }
    names.sort_by_key(|name| (name != MAIN_SCORE, name.clone()));

    let mut scores = Vec::with_capacity(names.len());
    for name in names {
        let path = dir.join(format!("{name}.npy"));
        let tensor = read_npy(&path)?;
        check_length(&tensor, Some(samples), &path)?;
        let values = read_floats(&tensor, &path)?;
        let epochs_path = dir.join(format!("{name}_epochs.npy"));
        let epochs = epochs_path.exists().then(|| read_epochs(&epochs_path, &name, samples, summary, config)).transpose()?;
        scores.push(Score { name, values, epochs });
    }
    Ok(scores)
}

fn read_epochs(path: &Path, name: &str, samples: usize, summary: Option<&Summary>, config: &JobConfig) -> Result<EpochScores, ReportError> {
    let tensor = read_npy(path)?;
    let shape = tensor.size();
    let rows = match shape.as_slice() {
        [rows, n] if *n as usize == samples => *rows as usize,
        _ => return Err(ReportError::run_file(path, format!("shape {shape:?}; expected [scored epochs, {samples}]"))),
    };
    let values = read_floats(&tensor, path)?;
    let epoch_numbers = scored_epochs(summary, config, name, rows);
    let rows = values.chunks(samples.max(1)).map(<[f32]>::to_vec).collect();
    Ok(EpochScores { epoch_numbers, rows })
}

/// The training epoch (1-based) of each of `rows` rows of `name`'s per-epoch values:
/// as `summary.json` lists them (`scored_epochs`; an older summary lists only the
/// epochs its window combined, which serve when they are all of them), else as the
/// job's schedule gives them (`loss`: every epoch; snapshot scores: every
/// `score.every`-th and the last), else numbered.
fn scored_epochs(summary: Option<&Summary>, config: &JobConfig, name: &str, rows: usize) -> Vec<usize> {
    let listed = summary.and_then(|s| s.scores.iter().find(|f| f.name == name));
    if let Some(file) = listed {
        for epochs in [&file.scored_epochs, &file.epochs] {
            if epochs.len() == rows {
                return epochs.clone();
            }
        }
    }
    let epochs = config.train.epochs;
    let every = config.score.every.max(1);
    let schedule: Vec<usize> = match name {
        memscope::scores::CUMULATIVE_LOSS => (1..=epochs).collect(),
        _ => (1..=epochs).filter(|e| e % every == 0 || *e == epochs).collect(),
    };
    if schedule.len() == rows {
        schedule
    } else {
        (1..=rows).collect()
    }
}
