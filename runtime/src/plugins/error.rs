//! Errors of the plugin host. Each names the plugin (or its file) and what is wrong.

use memscope_sdk::Hook;
use std::path::PathBuf;

/// Why a plugin could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// No library for the name in any plugin directory.
    #[error("plugin `{name}` not found in {}", dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "))]
    NotFound {
        /// The name the job used.
        name: String,
        /// Where we looked.
        dirs: Vec<PathBuf>,
    },
    /// The file is not a loadable shared library.
    #[error("{}: not a loadable plugin library: {message}", path.display())]
    NotALibrary {
        /// The file.
        path: PathBuf,
        /// The dynamic loader's message.
        message: String,
    },
    /// The library does not export the plugin symbol.
    #[error("{}: not a memscope plugin (no `memscope_plugin_descriptor` symbol, nor an older ABI's `memscope_plugin_vN`; was it built with `export_plugin!`?)", path.display())]
    MissingSymbol {
        /// The file.
        path: PathBuf,
    },
    /// The plugin was built against something the host cannot work with.
    #[error("plugin `{name}` ({}): built for {what} {plugin}, this memscope has {host}; rebuild it against this SDK", path.display())]
    Incompatible {
        /// Plugin name (or file name when the ABI is unknown).
        name: String,
        /// The file.
        path: PathBuf,
        /// `ABI version`, `libtorch` or `SDK`.
        what: &'static str,
        /// The plugin's version of it.
        plugin: String,
        /// The host's version of it.
        host: String,
    },
    /// The plugin was built for a newer memscope than this one.
    #[error("plugin `{name}` ({}): built for plugin ABI {plugin}, it needs a memscope of ABI {needs} or newer; this memscope has ABI {host}: upgrade memscope, or build the plugin against this memscope's SDK", path.display())]
    NeedsNewerHost {
        /// The plugin's name.
        name: String,
        /// The file.
        path: PathBuf,
        /// The ABI the plugin was built for.
        plugin: u32,
        /// The oldest host ABI it works with.
        needs: u32,
        /// This host's ABI.
        host: u32,
    },
    /// Two writers of one score or array name in a job.
    #[error("`{name}` is written by both {first} and {second}: a score or array has one writer (a plugin's `score_batch` score is named after the plugin); give them different names or leave one out")]
    NameClash {
        /// The score or array.
        name: String,
        /// Who claimed it first.
        first: String,
        /// Who claimed it again.
        second: String,
    },
    /// The library's name does not match the name asked for.
    #[error("{}: is plugin `{found}`, not `{wanted}`", path.display())]
    WrongName {
        /// The file.
        path: PathBuf,
        /// The name asked for.
        wanted: String,
        /// The name in the descriptor.
        found: String,
    },
    /// A plugin library whose file name discovery does not take for its name: a job
    /// naming the plugin would not find it.
    #[error("{}: plugin `{name}`, but a job looks for it as {expected}: rename the file", path.display())]
    UnfindableName {
        /// The file.
        path: PathBuf,
        /// The plugin's name.
        name: String,
        /// The file names that would be found.
        expected: String,
    },
    /// A plugin hook (or its creation) failed or panicked.
    #[error("plugin `{plugin}` {} in {hook}: {message}", if *panicked { "panicked" } else { "failed" })]
    Hook {
        /// The plugin.
        plugin: String,
        /// The hook (`create` for creation).
        hook: String,
        /// Its message.
        message: String,
        /// Whether it panicked.
        panicked: bool,
    },
    /// Several plugins failed to load; all are listed.
    #[error("{} plugin(s) could not be loaded: {}", .0.len(), .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Many(Vec<PluginError>),
}

impl PluginError {
    pub(crate) fn hook(plugin: &str, hook: Hook, message: String, panicked: bool) -> Self {
        PluginError::Hook { plugin: plugin.to_string(), hook: hook.name().to_string(), message, panicked }
    }
}
