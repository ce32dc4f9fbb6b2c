//! Command-line arguments and the commands they run.

mod plugins;
mod progress;
mod run;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// memscope: find the training samples a network memorized.
#[derive(Debug, Parser)]
#[command(name = "memscope", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train and score a job, writing a run directory.
    Run(RunArgs),
    /// Inspect plugins.
    #[command(subcommand)]
    Plugins(PluginsCommand),
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
    /// Say whether FILE is a loadable plugin for this memscope, and why not.
    Check {
        /// The shared library.
        file: PathBuf,
    },
}

/// Arguments of `memscope run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The job config (TOML). Not needed with --resume, which uses the run's own.
    #[arg(required_unless_present = "resume", conflicts_with = "resume")]
    pub config: Option<PathBuf>,
    /// Directory under which the run directory `<name>/` is created.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Override a config value, e.g. `--set train.epochs=5` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Continue an interrupted run from its newest checkpoint.
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
    /// Replace an existing run directory of the same name.
    #[arg(long)]
    pub force: bool,
    /// No progress bar; only warnings and errors.
    #[arg(long, short)]
    pub quiet: bool,
}

impl Cli {
    /// Whether the user asked for quiet output.
    pub fn quiet(&self) -> bool {
        match &self.command {
            Command::Run(a) => a.quiet,
            Command::Plugins(_) => false,
        }
    }
}

/// Logs go to stderr; `MEMSCOPE_LOG` (a tracing filter) overrides the level.
pub fn init_logging(quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MEMSCOPE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

/// Runs the chosen command.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Plugins(command) => plugins::plugins(command),
    }
}
