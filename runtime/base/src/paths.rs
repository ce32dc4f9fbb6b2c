//! Paths as memscope keeps them: one name per file, however a config reached it.

use std::path::{Path, PathBuf};

/// `path` with `.` and `..` components taken out by reading the text alone (no
/// symlink is followed, nothing is checked on disk): `/data/job/../train` is
/// `/data/train`. Sources and configured paths are kept this way, so that a sample
/// has one name whichever way a config reached it.
pub fn normalize_path(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            // `..` of the root is the root; a leading `..` of a relative path stays.
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}
