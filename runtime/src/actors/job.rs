//! One job from config to summary, run on the job thread: load data, build the
//! network, prepare the run directory, train (with the scorer alongside), write scores
//! and summary.

use super::trainer::{train, TrainerSetup};
use super::{JobError, JobEvent};
use crate::config::{DeviceChoice, JobConfig};
use crate::data::{load_data, Access, DecodeProgress, LoadOptions, LoadedData};
use crate::model::{Checkpoints, ModelSource, Network};
use crate::plugins::{default_plugin_dirs, PluginSet, PublishedArray};
use crate::run::{write_bool_npy, RunDir, ScoreFile, Summary, Timings};
use crate::scores::{epoch_curves, Aggregate, ScoreTable, CUMULATIVE_LOSS};
use memscope_sdk::ArrayKind;
use actix::Recipient;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;
use tch::{Device, Tensor};

/// What to run and where.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The validated job config.
    pub config: JobConfig,
    /// The run directory.
    pub run_dir: PathBuf,
    /// Continue from the newest checkpoint in `run_dir`.
    pub resume: bool,
    /// Replace an existing run directory.
    pub overwrite: bool,
    /// Set to cancel the job at the next training step.
    pub cancel: Arc<AtomicBool>,
    /// Search plugins only in `config.plugin_dirs`, not in `MEMSCOPE_PLUGIN_PATH` or
    /// beside the executable (the daemon's rule for submitted jobs).
    pub only_configured_plugin_dirs: bool,
    /// Which data files the job may open (the daemon's data roots for its jobs).
    pub data_access: Access,
}

/// A completed job.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    /// The run directory.
    pub run_dir: PathBuf,
    /// What was written to `summary.json`.
    pub summary: Summary,
}

/// Runs the whole job on the calling thread.
pub fn run_job_thread(spec: JobSpec, events: Recipient<JobEvent>) -> Result<JobOutcome, JobError> {
    let started = Instant::now();
    let config = spec.config;
    let run = RunDir::new(spec.run_dir.clone());
    if config.threads > 0 {
        tch::set_num_threads(config.threads as i32);
    }
    let device = resolve_device(&config.device)?;
    check_run_dir(&run, spec.resume, spec.overwrite)?;

    let progress_events = events.clone();
    let options = LoadOptions {
        access: spec.data_access.clone(),
        progress: Some(Arc::new(move |p: DecodeProgress| progress_events.do_send(JobEvent::DataDecoding { done: p.done, total: p.total }))),
    };
    let LoadedData { mut train, test, skipped } = load_data(&config.data, &options)?;
    // Built before the run directory is touched, so that a model file that cannot
    // work (checked when loaded) leaves nothing behind. A built-in's initial weights
    // come from the job seed, a TorchScript module's from its file, which must lie
    // where the job may read (the daemon's data roots), like its data.
    let source = ModelSource::from_config(&config.model);
    if let ModelSource::TorchScript(path) = &source {
        spec.data_access.check(path)?;
    }
    tch::manual_seed(config.seed as i64);
    let network = Network::build(&source, train.shape, train.classes, device)?;
    prepare_run_dir(&run, spec.resume, spec.overwrite)?;
    let mut dirs = config.plugin_dirs.clone();
    if !spec.only_configured_plugin_dirs {
        dirs.extend(default_plugin_dirs());
    }
    let plugins = Arc::new(PluginSet::load(&config.plugins, &dirs, &config.name, run.root(), train.len())?);
    let run_dir = run.root().display().to_string();
    plugins.job_start(&memscope_sdk::JobInfo {
        run: &config.name,
        run_dir: &run_dir,
        samples: train.len(),
        classes: train.classes,
        epochs: config.train.epochs,
        seed: config.seed,
    })?;
    // Plugins rewrite labels from the file's labels, on resume too: they are seeded, so
    // they reproduce what they did, and what they published (a noise mask) with it.
    plugins.dataset_ready(&mut train.labels, train.classes)?;
    for array in plugins.outputs.lock().expect("plugin outputs").arrays.iter().filter(|a| a.kind == ArrayKind::Mask) {
        let mask = array.values.iter().map(|&v| v != 0.0).collect();
        events.do_send(JobEvent::MaskReady { name: array.name.clone(), mask: Arc::new(mask) });
    }
    if spec.resume {
        let trained = read_labels(&run, train.len())?;
        if trained != train.labels {
            return Err(JobError::RunDir {
                path: run.labels(),
                message: "the labels as trained differ from what the data and plugins give now (was the data or a plugin config changed?)".into(),
            });
        }
    } else {
        let text = toml::to_string_pretty(&config).expect("a job config serializes to TOML");
        std::fs::write(run.config(), text).map_err(|e| JobError::io(&run.config(), e))?;
        Tensor::from_slice(&train.labels).write_npy(run.labels())?;
    }
    write_json(&run.classes(), &train.class_names)?;
    write_json(&run.sources(), &train.sources.to_vec())?;

    check_aggregated_scores(&config, &plugins)?;
    let checkpoints = Checkpoints::new(run.checkpoints(), config.checkpoint.keep);
    let resume = if spec.resume { checkpoints.latest()? } else { None };
    if spec.resume && resume.is_none() {
        tracing::warn!("no checkpoint in {}: starting from epoch 0", run.checkpoints().display());
    }
    let dataset = train.description.clone();
    let samples = train.len();
    let classes = train.classes;
    let labels: Vec<f32> = train.labels.iter().map(|&l| l as f32).collect();
    let mut result = match train_job(&config, network, train, test, device, checkpoints, resume, events, spec.cancel, &run, plugins.clone()) {
        Ok(result) => result,
        Err(e) => {
            if let Err(end) = plugins.job_end(false, &[]) {
                tracing::warn!("after the job failed: {end}");
            }
            return Err(e);
        }
    };

    let epochs = config.train.epochs;
    for table in &mut result.tables {
        if let Some(aggregate) = config.score.aggregate.get(&table.name) {
            table.set_aggregation(aggregate, epochs);
        } else if table.name != CUMULATIVE_LOSS {
            table.set_window_end(config.score.window.resolve(epochs));
        }
    }
    // Copy what was published before calling plugins: they publish while in the hook.
    let published = plugins.outputs.lock().expect("plugin outputs").arrays.clone();
    plugins.job_end(true, &final_arrays(&result.tables, &published, labels))?;
    let outputs = std::mem::take(&mut *plugins.outputs.lock().expect("plugin outputs"));
    std::fs::create_dir_all(run.scores()).map_err(|e| JobError::io(&run.scores(), e))?;
    write_published(&run, &outputs.arrays)?;
    let mut scores = Vec::new();
    for table in &result.tables {
        let path = table.write_npy(&run.scores())?;
        let weights = table.weights();
        scores.push(ScoreFile {
            name: table.name.clone(),
            file: path.strip_prefix(run.root()).unwrap_or(&path).display().to_string(),
            aggregate: match table.aggregate {
                Aggregate::Sum => "sum".into(),
                Aggregate::Mean => "mean".into(),
            },
            epochs: weights.iter().map(|&(e, _)| e).collect(),
            weights: (!table.window.is_uniform()).then(|| weights.iter().map(|&(_, w)| w).collect()),
        });
    }
    let masks: Vec<(String, Vec<bool>)> = outputs
        .arrays
        .iter()
        .filter(|a| a.kind == ArrayKind::Mask)
        .map(|a| (a.name.clone(), a.values.iter().map(|&v| v != 0.0).collect()))
        .collect();
    let curves = epoch_curves(&result.tables, &masks);
    let state = &result.state;
    let summary = Summary {
        name: config.name.clone(),
        dataset,
        samples,
        classes,
        arch: ModelSource::from_config(&config.model).to_string(),
        parameters: result.parameters,
        device: format!("{device:?}").to_lowercase(),
        epochs: state.epochs_done,
        resumed_at_epoch: result.start_epoch,
        train_accuracy: result.train_eval.accuracy,
        train_loss: result.train_eval.loss,
        test_accuracy: result.test_eval.map(|e| e.accuracy),
        test_loss: result.test_eval.map(|e| e.loss),
        timings: Timings {
            train_seconds: state.train_seconds,
            score_seconds: state.score_seconds,
            scored_samples: state.scored_samples,
            total_seconds: started.elapsed().as_secs_f64(),
            train_samples_per_second: (samples * state.epochs_done) as f64 / state.train_seconds.max(1e-9),
        },
        scores,
        curves,
        comparisons: outputs.comparisons,
        plugins: plugins.provenance(),
        skipped_images: skipped,
    };
    let json = serde_json::to_string_pretty(&summary).expect("the summary serializes");
    std::fs::write(run.summary(), json).map_err(|e| JobError::io(&run.summary(), e))?;
    Ok(JobOutcome { run_dir: spec.run_dir, summary })
}

#[allow(clippy::too_many_arguments)]
fn train_job(
    config: &JobConfig,
    network: Network,
    train_set: crate::data::Dataset,
    test: Option<crate::data::Dataset>,
    device: Device,
    checkpoints: Checkpoints,
    resume: Option<crate::model::Checkpoint>,
    events: Recipient<JobEvent>,
    cancel: Arc<AtomicBool>,
    run: &RunDir,
    plugins: Arc<PluginSet>,
) -> Result<super::trainer::TrainResult, JobError> {
    train(TrainerSetup {
        config: config.clone(),
        network,
        train: Arc::new(train_set),
        test,
        device,
        checkpoints,
        resume,
        events,
        cancel,
        run_dir: run.root().to_path_buf(),
        plugins,
    })
}

/// Every `[score.aggregate.<name>]` must name a score this job records: the built-in
/// ones it lists, or a plugin scorer. Checked before training, so a misspelt name costs
/// nothing.
fn check_aggregated_scores(config: &JobConfig, plugins: &Arc<PluginSet>) -> Result<(), JobError> {
    let mut known: Vec<String> = config.score.builtin.clone();
    known.extend(plugins.scorers().iter().map(|s| crate::scores::SnapshotScorer::name(s).to_string()));
    match config.score.aggregate.keys().find(|name| !known.contains(name)) {
        Some(name) => Err(JobError::Setting {
            key: format!("score.aggregate.{name}"),
            message: format!("this job records no score `{name}` (its scores: {})", known.join(", ")),
        }),
        None => Ok(()),
    }
}

/// Every final per-sample array for `on_job_end`: the scores (combined over epochs),
/// what plugins published, and the labels as trained.
fn final_arrays(tables: &[ScoreTable], published: &[PublishedArray], labels: Vec<f32>) -> Vec<(String, ArrayKind, Vec<f32>)> {
    let mut arrays: Vec<(String, ArrayKind, Vec<f32>)> =
        tables.iter().map(|t| (t.name.clone(), ArrayKind::Score, t.combined())).collect();
    arrays.extend(published.iter().map(|a| (a.name.clone(), a.kind, a.values.clone())));
    arrays.push(("labels".into(), ArrayKind::Labels, labels));
    arrays
}

/// Writes what plugins published: scores under `scores/`, masks (bool) and labels
/// (int64) in the run directory.
fn write_published(run: &RunDir, arrays: &[PublishedArray]) -> Result<(), JobError> {
    for array in arrays {
        match array.kind {
            ArrayKind::Score => {
                let path = run.scores().join(format!("{}.npy", array.name));
                Tensor::from_slice(&array.values).write_npy(&path)?;
            }
            ArrayKind::Mask => {
                let path = run.root().join(format!("{}.npy", array.name));
                let mask: Vec<bool> = array.values.iter().map(|&v| v != 0.0).collect();
                write_bool_npy(&path, &mask).map_err(|e| JobError::io(&path, e))?;
            }
            ArrayKind::Labels => {
                let labels: Vec<i64> = array.values.iter().map(|&v| v as i64).collect();
                Tensor::from_slice(&labels).write_npy(run.root().join(format!("{}.npy", array.name)))?;
            }
        }
    }
    Ok(())
}

/// Writes `value` as JSON to `path`.
fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> Result<(), JobError> {
    let text = serde_json::to_string(value).expect("names serialize");
    std::fs::write(path, text).map_err(|e| JobError::io(path, e))
}

fn resolve_device(choice: &DeviceChoice) -> Result<Device, JobError> {
    match choice {
        DeviceChoice::Auto => Ok(Device::cuda_if_available()),
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda(i) => {
            let count = tch::Cuda::device_count() as usize;
            if *i < count {
                Ok(Device::Cuda(*i))
            } else {
                Err(JobError::Device(format!("cuda:{i} requested, but {count} CUDA device(s) are available")))
            }
        }
    }
}

/// Refuses a run directory that cannot be used as asked, before any work is done (a
/// previous run is not overwritten unless asked).
fn check_run_dir(run: &RunDir, resume: bool, overwrite: bool) -> Result<(), JobError> {
    let root = run.root();
    let refuse = |message: &str| Err(JobError::RunDir { path: root.to_path_buf(), message: message.into() });
    if resume {
        if !run.config().exists() {
            return refuse("not a run directory (no config.toml); nothing to resume");
        }
        if run.summary().exists() {
            return refuse("this run already completed (summary.json exists); nothing to resume");
        }
    } else if !overwrite && holds_files(root) {
        return refuse(if run.summary().exists() {
            "holds a completed run; pass --force to replace it or choose another name/--out"
        } else {
            "holds an unfinished run; continue it with --resume, or pass --force to replace it"
        });
    }
    Ok(())
}

/// Creates the run directory that [`check_run_dir`] accepted, first removing a
/// previous run when asked to overwrite it.
fn prepare_run_dir(run: &RunDir, resume: bool, overwrite: bool) -> Result<(), JobError> {
    let root = run.root();
    if !resume && overwrite && holds_files(root) {
        std::fs::remove_dir_all(root).map_err(|e| JobError::io(root, e))?;
    }
    std::fs::create_dir_all(run.checkpoints()).map_err(|e| JobError::io(&run.checkpoints(), e))
}

fn holds_files(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(false)
}

fn read_labels(run: &RunDir, expected: usize) -> Result<Vec<i64>, JobError> {
    let path = run.labels();
    let labels = memscope_reference::read_npy(&path)
        .map_err(|e| JobError::RunDir { path: path.clone(), message: format!("cannot read labels as trained: {e}") })?;
    let labels = Vec::<i64>::try_from(&labels.flatten(0, -1))?;
    if labels.len() != expected {
        return Err(JobError::RunDir {
            path,
            message: format!("{} labels, but the dataset has {expected} samples", labels.len()),
        });
    }
    Ok(labels)
}
