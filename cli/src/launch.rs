//! `memscope launch --nproc N COMMAND...`: a data-parallel job of N processes on this
//! machine, without Python. It does what `torchrun --no-python --nproc-per-node=N`
//! does for memscope: starts N engines running COMMAND with torchrun's variables
//! (`RANK`, `LOCAL_RANK`, `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`; rank 0 serves the
//! rendezvous store), and waits for them. With `--nnodes M --node-rank K`, one launch
//! per machine, it starts global ranks K·N to K·N + N - 1 of a group of M·N, as
//! torchrun's static multi-node launch does. When a rank fails, the others stop at their
//! next collective with an error naming it; any still running after a grace period
//! are killed, so that no process is left behind. With `--max-restarts N`, as under
//! torchrun, the whole group is then started again (`TORCHELASTIC_RESTART_COUNT` says
//! which attempt), up to N times; a group stopped by Ctrl-C is not restarted.
//!
//! As torchrun's agent does, the launch on node 0 serves the rendezvous store itself,
//! for the whole launch (`memscope-engine serve-store`: the store is libtorch's, and this
//! binary links no libtorch), and the ranks connect to it like clients
//! (`TORCHELASTIC_USE_AGENT_STORE=True`). Were rank 0 to serve it, the store would end
//! with each attempt, and another node's restarted ranks, arriving before node 0's
//! failed ones have ended, would meet a store about to vanish.

use crate::LaunchArgs;
use anyhow::Context;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The group was cancelled (Ctrl-C), not failed: the launch exits with the ranks'
/// status, [`crate::CANCELLED_EXIT_STATUS`], and restarts nothing.
#[derive(Debug)]
pub struct Cancelled(String);

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Cancelled {}

/// How long the other ranks get, after one failed, to end by themselves (printing
/// their own errors) before they are killed.
const GRACE: Duration = Duration::from_secs(10);

/// Starts the ranks and waits for them, again after a failure while restarts remain;
/// fails when the last attempt failed.
pub fn launch(args: &LaunchArgs) -> anyhow::Result<()> {
    if args.node_rank >= args.nnodes {
        anyhow::bail!("--node-rank {}: the nodes of --nnodes {} are 0 to {}", args.node_rank, args.nnodes, args.nnodes - 1);
    }
    if args.nnodes > 1 && args.master_port.is_none() {
        anyhow::bail!("--nnodes {}: give --master-port (and node 0's --master-addr), the same on every node", args.nnodes);
    }
    let engine = crate::engine_path().context("cannot find this executable's directory")?;
    let world = usize::from(args.nproc) * usize::from(args.nnodes);
    outlive_interrupts();
    // Node 0 serves the store (on a free port when alone); the others connect to it.
    let store = if args.node_rank == 0 { Some(RendezvousStore::serve(&engine, args.master_port.unwrap_or(0))?) } else { None };
    let port = store.as_ref().map_or(args.master_port.unwrap_or(0), |s| s.port);
    for attempt in 0..=args.max_restarts {
        let failed = run_group(&engine, args, port, attempt)?;
        let Some((rank, status)) = failed.first() else { return Ok(()) };
        let others = failed.iter().skip(1).map(|(r, _)| r.to_string()).collect::<Vec<_>>();
        let also = if others.is_empty() { String::new() } else { format!(" (then rank(s) {})", others.join(", ")) };
        let failure = format!("rank {rank} of {world} failed first ({status}){also}");
        if failed.iter().any(|(_, s)| s.code() == Some(i32::from(crate::CANCELLED_EXIT_STATUS))) {
            return Err(Cancelled(failure).into());
        }
        if attempt == args.max_restarts {
            anyhow::bail!(failure);
        }
        eprintln!("memscope launch: {failure}; starting every rank again (restart {} of {})", attempt + 1, args.max_restarts);
    }
    unreachable!("the last attempt returns")
}

/// One attempt: starts this machine's ranks and waits for them all. The ranks that
/// failed (global ranks), in the order they ended.
fn run_group(engine: &Path, args: &LaunchArgs, port: u16, attempt: u32) -> anyhow::Result<Vec<(usize, ExitStatus)>> {
    let local = usize::from(args.nproc);
    let world = local * usize::from(args.nnodes);
    let first = local * usize::from(args.node_rank);
    let mut ranks: Vec<Option<Child>> = Vec::with_capacity(local);
    for local_rank in 0..local {
        let rank = first + local_rank;
        let mut command = Command::new(engine);
        // Spawned from the launch's main thread, which waits for the ranks.
        die_with_parent(&mut command);
        if args.stdout_rank0_only && rank != 0 {
            command.stdout(Stdio::null());
        }
        let child = command
            .args(&args.command)
            .env("RANK", rank.to_string())
            .env("LOCAL_RANK", local_rank.to_string())
            .env("WORLD_SIZE", world.to_string())
            .env("MASTER_ADDR", &args.master_addr)
            .env("MASTER_PORT", port.to_string())
            .env("TORCHELASTIC_RESTART_COUNT", attempt.to_string())
            .env("TORCHELASTIC_USE_AGENT_STORE", "True")
            .spawn();
        match child {
            Ok(child) => ranks.push(Some(child)),
            Err(e) => {
                kill_all(&mut ranks);
                return Err(e).with_context(|| format!("cannot start rank {rank} ({})", engine.display()));
            }
        }
    }
    let failed = wait_all(&mut ranks)?;
    Ok(failed.into_iter().map(|(local_rank, status)| (first + local_rank, status)).collect())
}

/// Waits for every rank; once one has failed, the rest get [`GRACE`] before they are
/// killed. Returns the failed ranks in the order they ended.
fn wait_all(ranks: &mut [Option<Child>]) -> anyhow::Result<Vec<(usize, ExitStatus)>> {
    let mut failed = Vec::new();
    let mut first_failure: Option<Instant> = None;
    while ranks.iter().any(Option::is_some) {
        for (rank, slot) in ranks.iter_mut().enumerate() {
            let Some(child) = slot else { continue };
            if let Some(status) = child.try_wait().context("waiting for a rank")? {
                if !status.success() {
                    failed.push((rank, status));
                    first_failure.get_or_insert_with(Instant::now);
                }
                *slot = None;
            }
        }
        if first_failure.is_some_and(|t| t.elapsed() > GRACE) {
            kill_all(ranks);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(failed)
}

/// `command`'s process gets SIGKILL when the thread that spawns it ends, however it
/// ends (a `kill -9` of this process included). A launch's ranks so end with the launch
/// (a daemon's job is its launch, and the daemon kills it when it must), and the
/// daemon's jobs with the daemon: nothing is left behind training alone. The signal is
/// tied to the spawning thread, so spawn from one that lives as long as the process
/// that must be outlived by none of its children.
pub fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn kill_all(ranks: &mut [Option<Child>]) {
    for child in ranks.iter_mut().flatten() {
        let _ = child.kill();
    }
}

/// Ctrl-C at a terminal reaches every rank (they share its process group), and they
/// cancel together, through collectives and the store: the launcher must not end
/// first, taking the store with it. So it catches SIGINT, doing nothing, and waits for
/// the ranks; a caught signal's disposition is not inherited, so the ranks (started
/// after this) get the default one until they install their own.
fn outlive_interrupts() {
    extern "C" fn ignore(_: libc::c_int) {}
    // SAFETY: installs a handler that does nothing (async-signal-safe).
    unsafe { libc::signal(libc::SIGINT, ignore as extern "C" fn(libc::c_int) as libc::sighandler_t) };
}

/// The rendezvous store, served by `memscope-engine serve-store` for as long as this
/// value lives: dropping it closes the server's standard input, which ends it (as does
/// this process ending, however it ends).
struct RendezvousStore {
    server: Child,
    stdin: Option<ChildStdin>,
    port: u16,
}

impl RendezvousStore {
    /// Starts the server on `port` (0: a free one) and waits until it listens.
    fn serve(engine: &Path, port: u16) -> anyhow::Result<RendezvousStore> {
        let mut server = Command::new(engine)
            .args(["serve-store", "--port", &port.to_string()])
            // Only libtorch's errors: a client that goes away is no news here.
            .env("TORCH_CPP_LOG_LEVEL", "ERROR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start the rendezvous store ({})", engine.display()))?;
        let stdin = server.stdin.take();
        let mut line = String::new();
        let _ = BufReader::new(server.stdout.take().expect("piped")).read_line(&mut line);
        let Some(bound) = line.trim().strip_prefix("listening on port ").and_then(|p| p.parse().ok()) else {
            let _ = server.kill();
            let _ = server.wait();
            let why = line.trim().strip_prefix("error: ").unwrap_or(line.trim());
            anyhow::bail!(if why.is_empty() { format!("the rendezvous store on port {port} did not start") } else { why.to_string() });
        };
        Ok(RendezvousStore { server, stdin, port: bound })
    }
}

impl Drop for RendezvousStore {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.server.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
