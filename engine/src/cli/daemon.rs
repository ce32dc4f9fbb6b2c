//! `memscope daemon`: runs the job service until SIGTERM.

use super::DaemonArgs;
use memscope_daemon::{serve, DaemonOptions};

pub fn daemon(args: DaemonArgs) -> anyhow::Result<()> {
    serve(DaemonOptions { config_file: args.config, listen: args.listen, state_dir: args.state_dir })?;
    Ok(())
}
