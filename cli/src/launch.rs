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

use crate::LaunchArgs;
use anyhow::Context;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

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
    for attempt in 0..=args.max_restarts {
        let port = match args.master_port {
            Some(port) => port,
            None => free_port().context("cannot find a free port for the rendezvous")?,
        };
        let failed = run_group(&engine, args, port, attempt)?;
        let Some((rank, status)) = failed.first() else { return Ok(()) };
        let others = failed.iter().skip(1).map(|(r, _)| r.to_string()).collect::<Vec<_>>();
        let also = if others.is_empty() { String::new() } else { format!(" (then rank(s) {})", others.join(", ")) };
        let failure = format!("rank {rank} of {world} failed first ({status}){also}");
        let cancelled = failed.iter().any(|(_, s)| s.code() == Some(i32::from(crate::CANCELLED_EXIT_STATUS)));
        if cancelled || attempt == args.max_restarts {
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
        let child = Command::new(engine)
            .args(&args.command)
            .env("RANK", rank.to_string())
            .env("LOCAL_RANK", local_rank.to_string())
            .env("WORLD_SIZE", world.to_string())
            .env("MASTER_ADDR", &args.master_addr)
            .env("MASTER_PORT", port.to_string())
            .env("TORCHELASTIC_RESTART_COUNT", attempt.to_string())
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

fn kill_all(ranks: &mut [Option<Child>]) {
    for child in ranks.iter_mut().flatten() {
        let _ = child.kill();
    }
}

/// A port nobody listens on right now.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
