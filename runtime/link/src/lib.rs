//! Linker settings shared by every crate that produces a binary or `cdylib` linked
//! against libtorch (the `memscope` binary, test binaries, plugins).
//!
//! Two traps make a libtorch binary fail on a user's machine:
//! - it cannot find `libtorch_cpu.so` at run time unless `LD_LIBRARY_PATH` is set,
//!   so we embed an rpath to the libtorch that the build used;
//! - `libtorch_cuda.so` is dropped by `--as-needed` linking because no symbol of it is
//!   used directly, and then CUDA is silently unavailable (tch-rs issue 907), so we
//!   link it with `--no-as-needed`.
//!
//! Call [`link_libtorch`] from `build.rs` of a crate that depends on `torch-sys`
//! directly: cargo then hands it `DEP_TCH_LIBTORCH_LIB`, the directory torch-sys
//! linked against.

use std::path::Path;

/// Emits the `cargo:rustc-link-arg` lines for rpath and CUDA linking.
pub fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!(
            "cargo:warning=DEP_TCH_LIBTORCH_LIB is not set: add torch-sys as a direct dependency"
        );
        return;
    };
    let lib_dir = Path::new(&lib_dir);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    if lib_dir.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-L{}", lib_dir.display());
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
