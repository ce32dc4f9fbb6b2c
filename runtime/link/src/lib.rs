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
//! When libtorch is the project's own (the wheel in the checkout's `.venv`), the rpath
//! is relative to the binary (`$ORIGIN/...`): a checkout that is moved or renamed
//! keeps working, where an absolute path into the old location would not. A libtorch
//! outside the checkout (`make LIBTORCH=/opt/libtorch`) keeps its absolute rpath.
//!
//! Binaries built here to run on another machine (`make gpu-bundle`: the libtorch of a
//! GPU machine's own PyTorch, wherever its python keeps it) carry no rpath at all:
//! `MEMSCOPE_LIBTORCH_RPATH` replaces the entries (colon-separated; set but empty: none),
//! and a launcher there finds libtorch at run time. A path of the build machine would
//! otherwise be searched on the other one, and hide a launcher that finds nothing here.
//!
//! Call [`link_libtorch`] from `build.rs` of a crate that depends on `torch-sys`
//! directly (cargo then hands it `DEP_TCH_LIBTORCH_LIB`, the directory torch-sys
//! linked against) or on `memscope-runtime` (which hands the same directory on as
//! `DEP_MEMSCOPE_LIBTORCH_LIB`): a program embedding memscope needs this build
//! dependency and a one-line `build.rs`, nothing else.

#![warn(missing_docs)]

use std::path::{Component, Path, PathBuf};

/// Emits the `cargo:rustc-link-arg` lines for rpath and CUDA linking.
pub fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=DEP_MEMSCOPE_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed={RPATH_VAR}");
    let given = std::env::var("DEP_TCH_LIBTORCH_LIB").or_else(|_| std::env::var("DEP_MEMSCOPE_LIBTORCH_LIB"));
    let Ok(lib_dir) = given else {
        println!("cargo:warning=neither DEP_TCH_LIBTORCH_LIB nor DEP_MEMSCOPE_LIBTORCH_LIB is set: depend on memscope-runtime (or torch-sys) directly");
        return;
    };
    let lib_dir = Path::new(&lib_dir);
    let rpaths = match std::env::var(RPATH_VAR) {
        Ok(chosen) => chosen_rpaths(&chosen),
        Err(_) => rpaths(lib_dir),
    };
    for rpath in rpaths {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{rpath}");
    }
    if lib_dir.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-L{}", lib_dir.display());
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}

/// The variable that replaces the rpath entries (see the crate's documentation).
const RPATH_VAR: &str = "MEMSCOPE_LIBTORCH_RPATH";

/// The rpath entries `MEMSCOPE_LIBTORCH_RPATH` asks for: its colon-separated entries,
/// none when it is empty.
fn chosen_rpaths(chosen: &str) -> Vec<String> {
    chosen.split(':').filter(|e| !e.is_empty()).map(str::to_string).collect()
}

/// The rpath entries for a binary of this build: relative ones when both libtorch
/// and the target directory lie inside the workspace, else the absolute directory.
fn rpaths(lib_dir: &Path) -> Vec<String> {
    let absolute = vec![lib_dir.display().to_string()];
    let (Some(profile), Some(workspace)) = (profile_dir(), workspace_root()) else { return absolute };
    let Ok(lib_dir) = lib_dir.canonicalize() else { return absolute };
    if !lib_dir.starts_with(&workspace) || !profile.starts_with(&workspace) {
        return absolute;
    }
    let Some(up) = relative(&profile, &lib_dir) else { return absolute };
    // Binaries and plugin libraries land in the profile directory itself; test
    // binaries and examples one level down (`deps/`, `examples/`).
    vec![format!("$ORIGIN/{}", up.display()), format!("$ORIGIN/../{}", up.display())]
}

/// `target/<profile>`, from this build script's `OUT_DIR`
/// (`target/<profile>/build/<crate>-<hash>/out`).
fn profile_dir() -> Option<PathBuf> {
    let out = PathBuf::from(std::env::var_os("OUT_DIR")?);
    out.ancestors().nth(3)?.canonicalize().ok()
}

/// The nearest directory above the calling crate that holds `Cargo.lock`.
fn workspace_root() -> Option<PathBuf> {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?).canonicalize().ok()?;
    manifest.ancestors().find(|d| d.join("Cargo.lock").exists()).map(Path::to_path_buf)
}

/// The path from directory `from` to `to`, both absolute and canonical.
fn relative(from: &Path, to: &Path) -> Option<PathBuf> {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return None;
    }
    let mut path: PathBuf = from[common..].iter().map(|_| Component::ParentDir).collect();
    path.extend(&to[common..]);
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_to_the_common_ancestor() {
        let rel = relative(Path::new("/w/main/target/release"), Path::new("/w/main/.venv/lib/torch/lib")).unwrap();
        assert_eq!(rel, Path::new("../../.venv/lib/torch/lib"));
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b/c")).unwrap(), Path::new("c"));
    }

    #[test]
    fn a_chosen_rpath_replaces_the_entries_and_an_empty_one_leaves_none() {
        assert!(chosen_rpaths("").is_empty());
        assert_eq!(chosen_rpaths("/opt/torch/lib:$ORIGIN/lib"), ["/opt/torch/lib", "$ORIGIN/lib"]);
    }
}
