//! Errors of the distributed layer: each names the variable, or the rank and the
//! collective, that failed.

use std::time::Duration;

/// Why a process could not join its group, or a collective failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DistError {
    /// A launcher variable is missing or not valid.
    #[error("{var}={value:?}: {reason}")]
    Env {
        /// The variable (`RANK`, `MASTER_PORT`, ...).
        var: &'static str,
        /// Its value as found (empty when unset).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The rendezvous through the `TCPStore` failed or timed out.
    #[error("rank {rank} of {world}: could not meet the other ranks at {addr}:{port} within {timeout:?}: {message}")]
    Rendezvous {
        /// This process's rank.
        rank: usize,
        /// The group's size.
        world: usize,
        /// The store's host.
        addr: String,
        /// The store's port.
        port: u16,
        /// The timeout that applied.
        timeout: Duration,
        /// libtorch's reason.
        message: String,
    },
    /// A collective failed: a peer died, hung past the timeout, or sent what did not fit.
    #[error("rank {rank} of {world}: {op} failed ({peer}): {message}")]
    Collective {
        /// This process's rank.
        rank: usize,
        /// The group's size.
        world: usize,
        /// The collective (`all_reduce`, `broadcast`, ...).
        op: &'static str,
        /// The rank(s) it was waiting for, in words.
        peer: String,
        /// libtorch's reason.
        message: String,
    },
    /// Rank 0 could not do what it alone does for the group (read the checkpoint to
    /// resume from), and told the others why before ending.
    #[error("rank {rank} of {world}: rank 0 could not {what}: {message}")]
    Rank0Failed {
        /// This process's rank.
        rank: usize,
        /// The group's size.
        world: usize,
        /// What rank 0 was doing.
        what: &'static str,
        /// Rank 0's error.
        message: String,
    },
    /// After training, some ranks hold other weights than rank 0 (a bug, or a
    /// non-deterministic kernel): their results would not be the job's.
    #[error("after training, rank(s) {} hold weights that differ from rank 0's", ranks.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", "))]
    Diverged {
        /// The ranks that differ.
        ranks: Vec<usize>,
    },
}
