//! `memscope`: answers `--version` and the daemon's client commands without loading
//! libtorch, and `exec`s `memscope-daemon` (beside it) for `daemon` and
//! `memscope-engine` (beside it) for everything else.

use clap::Parser;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().collect();
    if memscope_cli::is_client_command(&args) {
        return match memscope_cli::run_client(memscope_cli::Cli::parse()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(memscope_cli::exit_status(&e))
            }
        };
    }
    let engine = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name(memscope_cli::binary_for(&args)),
        Err(e) => {
            eprintln!("error: cannot find this executable's directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    // `exec` returns only on failure; on success the engine (or daemon) is this process.
    let mut command = std::process::Command::new(&engine);
    command.args(&args[1..]);
    if let Some(program) = args.first() {
        command.arg0(program);
    }
    let error = command.exec();
    eprintln!("error: cannot run {}: {error} (it is built beside `memscope`)", engine.display());
    ExitCode::FAILURE
}
