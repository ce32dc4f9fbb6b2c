//! A job's log (`log.txt` in its state directory): what its process writes to stderr,
//! written by the daemon with a size cap, and read back from the end.
//!
//! The process's stderr is a pipe the daemon copies from, line by line, so that the
//! log can be capped while the process writes: at `job_log_max_bytes` the file becomes
//! `log.txt.1` (replacing an older one) and a new `log.txt` starts, so a job keeps at
//! most twice the cap, its newest lines always. A `?tail=N` request reads the last N
//! lines backwards in blocks, holding no more than they take.

use actix_web::web::Bytes;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The longest piece of a line written at once: a process that writes a line without
/// end does not make the daemon hold it.
pub const MAX_LINE: u64 = 64 * 1024;

/// The block a log is read in.
const BLOCK: usize = 64 * 1024;

/// The older part of the log `path` (`log.txt.1`).
pub fn older(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// The log being written, rotated at its cap.
pub struct JobLog {
    path: PathBuf,
    file: File,
    size: u64,
    max: u64,
}

impl JobLog {
    /// Opens the log at `path` for appending (a resumed job goes on in it), rotating at
    /// `max` bytes.
    pub fn open(path: &Path, max: u64) -> std::io::Result<JobLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(JobLog { path: path.to_path_buf(), file, size, max })
    }

    /// Appends `bytes` (a line, or a piece of one of at most [`MAX_LINE`]), rotating
    /// first when they would take the file past the cap.
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.size > 0 && self.size + bytes.len() as u64 > self.max {
            std::fs::rename(&self.path, older(&self.path))?;
            self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
            self.size = 0;
        }
        self.file.write_all(bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }
}

/// The last `n` lines of the log at `path` (its older part included when the newer
/// one has fewer), read backwards in blocks: memory holds those lines and one block.
pub fn tail(path: &Path, n: usize) -> std::io::Result<Vec<u8>> {
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let mut wanted = n;
    for file in [path.to_path_buf(), older(path)] {
        if wanted == 0 {
            break;
        }
        let Ok(mut file) = File::open(&file) else {
            continue;
        };
        let (piece, found) = tail_of(&mut file, wanted)?;
        // A complete line of the newer part ends in a newline; so does the older part.
        wanted -= found.min(wanted);
        pieces.push(piece);
    }
    pieces.reverse();
    Ok(pieces.concat())
}

/// The last `n` lines of `file` and how many it has of them (fewer at its start).
/// A last line without a newline counts as a line.
fn tail_of(file: &mut File, n: usize) -> std::io::Result<(Vec<u8>, usize)> {
    let size = file.seek(SeekFrom::End(0))?;
    let mut end = size;
    let mut kept: Vec<u8> = Vec::new();
    let mut lines = 0;
    // The final newline ends the last line; it does not start another.
    let mut skip_final = true;
    while end > 0 {
        let start = end.saturating_sub(BLOCK as u64);
        let mut block = vec![0; (end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        for i in (0..block.len()).rev() {
            if block[i] != b'\n' {
                continue;
            }
            if skip_final && start + i as u64 == size - 1 {
                continue;
            }
            lines += 1;
            if lines == n {
                block.drain(..=i);
                block.extend_from_slice(&kept);
                return Ok((block, n));
            }
        }
        skip_final = false;
        block.extend_from_slice(&kept);
        kept = block;
        end = start;
    }
    let found = if size == 0 { 0 } else { lines + 1 };
    Ok((kept, found))
}

/// The whole log (older part first) as a stream of blocks, for a response body: the
/// daemon holds one block at a time, however long the log is.
pub struct LogStream {
    files: Vec<PathBuf>,
    current: Option<File>,
}

impl LogStream {
    /// The log at `path`, with its older part.
    pub fn new(path: &Path) -> LogStream {
        LogStream { files: vec![path.to_path_buf(), older(path)], current: None }
    }
}

impl futures_core::Stream for LogStream {
    type Item = std::io::Result<Bytes>;

    /// Reads the next block. A local file read of one block is short, so it is done
    /// here rather than on a thread pool.
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.current.is_none() {
                let Some(next) = self.files.pop() else {
                    return Poll::Ready(None);
                };
                self.current = File::open(next).ok();
                continue;
            }
            let mut block = vec![0; BLOCK];
            let file = self.current.as_mut().expect("a file is open");
            match file.read(&mut block) {
                Ok(0) => self.current = None,
                Ok(n) => {
                    block.truncate(n);
                    return Poll::Ready(Some(Ok(Bytes::from(block))));
                }
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(range: std::ops::Range<usize>) -> String {
        range.map(|i| format!("line {i}\n")).collect()
    }

    #[test]
    fn the_tail_is_the_last_lines_across_blocks_and_the_older_part() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.txt");
        // Lines of 10 or 11 bytes: many blocks.
        std::fs::write(&path, lines(0..20_000)).unwrap();
        let tail = |n| String::from_utf8(tail(&path, n).unwrap()).unwrap();
        assert_eq!(tail(3), lines(19_997..20_000));
        assert_eq!(tail(8_000), lines(12_000..20_000));
        assert_eq!(tail(0), "");
        assert_eq!(tail(50_000), lines(0..20_000), "fewer lines than asked: all of them");
        std::fs::write(&path, "no newline at the end").unwrap();
        assert_eq!(tail(1), "no newline at the end");
        std::fs::write(older(&path), lines(0..5)).unwrap();
        std::fs::write(&path, lines(5..7)).unwrap();
        assert_eq!(tail(4), lines(3..7), "the older part supplies what the newer lacks");
        std::fs::write(&path, "").unwrap();
        assert_eq!(tail(2), lines(3..5));
    }

    #[test]
    fn the_log_rotates_at_its_cap_and_keeps_the_newest_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.txt");
        let mut log = JobLog::open(&path, 100).unwrap();
        for i in 0..40 {
            log.write(format!("line {i:02}\n").as_bytes()).unwrap();
        }
        let newer = std::fs::read_to_string(&path).unwrap();
        let old = std::fs::read_to_string(older(&path)).unwrap();
        assert!(newer.len() <= 100 && old.len() <= 100, "{} and {} bytes", newer.len(), old.len());
        assert!(newer.ends_with("line 39\n") && old.ends_with(&newer_first_minus_one(&newer)), "{old}|{newer}");
        // Reopened (a resumed job), it goes on where it was.
        drop(log);
        let mut log = JobLog::open(&path, 100).unwrap();
        log.write(b"line 40\n").unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().ends_with("line 39\nline 40\n"));
    }

    /// The line before the first line of `newer`.
    fn newer_first_minus_one(newer: &str) -> String {
        let first: usize = newer.lines().next().unwrap()[5..].parse().unwrap();
        format!("line {:02}\n", first - 1)
    }
}
