//! The commands `memscope-engine` runs: `run`, `report`, `review`, `plugins`, `cache` (the
//! arguments are `memscope_cli`'s, shared with the light `memscope` binary, which
//! answers the client commands itself and `exec`s this engine for the rest).

mod cache;
mod check_settings;
mod plugins;
mod progress;
mod report;
mod review;
mod run;
mod serve_review;
mod serve_store;

pub use memscope_cli::{CacheCommand, Cli, Command, PluginsCommand, ReportArgs, ReviewArgs, RunArgs};

/// Logs go to stderr; `MEMSCOPE_LOG` (a tracing filter) overrides the level.
pub fn init_logging(quiet: bool) {
    memscope::logging::init(if quiet { "warn" } else { "info" });
}

/// Runs the chosen command.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Report(args) => report::report(args),
        Command::Review(args) => review::review(args),
        Command::Plugins(command) => plugins::plugins(command),
        Command::Cache(command) => cache::cache(command),
        Command::ServeStore { port } => serve_store::serve_store(port),
        Command::CheckPluginSettings => check_settings::check_plugin_settings(),
        Command::ServeReview { data_roots } => serve_review::serve_review(&data_roots),
        // The client commands work here too (the engine run by hand).
        client => memscope_cli::run_client(Cli { command: client }),
    }
}
