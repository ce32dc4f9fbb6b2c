//! The `memscope` command line without libtorch: the arguments of every command
//! ([`args`]), the daemon's client commands ([`client`]), and which binary runs what
//! ([`is_client_command`], [`engine_path`]).
//!
//! `memscope` (this crate's binary) answers `--version`, the client commands
//! (`submit`, `jobs`, `status`, `cancel`, `retry`, `logs`) and `launch` (which starts
//! engines of its own) itself, in milliseconds: a
//! binary linked against libtorch loads it and the CUDA libraries at start (about
//! 1.7 s and 500 MB). `daemon` it hands to `memscope-daemon`, which links no libtorch
//! either (its jobs run in engines of their own); every other command (`run`,
//! `report`, `estimate`, `review`, `plugins`, `cache`, help) to `memscope-engine`. Both lie in the same
//! directory and are run by `exec`, so arguments, stdio, the exit code, the process id
//! and signals are theirs.

#![warn(missing_docs)]

pub mod args;
pub mod client;
pub mod launch;

pub use args::{
    CacheCommand, Cli, Command, DaemonArgs, EstimateCommand, LaunchArgs, MemorizationArgs, PluginsCommand, ReportArgs, ReviewArgs, RunArgs,
    TemplateKind,
};

use std::ffi::OsString;
use std::path::PathBuf;

/// The engine's file name, beside the `memscope` binary.
pub const ENGINE: &str = "memscope-engine";

/// The front end's executable: `memscope`.
pub const FRONT_END: &str = "memscope";

/// The daemon's file name, beside the `memscope` binary.
pub const DAEMON: &str = "memscope-daemon";

/// The exit status of a job stopped by Ctrl-C (or the daemon's SIGINT), as a shell
/// reports SIGINT: a launcher tells it from a failure (1) and does not restart it.
pub const CANCELLED_EXIT_STATUS: u8 = 130;

/// The exit status for a command that failed with `error`: [`CANCELLED_EXIT_STATUS`]
/// for a launched group stopped by Ctrl-C, else 1.
pub fn exit_status(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<launch::Cancelled>().is_some() {
        CANCELLED_EXIT_STATUS
    } else {
        1
    }
}

/// Whether `args` (as `std::env::args_os` gives them, program first) ask for a command
/// the `memscope` binary answers without the engine.
pub fn is_client_command(args: &[OsString]) -> bool {
    const OWN: [&str; 9] = ["submit", "jobs", "status", "cancel", "retry", "logs", "launch", "--version", "-V"];
    args.get(1).and_then(|a| a.to_str()).is_some_and(|first| OWN.contains(&first))
}

/// `memscope-engine` beside the running executable.
pub fn engine_path() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.with_file_name(ENGINE))
}

/// `memscope` (this front end: `launch` and the client commands) beside the running
/// executable, for the daemon, which is a binary of its own.
pub fn front_end_path() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.with_file_name(FRONT_END))
}

/// The binary beside this one that runs the command `args` ask for (program first):
/// [`DAEMON`] for `daemon`, else [`ENGINE`].
pub fn binary_for(args: &[OsString]) -> &'static str {
    match args.get(1).and_then(|a| a.to_str()) {
        Some("daemon") => DAEMON,
        _ => ENGINE,
    }
}

/// Runs a client command (or prints the version, which clap does while parsing).
pub fn run_client(cli: Cli) -> anyhow::Result<()> {
    use client::{cancel, jobs, logs, retry, status, submit};
    match cli.command {
        Command::Submit { config, gpus, server } => submit(&server, &config, gpus),
        Command::Jobs { server } => jobs(&server),
        Command::Status { id, json, server } => status(&server, &id, json),
        Command::Cancel { id, server } => cancel(&server, &id),
        Command::Retry { id, server } => retry(&server, &id),
        Command::Logs { id, tail, server } => logs(&server, &id, tail),
        Command::Launch(args) => launch::launch(&args),
        Command::Daemon(_) => anyhow::bail!("`daemon` runs in {DAEMON}, not in the client"),
        other => anyhow::bail!("`{}` runs in {ENGINE}, not in the client", command_name(&other)),
    }
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Run(_) => "run",
        Command::Report(_) => "report",
        Command::Estimate(_) => "estimate",
        Command::Review(_) => "review",
        Command::Plugins(_) => "plugins",
        Command::Cache(_) => "cache",
        Command::ServeStore { .. } => "serve-store",
        Command::CheckPluginSettings => "check-plugin-settings",
        Command::ServeReview { .. } => "serve-review",
        _ => "a client command",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn client_commands_and_the_version_stay_in_the_light_binary() {
        for own in [
            &["memscope", "jobs"][..],
            &["memscope", "--version"],
            &["memscope", "status", "3", "--json"],
            &["memscope", "-V"],
            &["memscope", "launch", "--nproc", "2", "run", "job.toml"],
        ] {
            assert!(is_client_command(&args(own)), "{own:?}");
        }
        for engine in [
            &["memscope"][..],
            &["memscope", "run", "job.toml"],
            &["memscope", "--help"],
            &["memscope", "help", "jobs"],
            &["memscope", "daemon"],
        ] {
            assert!(!is_client_command(&args(engine)), "{engine:?}");
        }
    }
}
