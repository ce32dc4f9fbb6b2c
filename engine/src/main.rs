//! `memscope-engine`: the commands that need libtorch (`run`, `report`, `plugins`,
//! `daemon`), which the `memscope` binary `exec`s. Library errors are typed; here they
//! become one line (`error: ...`, with causes joined by `: `) and a non-zero exit code.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    memscope::allocator::tune();
    let args = cli::Cli::parse();
    cli::init_logging(args.quiet());
    match cli::dispatch(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
