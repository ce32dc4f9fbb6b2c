//! What a cache directory holds, and clearing it (`memscope cache list`, `memscope
//! cache clear`).
//!
//! Entries are never removed by a run: a new entry for changed images or settings sits
//! beside the old one, which a later run may want again (an image folder restored, a
//! setting changed back). So the cache grows until its user clears it, by age of last
//! use or all at once. Only files the cache writes are touched (`<key>.u8`,
//! `<key>.json`, and their temporaries `.<key>.u8.tmp-<pid>`): a `data.cache_dir` may
//! be a folder of the user's. A run that has an entry mapped keeps reading it after
//! it is removed (the file is gone only when unmapped).

use super::{cache_error, CacheEntry, CacheRecord, TEMPORARY_MARK};
use crate::data::DataError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// One cached dataset: its decoded images and their record.
#[derive(Debug, Clone)]
pub struct CachedSet {
    /// The cache key (32 hex digits): the files are `<key>.u8` and `<key>.json`.
    pub key: String,
    /// Bytes on disk, both files.
    pub bytes: u64,
    /// Images held.
    pub samples: usize,
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    /// Where the images came from, when the entry records it.
    pub dataset: Option<String>,
    /// When a run last read (or wrote) the entry.
    pub last_used: SystemTime,
}

/// A file of a write that has not finished: the temporary of a decode still running
/// (kept), or of one that ended without finishing, or an entry missing a part
/// (removed by [`Inventory::clear`]).
#[derive(Debug, Clone)]
pub struct Unfinished {
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// The process writing it is still running.
    pub in_progress: bool,
}

/// The cached datasets of one cache directory.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The directory read.
    pub dir: PathBuf,
    /// Its datasets, the most recently used first.
    pub sets: Vec<CachedSet>,
    /// Files of unfinished writes.
    pub unfinished: Vec<Unfinished>,
}

/// What [`Inventory::clear`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cleared {
    /// Datasets removed.
    pub sets: usize,
    /// Files of unfinished writes removed.
    pub unfinished: usize,
    /// Bytes freed.
    pub bytes: u64,
    /// Datasets kept (used more recently than asked).
    pub kept: usize,
}

impl Inventory {
    /// Reads `dir`. A directory that does not exist is an empty cache.
    pub fn read(dir: &Path) -> Result<Inventory, DataError> {
        let mut inventory = Inventory { dir: dir.to_path_buf(), sets: Vec::new(), unfinished: Vec::new() };
        let listing = match std::fs::read_dir(dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(inventory),
            Err(e) => return Err(cache_error(dir, e)),
        };
        let mut names = Vec::new();
        for item in listing {
            let item = item.map_err(|e| cache_error(dir, e))?;
            if let Ok(name) = item.file_name().into_string() {
                names.push(name);
            }
        }
        names.sort();
        let size = |path: &Path| std::fs::metadata(path).map(|m| m.len()).map_err(|e| cache_error(path, e));
        // The files of each entry, by key; each entry is then read once.
        let mut entries: BTreeMap<&str, Vec<PathBuf>> = BTreeMap::new();
        for name in &names {
            let path = dir.join(name);
            if let Some(pid) = temporary_of(name) {
                let in_progress = Path::new("/proc").join(pid.to_string()).exists();
                inventory.unfinished.push(Unfinished { bytes: size(&path)?, path, in_progress });
            } else if let Some((key, _)) = name.split_once('.').filter(|(key, ext)| is_key(key) && matches!(*ext, "u8" | "json")) {
                entries.entry(key).or_default().push(path);
            }
        }
        for (key, files) in entries {
            match read_set(dir, key) {
                Ok(set) => inventory.sets.push(set),
                Err(_) => {
                    for path in files {
                        inventory.unfinished.push(Unfinished { bytes: size(&path)?, path, in_progress: false });
                    }
                }
            }
        }
        inventory.sets.sort_by_key(|set| std::cmp::Reverse(set.last_used));
        Ok(inventory)
    }

    /// Bytes on disk: every dataset and unfinished file.
    pub fn bytes(&self) -> u64 {
        self.sets.iter().map(|s| s.bytes).sum::<u64>() + self.unfinished.iter().map(|u| u.bytes).sum::<u64>()
    }

    /// Removes the datasets not used for `unused_for` (every one when `None`), and the
    /// files of writes that ended unfinished. The temporaries of a decode still running
    /// are kept.
    pub fn clear(&self, unused_for: Option<Duration>) -> Result<Cleared, DataError> {
        let now = SystemTime::now();
        let mut cleared = Cleared { sets: 0, unfinished: 0, bytes: 0, kept: 0 };
        for set in &self.sets {
            let idle = now.duration_since(set.last_used).unwrap_or_default();
            if unused_for.is_some_and(|limit| idle < limit) {
                cleared.kept += 1;
                continue;
            }
            // The record first: without it the entry is no longer seen.
            let entry = CacheEntry::new(&self.dir, &set.key);
            remove(&entry.record)?;
            remove(&entry.data)?;
            cleared.sets += 1;
            cleared.bytes += set.bytes;
        }
        for file in self.unfinished.iter().filter(|u| !u.in_progress) {
            remove(&file.path)?;
            cleared.unfinished += 1;
            cleared.bytes += file.bytes;
        }
        Ok(cleared)
    }
}

/// The whole set `<key>.json` + `<key>.u8` in `dir`, or why it is not whole.
fn read_set(dir: &Path, key: &str) -> Result<CachedSet, String> {
    let entry = CacheEntry::new(dir, key);
    let text = std::fs::read(&entry.record).map_err(|e| e.to_string())?;
    let record: CacheRecord = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
    let record_meta = std::fs::metadata(&entry.record).map_err(|e| e.to_string())?;
    let data_bytes = std::fs::metadata(&entry.data).map_err(|e| e.to_string())?.len();
    let expected = record.samples as u64 * record.shape.iter().product::<usize>() as u64;
    if data_bytes != expected {
        return Err(format!("{data_bytes} bytes where the record says {expected}"));
    }
    Ok(CachedSet {
        key: key.to_string(),
        bytes: data_bytes + record_meta.len(),
        samples: record.samples,
        shape: record.shape,
        dataset: record.dataset,
        last_used: record_meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    })
}

/// A cache key: 32 lowercase hex digits.
fn is_key(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The pid in the name of a temporary cache file, `.<key>.<u8|json>.tmp-<pid>`.
fn temporary_of(name: &str) -> Option<u32> {
    let (file, pid) = name.strip_prefix('.')?.rsplit_once(TEMPORARY_MARK)?;
    let (key, extension) = file.split_once('.')?;
    (is_key(key) && matches!(extension, "u8" | "json")).then_some(())?;
    pid.parse().ok()
}

fn remove(path: &Path) -> Result<(), DataError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(cache_error(path, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const KEYS: [&str; 3] = ["0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210", "00000000000000000000000000000000"];

    /// A whole entry of `samples` 1x2x2 images, last used `age` ago.
    fn entry(dir: &Path, key: &str, samples: usize, age: Duration) {
        let entry = CacheEntry::new(dir, key);
        let (mut file, tmp) = entry.create_temporary().unwrap();
        file.write_all(&vec![7u8; samples * 4]).unwrap();
        let record = CacheRecord { samples, shape: [1, 2, 2], skipped: vec![], dataset: Some(format!("folder {key}")) };
        entry.commit(&tmp, &record).unwrap();
        let used = SystemTime::now() - age;
        std::fs::File::options().append(true).open(&entry.record).unwrap().set_modified(used).unwrap();
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn lists_whole_entries_newest_first_and_unfinished_writes_apart() {
        let dir = tempfile::tempdir().unwrap();
        entry(dir.path(), KEYS[0], 3, 10 * DAY);
        entry(dir.path(), KEYS[1], 5, DAY);
        std::fs::write(dir.path().join(format!("{}.u8", KEYS[2])), [1u8; 8]).unwrap(); // no record
        std::fs::write(dir.path().join(format!(".{}.u8.tmp-{}", KEYS[2], std::process::id())), [1u8; 4]).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "the user's").unwrap();
        let inventory = Inventory::read(dir.path()).unwrap();
        let sets: Vec<(&str, usize, Option<&str>)> =
            inventory.sets.iter().map(|s| (s.key.as_str(), s.samples, s.dataset.as_deref())).collect();
        assert_eq!(sets, [(KEYS[1], 5, Some(&*format!("folder {}", KEYS[1]))), (KEYS[0], 3, Some(&*format!("folder {}", KEYS[0])))]);
        assert_eq!(inventory.sets[1].bytes, 12 + std::fs::metadata(dir.path().join(format!("{}.json", KEYS[0]))).unwrap().len());
        let unfinished: Vec<(String, bool)> =
            inventory.unfinished.iter().map(|u| (u.path.file_name().unwrap().to_string_lossy().into_owned(), u.in_progress)).collect();
        assert_eq!(unfinished, [(format!(".{}.u8.tmp-{}", KEYS[2], std::process::id()), true), (format!("{}.u8", KEYS[2]), false)]);
        assert_eq!(inventory.bytes(), inventory.sets.iter().map(|s| s.bytes).sum::<u64>() + 12);
    }

    #[test]
    fn clears_entries_unused_for_a_while_and_leftovers_but_not_writes_in_progress() {
        let dir = tempfile::tempdir().unwrap();
        entry(dir.path(), KEYS[0], 3, 10 * DAY);
        entry(dir.path(), KEYS[1], 5, DAY);
        let running = format!(".{}.u8.tmp-{}", KEYS[2], std::process::id());
        let ended = format!(".{}.json.tmp-{}", KEYS[2], u32::MAX);
        for name in [&running, &ended, &"notes.txt".to_string()] {
            std::fs::write(dir.path().join(name), [1u8; 4]).unwrap();
        }
        let cleared = Inventory::read(dir.path()).unwrap().clear(Some(7 * DAY)).unwrap();
        assert_eq!((cleared.sets, cleared.unfinished, cleared.kept), (1, 1, 1));
        let kept = [running.clone(), format!("{}.json", KEYS[1]), format!("{}.u8", KEYS[1]), "notes.txt".into()];
        assert_eq!(names(dir.path()), kept);

        let cleared = Inventory::read(dir.path()).unwrap().clear(None).unwrap();
        assert_eq!((cleared.sets, cleared.kept), (1, 0));
        assert_eq!(names(dir.path()), [running, "notes.txt".into()]);
    }

    #[test]
    fn a_cache_hit_marks_the_entry_used_and_a_missing_directory_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        entry(dir.path(), KEYS[0], 2, 30 * DAY);
        assert!(CacheEntry::new(dir.path(), KEYS[0]).open(4).is_some());
        let set = &Inventory::read(dir.path()).unwrap().sets[0];
        assert!(set.last_used.elapsed().unwrap() < DAY, "{:?}", set.last_used);
        assert!(Inventory::read(&dir.path().join("none")).unwrap().sets.is_empty());
    }
}
