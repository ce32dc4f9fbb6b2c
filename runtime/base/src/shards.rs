//! The files a Parquet `path` names: one file, or the sorted matches of a glob. Read
//! by the job, and checked by the daemon (every match must lie under a data root).

use std::path::{Path, PathBuf};

/// The shard files `pattern` names: the file itself, or the sorted matches of a glob;
/// the error says what is wrong with the pattern.
pub fn shard_files(pattern: &Path) -> Result<Vec<PathBuf>, String> {
    let text = pattern.to_string_lossy();
    if !text.contains(['*', '?', '[']) {
        return Ok(vec![pattern.to_path_buf()]);
    }
    let matches = glob::glob(&text).map_err(|e| format!("not a valid glob: {e}"))?;
    let mut files: Vec<PathBuf> = matches.filter_map(Result::ok).filter(|p| p.is_file()).collect();
    files.sort();
    if files.is_empty() {
        return Err("no Parquet files match this pattern".into());
    }
    Ok(files)
}
