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

/// The file names a plugin called `name` is found under, in this order: the name cargo
/// gives a crate `memscope-plugin-NAME` (`libmemscope_plugin_NAME.so`) and the one it
/// gives a crate `NAME` (`libNAME.so`), with `-` in the name written `_`. No other
/// file is taken for a name, and `list_plugins` shows no other file as usable.
pub fn plugin_file_names(name: &str) -> [String; 2] {
    let stem = name.replace('-', "_");
    [format!("libmemscope_plugin_{stem}.so"), format!("lib{stem}.so")]
}

/// Whether discovery takes the file `file_name` for plugin `name`.
fn is_file_of(file_name: &str, name: &str) -> bool {
    plugin_file_names(name).iter().any(|f| f == file_name)
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

/// Where plugin `name` was found: the file that wins, and other files of the same name
/// later in the search order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The first file in the search order: the one loaded.
    pub path: PathBuf,
    /// Other files for the same name, in search order, not loaded.
    pub shadowed: Vec<PathBuf>,
}

/// Every file for plugin `name` in `dirs`, in search order (directories in order,
/// then [`plugin_file_names`] in order). A directory listed twice counts once.
pub fn locate_plugin(name: &str, dirs: &[PathBuf]) -> Result<Located, PluginError> {
    let mut seen = Vec::new();
    let mut found: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        let key = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        for file in plugin_file_names(name) {
            let path = dir.join(file);
            if path.is_file() && !is_test_fixture(&path) {
                found.push(path);
            }
        }
    }
    if found.is_empty() {
        return Err(PluginError::NotFound { name: name.to_string(), dirs: dirs.to_vec() });
    }
    let path = found.remove(0);
    Ok(Located { path, shadowed: found })
}

/// The library of plugin `name`, searched in `dirs` in order (the first of
/// [`locate_plugin`]).
pub fn find_plugin(name: &str, dirs: &[PathBuf]) -> Result<PathBuf, PluginError> {
    locate_plugin(name, dirs).map(|l| l.path)
}

/// One plugin library found by [`list_plugins`].
#[derive(Debug)]
pub struct Listed {
    /// What its descriptor says.
    pub info: PluginInfo,
    /// The file a job loads for this name instead, when that is another one (earlier
    /// in the search order).
    pub shadowed_by: Option<PathBuf>,
}

/// Every plugin library in `dirs`: shared libraries that export the plugin symbol,
/// with what loading them said. Other shared libraries are skipped. A plugin whose
/// file name discovery would not take for its name is listed as an error saying
/// which names it would take, so that `list` and a job's lookup agree: every plugin
/// listed is loaded by a job naming it (or is shadowed by the file named).
pub fn list_plugins(dirs: &[PathBuf]) -> Vec<Result<Listed, PluginError>> {
    let mut found = Vec::new();
    let mut seen = Vec::new();
    for dir in dirs {
        let key = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "so") && !is_test_fixture(p))
            .collect();
        paths.sort();
        for path in paths {
            let info = match load_library(&path) {
                Err(PluginError::MissingSymbol { .. }) => continue,
                Err(e) => {
                    found.push(Err(e));
                    continue;
                }
                Ok((_, info)) => info,
            };
            let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if !is_file_of(&file_name, &info.name) {
                let names = plugin_file_names(&info.name);
                found.push(Err(PluginError::UnfindableName {
                    path,
                    name: info.name,
                    expected: format!("{} or {}", names[0], names[1]),
                }));
                continue;
            }
            let winner = find_plugin(&info.name, dirs).ok();
            let shadowed_by = winner.filter(|w| w != &path);
            found.push(Ok(Listed { info, shadowed_by }));
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

    #[test]
    fn a_plugin_is_found_under_two_file_names_only() {
        assert_eq!(plugin_file_names("el2n"), ["libmemscope_plugin_el2n.so".to_string(), "libel2n.so".to_string()]);
        assert_eq!(plugin_file_names("in-confidence")[1], "libin_confidence.so");
        let dir = tempfile::tempdir().unwrap();
        for file in ["el2n.so", "libmemscope_el2n.so", "memscope_plugin_el2n.so"] {
            std::fs::write(dir.path().join(file), b"").unwrap();
        }
        assert!(find_plugin("el2n", &[dir.path().to_path_buf()]).is_err());
    }

    #[test]
    fn the_first_file_in_the_search_order_wins_and_the_others_are_named() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(a.path().join("libel2n.so"), b"").unwrap();
        std::fs::write(b.path().join("libmemscope_plugin_el2n.so"), b"").unwrap();
        std::fs::write(b.path().join("libel2n.so"), b"").unwrap();
        let dirs = [a.path().to_path_buf(), b.path().to_path_buf(), a.path().to_path_buf()];
        let located = locate_plugin("el2n", &dirs).unwrap();
        assert_eq!(located.path, a.path().join("libel2n.so"));
        assert_eq!(located.shadowed, vec![b.path().join("libmemscope_plugin_el2n.so"), b.path().join("libel2n.so")]);
    }
}
