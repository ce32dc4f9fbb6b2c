//! `memscope-engine serve-review --data-root DIR...` (hidden): the review pages of the
//! daemon's runs, served for the daemon, which links no libtorch and forwards its
//! `/v1/jobs/{id}/review/...` here (`memscope_review::http::serve_for_daemon`). The
//! daemon starts it on the first review request and ends it by closing its standard
//! input (idle, or the daemon stopping; a daemon that dies closes it too).

use memscope::data::Access;
use memscope_base::review_engine::READY;
use memscope_review::http::{serve_for_daemon, DaemonReview};
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

/// Reads the secret (the first line of standard input), then serves until standard
/// input closes. Says on standard output, in one line, where it listens or why it
/// cannot: the daemon reads that line.
pub fn serve_review(data_roots: &[PathBuf]) -> anyhow::Result<()> {
    // Ctrl-C at the daemon's terminal is for the daemon, which then ends this process.
    // SAFETY: sets this process's SIGINT disposition; no handler runs.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    let mut secret = String::new();
    std::io::stdin().lock().read_line(&mut secret)?;
    let options = DaemonReview { secret: secret.trim().to_string(), access: Access::inside(data_roots) };
    let say = |line: String| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    let until_ended = || {
        let mut sink = [0u8; 64];
        while std::io::stdin().lock().read(&mut sink).is_ok_and(|n| n > 0) {}
    };
    if let Err(e) = serve_for_daemon(options, |addr| say(format!("{READY}{addr}")), until_ended) {
        say(format!("error: {e}"));
        std::process::exit(1);
    }
    Ok(())
}
