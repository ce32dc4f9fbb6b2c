//! [`Job`]: what a program gives a job (config, and optionally its own model, data,
//! plugins and event callbacks), turned into a running job by [`Job::spawn`].

use super::handle::{JobHandle, ProgressTracker};
use crate::actors::{run_job, EventProcessor, JobError, JobEvent, JobOutcome, JobSpec, UserData};
use crate::config::{ConfigError, JobConfig, Problem};
use crate::data::{Access, ImageDataset, ImageShape};
use crate::model::{CustomModel, ModelSource};
use crate::plugins::InProcessPlugin;
use memscope_sdk::{Direction, Host, Plugin, PluginResult, ScoreBatch};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// A job being put together: a config and what the program adds to it. Nothing runs
/// until [`Job::spawn`] (or [`Job::run`]).
pub struct Job {
    spec: JobSpec,
    processors: Vec<Box<dyn EventProcessor>>,
    train: Option<Arc<dyn ImageDataset>>,
    test: Option<Arc<dyn ImageDataset>>,
}

impl Job {
    /// A job of `config` (built in code, or parsed with
    /// [`crate::config::parse_job`]): in memory, with the config's data, model and
    /// plugins until told otherwise.
    pub fn new(config: JobConfig) -> Self {
        Job {
            spec: JobSpec {
                config,
                run_dir: None,
                resume: false,
                overwrite: false,
                cancel: Arc::new(AtomicBool::new(false)),
                only_configured_plugin_dirs: false,
                data_access: Access::Anything,
                model: None,
                data: None,
                in_process: Vec::new(),
                launch: None,
            },
            processors: Vec::new(),
            train: None,
            test: None,
        }
    }

    /// Trains the module `build` makes instead of the config's `[model]`: `build` is
    /// called with the root path of a fresh `VarStore`, the image shape and the number
    /// of classes, once for the trainer and once for the scorer's copy. Its variables
    /// are drawn from libtorch's generator after the job seeds it with `seed`.
    pub fn model<M, F>(self, build: F) -> Self
    where
        M: ModuleT + 'static,
        F: Fn(&nn::Path, ImageShape, usize) -> M + Send + Sync + 'static,
    {
        self.model_named("module", build)
    }

    /// As [`Job::model`], with the name `summary.json` gives it (`custom <name>`).
    pub fn model_named<M, F>(mut self, name: &str, build: F) -> Self
    where
        M: ModuleT + 'static,
        F: Fn(&nn::Path, ImageShape, usize) -> M + Send + Sync + 'static,
    {
        self.spec.model = Some(ModelSource::Custom(CustomModel::new(name, build)));
        self
    }

    /// Any model source: a built-in, a TorchScript file, a [`CustomModel`].
    pub fn model_source(mut self, source: ModelSource) -> Self {
        self.spec.model = Some(source);
        self
    }

    /// Trains on `data` instead of the config's `[data]` files (whose `augment`,
    /// `limit` and `corrections` still apply; the config then needs no `[data]`).
    /// Every sample is read once when the job starts.
    pub fn dataset(mut self, data: impl ImageDataset + 'static) -> Self {
        self.train = Some(Arc::new(data));
        self
    }

    /// A held-out test set beside the program's training set (test accuracy and loss).
    pub fn test_dataset(mut self, data: impl ImageDataset + 'static) -> Self {
        self.test = Some(Arc::new(data));
        self
    }

    /// Runs plugin `P` of this program (no library), created with `config` as its
    /// `[plugins.config]` table, after the config's `[[plugins]]`. Its hooks are
    /// called, guarded and reported as a loaded plugin's are.
    pub fn plugin<P: Plugin + 'static>(self, config: toml::Table) -> Self {
        self.plugin_entry(InProcessPlugin::new::<P>(config))
    }

    /// Runs the program's own instance of plugin `P` (its `create` is not called), with
    /// whatever values and state it holds, after the config's `[[plugins]]`.
    pub fn plugin_instance<P: Plugin + 'static>(self, plugin: P) -> Self {
        self.plugin_entry(InProcessPlugin::instance(plugin))
    }

    /// Scores every sample with a closure of the program's own: `score(host, batch,
    /// images, labels)` is called for each batch of each scored snapshot (the model
    /// through `host.forward`) and returns `float32 [B]`; the score is `name`, read the
    /// way `direction` says. What a `score_batch` plugin does, without writing one.
    pub fn scorer<F>(self, name: &str, direction: Direction, score: F) -> Self
    where
        F: FnMut(&Host, &ScoreBatch, &Tensor, &Tensor) -> PluginResult<Tensor> + Send + 'static,
    {
        self.plugin_entry(InProcessPlugin::scorer(name, direction, score))
    }

    /// As [`Job::plugin`], with an entry built beforehand (e.g. marked optional,
    /// [`InProcessPlugin::named`]).
    pub fn plugin_entry(mut self, plugin: InProcessPlugin) -> Self {
        self.spec.in_process.push(plugin);
        self
    }

    /// Calls `f` with every event of the job, in order, on the job's event thread.
    /// Keep it short: events queue behind it.
    pub fn on_event(self, f: impl FnMut(&JobEvent) + Send + 'static) -> Self {
        self.processor(Box::new(Callback(f)))
    }

    /// Hands every event to `processor` (the CLI's progress bar, a metrics sink).
    pub fn processor(mut self, processor: Box<dyn EventProcessor>) -> Self {
        self.processors.push(processor);
        self
    }

    /// Where the job writes its run directory (config, labels, scores, checkpoints,
    /// summary); `None`, the default, keeps everything in memory and writes nothing.
    pub fn run_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.spec.run_dir = dir;
        self
    }

    /// Replaces a previous run in the run directory (else the job refuses it).
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.spec.overwrite = overwrite;
        self
    }

    /// Continues the run in the run directory from its newest checkpoint.
    pub fn resume(mut self, resume: bool) -> Self {
        self.spec.resume = resume;
        self
    }

    /// Which data files the job may open (`Access::Anything` by default).
    pub fn data_access(mut self, access: Access) -> Self {
        self.spec.data_access = access;
        self
    }

    /// Runs the job as one rank of a data-parallel group (`memscope run` passes
    /// [`crate::dist::Launch::from_env`]): every rank must be given the same config.
    /// Give the run directory to rank 0 alone: it writes the run, the others only train.
    pub fn launch(mut self, launch: Option<crate::dist::Launch>) -> Self {
        self.spec.launch = launch;
        self
    }

    /// Searches plugins only in the config's `plugin_dirs`, not in
    /// `MEMSCOPE_PLUGIN_PATH` or beside the executable (the daemon's rule).
    pub fn only_configured_plugin_dirs(mut self, only: bool) -> Self {
        self.spec.only_configured_plugin_dirs = only;
        self
    }

    /// Checks the config (every problem at once) and starts the job on threads of its
    /// own; the handle cancels it, reads its progress and waits for its outcome.
    pub fn spawn(self) -> Result<JobHandle, JobError> {
        let Job { mut spec, mut processors, train, test } = self;
        spec.data = match (train, test) {
            (Some(train), test) => Some(UserData { train, test }),
            (None, None) => None,
            (None, Some(_)) => {
                return Err(JobError::Setting {
                    key: "test_dataset".into(),
                    message: "a test set of the program needs its training set too (`Job::dataset`)".into(),
                })
            }
        };
        let mut problems = spec.config.validate();
        if spec.data.is_none() && spec.config.data.format.is_none() {
            problems.push(Problem {
                key: "data.format".into(),
                message: "missing: the job has no data; give `[data] format` (and its files) or the program's dataset (`Job::dataset`)"
                    .into(),
            });
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid { origin: format!("of job `{}`", spec.config.name), problems }.into());
        }
        let tracker = ProgressTracker::default();
        let progress = tracker.shared();
        processors.insert(0, Box::new(tracker));
        let cancel = spec.cancel.clone();
        let thread = std::thread::Builder::new()
            .name("memscope-supervisor".into())
            .spawn(move || actix_rt::System::new().block_on(run_job(spec, processors)))
            .map_err(|e| JobError::Panicked { thread: "supervisor".into(), message: e.to_string() })?;
        Ok(JobHandle::new(thread, cancel, progress))
    }

    /// [`Job::spawn`], then waits for the outcome.
    pub fn run(self) -> Result<JobOutcome, JobError> {
        self.spawn()?.join()
    }
}

/// An event callback as a processor.
struct Callback<F>(F);

impl<F: FnMut(&JobEvent) + Send> EventProcessor for Callback<F> {
    fn process(&mut self, event: &JobEvent) {
        (self.0)(event)
    }
}
