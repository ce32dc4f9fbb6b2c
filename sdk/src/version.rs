//! Versions compared in the plugin handshake: a plugin built against another ABI, SDK
//! major version or libtorch is refused before any of its code runs.

/// Version of the binary interface between host and plugins. Since ABI 5 the
/// `#[repr(C)]` types only grow: a field is appended, never moved, and the descriptor
/// carries its own size, so a host reads no field a plugin's build does not have (and
/// does not call a hook the plugin does not know), and a plugin reads no callback its
/// host lacks. Bumped when something is appended.
pub const ABI_VERSION: u32 = 5;

/// The oldest plugin ABI a host of this SDK loads: ABI 4 (`memscope_plugin_v4`, the
/// last descriptor of fixed layout, which the extensible one of ABI 5 starts with).
pub const OLDEST_PLUGIN_ABI: u32 = 4;

/// The oldest host a plugin built with this SDK runs in: the first with an extensible
/// descriptor, whose host tables carry their size and ABI (the SDK's glue reads them).
/// A host older than a plugin's `min_host_abi` refuses it, naming both versions.
pub const MIN_HOST_ABI: u32 = 5;

/// Version of this SDK crate.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The libtorch version tch 0.26 is written for (host and plugins must share one
/// libtorch: tensors cross the boundary as libtorch handles).
pub const TORCH_VERSION: &str = "2.13.0";

/// The libtorch this build compiled and linked against, read from that libtorch itself
/// at build time (`build.rs`; e.g. `2.13.0+cu130`, or `unknown`). A plugin's descriptor
/// carries its own build's value, which the host compares with the libtorch it runs
/// with: a plugin built against another libtorch has its own copy of tch's C++ glue,
/// compiled for another libtorch's headers and ABI.
pub const TORCH_BUILT_WITH: &str = env!("MEMSCOPE_SDK_TORCH_BUILT_WITH");

/// The release part of a libtorch version (`2.13.0` of `2.13.0+cu130`): builds for
/// CPU and CUDA of one release share the C++ ABI.
pub fn torch_release(version: &str) -> &str {
    version.split('+').next().unwrap_or(version).trim()
}
