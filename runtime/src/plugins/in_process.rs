//! Plugins compiled into the embedding program: an SDK [`Plugin`] type run by the host
//! without a `cdylib`. It goes through the same descriptor and `extern "C"` glue the
//! export macro gives a library (`memscope_sdk::ffi`), so its hooks are dispatched,
//! guarded and reported exactly like a loaded plugin's (a panic in `score_batch` is
//! `plugin `X` panicked in score_batch: ...`).

use super::PluginInfo;
use crate::config::PluginConfig;
use memscope_sdk::abi::PluginDescriptor;
use memscope_sdk::ffi::{descriptor, DescriptorCell};
use memscope_sdk::{Hook, Plugin, SDK_VERSION, TORCH_BUILT_WITH};
use std::any::TypeId;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// What [`PluginInfo::path`] says of a plugin that has no file.
pub const IN_PROCESS: &str = "(in process)";

/// A plugin type of the embedding program with the config its `create` receives.
#[derive(Clone)]
pub struct InProcessPlugin {
    /// The descriptor (in the SDK's `Sync` wrapper: its pointers are to statics).
    cell: &'static DescriptorCell,
    /// Its name (`Plugin::name`), config table and whether a failure ends the job,
    /// as a `[[plugins]]` entry of a job file would give them.
    pub config: PluginConfig,
}

impl std::fmt::Debug for InProcessPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessPlugin").field("config", &self.config).finish()
    }
}

impl InProcessPlugin {
    /// Plugin `P`, created with `config` (its `[plugins.config]` table).
    pub fn new<P: Plugin + 'static>(config: toml::Table) -> Self {
        InProcessPlugin {
            cell: descriptor_of::<P>(),
            config: PluginConfig { name: P::name().to_string(), optional: false, config },
        }
    }

    /// Marks it optional: a failing hook is reported and the plugin skipped, as
    /// `optional = true` does in a job file.
    pub fn optional(mut self) -> Self {
        self.config.optional = true;
        self
    }

    /// Its descriptor, as a loaded library's symbol returns it.
    pub(crate) fn descriptor(&self) -> &'static PluginDescriptor {
        &self.cell.0
    }

    /// What the host knows of it: the descriptor's name, versions and hooks.
    pub(crate) fn info(&self) -> PluginInfo {
        let hooks = Hook::ALL.iter().copied().filter(|h| self.descriptor().hooks & h.bit() != 0).collect();
        PluginInfo {
            name: self.config.name.clone(),
            // SAFETY: the descriptor's strings are 'static (built by the SDK from
            // `Plugin::name`, `Plugin::version` and constants).
            version: unsafe { self.descriptor().version.as_str() }.to_string(),
            sdk_version: SDK_VERSION.to_string(),
            torch_version: TORCH_BUILT_WITH.to_string(),
            hooks,
            path: PathBuf::from(IN_PROCESS),
            debug_build: self.descriptor().debug_build,
            // No file: nothing to measure or checksum.
            size: 0,
            sha256: String::new(),
            shadowed: Vec::new(),
        }
    }
}

/// The descriptor of `P`, built once per type for the life of the process (as a
/// library's is: plugins are never unloaded).
fn descriptor_of<P: Plugin + 'static>() -> &'static DescriptorCell {
    static CELLS: OnceLock<Mutex<HashMap<TypeId, &'static OnceLock<DescriptorCell>>>> = OnceLock::new();
    let cell = *CELLS
        .get_or_init(Default::default)
        .lock()
        .expect("descriptor cells")
        .entry(TypeId::of::<P>())
        .or_insert_with(|| Box::leak(Box::new(OnceLock::new())));
    // Compiled into this program: its build profile is the runtime's.
    descriptor::<P>(cell, cfg!(debug_assertions));
    cell.get().expect("`descriptor` fills the cell")
}
