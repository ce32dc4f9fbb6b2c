//! `memscope-engine`: the commands that need libtorch (`run`, `report`, `review`, `plugins`,
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
            // One write: the ranks of a launched job share one stderr, and a line
            // written in pieces (as `eprintln!` does) interleaves with theirs.
            use std::io::Write;
            let _ = std::io::stderr().write_all(format!("error: {e:#}\n").as_bytes());
            let cancelled = e.chain().any(|c| matches!(c.downcast_ref::<memscope::JobError>(), Some(memscope::JobError::Cancelled { .. })));
            // Stopped, not failed: `memscope launch --max-restarts` does not restart it.
            let code = if cancelled { memscope_cli::CANCELLED_EXIT_STATUS } else { memscope_cli::exit_status(&e) };
            if memscope::dist::collective_failed() {
                // The group broke: end without exit handlers, which could wait on a
                // NCCL collective that cannot end (`memscope::dist::exit`).
                memscope::dist::exit(code)
            }
            std::process::ExitCode::from(code)
        }
    }
}
