//! Why a plugin could not be installed or removed. Each names the file, crate or
//! plugin and what is wrong, on one line (the I/O errors are in the message, not a
//! `source`, so `main`'s `{:#}` does not print them twice).

use crate::plugins::PluginError;
use std::path::PathBuf;

/// Why `plugins install` or `plugins remove` did nothing.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The path is neither a crate folder nor a file.
    #[error("{}: no such file or folder (give a plugin crate's folder or a built plugin library)", path.display())]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// A folder without a `Cargo.toml`.
    #[error("{}: not a plugin crate (no Cargo.toml in it)", path.display())]
    NotACrate {
        /// The folder.
        path: PathBuf,
    },
    /// cargo could not be started.
    #[error("cannot run `{program}` to build {}: {cause}", dir.display())]
    Cargo {
        /// The cargo program.
        program: String,
        /// The crate.
        dir: PathBuf,
        /// Why it did not start.
        cause: std::io::Error,
    },
    /// cargo ran and failed.
    #[error("`cargo build --release` failed in {} ({status}): its errors are above; nothing was installed", dir.display())]
    BuildFailed {
        /// The crate.
        dir: PathBuf,
        /// cargo's exit status.
        status: std::process::ExitStatus,
    },
    /// The crate built, but not a shared library.
    #[error("{}: the crate builds no shared library: a plugin crate has `crate-type = [\"cdylib\"]` in its `[lib]` (as `memscope plugins new` writes it)", dir.display())]
    NoLibrary {
        /// The crate.
        dir: PathBuf,
    },
    /// The file is not a plugin this memscope loads: the loader's own error.
    #[error("not installed: {0}")]
    NotAPlugin(PluginError),
    /// The plugin's name cannot be a file name.
    #[error("not installed: {}: plugin name `{name}` cannot name a file (letters, digits, `-` and `_` only)", path.display())]
    BadName {
        /// The library.
        path: PathBuf,
        /// The name in its descriptor.
        name: String,
    },
    /// memscope ships a plugin of that name, which jobs would always load instead.
    #[error("not installed: plugin `{name}` ({}) has the name of a plugin memscope ships ({}), which a job naming `{name}` always loads: rename your plugin", path.display(), shipped.display())]
    Shipped {
        /// The plugin's name.
        name: String,
        /// The library given.
        path: PathBuf,
        /// The shipped library of that name.
        shipped: PathBuf,
    },
    /// The library lies beside the `memscope` binary already (built into memscope's
    /// own target directory), where every job finds it.
    #[error("not installed: {} lies beside the memscope binary, where every job finds it already: build the crate in its own target directory (without CARGO_TARGET_DIR set to memscope's) and install it again", path.display())]
    BesideBinary {
        /// The library.
        path: PathBuf,
    },
    /// No user plugin directory: none of its variables is set.
    #[error("no user plugin directory: set MEMSCOPE_PLUGIN_DIR (or XDG_DATA_HOME or HOME)")]
    NoUserDir,
    /// `remove` of a name that is not installed.
    #[error("plugin `{name}` is not installed in {} (installed: {})", dir.display(), if installed.is_empty() { "none".to_string() } else { installed.join(", ") })]
    NotInstalled {
        /// The name given.
        name: String,
        /// The user plugin directory.
        dir: PathBuf,
        /// The plugin files there.
        installed: Vec<String>,
    },
    /// Writing or removing a file failed.
    #[error("cannot {what} {}: {cause}", path.display())]
    Io {
        /// What was being done (`create`, `write`, `remove`).
        what: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
}
