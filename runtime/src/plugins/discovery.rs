//! Finding plugin libraries by name in the plugin directories (the file lookup itself
//! is `memscope_base::plugin_files`, shared with the daemon, which checks names
//! without loading anything) and listing the plugins a directory holds.

use super::{load_library, PluginError, PluginInfo};
pub use memscope_base::plugin_files::{default_plugin_dirs, executable_dir, plugin_file_names, user_plugin_dir, Located};
use memscope_base::plugin_files::{is_file_of, is_test_fixture};
use std::path::PathBuf;

/// Every file for plugin `name` in `dirs`, in search order (see
/// [`memscope_base::plugin_files::locate_plugin`]); an error naming the directories
/// when there is none.
pub fn locate_plugin(name: &str, dirs: &[PathBuf]) -> Result<Located, PluginError> {
    memscope_base::plugin_files::locate_plugin(name, dirs)
        .ok_or_else(|| PluginError::NotFound { name: name.to_string(), dirs: dirs.to_vec() })
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
                found.push(Err(PluginError::UnfindableName { path, name: info.name, expected: format!("{} or {}", names[0], names[1]) }));
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
