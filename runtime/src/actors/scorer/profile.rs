//! Profiles of the scoring passes (`MEMSCOPE_PROFILE_SCORING`).

use crate::actors::JobError;
use crate::model::ModelError;
use std::path::{Path, PathBuf};

/// Set to a directory, each snapshot's scoring pass (every scorer over the samples) is
/// profiled by libtorch's profiler, and its Chrome trace saved there as
/// `scoring-epoch-E.json` (`-rank-R` added in a group): which operators, and on CUDA
/// which kernels, the time goes to (`bench/profile_summary.py` sums them).
pub const PROFILE_ENV: &str = "MEMSCOPE_PROFILE_SCORING";

/// The directory [`PROFILE_ENV`] names, if any.
pub(super) fn profile_dir() -> Option<PathBuf> {
    std::env::var_os(PROFILE_ENV).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Saves the profile of the snapshot after `epoch` (1-based) into `dir`.
pub(super) fn save_profile(profile: memscope_torch_ext::Profile, dir: &Path, epoch: usize) -> Result<(), JobError> {
    std::fs::create_dir_all(dir).map_err(|e| JobError::io(dir, e))?;
    let rank = std::env::var("RANK").ok().filter(|_| std::env::var("WORLD_SIZE").is_ok_and(|w| w != "1"));
    let name = match rank {
        Some(rank) => format!("scoring-epoch-{epoch}-rank-{rank}.json"),
        None => format!("scoring-epoch-{epoch}.json"),
    };
    let path = dir.join(name);
    let events = profile.save(&path).map_err(ModelError::from)?;
    tracing::info!("profiled the scoring of epoch {epoch}: {events} events in {}", path.display());
    Ok(())
}
