//! One job from config to outcome, run on the job thread. [`run_job_thread`] goes
//! through the phases of [`JobRun`] in order: prepare (threads, device, run directory
//! checks), load the data, build the network, open the run directory, load the
//! plugins, settle the labels as trained, train (with the scorer alongside), and
//! finish (combine scores, `on_job_end`, write scores and summary).
//!
//! The data, the model and some plugins may come from the embedding program
//! ([`crate::Job`]) instead of the config; without a run directory nothing is written.
//!
//! Launched as one rank of several ([`crate::dist::Launch`]), the job first joins its
//! process group, before anything can fail, so that a rank that stops for any reason
//! ends the others at their next collective rather than leaving them waiting. Every
//! rank then runs every phase (the same data, labels and plugins); the trainer shares
//! the work ([`super::trainer`]). Only a job given a run directory writes one: the
//! CLI gives it to rank 0 alone. Resumed, rank 0 reads the checkpoint and sends it to
//! the others ([`super::resume`]).

use super::resume;
use super::trainer::{TrainResult, Trainer, TrainerSetup};
use super::{JobError, JobEvent};
use crate::config::{DeviceChoice, JobConfig};
use crate::data::{load_data, locate_corrections, Access, Dataset, DecodeProgress, ImageDataset, LoadOptions, LoadedData};
use crate::dist::{Launch, ProcessGroup};
use crate::model::{Checkpoints, ModelSource, Network, Weights};
use crate::plugins::{default_plugin_dirs, drop_partial_scores, InProcessPlugin, PluginSet, PublishedArray};
use crate::run::{write_bool_npy, PrecisionSummary, RunDir, ScoreFile, SubsetSummary, Summary, Timings};
use crate::scores::{epoch_curves, set_windows, top_k, Aggregate, ScoreTable};
use crate::verdict::{decide, Verdict, LABEL_ISSUES_FILE};
use actix::Recipient;
use memscope_sdk::{ArrayKind, Direction};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tch::{Device, Tensor};

/// The training set (and optional test set) of the embedding program, used instead
/// of the config's `[data]` (whose `augment` and `limit` still apply).
#[derive(Clone)]
pub struct UserData {
    /// Samples trained on and scored.
    pub train: Arc<dyn ImageDataset>,
    /// Samples used only for test accuracy.
    pub test: Option<Arc<dyn ImageDataset>>,
}

/// What to run and where: everything [`crate::Job`] was given.
pub struct JobSpec {
    /// The validated job config.
    pub config: JobConfig,
    /// The run directory; `None` runs in memory (no files, no checkpoints).
    pub run_dir: Option<PathBuf>,
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
    /// The network, instead of the config's `[model]`.
    pub model: Option<ModelSource>,
    /// The data, instead of the config's `[data]` files.
    pub data: Option<UserData>,
    /// Plugins compiled into the program, after the config's `[[plugins]]`.
    pub in_process: Vec<InProcessPlugin>,
    /// This process's place in a data-parallel group; `None` for a single process.
    pub launch: Option<Launch>,
}

/// A completed job: its summary, and every per-sample result in memory.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    /// The run directory, when the job wrote one.
    pub run_dir: Option<PathBuf>,
    /// What `summary.json` holds (written only with a run directory).
    pub summary: Summary,
    /// Every score: the rows of each scored epoch and how they combine
    /// ([`ScoreTable::combined`]), `loss` first when recorded.
    pub scores: Vec<ScoreTable>,
    /// What plugins published (the noise injector's `noise_mask` and
    /// `original_labels`, a plugin's own scores).
    pub arrays: Vec<PublishedArray>,
    /// The labels as trained (after plugins such as the noise injector).
    pub labels: Vec<i64>,
    /// The label-issue verdict: every flagged sample with its suggested label, and the
    /// probabilities it came from (what `label_issues.csv` and `predictions/` hold).
    /// `None` for a `[train] subset` run (a model of a memorization estimate): the
    /// samples it left out have no training-pass probabilities to judge by.
    pub verdict: Option<Verdict>,
    /// The trained network's variables (a state dict on the CPU): loaded into the
    /// program's module built again, it predicts as the job's final network did.
    pub weights: Weights,
}

impl JobOutcome {
    /// Score `name` combined over its epochs, one value per training sample (what
    /// `scores/<name>.npy` holds); a published score of that name otherwise.
    pub fn score(&self, name: &str) -> Option<Vec<f32>> {
        match self.scores.iter().find(|t| t.name == name) {
            Some(table) => Some(table.combined()),
            None => self.array(name).filter(|a| a.kind == ArrayKind::Score).map(|a| a.values.clone()),
        }
    }

    /// The table of score `name`: one row per scored epoch.
    pub fn score_table(&self, name: &str) -> Option<&ScoreTable> {
        self.scores.iter().find(|t| t.name == name)
    }

    /// The array a plugin published as `name` (masks hold 0 and 1).
    pub fn array(&self, name: &str) -> Option<&PublishedArray> {
        self.arrays.iter().find(|a| a.name == name)
    }

    /// Which values of score `name` mean more memorized, as its plugin declared
    /// (`summary.scores[].direction`).
    pub fn direction(&self, name: &str) -> Option<Direction> {
        let score = self.summary.scores.iter().find(|s| s.name == name)?;
        Some(if score.direction == Direction::LowerIsMemorized.as_str() {
            Direction::LowerIsMemorized
        } else {
            Direction::HigherIsMemorized
        })
    }

    /// The `k` samples score `name` finds most memorized (indices into the training
    /// set, the most memorized first), read in the score's declared direction.
    pub fn top_k(&self, name: &str, k: usize) -> Option<Vec<usize>> {
        Some(top_k(&self.score(name)?, self.direction(name)?, k))
    }
}

/// Runs the whole job on the calling thread.
pub fn run_job_thread(spec: JobSpec, events: Recipient<JobEvent>) -> Result<JobOutcome, JobError> {
    let started = Instant::now();
    let (mut job, user_data, model, in_process) = JobRun::prepare(spec, events)?;
    let loading = Instant::now();
    let (LoadedData { train, test, skipped, corrections }, decoded_images) = job.load_data(user_data)?;
    let data_seconds = loading.elapsed().as_secs_f64();
    let network = job.build_network(model, &train)?;
    job.open_run_dir()?;
    let plugins = job.load_plugins(&in_process, &train)?;
    let train = job.settle_labels(&plugins, train, corrections.as_ref().map(|c| c.kept_indices.as_slice()))?;
    let facts = Facts {
        dataset: train.description.clone(),
        samples: train.len(),
        classes: train.classes,
        labels: train.labels.clone(),
        class_names: train.class_names.clone(),
        sources: train.sources.clone(),
        arch: network.source().to_string(),
        skipped,
        corrections: corrections.map(|c| c.summary),
        data_seconds,
        decoded_images,
    };
    let result = match job.train(network, train, test, plugins.clone()) {
        Ok(result) => result,
        Err(e) => {
            if let Err(end) = plugins.job_end(false, &[]) {
                tracing::warn!("after the job failed: {end}");
            }
            return Err(e);
        }
    };
    job.finish(result, &plugins, facts, started)
}

/// What the summary says of the data and model, kept from before training.
struct Facts {
    dataset: String,
    samples: usize,
    classes: usize,
    labels: Vec<i64>,
    class_names: Vec<String>,
    sources: crate::data::Sources,
    arch: String,
    skipped: Vec<crate::data::SkippedImage>,
    corrections: Option<crate::data::corrections::CorrectionsSummary>,
    data_seconds: f64,
    decoded_images: usize,
}

/// One job's settings and run directory, between phases.
struct JobRun {
    config: JobConfig,
    run: Option<RunDir>,
    resume: bool,
    overwrite: bool,
    cancel: Arc<AtomicBool>,
    only_configured_plugin_dirs: bool,
    data_access: Access,
    device: Device,
    events: Recipient<JobEvent>,
    /// The process group, until the trainer takes it.
    group: Option<ProcessGroup>,
}

impl JobRun {
    /// Threads and device, and the run directory checked (before any work is done).
    #[allow(clippy::type_complexity)]
    fn prepare(
        spec: JobSpec,
        events: Recipient<JobEvent>,
    ) -> Result<(JobRun, Option<UserData>, Option<ModelSource>, Vec<InProcessPlugin>), JobError> {
        let JobSpec {
            config,
            run_dir,
            resume,
            overwrite,
            cancel,
            only_configured_plugin_dirs,
            data_access,
            model,
            data,
            in_process,
            launch,
        } = spec;
        // Before any libtorch work: on another release it would crash, not fail.
        crate::plugins::check_running_libtorch().map_err(JobError::LibtorchRelease)?;
        if config.deterministic {
            // Before any CUDA work: cuBLAS reads its workspace setting once.
            memscope_torch_ext::set_deterministic(true)
                .map_err(|e| JobError::Setting { key: "deterministic".into(), message: e.to_string() })?;
        }
        if config.threads > 0 {
            tch::set_num_threads(config.threads as i32);
        }
        let mut device = resolve_device(&config.device)?;
        crate::model::autotune_cudnn(device, config.deterministic);
        // Before any data is read: a precision the device cannot run.
        crate::model::check_precision(config.train.precision, device)
            .map_err(|message| JobError::Setting { key: "train.precision".into(), message })?;
        let group = match &launch {
            None => None,
            Some(launch) => {
                // Each rank of a machine on its own GPU, as torchrun's LOCAL_RANK says.
                if let Device::Cuda(_) = device {
                    device = resolve_device(&DeviceChoice::Cuda(launch.local_rank))?;
                }
                Some(ProcessGroup::new(launch, device)?)
            }
        };
        let run = run_dir.map(RunDir::new);
        // In a group, rank 0 alone reads the checkpoint and sends it to the others,
        // which have no run directory.
        let reads_checkpoints = launch.as_ref().is_none_or(|l| l.rank == 0);
        match &run {
            Some(run) => check_run_dir(run, resume, overwrite)?,
            None if resume && reads_checkpoints => {
                return Err(JobError::Setting {
                    key: "resume".into(),
                    message: "a job in memory has no checkpoints to resume from: give it a run directory".into(),
                })
            }
            None => {}
        }
        let job = JobRun { config, run, resume, overwrite, cancel, only_configured_plugin_dirs, data_access, device, events, group };
        Ok((job, data, model, in_process))
    }

    /// The config's data files, or the program's datasets read into memory, with
    /// `[data] corrections` applied to the training set (before any plugin or the
    /// network sees a label); and how many images were decoded.
    fn load_data(&self, user: Option<UserData>) -> Result<(LoadedData, usize), JobError> {
        if let Some(UserData { train, test }) = user {
            let mut train = Dataset::from_images(train.as_ref())?;
            let test = test.map(|t| Dataset::from_images(t.as_ref())).transpose()?;
            let located = locate_corrections(&self.config.data, &self.data_access, &train, test.as_ref())?;
            if self.config.data.limit > 0 {
                train.truncate(self.config.data.limit);
            }
            let corrections = located.map(|l| l.apply(&mut train)).transpose()?;
            return Ok((LoadedData { train, test, skipped: Vec::new(), corrections }, 0));
        }
        let progress_events = self.events.clone();
        let decoded = Arc::new(AtomicUsize::new(0));
        let counted = decoded.clone();
        let progress = move |p: DecodeProgress| {
            // The last call of each set (training, test) has `done == total`.
            if p.done == p.total {
                counted.fetch_add(p.total, Ordering::Relaxed);
            }
            progress_events.do_send(JobEvent::DataDecoding { done: p.done, total: p.total })
        };
        let options = LoadOptions { access: self.data_access.clone(), progress: Some(Arc::new(progress)), skip_corrections: false };
        let loaded = load_data(&self.config.data, &options)?;
        Ok((loaded, decoded.load(Ordering::Relaxed)))
    }

    /// The network, before the run directory is touched, so that a model file that
    /// cannot work (checked when loaded) leaves nothing behind. A built-in's (or a
    /// program's module's) initial weights come from the job seed, a TorchScript
    /// module's from its file, which must lie where the job may read (the daemon's
    /// data roots), like its data.
    fn build_network(&self, model: Option<ModelSource>, train: &Dataset) -> Result<Network, JobError> {
        let source = model.unwrap_or_else(|| ModelSource::from_config(&self.config.model));
        if let ModelSource::TorchScript(path) = &source {
            self.data_access.check(path)?;
        }
        tch::manual_seed(self.config.seed as i64);
        Ok(Network::build(&source, train.shape, train.classes, self.device)?)
    }

    /// Creates the run directory (replacing a previous run when asked to).
    fn open_run_dir(&self) -> Result<(), JobError> {
        match &self.run {
            Some(run) => prepare_run_dir(run, self.resume, self.overwrite),
            None => Ok(()),
        }
    }

    /// Loads and creates the plugins, and calls `on_job_start`.
    fn load_plugins(&self, in_process: &[InProcessPlugin], train: &Dataset) -> Result<Arc<PluginSet>, JobError> {
        let config = &self.config;
        let mut dirs = config.plugin_dirs.clone();
        if !self.only_configured_plugin_dirs {
            dirs.extend(default_plugin_dirs());
        }
        let root = self.run.as_ref().map(|r| r.root());
        let plugins = Arc::new(PluginSet::load(&config.plugins, in_process, &dirs, &config.name, root, train.len())?);
        let run_dir = root.map(|r| r.display().to_string()).unwrap_or_default();
        plugins.job_start(&memscope_sdk::JobInfo {
            run: &config.name,
            run_dir: &run_dir,
            samples: train.len(),
            classes: train.classes,
            epochs: config.train.epochs,
            seed: config.seed,
        })?;
        Ok(plugins)
    }

    /// `on_dataset_ready` (plugins may rewrite labels), then the labels as trained:
    /// written into a new run directory, checked against a resumed one's. With
    /// corrections, `kept` (each sample's index in the data as read) too.
    fn settle_labels(&self, plugins: &PluginSet, mut train: Dataset, kept: Option<&[usize]>) -> Result<Dataset, JobError> {
        // Plugins rewrite labels from the file's labels, on resume too: they are
        // seeded, so they reproduce what they did, and what they published (a noise
        // mask) with it.
        plugins.dataset_ready(&mut train.labels, train.classes)?;
        for array in plugins.outputs.lock().expect("plugin outputs").arrays.iter().filter(|a| a.kind == ArrayKind::Mask) {
            let mask = array.values.iter().map(|&v| v != 0.0).collect();
            self.events.do_send(JobEvent::MaskReady { name: array.name.clone(), mask: Arc::new(mask) });
        }
        let Some(run) = &self.run else { return Ok(train) };
        let kept: Option<Vec<i64>> = kept.map(|k| k.iter().map(|&i| i as i64).collect());
        if self.resume {
            if let Some(kept) = &kept {
                if read_kept_indices(run)?.as_ref() != Some(kept) {
                    return Err(JobError::RunDir {
                        path: run.kept_indices(),
                        message: "the samples kept differ from what `data.corrections` gives now (was the corrections file changed?)"
                            .into(),
                    });
                }
            }
            let trained = read_labels(run, train.len())?;
            if trained != train.labels {
                return Err(JobError::RunDir {
                    path: run.labels(),
                    message: "the labels as trained differ from what the data, its corrections and plugins give now (was the data, the corrections file or a plugin config changed?)".into(),
                });
            }
        } else {
            let text = toml::to_string_pretty(&self.config).expect("a job config serializes to TOML");
            std::fs::write(run.config(), text).map_err(|e| JobError::io(&run.config(), e))?;
            Tensor::from_slice(&train.labels).write_npy(run.labels())?;
            if let Some(kept) = &kept {
                Tensor::from_slice(kept).write_npy(run.kept_indices())?;
            }
        }
        write_json(&run.classes(), &train.class_names)?;
        write_json(&run.sources(), &train.sources.to_vec())?;
        Ok(train)
    }

    /// Trains from the newest checkpoint when resuming (the scorer runs alongside).
    fn train(&mut self, network: Network, train: Dataset, test: Option<Dataset>, plugins: Arc<PluginSet>) -> Result<TrainResult, JobError> {
        check_aggregated_scores(&self.config, &plugins)?;
        let checkpoints = self.run.as_ref().map(|run| Checkpoints::new(run.checkpoints(), self.config.checkpoint.keep));
        let world = self.group.as_ref().map_or(1, |g| g.world());
        let samples = train.len();
        // In a group rank 0 reads for every rank (the others' readings would be ignored).
        let reads = self.group.as_ref().is_none_or(|g| g.rank() == 0);
        let read = match (&checkpoints, self.resume && reads) {
            (Some(checkpoints), true) => resume::read(checkpoints, samples, world),
            _ => Ok(None),
        };
        let resume = match &self.group {
            None => read?,
            Some(group) => resume::share(group, self.device, read, samples)?,
        };
        Trainer::new(TrainerSetup {
            config: self.config.clone(),
            network,
            train: Arc::new(train),
            test,
            device: self.device,
            checkpoints,
            resume,
            events: self.events.clone(),
            cancel: self.cancel.clone(),
            run_dir: self.run.as_ref().map(|r| r.root().to_path_buf()),
            plugins,
            group: self.group.take(),
        })?
        .run()
    }

    /// Combines each score over its epochs, calls `on_job_end` with every final array,
    /// and writes scores, published arrays and `summary.json` into the run directory.
    fn finish(self, mut result: TrainResult, plugins: &PluginSet, facts: Facts, started: Instant) -> Result<JobOutcome, JobError> {
        let config = &self.config;
        let epochs = config.train.epochs;
        set_windows(&config.score, &mut result.tables, epochs);
        // A plugin that failed in training may still hold a table: its scores go.
        drop_partial_scores(&plugins.dropped(), &mut result.tables, &mut plugins.outputs.lock().expect("plugin outputs"));
        // Copy what was published before calling plugins: they publish while in the hook.
        let published = plugins.outputs.lock().expect("plugin outputs").arrays.clone();
        let labels: Vec<f32> = facts.labels.iter().map(|&l| l as f32).collect();
        plugins.job_end(true, &final_arrays(&result.tables, &published, labels))?;
        let mut outputs = std::mem::take(&mut *plugins.outputs.lock().expect("plugin outputs"));
        // And a plugin that failed in `on_job_end` loses what it published there.
        let dropped = plugins.dropped();
        drop_partial_scores(&dropped, &mut result.tables, &mut outputs);
        for d in &dropped {
            tracing::warn!("optional plugin `{}` was dropped ({} failed): its scores are left out of this run", d.plugin, d.hook);
        }
        if let Some(run) = &self.run {
            std::fs::create_dir_all(run.scores()).map_err(|e| JobError::io(&run.scores(), e))?;
            write_published(run, &outputs.arrays)?;
        }
        let mut scores = Vec::new();
        for table in &result.tables {
            let file = match &self.run {
                Some(run) => {
                    let path = table.write_npy(&run.scores())?;
                    Some(path.strip_prefix(run.root()).unwrap_or(&path).display().to_string())
                }
                None => None,
            };
            let weights = table.weights();
            scores.push(ScoreFile {
                name: table.name.clone(),
                file,
                plugin: None,
                aggregate: match table.aggregate {
                    Aggregate::Sum => "sum".into(),
                    Aggregate::Mean => "mean".into(),
                },
                // Counted from 1 in the summary, as in the job's settings.
                epochs: weights.iter().map(|&(e, _)| e + 1).collect(),
                scored_epochs: table.epochs.iter().map(|e| e + 1).collect(),
                weights: (!table.window.is_uniform()).then(|| weights.iter().map(|&(_, w)| w).collect()),
                direction: plugins.direction(&table.name).as_str().into(),
            });
        }
        // Scores plugins published whole, listed like the others (a table of the same
        // name was written last, so the table is what the file holds).
        for array in outputs.arrays.iter().filter(|a| a.kind == ArrayKind::Score) {
            if scores.iter().any(|s| s.name == array.name) {
                continue;
            }
            scores.push(ScoreFile {
                name: array.name.clone(),
                file: self.run.as_ref().map(|run| {
                    let path = run.scores().join(format!("{}.npy", array.name));
                    path.strip_prefix(run.root()).unwrap_or(&path).display().to_string()
                }),
                plugin: Some(array.plugin.clone()),
                aggregate: "published".into(),
                epochs: Vec::new(),
                scored_epochs: Vec::new(),
                weights: None,
                direction: plugins.direction(&array.name).as_str().into(),
            });
        }
        let masks: Vec<(String, Vec<bool>)> = outputs
            .arrays
            .iter()
            .filter(|a| a.kind == ArrayKind::Mask)
            .map(|a| (a.name.clone(), a.values.iter().map(|&v| v != 0.0).collect()))
            .collect();
        let curves = epoch_curves(&result.tables, &masks);
        if let Some(run) = &self.run {
            write_bool_npy(&run.correct(), &result.correct).map_err(|e| JobError::io(&run.correct(), e))?;
            if config.train.subset.is_some() {
                write_bool_npy(&run.subset_mask(), &result.samples.mask()).map_err(|e| JobError::io(&run.subset_mask(), e))?;
            }
        }
        let subset = config.train.subset.as_ref().map(|s| SubsetSummary {
            fraction: s.fraction,
            seed: s.seed.unwrap_or(config.seed),
            samples: result.samples.len(),
            held_out_accuracy: result.held_out_eval.map(|e| e.accuracy),
            held_out_loss: result.held_out_eval.map(|e| e.loss),
        });
        let verdict = config.train.subset.is_none().then(|| decide(&result.recorded, &facts.labels, &facts.class_names, &facts.sources));
        if let (Some(run), Some(verdict)) = (&self.run, &verdict) {
            verdict.write(run.root())?;
        }
        let label_issues = verdict.as_ref().map(|v| v.summary(self.run.as_ref().map(|_| LABEL_ISSUES_FILE.to_string())));
        let state = &result.state;
        let samples = facts.samples;
        let warnings = crate::run::inverted_warnings(&outputs.comparisons);
        for warning in &warnings {
            tracing::warn!("{warning}");
        }
        let summary = Summary {
            name: config.name.clone(),
            dataset: facts.dataset,
            samples,
            classes: facts.classes,
            arch: facts.arch,
            parameters: result.parameters,
            device: format!("{:?}", self.device).to_lowercase(),
            precision: PrecisionSummary { train: config.train.precision.to_string(), score: "32".into() },
            threads: result.threads.clone(),
            epochs: state.epochs_done,
            resumed_at_epoch: result.start_epoch,
            train_accuracy: result.train_eval.accuracy,
            train_loss: result.train_eval.loss,
            subset,
            test_accuracy: result.test_eval.map(|e| e.accuracy),
            test_loss: result.test_eval.map(|e| e.loss),
            timings: Timings {
                data_seconds: facts.data_seconds,
                decoded_images: facts.decoded_images,
                train_seconds: state.train_seconds,
                score_seconds: state.score_seconds,
                scorer_thread: result.scorer_thread,
                scored_samples: state.scored_samples,
                total_seconds: started.elapsed().as_secs_f64(),
                train_samples_per_second: (result.samples.len() * state.epochs_done) as f64 / state.train_seconds.max(1e-9),
                plugins: plugins.seconds(),
                dist: result.dist.clone(),
            },
            scores,
            curves,
            rankings: crate::run::rank_scores(&outputs.comparisons),
            deterministic: memscope_torch_ext::deterministic(),
            comparisons: outputs.comparisons,
            plugins: plugins.provenance(),
            dropped_plugins: dropped,
            label_issues,
            skipped_images: facts.skipped,
            corrections: facts.corrections,
            warnings,
        };
        if let Some(run) = &self.run {
            let json = serde_json::to_string_pretty(&summary).expect("the summary serializes");
            std::fs::write(run.summary(), json).map_err(|e| JobError::io(&run.summary(), e))?;
        }
        Ok(JobOutcome {
            run_dir: self.run.map(|r| r.root().to_path_buf()),
            summary,
            scores: result.tables,
            arrays: outputs.arrays,
            labels: facts.labels,
            verdict,
            weights: result.weights,
        })
    }
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
    let mut arrays: Vec<(String, ArrayKind, Vec<f32>)> = tables.iter().map(|t| (t.name.clone(), ArrayKind::Score, t.combined())).collect();
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

/// A resumed run's `kept_indices.npy`, when it has one.
fn read_kept_indices(run: &RunDir) -> Result<Option<Vec<i64>>, JobError> {
    let path = run.kept_indices();
    if !path.exists() {
        return Ok(None);
    }
    let kept = memscope_reference::read_npy(&path)
        .map_err(|e| JobError::RunDir { path: path.clone(), message: format!("cannot read the kept samples' indices: {e}") })?;
    Ok(Some(Vec::<i64>::try_from(&kept.flatten(0, -1))?))
}

fn read_labels(run: &RunDir, expected: usize) -> Result<Vec<i64>, JobError> {
    let path = run.labels();
    let labels = memscope_reference::read_npy(&path)
        .map_err(|e| JobError::RunDir { path: path.clone(), message: format!("cannot read labels as trained: {e}") })?;
    let labels = Vec::<i64>::try_from(&labels.flatten(0, -1))?;
    if labels.len() != expected {
        return Err(JobError::RunDir { path, message: format!("{} labels, but the dataset has {expected} samples", labels.len()) });
    }
    Ok(labels)
}
