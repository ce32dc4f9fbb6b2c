//! Where log lines go: stderr, and for the daemon also a file in its state directory.
//!
//! Logging must never end or wedge a long-running process. tracing-subscriber's
//! `std::io::stderr` writer returns `EPIPE` once whoever read the daemon's stderr has
//! gone (a closed terminal, `2> fifo` whose reader ended), and the fmt layer then
//! reports the failure with `eprintln!`, which panics ("failed printing to stderr")
//! in whatever thread logged: a handler that held the job store's lock, the runner
//! thread, the signal task. So the writers here never fail: stderr stops being
//! written at its first error, and the file keeps the whole log.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tracing_subscriber::fmt::MakeWriter;

/// When the log file passes this size it becomes `<name>.1` (replacing the previous
/// one) and a new file starts, so the log takes at most twice this on disk.
pub const LOG_FILE_LIMIT: u64 = 64 << 20;

/// Set at stderr's first failed write: nobody reads it any more.
static STDERR_GONE: AtomicBool = AtomicBool::new(false);

/// The log file, once a daemon has opened one.
static LOG_FILE: Mutex<Option<LogFile>> = Mutex::new(None);

struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
}

impl LogFile {
    fn open(path: &Path) -> io::Result<LogFile> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogFile { path: path.to_path_buf(), file, size })
    }

    fn write(&mut self, line: &[u8]) {
        if self.size + line.len() as u64 > LOG_FILE_LIMIT && self.size > 0 {
            let old = self.path.with_extension("log.1");
            if std::fs::rename(&self.path, &old).is_ok() {
                if let Ok(fresh) = LogFile::open(&self.path) {
                    *self = fresh;
                }
            }
        }
        if self.file.write_all(line).is_ok() {
            self.size += line.len() as u64;
        }
    }
}

/// Also writes every log line to `path` (appending), from now on.
pub fn log_to_file(path: &Path) -> io::Result<()> {
    let file = LogFile::open(path)?;
    *LOG_FILE.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
    Ok(())
}

/// Whether stderr failed and is no longer written.
pub fn stderr_gone() -> bool {
    STDERR_GONE.load(Ordering::Relaxed)
}

/// Writes log lines to stderr until the first failure, then drops them.
#[derive(Debug, Clone, Copy, Default)]
pub struct StderrLog;

impl Write for StderrLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !stderr_gone() && io::stderr().write_all(buf).is_err() {
            STDERR_GONE.store(true, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for StderrLog {
    type Writer = StderrLog;

    fn make_writer(&'a self) -> StderrLog {
        StderrLog
    }
}

/// Writes log lines to the file set by [`log_to_file`]; nothing before that. A line
/// that cannot be written is dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileLog;

impl Write for FileLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(file) = LOG_FILE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            file.write(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for FileLog {
    type Writer = FileLog;

    fn make_writer(&'a self) -> FileLog {
        FileLog
    }
}

/// Installs the global subscriber: stderr (coloured on a terminal) and the log file
/// (plain), both filtered by `MEMSCOPE_LOG` (a tracing filter) or `default_level`.
pub fn init(default_level: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MEMSCOPE_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let ansi = io::IsTerminal::is_terminal(&io::stderr());
    let stderr = tracing_subscriber::fmt::layer().with_writer(StderrLog).with_ansi(ansi).with_target(false).log_internal_errors(false);
    let file = tracing_subscriber::fmt::layer().with_writer(FileLog).with_ansi(false).with_target(false).log_internal_errors(false);
    tracing_subscriber::registry().with(filter).with(stderr).with(file).init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_starts_over_past_its_limit_keeping_one_old_generation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        std::fs::write(&path, vec![b'x'; LOG_FILE_LIMIT as usize - 3]).unwrap();
        let mut log = LogFile::open(&path).unwrap();
        log.write(b"ab\n");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), LOG_FILE_LIMIT, "fits: same file");
        log.write(b"next line\n");
        assert_eq!(std::fs::read(&path).unwrap(), b"next line\n");
        assert_eq!(std::fs::metadata(dir.path().join("daemon.log.1")).unwrap().len(), LOG_FILE_LIMIT);
    }
}
