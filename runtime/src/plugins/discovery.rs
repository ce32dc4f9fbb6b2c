//! Finding plugin libraries by name in the plugin directories.

use super::{load_library, PluginError, PluginInfo};
use std::path::{Path, PathBuf};

/// Directories searched when a job names no others: `MEMSCOPE_PLUGIN_PATH`
/// (colon-separated), then the directory of the `memscope` executable, where the
/// workspace's plugins are built.
pub fn default_plugin_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("MEMSCOPE_PLUGIN_PATH")
        .map(|p| std::env::split_paths(&p).filter(|d| !d.as_os_str().is_empty()).collect())
        .unwrap_or_default();
    dirs.extend(executable_dir());
    dirs
}

/// The directory of the running executable, where the workspace builds the plugins.
pub fn executable_dir() -> Option<PathBuf> {
    std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf))
}

/// File names a plugin called `name` may have.
fn candidates(name: &str) -> Vec<String> {
    let stem = name.replace('-', "_");
    vec![format!("libmemscope_plugin_{stem}.so"), format!("libmemscope_{stem}.so"), format!("lib{stem}.so")]
}

/// The file-name prefix of the workspace's test fixture plugins
/// (`tests/fixtures/*`: plugins that panic or lie on purpose). Cargo builds them
/// beside the `memscope` binary, which is a default plugin directory, so discovery
/// never takes a file of this name; the tests copy them to a directory of their own
/// under names discovery finds.
pub const TEST_FIXTURE_PREFIX: &str = "libmemscope_fixture_";

fn is_test_fixture(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(TEST_FIXTURE_PREFIX))
}

/// The library of plugin `name`, searched in `dirs` in order.
pub fn find_plugin(name: &str, dirs: &[PathBuf]) -> Result<PathBuf, PluginError> {
    dirs.iter()
        .flat_map(|d| candidates(name).into_iter().map(move |c| d.join(c)))
        .find(|p| p.is_file() && !is_test_fixture(p))
        .ok_or_else(|| PluginError::NotFound { name: name.to_string(), dirs: dirs.to_vec() })
}

/// Every plugin library in `dirs`: shared libraries that export the plugin symbol,
/// with what loading them said. Other shared libraries are skipped.
pub fn list_plugins(dirs: &[PathBuf]) -> Vec<Result<PluginInfo, PluginError>> {
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "so") && !is_test_fixture(p))
            .collect();
        paths.sort();
        for path in paths {
            match load_library(&path) {
                Err(PluginError::MissingSymbol { .. }) => {}
                other => found.push(other.map(|(_, info)| info)),
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_fixtures_are_never_found_under_any_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libmemscope_fixture_faulty.so"), b"").unwrap();
        std::fs::write(dir.path().join("libmemscope_plugin_real.so"), b"").unwrap();
        let dirs = [dir.path().to_path_buf()];
        for name in ["fixture-faulty", "fixture_faulty", "memscope-fixture-faulty"] {
            assert!(find_plugin(name, &dirs).is_err(), "{name} was found");
        }
        assert!(find_plugin("real", &dirs).is_ok());
        assert_eq!(list_plugins(&dirs).len(), 1, "only the real one is tried");
    }
}
