//! `memscope-daemon`: `memscope daemon`, which the `memscope` binary `exec`s (same
//! pid, argv, stdio, exit code and signals). Its own binary so that it links no
//! libtorch: the daemon checks jobs, runs each in a `memscope-engine` process of its
//! own and follows its events, and never needs libtorch itself (an idle daemon built
//! into the engine held 391 MB of it).

use clap::Parser;
use memscope_cli::{Cli, Command};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Daemon(args) = cli.command else {
        eprintln!("error: {} runs only `memscope daemon`", memscope_cli::DAEMON);
        return ExitCode::FAILURE;
    };
    memscope_base::logging::init("info");
    let options = memscope_daemon::DaemonOptions { config_file: args.config, listen: args.listen, state_dir: args.state_dir };
    match memscope_daemon::serve(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = format!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message += &format!(": {cause}");
                source = cause.source();
            }
            let _ = std::io::stderr().write_all(format!("{message}\n").as_bytes());
            ExitCode::FAILURE
        }
    }
}
