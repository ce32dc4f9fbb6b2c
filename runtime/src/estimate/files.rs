//! Reading what the finished models wrote, and writing the estimate.
//!
//! A finished model's run directory holds `summary.json`, `subset_mask.npy` (which
//! samples it trained on) and `correct.npy` (which it classifies as labelled after
//! training). The estimate directory gets:
//!
//! ```text
//! mem.npy          float32 [N]  P(correct | in) - P(correct | out); NaN where undefined
//! mem_se.npy       float32 [N]  its standard error
//! in_counts.npy    int64 [N]    models that trained on each sample
//! out_counts.npy   int64 [N]    models that left it out
//! models.npy       int64 [M]    the finished models, in row order of:
//! masks.npy        bool [M, N]  each one's subset
//! correct.npy      bool [M, N]  each one's correctness per sample
//! estimate.json    what backs the estimate (below)
//! ```

use super::plan::write_atomically;
use super::{EstimateError, EstimatePlan, Memorization, ModelOutcome};
use crate::data::TrainingSamples;
use crate::run::{write_bool_npy_shaped, Summary};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::Tensor;

/// What the estimate directory's `estimate.json` says: what was asked, what backs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EstimateSummary {
    /// The job the models come from.
    pub job: String,
    /// Its dataset.
    pub dataset: String,
    /// Training samples.
    pub samples: usize,
    /// The share of the training set each model trained on.
    pub subset: f64,
    /// Models asked for.
    pub models: usize,
    /// Models that finished, whose outcomes the estimate holds (`models.npy`).
    pub finished: usize,
    /// Samples whose estimate is undefined (no model trained on them, or none left
    /// them out): NaN in `mem.npy`.
    pub undefined_samples: usize,
    /// The fewest models that trained on a sample.
    pub min_in: u32,
    /// The fewest models that left a sample out.
    pub min_out: u32,
    /// Mean of the defined estimates.
    pub mean_mem: f64,
    /// Mean standard error of the defined estimates.
    pub mean_se: f64,
    /// The models' mean accuracy on the samples they left out.
    pub held_out_accuracy: f64,
    /// The models' training seconds, summed.
    pub train_seconds: f64,
    /// The models' process seconds (start to summary), summed: what the estimate cost
    /// in machine time, whatever ran them side by side.
    pub model_seconds: f64,
}

/// One finished model's outcome and its facts.
#[derive(Debug, Clone)]
pub struct FinishedModel {
    /// Which samples it trained on and got right.
    pub outcome: ModelOutcome,
    /// Its `summary.json`.
    pub summary: Summary,
}

/// Reads model `k`'s outputs from its run directory `dir`, and checks that they are
/// that model's: its subset must be the one the plan gives model `k` for a set of this
/// size (a run of another model, job or share would mix other outcomes in).
pub fn read_model(plan: &EstimatePlan, k: usize, dir: &Path) -> Result<FinishedModel, EstimateError> {
    let bad = |message: String| EstimateError::Model { model: k, path: dir.to_path_buf(), message };
    let summary_path = dir.join("summary.json");
    let text = std::fs::read_to_string(&summary_path).map_err(|e| bad(format!("summary.json: {e}")))?;
    let summary: Summary = serde_json::from_str(&text).map_err(|e| bad(format!("summary.json: {e}")))?;
    let trained = read_bools(&dir.join("subset_mask.npy")).map_err(|e| bad(format!("subset_mask.npy: {e}")))?;
    let correct = read_bools(&dir.join("correct.npy")).map_err(|e| bad(format!("correct.npy: {e}")))?;
    let n = summary.samples;
    if trained.len() != n || correct.len() != n {
        return Err(bad(format!("{} subset flags and {} correct flags for {n} samples", trained.len(), correct.len())));
    }
    let expected = TrainingSamples::seeded(n, plan.fraction(), plan.model_seed(k)).mask();
    if trained != expected {
        return Err(bad(format!("trained on another subset than model {k} of this estimate (a run of another job, --subset or model?)")));
    }
    Ok(FinishedModel { outcome: ModelOutcome { model: k, trained, correct }, summary })
}

fn read_bools(path: &Path) -> Result<Vec<bool>, String> {
    let tensor = memscope_reference::read_npy(path)?;
    if tensor.kind() != tch::Kind::Bool || tensor.dim() != 1 {
        return Err(format!("expected a 1-D bool array, found {:?} {:?}", tensor.kind(), tensor.size()));
    }
    Vec::<bool>::try_from(&tensor).map_err(|e| e.to_string())
}

/// Writes the estimate of `finished` (at least one model) into the plan's directory,
/// each file whole or not at all; returns what `estimate.json` says.
pub fn write_estimate(plan: &EstimatePlan, finished: &[FinishedModel]) -> Result<EstimateSummary, EstimateError> {
    let first = finished.first().ok_or_else(|| EstimateError::NothingFinished { dir: plan.dir().to_path_buf(), models: plan.models() })?;
    let n = first.summary.samples;
    if let Some(other) = finished.iter().find(|m| m.summary.samples != n) {
        return Err(EstimateError::Model {
            model: other.outcome.model,
            path: plan.model_run_dir(other.outcome.model),
            message: format!("has {} samples, model {} has {n}", other.summary.samples, first.outcome.model),
        });
    }
    let outcomes: Vec<ModelOutcome> = finished.iter().map(|m| m.outcome.clone()).collect();
    let estimate = Memorization::estimate(n, &outcomes);
    let dir = plan.dir();
    let f32s = |values: &[f64]| Tensor::from_slice(&values.iter().map(|&v| v as f32).collect::<Vec<f32>>());
    let i64s = |values: &[u32]| Tensor::from_slice(&values.iter().map(|&v| v as i64).collect::<Vec<i64>>());
    write_tensor(&dir.join("mem.npy"), &f32s(&estimate.mem))?;
    write_tensor(&dir.join("mem_se.npy"), &f32s(&estimate.se))?;
    write_tensor(&dir.join("in_counts.npy"), &i64s(&estimate.in_counts))?;
    write_tensor(&dir.join("out_counts.npy"), &i64s(&estimate.out_counts))?;
    let models: Vec<i64> = outcomes.iter().map(|o| o.model as i64).collect();
    write_tensor(&dir.join("models.npy"), &Tensor::from_slice(&models))?;
    let rows = |pick: fn(&ModelOutcome) -> &Vec<bool>| outcomes.iter().flat_map(|o| pick(o).iter().copied()).collect::<Vec<bool>>();
    write_bools(&dir.join("masks.npy"), &[outcomes.len(), n], &rows(|o| &o.trained))?;
    write_bools(&dir.join("correct.npy"), &[outcomes.len(), n], &rows(|o| &o.correct))?;

    let defined: Vec<usize> = (0..n).filter(|&i| !estimate.mem[i].is_nan()).collect();
    let mean = |values: &[f64]| defined.iter().map(|&i| values[i]).sum::<f64>() / defined.len().max(1) as f64;
    let sum = |f: fn(&Summary) -> f64| finished.iter().map(|m| f(&m.summary)).sum::<f64>();
    let summary = EstimateSummary {
        job: plan.job().name.clone(),
        dataset: first.summary.dataset.clone(),
        samples: n,
        subset: plan.fraction(),
        models: plan.models(),
        finished: finished.len(),
        undefined_samples: estimate.undefined(),
        min_in: estimate.in_counts.iter().copied().min().unwrap_or(0),
        min_out: estimate.out_counts.iter().copied().min().unwrap_or(0),
        mean_mem: mean(&estimate.mem),
        mean_se: mean(&estimate.se),
        held_out_accuracy: sum(|s| s.subset.as_ref().and_then(|s| s.held_out_accuracy).unwrap_or(f64::NAN)) / finished.len() as f64,
        train_seconds: sum(|s| s.timings.train_seconds),
        model_seconds: sum(|s| s.timings.total_seconds),
    };
    let json = serde_json::to_string_pretty(&summary).expect("the estimate summary serializes");
    write_atomically(&dir.join("estimate.json"), json.as_bytes())?;
    Ok(summary)
}

fn write_tensor(path: &Path, tensor: &Tensor) -> Result<(), EstimateError> {
    let tmp = temporary(path);
    tensor.write_npy(&tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| EstimateError::io(path, e))
}

fn write_bools(path: &Path, shape: &[usize], values: &[bool]) -> Result<(), EstimateError> {
    let tmp = temporary(path);
    write_bool_npy_shaped(&tmp, shape, values).map_err(|e| EstimateError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| EstimateError::io(path, e))
}

fn temporary(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Still `.npy` (libtorch's writer keeps the name it is given).
    path.with_file_name(format!(".{}.{name}", std::process::id()))
}
