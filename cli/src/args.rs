//! The arguments of every `memscope` command (clap). The `memscope` binary parses
//! them to answer the client commands itself; `memscope-engine` parses them for the
//! commands that need libtorch.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// memscope: find the training samples a network memorized.
#[derive(Debug, Parser)]
#[command(name = "memscope", version, about = "Trains one network and scores how strongly it memorized each training sample.")]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// A `memscope` command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train and score a job, writing a run directory.
    Run(RunArgs),
    /// Write the HTML/PNG report of a finished run into RUN_DIR/report/.
    Report(ReportArgs),
    /// Estimate ground truth for a job's training samples from many trainings.
    #[command(subcommand)]
    Estimate(EstimateCommand),
    /// Serve the review page of a finished run: samples sorted and filtered, one
    /// sample's history, the data map, and decisions (relabel, exclude, keep) saved to
    /// RUN_DIR/corrections.csv as they are made. Prints the page's URL.
    Review(ReviewArgs),
    /// Inspect plugins.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Run the job service: persistent queue, HTTP API, resume after restarts.
    Daemon(DaemonArgs),
    /// Submit a job config to the daemon; prints the job id.
    Submit {
        /// The job config (TOML). Data paths must lie under the daemon's data roots.
        config: PathBuf,
        /// GPUs the job needs, for a daemon with `gpus` (by default 1 for `device =
        /// "cuda"`, else 0). It sees them through `CUDA_VISIBLE_DEVICES`.
        #[arg(long)]
        gpus: Option<usize>,
        /// The daemon to ask.
        #[command(flatten)]
        server: crate::client::ServerArgs,
    },
    /// List the daemon's jobs.
    Jobs {
        /// The daemon to ask.
        #[command(flatten)]
        server: crate::client::ServerArgs,
    },
    /// Show one job: state, progress, how it ended (JSON with --json).
    Status {
        /// The job id.
        id: String,
        /// Print the job as JSON.
        #[arg(long)]
        json: bool,
        /// The daemon to ask.
        #[command(flatten)]
        server: crate::client::ServerArgs,
    },
    /// Cancel a queued or running job.
    Cancel {
        /// The job id.
        id: String,
        /// The daemon to ask.
        #[command(flatten)]
        server: crate::client::ServerArgs,
    },
    /// Queue a failed or cancelled job again (it resumes from its last checkpoint).
    Retry {
        /// The job id.
        id: String,
        /// The daemon to ask.
        #[command(flatten)]
        server: crate::client::ServerArgs,
    },
    /// Print a job's log.
    Logs {
        /// The job id.
        id: String,
        /// Only the last N lines.
        #[arg(long)]
        tail: Option<usize>,
        /// The daemon to ask.
        #[command(flatten)]
        server: crate::client::ServerArgs,
    },
    /// Run a command (`run job.toml ...`) as a data-parallel job of N processes on
    /// this machine, as `torchrun --no-python --nproc-per-node=N memscope ...` does,
    /// without Python.
    Launch(LaunchArgs),
    /// List or clear the decoded-image cache (image folders, CSV manifests, Parquet).
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Check the settings of plugins (a JSON request on stdin: plugin directories, and
    /// each plugin's name and `config` table as TOML text) and print every problem as
    /// JSON: what the daemon runs for a submitted job, which loads no plugin itself.
    #[command(hide = true)]
    CheckPluginSettings,
    /// Serve the rendezvous store of `memscope launch` (run by it on node 0): prints
    /// `listening on port N`, then serves until its standard input closes.
    #[command(hide = true)]
    ServeStore {
        /// The port (0: a free one).
        #[arg(long)]
        port: u16,
    },
    /// Serve the review pages of the runs the daemon names (run by `memscope daemon`,
    /// which forwards `/v1/jobs/{id}/review/` here): reads a secret line on standard
    /// input, prints `listening on IP:PORT`, serves until standard input closes.
    #[command(hide = true)]
    ServeReview {
        /// Open data files only inside this directory (repeatable; the daemon's
        /// `data_roots`).
        #[arg(long = "data-root", value_name = "DIR")]
        data_roots: Vec<PathBuf>,
    },
}

/// `memscope estimate ...`
#[derive(Debug, Subcommand)]
pub enum EstimateCommand {
    /// Feldman & Zhang's memorization estimate: K trainings of the job's own model and
    /// recipe, each on a seeded random subset of the training set, then per sample
    /// P(correct | trained on it) - P(correct | left out) (`mem.npy`, `mem_se.npy`). Each
    /// model is an ordinary resumable job; running the command again runs only the
    /// models that have not finished.
    Memorization(MemorizationArgs),
}

/// Arguments of `memscope estimate memorization`.
#[derive(Debug, clap::Args)]
pub struct MemorizationArgs {
    /// The job config (TOML) whose model, recipe and data the models use.
    pub config: PathBuf,
    /// How many models (K); more models, smaller standard errors.
    #[arg(long, value_name = "K")]
    pub models: usize,
    /// The share of the training set each model trains on (Feldman & Zhang: 0.7).
    #[arg(long, default_value_t = 0.7, value_name = "SHARE")]
    pub subset: f64,
    /// Directory under which the estimate directory `<name>-memorization/` is created.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// The estimate directory itself, instead of `<out>/<name>-memorization`.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Override a value of the job, e.g. `--set train.epochs=5` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Models trained at the same time on this machine, each its own process.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,
    /// libtorch threads of each model (default: the cores divided by --parallel).
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Train only model I (0-based) and stop, as one task of an array does. Without it,
    /// `SLURM_ARRAY_TASK_ID` (a Slurm array) or `JOB_COMPLETION_INDEX` (a Kubernetes
    /// Indexed Job) names the model when set.
    #[arg(long, value_name = "I", conflicts_with_all = ["aggregate", "submit"])]
    pub index: Option<usize>,
    /// Train nothing: aggregate the models that have finished.
    #[arg(long, conflicts_with = "submit")]
    pub aggregate: bool,
    /// Submit every model not yet finished or submitted to the daemon (`memscope
    /// daemon`), which runs `max_running_jobs` at a time; aggregate later with
    /// `--aggregate`.
    #[arg(long)]
    pub submit: bool,
    /// The daemon, for --submit.
    #[command(flatten)]
    pub server: crate::client::ServerArgs,
    /// Only warnings, errors and the result.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `memscope cache ...`
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// The cached datasets: when last used, size, images, shape, where from.
    List {
        /// The cache directory (a job's `data.cache_dir`); default
        /// `$XDG_CACHE_HOME/memscope`, else `~/.cache/memscope`.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Remove cached datasets, and what interrupted decodes left behind. A run that
    /// needs a removed dataset decodes its images again.
    Clear {
        /// The cache directory, as for `list`.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Keep the datasets a run used in the last N days (N may be a fraction).
        #[arg(long, value_name = "N", value_parser = days)]
        unused_for_days: Option<std::time::Duration>,
    },
}

/// A number of days (`30`, `0.5`) as a duration.
fn days(text: &str) -> Result<std::time::Duration, String> {
    let days: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of days"))?;
    if !days.is_finite() || days < 0.0 {
        return Err(format!("{text} is not a number of days (0 or more)"));
    }
    Ok(std::time::Duration::from_secs_f64(days * 86_400.0))
}

/// Arguments of `memscope launch`.
#[derive(Debug, clap::Args)]
pub struct LaunchArgs {
    /// How many processes (ranks) to start on this machine.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub nproc: u16,
    /// How many machines take part, each running `memscope launch` with the same
    /// `--nproc`, `--master-addr` and `--master-port` (as torchrun's static multi-node).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub nnodes: u16,
    /// This machine's place among them, `0..nnodes`; node 0 runs rank 0, which serves
    /// the rendezvous store.
    #[arg(long, default_value_t = 0)]
    pub node_rank: u16,
    /// Host of the rendezvous store: node 0's address (this machine when alone).
    #[arg(long, default_value = "127.0.0.1")]
    pub master_addr: String,
    /// Port of the rendezvous store (default on one machine: a free one; required with
    /// several, which must agree on it).
    #[arg(long)]
    pub master_port: Option<u16>,
    /// How many times to start every rank again after one has failed, as torchrun's
    /// `--max-restarts` (not after Ctrl-C). Give the job `--resume-or-start` so that a
    /// restart continues the run from its newest checkpoint.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub max_restarts: u32,
    /// Only global rank 0 writes to this launch's stdout; the other ranks' stdout is
    /// discarded (their stderr is kept). For a reader of one stream of events, as the
    /// daemon reads `--events-json` (each rank would repeat every epoch).
    #[arg(long)]
    pub stdout_rank0_only: bool,
    /// The command every rank runs, with its arguments (`run job.toml --out runs`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
}

/// Arguments of `memscope daemon`.
#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// The daemon config (TOML, see configs/daemon.toml); defaults without it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Listen address, overriding the config's `listen`.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// State directory, overriding the config's `state_dir`.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// What `memscope plugins new` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TemplateKind {
    /// A scorer (`score_batch` on every scored snapshot).
    Scorer,
    /// A plugin that watches training (`TrainBatchOutputs`, state across a resume).
    Training,
}

/// `memscope plugins ...`
#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List the plugins found in the plugin directories, with versions and hooks.
    List {
        /// Extra directories to search first (repeatable).
        #[arg(long = "dir")]
        dirs: Vec<PathBuf>,
    },
    /// Write a new plugin crate NAME (typed settings, tests through the SDK's fake host)
    /// that builds outside this checkout.
    New {
        /// The plugin's name (lowercase letters, digits, `-`, `_`).
        name: String,
        /// `scorer` (scores every snapshot) or `training` (watches each training step,
        /// keeps counts across a resume).
        #[arg(long, value_enum, default_value = "scorer")]
        kind: TemplateKind,
        /// Where to create the crate's folder (default: the current directory).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Say whether FILE is a loadable plugin for this memscope, and why not.
    Check {
        /// The shared library.
        file: PathBuf,
    },
    /// Install a plugin for your jobs: PATH is a plugin crate (built here with `cargo
    /// build --release`) or a built library. It is checked as a job loads it, then
    /// copied into the user plugin directory ($MEMSCOPE_PLUGIN_DIR, else
    /// $XDG_DATA_HOME/memscope/plugins, else ~/.local/share/memscope/plugins), which jobs
    /// and `plugins list` search after the shipped plugins. Installing again replaces it.
    Install {
        /// The plugin crate's folder, or the shared library (`.so`).
        path: PathBuf,
    },
    /// Remove an installed plugin from the user plugin directory.
    Remove {
        /// The plugin's name.
        name: String,
    },
}

/// Arguments of `memscope run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The job config (TOML). Not needed with `--resume RUN_DIR`, which uses the run's own.
    #[arg(required_unless_present = "resume")]
    pub config: Option<PathBuf>,
    /// Directory under which the run directory `<name>/` is created.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// The run directory itself, instead of `<out>/<name>`.
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Write job events as JSON lines on stdout (the human summary goes to stderr);
    /// this is how the daemon follows its jobs.
    #[arg(long)]
    pub events_json: bool,
    /// Load plugins only from the config's `plugin_dirs` (set by the daemon).
    #[arg(long, hide = true)]
    pub only_plugin_dirs: bool,
    /// Open data files only inside this directory (repeatable; set by the daemon to
    /// its `data_roots`): every file is checked where it really is when it is opened.
    #[arg(long = "data-root", value_name = "DIR")]
    pub data_roots: Vec<PathBuf>,
    /// Override a config value, e.g. `--set train.epochs=5` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Continue an interrupted run from its newest checkpoint: `--resume RUN_DIR`
    /// with the run's own config, or `CONFIG --resume` for the run directory that
    /// CONFIG (with --out, --run-dir, --set) names, as every rank of a data-parallel
    /// job is restarted (only rank 0 needs the run directory).
    #[arg(long, value_name = "RUN_DIR", num_args = 0..=1)]
    pub resume: Option<Option<PathBuf>>,
    /// Resume the run CONFIG names if an earlier attempt left it unfinished, else start
    /// it: one command that is safe to run again, for launchers that restart a failed
    /// job with the same command (torchrun `--max-restarts`, a Kubernetes
    /// `restartPolicy: OnFailure`, Slurm `--requeue`).
    #[arg(long, conflicts_with_all = ["resume", "force"], requires = "config")]
    pub resume_or_start: bool,
    /// Replace an existing run directory of the same name.
    #[arg(long)]
    pub force: bool,
    /// No progress bar; only warnings and errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Do not write the report at the end (`memscope report RUN_DIR` writes it later).
    #[arg(long)]
    pub no_report: bool,
}

/// Arguments of `memscope report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The run directory (e.g. runs/digits).
    pub run_dir: PathBuf,
    /// A reference score to plot each score against, binned: FILE.npy, FILE.npz:KEY or
    /// FILE.csv, one value per sample (repeatable). The files in the baseline
    /// comparer's `against` list are used too.
    #[arg(long = "reference", value_name = "FILE")]
    pub references: Vec<String>,
    /// Samples per top/bottom grid (default: the run's `report.top_k`).
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Near-duplicate threshold, RMS pixel difference in [0, 1] (default: the run's
    /// `report.duplicate_distance`).
    #[arg(long)]
    pub duplicate_distance: Option<f64>,
    /// Only warnings and errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Arguments of `memscope review`.
#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    /// The run directory (e.g. runs/digits).
    pub run_dir: PathBuf,
    /// Address and port to serve the page on (port 0: a free one).
    #[arg(long, default_value = "127.0.0.1:7465", value_name = "IP:PORT")]
    pub listen: String,
}

impl Cli {
    /// Whether the user asked for quiet output.
    pub fn quiet(&self) -> bool {
        match &self.command {
            Command::Run(a) => a.quiet,
            Command::Report(a) => a.quiet,
            Command::Estimate(EstimateCommand::Memorization(a)) => a.quiet,
            _ => false,
        }
    }
}
