//! Profiles of the scoring passes (`MEMSCOPE_PROFILE_SCORING`).

use crate::actors::JobError;
use crate::data::Shard;
use crate::model::ModelError;
use std::path::PathBuf;

/// Set to a directory, each snapshot's scoring pass (every scorer over the samples) is
/// profiled by libtorch's profiler, and its Chrome trace saved there as
/// `scoring-epoch-E.json` (`-rank-R` added in a group): which operators, and on CUDA
/// which kernels, the time goes to (`bench/profile_summary.py` sums them).
pub const PROFILE_ENV: &str = "MEMSCOPE_PROFILE_SCORING";

/// Where a process's scoring passes are profiled to.
#[derive(Debug, Clone)]
pub struct Profiling {
    dir: PathBuf,
    /// This process's rank in a group (it names the files), none alone.
    rank: Option<usize>,
}

impl Profiling {
    /// The directory [`PROFILE_ENV`] names, if any, for the process `shard` is of.
    pub fn from_env(shard: Shard) -> Option<Profiling> {
        let dir = std::env::var_os(PROFILE_ENV).filter(|v| !v.is_empty()).map(PathBuf::from)?;
        Some(Profiling { dir, rank: (shard.world > 1).then_some(shard.rank) })
    }

    /// Saves the profile of the snapshot after `epoch` (1-based).
    pub(super) fn save(&self, profile: memscope_torch_ext::Profile, epoch: usize) -> Result<(), JobError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| JobError::io(&self.dir, e))?;
        let name = match self.rank {
            Some(rank) => format!("scoring-epoch-{epoch}-rank-{rank}.json"),
            None => format!("scoring-epoch-{epoch}.json"),
        };
        let path = self.dir.join(name);
        let events = profile.save(&path).map_err(ModelError::from)?;
        tracing::info!("profiled the scoring of epoch {epoch}: {events} events in {}", path.display());
        Ok(())
    }
}
