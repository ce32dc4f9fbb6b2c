//! Versions compared in the plugin handshake: a plugin built against another ABI, SDK
//! major version or libtorch is refused before any of its code runs.

/// Version of the binary interface between host and plugins; bumped on any change
/// to the `#[repr(C)]` types or the hook signatures.
pub const ABI_VERSION: u32 = 2;

/// Version of this SDK crate.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The libtorch version host and plugins must share (tensors cross the boundary as
/// libtorch handles, so both sides must use the same library).
pub const TORCH_VERSION: &str = "2.13.0";
