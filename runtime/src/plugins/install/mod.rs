//! `memscope plugins install PATH` and `memscope plugins remove NAME`: a plugin (a crate,
//! built here, or a built library) checked by the loader and copied into the user
//! plugin directory ([`memscope_base::plugin_files::user_plugin_dir`]), which jobs and
//! `plugins list` search after the shipped plugins. Why a directory of the user's own:
//! a plugin built into memscope's target directory lies beside the binary, so every job
//! on that binary loads it, and rebuilding memscope can overwrite it.

mod cargo;
mod error;

pub use error::InstallError;

use super::{load_library, plugin_file_names, PluginInfo};
use std::path::{Path, PathBuf};

/// What [`install`] did.
#[derive(Debug)]
pub struct Installed {
    /// What the loader read from the library (its `path` is the library given or built).
    pub info: PluginInfo,
    /// The installed file.
    pub path: PathBuf,
    /// Whether a plugin of that name was installed before (an upgrade replaced it).
    pub replaced: bool,
}

/// Installs the plugin at `source` into `user_dir`: a folder is a plugin crate, built
/// in release ([`cargo::build_crate`]); a file is a built library. The library must pass
/// the loader's own check ([`load_library`]: a shared library exporting a descriptor of
/// an ABI this memscope loads, built against its libtorch), its name must not be one a
/// plugin in `shipped_dirs` has (a job would always load that one), and it is then
/// copied as `libmemscope_plugin_NAME.so`, the first name discovery takes, replacing
/// any plugin of that name (an upgrade). The copy is written beside the target and
/// renamed over it, so a job that has the old library mapped keeps running.
pub fn install(source: &Path, user_dir: &Path, shipped_dirs: &[PathBuf]) -> Result<Installed, InstallError> {
    let library = if source.is_dir() {
        cargo::build_crate(source)?
    } else if source.is_file() {
        source.to_path_buf()
    } else {
        return Err(InstallError::Missing { path: source.to_path_buf() });
    };
    let (_, info) = load_library(&library).map_err(InstallError::NotAPlugin)?;
    if !is_file_stem(&info.name) {
        return Err(InstallError::BadName { path: library, name: info.name });
    }
    if let Some(shipped) = memscope_base::plugin_files::locate_plugin(&info.name, shipped_dirs) {
        let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        if canonical(&shipped.path) == canonical(&library) {
            return Err(InstallError::BesideBinary { path: library });
        }
        return Err(InstallError::Shipped { name: info.name, path: library, shipped: shipped.path });
    }
    std::fs::create_dir_all(user_dir).map_err(|cause| InstallError::Io { what: "create", path: user_dir.to_path_buf(), cause })?;
    let [file, other] = plugin_file_names(&info.name).map(|f| user_dir.join(f));
    let replaced = file.exists() || other.exists();
    let partial = user_dir.join(format!(".{}.{}.partial", file.file_name().unwrap_or_default().to_string_lossy(), std::process::id()));
    let copied = std::fs::copy(&library, &partial).and_then(|_| std::fs::rename(&partial, &file));
    if let Err(cause) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(InstallError::Io { what: "write", path: file, cause });
    }
    // A library under the other name discovery takes is an older install of this
    // plugin (copied by hand): the new file would shadow it, so it goes.
    if other.exists() {
        std::fs::remove_file(&other).map_err(|cause| InstallError::Io { what: "remove", path: other, cause })?;
    }
    Ok(Installed { info, path: file, replaced })
}

/// Removes plugin `name` from `user_dir` (each file discovery takes for the name) and
/// returns the files removed; an error listing what is installed when there is none.
pub fn remove(name: &str, user_dir: &Path) -> Result<Vec<PathBuf>, InstallError> {
    let files: Vec<PathBuf> = if is_file_stem(name) {
        plugin_file_names(name).iter().map(|f| user_dir.join(f)).filter(|f| f.is_file()).collect()
    } else {
        Vec::new()
    };
    if files.is_empty() {
        return Err(InstallError::NotInstalled {
            name: name.to_string(),
            dir: user_dir.to_path_buf(),
            installed: installed_files(user_dir),
        });
    }
    for file in &files {
        std::fs::remove_file(file).map_err(|cause| InstallError::Io { what: "remove", path: file.clone(), cause })?;
    }
    Ok(files)
}

/// The shared libraries in `dir`, by file name, sorted (none when it does not exist).
fn installed_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".so")).collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Whether a plugin name can be part of a file name: ASCII letters, digits, `-`, `_`.
fn is_file_stem(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_takes_both_file_names_and_names_what_is_installed_when_nothing_matches() {
        let dir = tempfile::tempdir().unwrap();
        for file in ["libmemscope_plugin_my_score.so", "libmy_score.so", "libmemscope_plugin_other.so"] {
            std::fs::write(dir.path().join(file), b"").unwrap();
        }
        let removed = remove("my-score", dir.path()).unwrap();
        assert_eq!(removed, vec![dir.path().join("libmemscope_plugin_my_score.so"), dir.path().join("libmy_score.so")]);
        let err = remove("my-score", dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("plugin `my-score` is not installed in") && err.ends_with("(installed: libmemscope_plugin_other.so)"),
            "{err}"
        );
        let err = remove("../other", dir.path()).unwrap_err().to_string();
        assert!(err.contains("not installed"), "{err}");
        assert!(dir.path().join("libmemscope_plugin_other.so").exists());
    }
}
