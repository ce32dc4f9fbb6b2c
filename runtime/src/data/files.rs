//! The one way data files are opened: through an [`Access`] policy. The CLI reads
//! anything; a job started by the daemon reads only inside its data roots, checked
//! per file when the file is opened (so a symlink inside an allowed folder that points
//! outside is refused), and the error says only that the path is outside.

use super::DataError;
use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which files a job may open.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Access {
    /// Any file the process can read (`memscope run`).
    #[default]
    Anything,
    /// Only files whose real location (symlinks and `..` resolved) lies under one of
    /// these canonical directories (daemon jobs).
    Inside(Arc<Vec<PathBuf>>),
}

impl Access {
    /// Only inside `roots` (made canonical here; a root that does not exist is kept as
    /// given and matches nothing real).
    pub fn inside(roots: &[PathBuf]) -> Access {
        Access::Inside(Arc::new(roots.iter().map(|r| r.canonicalize().unwrap_or_else(|_| r.clone())).collect()))
    }

    /// Opens `path` for reading. Under `Inside`, the file actually opened is checked
    /// (through `/proc/self/fd`, so a symlink swapped in after a check cannot slip by).
    pub fn open(&self, path: &Path) -> Result<File, DataError> {
        let file = File::open(path).map_err(|e| self.open_error(path, e))?;
        if let Access::Inside(roots) = self {
            let real = opened_path(&file).or_else(|| path.canonicalize().ok());
            if !real.is_some_and(|real| roots.iter().any(|root| real.starts_with(root))) {
                return Err(DataError::OutsideRoots { path: path.to_path_buf() });
            }
        }
        Ok(file)
    }

    /// The whole content of `path`.
    pub fn read(&self, path: &Path) -> Result<Vec<u8>, DataError> {
        use std::io::Read;
        let mut file = self.open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| DataError::read(path, e))?;
        Ok(bytes)
    }

    /// The metadata of `path` (following symlinks), after checking where it really is.
    /// Used for the files that make the cache key, which are not opened on a cache hit
    /// but must still lie inside the roots.
    pub fn metadata(&self, path: &Path) -> Result<Metadata, DataError> {
        self.check(path)?;
        std::fs::metadata(path).map_err(|e| DataError::read(path, e))
    }

    /// Checks that `path` (a file or a directory to list) really lies inside the roots.
    pub fn check(&self, path: &Path) -> Result<(), DataError> {
        if let Access::Inside(roots) = self {
            let real = path.canonicalize().map_err(|e| self.open_error(path, e))?;
            if !roots.iter().any(|root| real.starts_with(root)) {
                return Err(DataError::OutsideRoots { path: path.to_path_buf() });
            }
        }
        Ok(())
    }

    /// A path that cannot be opened. Under `Inside`, a path whose parent is outside
    /// the roots is "outside" whatever the reason, so that the error does not tell
    /// what exists there.
    fn open_error(&self, path: &Path, error: std::io::Error) -> DataError {
        if let Access::Inside(roots) = self {
            let parent = path.parent().and_then(|p| p.canonicalize().ok());
            if !parent.is_some_and(|p| roots.iter().any(|root| p.starts_with(root))) {
                return DataError::OutsideRoots { path: path.to_path_buf() };
            }
        }
        DataError::read(path, error)
    }
}

/// The metadata of an image file that `listing` (a CSV manifest, a Parquet file) names
/// `at` a place of its own ("line 7", "row 5"), for the cache key: a missing file or a
/// directory is an error naming both.
pub fn listed_image(access: &Access, listing: &Path, at: &str, file: &Path) -> Result<Metadata, DataError> {
    match access.metadata(file) {
        Ok(m) if m.is_file() => Ok(m),
        Ok(_) => Err(DataError::format(listing, format!("{at}: {} is not a file", file.display()))),
        Err(DataError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Err(DataError::format(listing, format!("{at}: image file {} does not exist", file.display())))
        }
        Err(e) => Err(e),
    }
}

pub use memscope_base::paths::normalize_path;

/// The real path of an open file, from `/proc/self/fd` (Linux).
fn opened_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

/// A path that reads the already opened `file` (`/proc/self/fd/N`), for libraries
/// that open files by name themselves (libtorch's `.npz` reader): they read exactly
/// the file that `Access::open` checked.
pub fn fd_path(file: &File) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_paths_have_no_dot_components() {
        for (path, normal) in [
            ("/data/job/../train/./cat/1.png", "/data/train/cat/1.png"),
            ("/../x", "/x"),
            ("a/../../b", "../b"),
            ("./a/b/..", "a"),
            ("a/..", "."),
        ] {
            assert_eq!(normalize_path(Path::new(path)), Path::new(normal), "{path}");
        }
    }

    #[test]
    fn files_and_symlinks_are_checked_where_they_really_are() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("in.bin"), b"in").unwrap();
        std::fs::write(outside.path().join("secret.bin"), b"secret").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.bin"), root.path().join("link.bin")).unwrap();
        let access = Access::inside(&[root.path().to_path_buf()]);

        assert_eq!(access.read(&root.path().join("in.bin")).unwrap(), b"in");
        for bad in [
            root.path().join("link.bin"),
            outside.path().join("secret.bin"),
            root.path().join("../x/../").join(outside.path().file_name().unwrap()).join("secret.bin"),
        ] {
            let err = access.read(&bad).unwrap_err().to_string();
            assert_eq!(err, format!("dataset file {} is outside the data roots", bad.display()));
            assert!(!err.contains("secret.bin") || bad.ends_with("secret.bin"));
            assert!(access.metadata(&bad).is_err());
        }
        // A missing file outside reads as "outside" too; inside, as missing.
        let err = access.read(&outside.path().join("nothing")).unwrap_err().to_string();
        assert!(err.ends_with("is outside the data roots"), "{err}");
        let err = access.read(&root.path().join("nothing")).unwrap_err().to_string();
        assert!(err.contains("cannot read dataset file"), "{err}");
        assert_eq!(Access::Anything.read(&root.path().join("link.bin")).unwrap(), b"secret");
    }
}
