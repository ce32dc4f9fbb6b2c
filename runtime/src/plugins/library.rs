//! Loading a plugin library and the version handshake.

use super::discovery::locate_plugin;
use super::symbols::exported_with_prefix;
use super::torch::runtime_torch_version;
use super::PluginError;
use memscope_sdk::abi::{
    versioned_symbol, DescriptorFn, PluginDescriptor, ABI4_DESCRIPTOR_SIZE, DESCRIPTOR_SYMBOL, FLAG_KEEPS_NO_STATE, VERSIONED_SYMBOL_PREFIX,
};
use memscope_sdk::{torch_release, Direction, Hook, ScoreSpec, ABI_VERSION, OLDEST_PLUGIN_ABI, SDK_VERSION};
use sha2::{Digest, Sha256};
use std::mem::{offset_of, size_of, MaybeUninit};
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
    /// The plugin ABI it was built for ([`OLDEST_PLUGIN_ABI`] up to [`ABI_VERSION`]).
    pub abi: u32,
    /// The scores it declares, with their directions (none for a plugin of ABI 4, which
    /// could not declare any).
    pub scores: Vec<ScoreSpec>,
    /// Whether it says it keeps no state between training hooks.
    pub keeps_no_state: bool,
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
    /// The plugin ABI it was built for (absent in runs before ABI 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abi: Option<u32>,
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
            abi: Some(self.abi),
        }
    }
}

impl PluginInfo {
    /// Whether the plugin subscribes to `hook`.
    pub fn has(&self, hook: Hook) -> bool {
        self.hooks.contains(&hook)
    }

    /// The training hooks the plugin listens to when it saves no state across a resume
    /// and does not say it keeps none: what it counted before the checkpoint is lost
    /// when the job resumes, so its results would differ from an uninterrupted run's.
    pub fn forgets_on_resume(&self) -> Vec<Hook> {
        if self.keeps_no_state || self.has(Hook::SaveState) {
            return Vec::new();
        }
        [Hook::OnTrainBatchEnd, Hook::OnTrainEpochEnd, Hook::OnScores].into_iter().filter(|h| self.has(*h)).collect()
    }

    /// What the host knows of a plugin from its (complete) descriptor; the file's
    /// facts (`path`, `size`, `sha256`) are the caller's.
    pub(crate) fn from_descriptor(descriptor: &PluginDescriptor, path: PathBuf) -> Self {
        // SAFETY: a complete descriptor (`read_descriptor`, or the SDK's own): its strings
        // are 'static in a library that stays loaded, or in this program.
        let text = |s: memscope_sdk::abi::StrRef| unsafe { s.as_str() }.to_string();
        let declared = match descriptor.scores_len {
            0 => &[][..],
            // SAFETY: the plugin's SDK points `scores` at `scores_len` static declarations.
            n => unsafe { std::slice::from_raw_parts(descriptor.scores, n) },
        };
        PluginInfo {
            name: text(descriptor.name),
            version: text(descriptor.version),
            sdk_version: text(descriptor.sdk_version),
            torch_version: text(descriptor.torch_version),
            hooks: Hook::ALL.iter().copied().filter(|h| descriptor.hooks & h.bit() != 0).collect(),
            path,
            debug_build: descriptor.debug_build,
            size: 0,
            sha256: String::new(),
            shadowed: Vec::new(),
            abi: descriptor.abi_version,
            scores: declared.iter().map(|d| ScoreSpec { name: text(d.name), direction: Direction::from_code(d.direction) }).collect(),
            keeps_no_state: descriptor.flags & FLAG_KEEPS_NO_STATE != 0,
        }
    }
}

/// Loads the library at `path`, checks its descriptor (ABI first, then torch and SDK
/// versions) and returns it. The library stays loaded for the life of the process:
/// tensors and code from it may be referenced anywhere.
pub fn load_library(path: &Path) -> Result<(&'static PluginDescriptor, PluginInfo), PluginError> {
    // SAFETY: loading runs the library's initializers; plugin libraries are trusted
    // code from the configured plugin directories.
    let library = unsafe { libloading::Library::new(path) }.map_err(|e| {
        let detail = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
        PluginError::NotALibrary { path: path.to_path_buf(), message: format!("{e}{detail}") }
    })?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let incompatible = |plugin: String| PluginError::Incompatible {
        name: file_name.clone(),
        path: path.to_path_buf(),
        what: "ABI version",
        plugin,
        host: host_abis(),
    };
    // SAFETY: the symbol's type is the SDK's since ABI 5 (the name says no version: the
    // descriptor's first field does), and ABI 4's had the same type.
    let found = unsafe { library.get::<DescriptorFn>(DESCRIPTOR_SYMBOL) }.map(|f| (*f, None)).or_else(|_| {
        // SAFETY: as above: ABI 4's versioned symbol has the descriptor function's type.
        unsafe { library.get::<DescriptorFn>(versioned_symbol(OLDEST_PLUGIN_ABI).as_bytes()) }.map(|f| (*f, Some(OLDEST_PLUGIN_ABI)))
    });
    let (descriptor_fn, symbol_abi) = match found {
        Ok(found) => found,
        Err(_) => {
            // A library of another fixed-layout ABI exports another versioned symbol:
            // say which, without calling it (its descriptor has another layout).
            let other = exported_with_prefix(path, VERSIONED_SYMBOL_PREFIX)
                .into_iter()
                .find_map(|s| s[VERSIONED_SYMBOL_PREFIX.len()..].parse::<u32>().ok());
            return Err(match other {
                Some(abi) => incompatible(format!("{abi} (it exports `{}`)", versioned_symbol(abi))),
                None => PluginError::MissingSymbol { path: path.to_path_buf() },
            });
        }
    };
    // Never unloaded: leak the handle.
    std::mem::forget(library);
    // SAFETY: the symbol returns a pointer to the plugin's static descriptor.
    let raw = unsafe { descriptor_fn() };
    // SAFETY: every ABI's descriptor starts with its ABI version, a u32.
    let abi = unsafe { std::ptr::read(raw as *const u32) };
    let size = match symbol_abi {
        // ABI 4 (`memscope_plugin_v4`): its fixed layout, the start of today's.
        Some(expected) if abi == expected => ABI4_DESCRIPTOR_SIZE,
        // Nothing else in the descriptor can be trusted with another layout.
        Some(_) => return Err(incompatible(abi.to_string())),
        None if abi <= OLDEST_PLUGIN_ABI => return Err(incompatible(abi.to_string())),
        // SAFETY: since ABI 5 every descriptor has its size at this offset.
        None => unsafe { std::ptr::read((raw as *const u8).add(offset_of!(PluginDescriptor, size)) as *const usize) },
    };
    if size < ABI4_DESCRIPTOR_SIZE {
        return Err(incompatible(format!("{abi} (a descriptor of {size} bytes, shorter than ABI 4's)")));
    }
    // SAFETY: the plugin's SDK says its descriptor has `size` bytes, of which the
    // prefix this host knows is read.
    let descriptor = unsafe { complete_descriptor(raw, size) };
    let mut info = PluginInfo::from_descriptor(descriptor, path.to_path_buf());
    let name = info.name.clone();
    let min_host = if descriptor.min_host_abi == 0 { abi } else { descriptor.min_host_abi };
    if min_host > ABI_VERSION {
        return Err(PluginError::NeedsNewerHost { name, path: path.to_path_buf(), plugin: abi, needs: min_host, host: ABI_VERSION });
    }
    // What the plugin was built against, against what this process runs with (both
    // read from the libtorch files, not from a constant of the SDK).
    let running = runtime_torch_version();
    if torch_release(&info.torch_version) != torch_release(running) {
        return Err(PluginError::Incompatible {
            name,
            path: path.to_path_buf(),
            what: "libtorch",
            plugin: info.torch_version,
            host: running.into(),
        });
    }
    if major(&info.sdk_version) != major(SDK_VERSION) {
        return Err(PluginError::Incompatible {
            name,
            path: path.to_path_buf(),
            what: "SDK",
            plugin: info.sdk_version,
            host: SDK_VERSION.into(),
        });
    }
    let bytes =
        std::fs::read(path).map_err(|e| PluginError::NotALibrary { path: path.to_path_buf(), message: format!("cannot read it: {e}") })?;
    info.size = bytes.len() as u64;
    info.sha256 = hex(&Sha256::digest(&bytes));
    Ok((descriptor, info))
}

/// The ABIs this host loads, as its side of an error message.
fn host_abis() -> String {
    format!("{ABI_VERSION} (and loads plugins of ABI {OLDEST_PLUGIN_ABI} to {ABI_VERSION})")
}

/// A descriptor of this host's layout holding the first `size` bytes of the plugin's
/// (all of it when the plugin's is longer: fields appended after this host's ABI are
/// not read), the fields the plugin's build does not have left zero: absent (the ABI's
/// rule for appended fields, see `memscope_sdk::abi`). Kept for the life of the process,
/// as the library is.
///
/// # Safety
/// `raw` must point to a descriptor of at least `size` readable bytes, `size` at least
/// [`ABI4_DESCRIPTOR_SIZE`] (so every field before the appended ones is there).
unsafe fn complete_descriptor(raw: *const PluginDescriptor, size: usize) -> &'static PluginDescriptor {
    let mut copy = MaybeUninit::<PluginDescriptor>::zeroed();
    let known = size.min(size_of::<PluginDescriptor>());
    // SAFETY: `known` bytes are readable at `raw` (the caller) and fit in `copy`.
    unsafe { std::ptr::copy_nonoverlapping(raw as *const u8, copy.as_mut_ptr() as *mut u8, known) };
    // SAFETY: the fields up to ABI4_DESCRIPTOR_SIZE (the function pointers among them)
    // were copied from a valid descriptor; every later one is valid when zero.
    let mut descriptor = unsafe { copy.assume_init() };
    descriptor.size = size;
    Box::leak(Box::new(descriptor))
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

#[cfg(test)]
mod tests {
    use super::*;
    use memscope_sdk::ffi::{descriptor, DescriptorCell};
    use memscope_sdk::{Host, Plugin, PluginResult};
    use std::sync::OnceLock;

    struct Later;

    impl Plugin for Later {
        fn name() -> &'static str {
            "later"
        }
        fn hooks() -> &'static [Hook] {
            &[Hook::ScoreBatch]
        }
        fn scores() -> Vec<ScoreSpec> {
            vec![ScoreSpec::lower("later")]
        }
        fn create(_config: &str, _host: &Host) -> PluginResult<Self> {
            Ok(Later)
        }
    }

    /// Today's descriptor followed by fields of a later ABI.
    #[repr(C)]
    struct Longer {
        descriptor: PluginDescriptor,
        later: [u64; 3],
    }

    fn today() -> &'static PluginDescriptor {
        static CELL: OnceLock<DescriptorCell> = OnceLock::new();
        // SAFETY: `descriptor` returns a pointer to the cell's descriptor, a static.
        unsafe { &*descriptor::<Later>(&CELL, false) }
    }

    #[test]
    fn a_longer_descriptor_is_read_up_to_what_this_host_knows() {
        // SAFETY: a bitwise copy of a descriptor of statics and function pointers.
        let mut longer = Longer { descriptor: unsafe { std::ptr::read(today()) }, later: [u64::MAX; 3] };
        longer.descriptor.abi_version = ABI_VERSION + 1;
        longer.descriptor.size = size_of::<Longer>();
        // SAFETY: `longer` has the `size` bytes it says.
        let read = unsafe { complete_descriptor(&longer.descriptor, longer.descriptor.size) };
        let info = PluginInfo::from_descriptor(read, PathBuf::from("x"));
        assert_eq!((info.abi, info.name.as_str()), (ABI_VERSION + 1, "later"));
        assert_eq!(info.scores, vec![ScoreSpec::lower("later")]);
        assert_eq!(read.min_host_abi, memscope_sdk::MIN_HOST_ABI, "it runs in this host");
    }

    #[test]
    fn a_plugin_listening_to_training_without_state_forgets_on_resume_unless_it_says_so() {
        let mut info = PluginInfo::from_descriptor(today(), PathBuf::from("x"));
        info.hooks = vec![Hook::OnTrainBatchEnd, Hook::ScoreBatch];
        assert_eq!(info.forgets_on_resume(), vec![Hook::OnTrainBatchEnd]);
        info.keeps_no_state = true;
        assert!(info.forgets_on_resume().is_empty(), "declared stateless");
        info.keeps_no_state = false;
        info.hooks.push(Hook::SaveState);
        assert!(info.forgets_on_resume().is_empty(), "saves its state");
        info.hooks = vec![Hook::ScoreBatch, Hook::OnJobEnd];
        assert!(info.forgets_on_resume().is_empty(), "nothing across epochs");
    }

    #[test]
    fn an_abi_4_descriptor_has_none_of_the_later_fields() {
        // SAFETY: the first ABI4_DESCRIPTOR_SIZE bytes of a real descriptor.
        let read = unsafe { complete_descriptor(today(), ABI4_DESCRIPTOR_SIZE) };
        let info = PluginInfo::from_descriptor(read, PathBuf::from("x"));
        assert!(info.scores.is_empty() && !info.keeps_no_state, "{info:?}");
        assert_eq!((read.min_host_abi, read.size), (0, ABI4_DESCRIPTOR_SIZE));
        assert_eq!(info.hooks, vec![Hook::ScoreBatch]);
    }
}
