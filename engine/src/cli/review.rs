//! `memscope review RUN_DIR [--listen IP:PORT]`: serve the review page of a finished
//! run and print its URL.

use super::ReviewArgs;
use memscope::data::Access;
use memscope_review::http::{serve, ServeOptions};
use std::io::Write;

pub fn review(args: ReviewArgs) -> anyhow::Result<()> {
    let run_dir = args.run_dir.display().to_string();
    let options = ServeOptions { run_dir: args.run_dir, listen: args.listen, access: Access::Anything };
    serve(options, |url| {
        // Flushed at once: a script (or a test) waits for this line to open the page.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "review of {run_dir}: {url} (decisions go to {run_dir}/corrections.csv; Ctrl-C to stop)");
        let _ = out.flush();
    })?;
    Ok(())
}
