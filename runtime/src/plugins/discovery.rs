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

/// The library of plugin `name`, searched in `dirs` in order.
pub fn find_plugin(name: &str, dirs: &[PathBuf]) -> Result<PathBuf, PluginError> {
    dirs.iter()
        .flat_map(|d| candidates(name).into_iter().map(move |c| d.join(c)))
        .find(|p| p.is_file())
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
            .filter(|p| p.extension().is_some_and(|e| e == "so"))
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
