//! Reference scores for the comparer, read by `memscope-reference` (shared with the
//! report), with errors that name the file.

use memscope_sdk::{PluginError, PluginResult};
use std::path::Path;

/// Reads a 1-D array of numbers from `path` (`key` selects an `.npz` member).
pub fn read_values(path: &Path, key: Option<&str>) -> PluginResult<Vec<f64>> {
    memscope_reference::read_values(path, key).map_err(|e| PluginError(format!("reference {}: {e}", path.display())))
}

/// Checks that a reference given as `kind = "mask"` holds only 0 and 1.
pub fn check_mask(values: &[f64], path: &Path) -> PluginResult<()> {
    memscope_reference::to_mask(values).map(|_| ()).map_err(|e| PluginError(format!("reference {} (kind = \"mask\"): {e}", path.display())))
}

/// A ranking (sample indices sorted by ascending score) as a score: each sample's
/// position in it. Every index must appear exactly once.
pub fn ranking_to_score(ranking: &[f64], path: &Path) -> PluginResult<Vec<f64>> {
    memscope_reference::ranking_to_score(ranking).map_err(|e| PluginError(format!("ranking {}: {e}", path.display())))
}
