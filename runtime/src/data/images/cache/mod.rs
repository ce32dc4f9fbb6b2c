//! The decoded-image cache: one file of `N * C * H * W` bytes per dataset and decode
//! settings (`<key>.u8`), memory-mapped when read, with a small JSON record beside it
//! (`<key>.json`: the sample count, the shape, the images skipped as bad). The key is
//! a SHA-256 of the list of inputs (paths, sizes, modification times; Parquet: files
//! and row counts) and of the settings, so any change to a file or a setting misses
//! the cache. Both files are written under temporary names and renamed into place,
//! the record last: a reader sees a whole entry or none. A hit touches the record, so
//! its modification time says when the entry was last used: `memscope cache` lists
//! entries and clears those unused for a while ([`Inventory`]).

mod inventory;

pub use inventory::{CachedSet, Cleared, Inventory, Unfinished};

use super::super::DataError;
use crate::config::{BadImagePolicy, ImageSize, ResizeMode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::Metadata;
use std::path::{Path, PathBuf};

/// Changes when the cached bytes of the same inputs would change.
const CACHE_FORMAT: &str = "memscope image cache 1";

/// Builds a cache key from the inputs and the settings.
pub struct CacheKey(Sha256);

impl CacheKey {
    /// A key for images decoded with these settings.
    pub fn new(size: ImageSize, resize: ResizeMode, on_bad_image: BadImagePolicy) -> Self {
        let mut hash = Sha256::new();
        hash.update(CACHE_FORMAT);
        hash.update(format!("{} {} {} {resize:?} {on_bad_image:?}\n", size.channels, size.height, size.width));
        CacheKey(hash)
    }

    /// Adds a text part (a source name, a column name), length-prefixed so that no two
    /// lists of parts give the same bytes.
    pub fn text(&mut self, text: &str) {
        self.0.update((text.len() as u64).to_le_bytes());
        self.0.update(text);
    }

    /// Adds a number.
    pub fn number(&mut self, n: u64) {
        self.0.update(n.to_le_bytes());
    }

    /// Adds a file's identity: its path, size and modification time.
    pub fn file(&mut self, path: &Path, metadata: &Metadata) {
        self.text(&path.display().to_string());
        self.number(metadata.len());
        let mtime = metadata.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).unwrap_or_default();
        self.number(mtime.as_secs());
        self.number(mtime.subsec_nanos() as u64);
    }

    /// The key as 32 hex digits.
    pub fn finish(self) -> String {
        self.0.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// An image left out under `on_bad_image = "skip"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedImage {
    /// Its position in the listing (before skipping).
    pub index: usize,
    /// The file, or Parquet file and row.
    pub source: String,
    /// Why it could not be decoded.
    pub message: String,
}

/// The record beside a cache file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheRecord {
    /// Images in the cache file.
    pub samples: usize,
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    /// Listed images that are not in the file, in listing order.
    pub skipped: Vec<SkippedImage>,
    /// The dataset the images came from (format and path), as runs describe it;
    /// absent in entries written before memscope recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
}

/// The cache directory: `configured`, else `$XDG_CACHE_HOME/memscope`, else
/// `~/.cache/memscope`.
pub fn cache_dir(configured: Option<&Path>) -> Result<PathBuf, DataError> {
    if let Some(dir) = configured {
        return Ok(dir.to_path_buf());
    }
    let from_env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(xdg) = from_env("XDG_CACHE_HOME") {
        return Ok(xdg.join("memscope"));
    }
    if let Some(home) = from_env("HOME") {
        return Ok(home.join(".cache").join("memscope"));
    }
    Err(DataError::Cache {
        path: PathBuf::from("~/.cache/memscope"),
        message: "neither XDG_CACHE_HOME nor HOME is set: set `data.cache_dir`".into(),
    })
}

/// The two files of one cache entry.
#[derive(Debug, Clone)]
pub struct CacheEntry {
    /// `<key>.u8`: the bytes.
    pub data: PathBuf,
    /// `<key>.json`: the record.
    pub record: PathBuf,
}

impl CacheEntry {
    /// The entry for `key` in `dir`.
    pub fn new(dir: &Path, key: &str) -> Self {
        CacheEntry { data: dir.join(format!("{key}.u8")), record: dir.join(format!("{key}.json")) }
    }

    /// The record and the mapped bytes, when the entry exists and is whole.
    pub fn open(&self, dim: usize) -> Option<(CacheRecord, memmap2::Mmap)> {
        let record: CacheRecord = serde_json::from_slice(&std::fs::read(&self.record).ok()?).ok()?;
        let file = std::fs::File::open(&self.data).ok()?;
        if file.metadata().ok()?.len() != (record.samples * dim) as u64 || record.samples == 0 {
            return None;
        }
        // SAFETY: cache files are written once under a temporary name and renamed into
        // place, never modified afterwards; a new entry for changed inputs has another
        // key, hence another file. (Another program truncating the file while mapped
        // would fault, as with any mapped file: the cache directory is ours.)
        let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
        self.touch();
        Some((record, map))
    }

    /// Marks the entry as used now (the record's modification time), for `memscope
    /// cache clear --unused-for`. A cache directory the user cannot write is still read.
    fn touch(&self) {
        let now = std::time::SystemTime::now();
        let _ = std::fs::File::options().append(true).open(&self.record).and_then(|f| f.set_modified(now));
    }

    /// A temporary file to write the bytes into, in the cache directory.
    pub fn create_temporary(&self) -> Result<(std::fs::File, PathBuf), DataError> {
        let dir = self.data.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| cache_error(dir, e))?;
        let path = temporary(&self.data);
        let file = std::fs::File::create(&path).map_err(|e| cache_error(&path, e))?;
        Ok((file, path))
    }

    /// Moves the written bytes into place, then writes the record: from then on the
    /// entry is visible.
    pub fn commit(&self, written: &Path, record: &CacheRecord) -> Result<(), DataError> {
        std::fs::rename(written, &self.data).map_err(|e| cache_error(&self.data, e))?;
        let text = serde_json::to_vec_pretty(record).expect("a cache record serializes");
        let tmp = temporary(&self.record);
        std::fs::write(&tmp, text).map_err(|e| cache_error(&tmp, e))?;
        std::fs::rename(&tmp, &self.record).map_err(|e| cache_error(&self.record, e))
    }
}

/// `dir/.<name>.tmp-<pid>`: where this process writes `path` before renaming it into
/// place ([`Inventory`] reads the pid back to tell a write in progress from a leftover).
fn temporary(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("cache");
    path.with_file_name(format!(".{name}{TEMPORARY_MARK}{}", std::process::id()))
}

/// What separates a temporary file's name from the pid of the process writing it.
const TEMPORARY_MARK: &str = ".tmp-";

/// An I/O error on a cache file.
pub fn cache_error(path: &Path, e: std::io::Error) -> DataError {
    DataError::Cache { path: path.to_path_buf(), message: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_change_with_settings_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.png");
        std::fs::write(&file, b"12345").unwrap();
        let size = ImageSize { channels: 1, height: 8, width: 8 };
        let key = |size: ImageSize, resize: ResizeMode| {
            let mut k = CacheKey::new(size, resize, BadImagePolicy::Fail);
            k.file(&file, &std::fs::metadata(&file).unwrap());
            k.finish()
        };
        let first = key(size, ResizeMode::ShorterSide);
        assert_eq!(first.len(), 32);
        assert_eq!(first, key(size, ResizeMode::ShorterSide), "stable");
        assert_ne!(first, key(size, ResizeMode::Exact));
        assert_ne!(first, key(ImageSize { channels: 3, ..size }, ResizeMode::ShorterSide));
        std::fs::write(&file, b"123456").unwrap();
        assert_ne!(first, key(size, ResizeMode::ShorterSide), "the size changed");
    }

    #[test]
    fn an_entry_is_seen_only_once_committed_and_whole() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let entry = CacheEntry::new(dir.path(), "k");
        assert!(entry.open(4).is_none());
        let (mut file, tmp) = entry.create_temporary().unwrap();
        file.write_all(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        drop(file);
        assert!(entry.open(4).is_none(), "not committed");
        entry.commit(&tmp, &CacheRecord { samples: 2, shape: [1, 2, 2], skipped: vec![], dataset: None }).unwrap();
        let (record, map) = entry.open(4).unwrap();
        assert_eq!((record.samples, &map[..]), (2, &[1u8, 2, 3, 4, 5, 6, 7, 8][..]));
        assert!(entry.open(3).is_none(), "a size that does not match is a miss");
    }
}
