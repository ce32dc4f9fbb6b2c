//! `memscope report RUN_DIR`: write the report of a finished run, and say where it is.
//! `memscope run` calls [`write_run_report`] at the end of a job.

use super::ReportArgs;
use memscope::data::Access;
use memscope_report::{write_report, ReferenceSpec, ReportRequest};
use std::path::Path;

pub fn report(args: ReportArgs) -> anyhow::Result<()> {
    let request = ReportRequest {
        run_dir: args.run_dir,
        top_k: args.top_k,
        duplicate_distance: args.duplicate_distance,
        references: args.references.iter().map(|r| ReferenceSpec::parse(r)).collect(),
        data_access: Access::Anything,
    };
    let outcome = write_report(&request)?;
    if !args.quiet {
        // The comparisons with the references are the answer the user asked for.
        for line in &outcome.reference_lines {
            println!("{line}");
        }
        println!("report: {} ({} conflicting duplicate pairs)", outcome.index.display(), outcome.conflicting_pairs);
    }
    Ok(())
}

/// The report at the end of `memscope run`, with the run's own settings and the job's
/// data access.
/// With `events_json` (stdout carries only events), the line goes to stderr.
pub fn write_run_report(run_dir: &Path, data_access: Access, quiet: bool, events_json: bool) -> anyhow::Result<()> {
    let request = ReportRequest { run_dir: run_dir.to_path_buf(), data_access, ..ReportRequest::default() };
    let outcome = write_report(&request).map_err(|e| {
        anyhow::Error::new(e)
            .context(format!("the run completed, but its report failed (retry with `memscope report {}`)", run_dir.display()))
    })?;
    let line = format!("report: {} ({} conflicting duplicate pairs)", outcome.index.display(), outcome.conflicting_pairs);
    match (quiet, events_json) {
        (true, _) => {}
        (false, true) => eprintln!("{line}"),
        (false, false) => println!("{line}"),
    }
    Ok(())
}
