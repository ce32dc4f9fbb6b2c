//! Where a plugin's library is found by name: the plugin directories in order, two file
//! names per plugin, the first found wins. The runtime loads what this finds; the daemon
//! checks submitted plugin names with it without loading anything.

use std::path::{Path, PathBuf};

/// Directories searched after a job's own `plugin_dirs`: `MEMSCOPE_PLUGIN_PATH`
/// (colon-separated), then the directory of the `memscope` executable, where the
/// workspace's plugins are built (the shipped plugins), then the user plugin directory
/// that `memscope plugins install` fills ([`user_plugin_dir`]). A user plugin comes
/// after the shipped ones, so a plugin of a name memscope ships is always the shipped
/// one (`plugins install` refuses such a name; one installed before a release shipped
/// it is reported as shadowed).
pub fn default_plugin_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("MEMSCOPE_PLUGIN_PATH")
        .map(|p| std::env::split_paths(&p).filter(|d| !d.as_os_str().is_empty()).collect())
        .unwrap_or_default();
    dirs.extend(executable_dir());
    dirs.extend(user_plugin_dir());
    dirs
}

/// The variable that names the user plugin directory outright.
pub const USER_PLUGIN_DIR_ENV: &str = "MEMSCOPE_PLUGIN_DIR";

/// The user plugin directory, where `memscope plugins install` puts libraries:
/// `$MEMSCOPE_PLUGIN_DIR` if set, else `$XDG_DATA_HOME/memscope/plugins`, else
/// `~/.local/share/memscope/plugins` (the XDG base directory rule); `None` when none
/// of those variables is set.
pub fn user_plugin_dir() -> Option<PathBuf> {
    user_plugin_dir_from(
        std::env::var_os(USER_PLUGIN_DIR_ENV).map(PathBuf::from),
        std::env::var_os("XDG_DATA_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

/// [`user_plugin_dir`] from the values of its three variables. Empty values count as
/// unset, and so does a relative `XDG_DATA_HOME` (the XDG specification says to ignore
/// it).
pub fn user_plugin_dir_from(plugin_dir: Option<PathBuf>, xdg_data_home: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    let set = |p: Option<PathBuf>| p.filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = set(plugin_dir) {
        return Some(dir);
    }
    if let Some(data) = set(xdg_data_home).filter(|p| p.is_absolute()) {
        return Some(data.join("memscope/plugins"));
    }
    set(home).map(|home| home.join(".local/share/memscope/plugins"))
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
pub fn is_file_of(file_name: &str, name: &str) -> bool {
    plugin_file_names(name).iter().any(|f| f == file_name)
}

/// The file-name prefix of the workspace's test fixture plugins
/// (`tests/fixtures/*`: plugins that panic or lie on purpose). Cargo builds them
/// beside the `memscope` binary, which is a default plugin directory, so discovery
/// never takes a file of this name; the tests copy them to a directory of their own
/// under names discovery finds.
pub const TEST_FIXTURE_PREFIX: &str = "libmemscope_fixture_";

/// Whether `path` is one of those test fixtures (never found, never listed).
pub fn is_test_fixture(path: &Path) -> bool {
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
/// then [`plugin_file_names`] in order), or `None` when there is none. A directory
/// listed twice counts once.
pub fn locate_plugin(name: &str, dirs: &[PathBuf]) -> Option<Located> {
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
        return None;
    }
    let path = found.remove(0);
    Some(Located { path, shadowed: found })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_plugin_dir_follows_the_xdg_rule_after_its_own_variable() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(user_plugin_dir_from(p("/mine"), p("/data"), p("/home/u")), p("/mine"));
        assert_eq!(user_plugin_dir_from(None, p("/data"), p("/home/u")), p("/data/memscope/plugins"));
        assert_eq!(user_plugin_dir_from(p(""), p("relative"), p("/home/u")), p("/home/u/.local/share/memscope/plugins"));
        assert_eq!(user_plugin_dir_from(None, None, None), None);
    }
}
