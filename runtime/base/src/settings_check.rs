//! The plugin settings check of a submitted job, as the daemon and
//! `memscope-engine check-plugin-settings` exchange it: the request as JSON on the
//! engine's stdin, the answer as JSON on its stdout. The daemon loads no plugin (they
//! link libtorch); the engine loads each and runs its check.

use crate::config::Problem;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The plugins to check and where to find them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsCheckRequest {
    /// The only plugin directories (the daemon's).
    pub plugin_dirs: Vec<PathBuf>,
    /// Each plugin with its settings.
    pub plugins: Vec<PluginSettings>,
}

/// One plugin and its settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PluginSettings {
    /// The plugin's name.
    pub name: String,
    /// The TOML text of its `config` table, as its `create` receives it.
    pub config: String,
}

/// What was found, in the order of the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsCheckAnswer {
    /// Each plugin's problems: keys inside its `config` table (empty for the table as a
    /// whole, or for a plugin that could not be loaded).
    pub plugins: Vec<Vec<Problem>>,
}
