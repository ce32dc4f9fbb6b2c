//! The plugin host: finds plugin libraries by name, checks their descriptor before
//! calling anything, creates instances with their config, and calls their hooks from
//! the thread where each event happens, turning errors and panics into errors that
//! name the plugin and hook. Libraries are never unloaded. A plugin type compiled into
//! the embedding program (`in_process.rs`) is created and called through the same
//! descriptor and glue, without a library.

mod contract;
mod discovery;
mod dropped;
mod error;
mod host_api;
mod in_process;
pub mod install;
mod instance;
mod library;
mod names;
mod set;
mod settings_check;
mod symbols;
pub mod template;
mod torch;

pub use contract::{check_scores, ContractError};
pub use discovery::{
    default_plugin_dirs, executable_dir, find_plugin, list_plugins, locate_plugin, plugin_file_names, user_plugin_dir, Listed, Located,
};
pub use dropped::{drop_partial_scores, DroppedPlugin};
pub use error::PluginError;
pub use host_api::{PluginOutputs, PublishedArray};
pub use in_process::{InProcessPlugin, IN_PROCESS};
pub use library::{load_library, open_plugin, PluginInfo, PluginRecord};
pub use set::{PluginScorer, PluginSeconds, PluginSet, PluginStates};
pub use settings_check::check_plugin_settings;
pub use torch::{check_running_libtorch, runtime_torch_version};
