//! Loading a plugin library and the version handshake.

use super::discovery::locate_plugin;
use super::PluginError;
use sha2::{Digest, Sha256};
use super::torch::runtime_torch_version;
use memscope_sdk::abi::{older_descriptor_symbol, DescriptorFn, PluginDescriptor, DESCRIPTOR_SYMBOL};
use memscope_sdk::{torch_release, Hook, ABI_VERSION, SDK_VERSION};
use std::ffi::c_void;
use std::path::{Path, PathBuf};

/// What a plugin's descriptor says about it.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// SDK it was built with.
    pub sdk_version: String,
    /// libtorch it was built against.
    pub torch_version: String,
    /// Hooks it subscribes to.
    pub hooks: Vec<Hook>,
    /// Its file.
    pub path: PathBuf,
    /// Whether it was built without optimizations.
    pub debug_build: bool,
    /// Size of the file in bytes.
    pub size: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Other files of the same plugin later in the search order, not loaded (set by
    /// [`open_plugin`]).
    pub shadowed: Vec<PathBuf>,
}

/// Which plugin file a run used: recorded for every loaded plugin in `summary.json`,
/// so a result can be traced to the exact build that produced it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PluginRecord {
    /// The plugin's name.
    pub name: String,
    /// Its own version.
    pub version: String,
    /// The SDK it was built with.
    pub sdk_version: String,
    /// The libtorch it was built against.
    pub torch_version: String,
    /// The library file loaded.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Whether it was built without optimizations (a debug build).
    pub debug_build: bool,
    /// Other files of the same plugin later in the search order, not loaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shadowed: Vec<PathBuf>,
}

impl PluginInfo {
    /// What `summary.json` records about this plugin.
    pub fn record(&self) -> PluginRecord {
        PluginRecord {
            name: self.name.clone(),
            version: self.version.clone(),
            sdk_version: self.sdk_version.clone(),
            torch_version: self.torch_version.clone(),
            path: self.path.clone(),
            size: self.size,
            sha256: self.sha256.clone(),
            debug_build: self.debug_build,
            shadowed: self.shadowed.clone(),
        }
    }
}

impl PluginInfo {
    /// Whether the plugin subscribes to `hook`.
    pub fn has(&self, hook: Hook) -> bool {
        self.hooks.contains(&hook)
    }
}

/// Loads the library at `path`, checks its descriptor (ABI first, then torch and SDK
/// versions) and returns it. The library stays loaded for the life of the process:
/// tensors and code from it may be referenced anywhere.
pub fn load_library(path: &Path) -> Result<(&'static PluginDescriptor, PluginInfo), PluginError> {
    // SAFETY: loading runs the library's initializers; plugin libraries are trusted
    // code from the configured plugin directories.
    let library = unsafe { libloading::Library::new(path) }
        .map_err(|e| {
            let detail = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
            PluginError::NotALibrary { path: path.to_path_buf(), message: format!("{e}{detail}") }
        })?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // SAFETY: the symbol's type is fixed by the SDK's ABI version, which its name says.
    let descriptor_fn = match unsafe { library.get::<DescriptorFn>(DESCRIPTOR_SYMBOL) } {
        Ok(f) => *f,
        Err(_) => {
            // A library of another ABI exports another symbol: say which, without
            // calling it (its descriptor has another layout).
            let other = (1..=9).filter(|v| *v != ABI_VERSION).find(|v| {
                // SAFETY: only looked up, never called: the type is irrelevant.
                unsafe { library.get::<*const c_void>(older_descriptor_symbol(*v).as_bytes()) }.is_ok()
            });
            return Err(match other {
                Some(abi) => PluginError::Incompatible {
                    name: file_name,
                    path: path.to_path_buf(),
                    what: "ABI version",
                    plugin: format!("{abi} (it exports `{}`)", older_descriptor_symbol(abi)),
                    host: ABI_VERSION.to_string(),
                },
                None => PluginError::MissingSymbol { path: path.to_path_buf() },
            });
        }
    };
    // Never unloaded: leak the handle.
    std::mem::forget(library);
    // SAFETY: the symbol of this ABI returns a pointer to a static descriptor.
    let descriptor: &'static PluginDescriptor = unsafe { &*descriptor_fn() };
    if descriptor.abi_version != ABI_VERSION {
        // Nothing else in the descriptor can be trusted with another layout.
        return Err(PluginError::Incompatible {
            name: file_name,
            path: path.to_path_buf(),
            what: "ABI version",
            plugin: descriptor.abi_version.to_string(),
            host: ABI_VERSION.to_string(),
        });
    }
    // SAFETY: same ABI: the strings are 'static in the plugin library, which stays loaded.
    let (name, version, sdk, torch) = unsafe {
        (
            descriptor.name.as_str().to_string(),
            descriptor.version.as_str().to_string(),
            descriptor.sdk_version.as_str().to_string(),
            descriptor.torch_version.as_str().to_string(),
        )
    };
    // What the plugin was built against, against what this process runs with (both
    // read from the libtorch files, not from a constant of the SDK).
    let running = runtime_torch_version();
    if torch_release(&torch) != torch_release(running) {
        return Err(PluginError::Incompatible { name, path: path.to_path_buf(), what: "libtorch", plugin: torch, host: running.into() });
    }
    if major(&sdk) != major(SDK_VERSION) {
        return Err(PluginError::Incompatible { name, path: path.to_path_buf(), what: "SDK", plugin: sdk, host: SDK_VERSION.into() });
    }
    let hooks = Hook::ALL.iter().copied().filter(|h| descriptor.hooks & h.bit() != 0).collect();
    let bytes = std::fs::read(path).map_err(|e| PluginError::NotALibrary { path: path.to_path_buf(), message: format!("cannot read it: {e}") })?;
    let info = PluginInfo {
        name,
        version,
        sdk_version: sdk,
        torch_version: torch,
        hooks,
        path: path.to_path_buf(),
        debug_build: descriptor.debug_build,
        size: bytes.len() as u64,
        sha256: hex(&Sha256::digest(&bytes)),
        shadowed: Vec::new(),
    };
    Ok((descriptor, info))
}

/// Finds plugin `name` in `dirs` (see `discovery.rs`), loads it and checks that the
/// library is that plugin. Warns about a debug build and about other files of the same
/// plugin later in the search order (the first wins); the record names both.
pub fn open_plugin(name: &str, dirs: &[PathBuf]) -> Result<(&'static PluginDescriptor, PluginInfo), PluginError> {
    let located = locate_plugin(name, dirs)?;
    let (descriptor, mut info) = load_library(&located.path)?;
    if info.name != name {
        return Err(PluginError::WrongName { path: located.path, wanted: name.to_string(), found: info.name });
    }
    if !located.shadowed.is_empty() {
        tracing::warn!(
            "plugin `{name}`: loading {}; also found {} (later in the search order, not loaded)",
            located.path.display(),
            located.shadowed.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    if info.debug_build {
        tracing::warn!(
            "plugin `{name}` ({}) is a debug build, which runs many times slower: build it with `cargo build --release`",
            located.path.display()
        );
    }
    info.shadowed = located.shadowed;
    Ok((descriptor, info))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compatibility class of a semver version: the major, or `0.minor` before 1.0.
fn major(version: &str) -> String {
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some("0"), Some(minor)) => format!("0.{minor}"),
        (Some(major), _) => major.to_string(),
        _ => version.to_string(),
    }
}
