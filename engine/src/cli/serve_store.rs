//! `memscope-engine serve-store --port P`: the rendezvous store of `memscope launch`,
//! served by a process of its own on node 0 for the whole launch, as torchrun's agent
//! serves one. The ranks connect to it like clients (`TORCHELASTIC_USE_AGENT_STORE`),
//! so it outlives them: a group started again after a failure (`--max-restarts`)
//! meets in the same store, under the keys of its restart, even when another node's
//! new ranks arrive before this node's old ones have ended.

use memscope::dist::StoreServer;
use std::io::{Read, Write};

/// Serves until standard input closes (the launcher ended, however it ended). Says on
/// standard output, in one line, where it listens or why it cannot.
pub fn serve_store(port: u16) -> anyhow::Result<()> {
    // Ctrl-C at the terminal is for the ranks, which cancel together through this
    // store: it must outlive them, and ends when the launcher does.
    // SAFETY: sets this process's SIGINT disposition; no handler runs.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    let mut out = std::io::stdout();
    let server = match StoreServer::serve(port) {
        Ok(server) => server,
        Err(e) => {
            writeln!(out, "error: cannot serve the rendezvous store on port {port}: {}", e.message())?;
            std::process::exit(1);
        }
    };
    writeln!(out, "listening on port {}", server.port())?;
    out.flush()?;
    let mut sink = [0u8; 64];
    while std::io::stdin().read(&mut sink).is_ok_and(|n| n > 0) {}
    drop(server);
    Ok(())
}
