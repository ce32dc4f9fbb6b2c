//! Building a plugin crate as `memscope plugins new` crates are built: `cargo build
//! --release` in the crate's folder (so its `.cargo/config.toml` applies: the crate
//! `plugins new` writes shares the checkout's build directory, and torch-sys is not
//! compiled again), with the caller's environment (the libtorch settings). cargo's
//! messages go to the terminal; the library is the `cdylib` cargo reports for the
//! crate's own manifest, wherever its target directory is.

use super::InstallError;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Builds the crate in `dir` in release and returns the shared library it made.
pub fn build_crate(dir: &Path) -> Result<PathBuf, InstallError> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(InstallError::NotACrate { path: dir.to_path_buf() });
    }
    // `cargo` runs a build script's or test's cargo again through `CARGO`.
    let program = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(&program)
        .args(["build", "--release", "--message-format=json-render-diagnostics", "--manifest-path"])
        .arg(&manifest)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|cause| InstallError::Cargo { program, dir: dir.to_path_buf(), cause })?;
    if !output.status.success() {
        return Err(InstallError::BuildFailed { dir: dir.to_path_buf(), status: output.status });
    }
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    library_of(&String::from_utf8_lossy(&output.stdout), &manifest).ok_or_else(|| InstallError::NoLibrary { dir: dir.to_path_buf() })
}

/// The `.so` of the last `compiler-artifact` message for `manifest` whose target is a
/// `cdylib`, in cargo's JSON messages (one per line).
fn library_of(messages: &str, manifest: &Path) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["manifest_path"].as_str().is_some_and(|p| Path::new(p) == manifest))
        .filter(|m| m["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "cdylib")))
        .filter_map(|m| m["filenames"].as_array()?.iter().filter_map(|f| f.as_str()).find(|f| f.ends_with(".so")).map(PathBuf::from))
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_is_the_cdylib_of_the_crates_own_manifest() {
        let messages = [
            r#"{"reason":"compiler-artifact","manifest_path":"/sdk/Cargo.toml","target":{"kind":["lib"]},"filenames":["/t/deps/libmemscope_sdk-1.rlib"]}"#,
            r#"{"reason":"compiler-artifact","manifest_path":"/other/Cargo.toml","target":{"kind":["cdylib"]},"filenames":["/t/release/libother.so"]}"#,
            r#"{"reason":"build-script-executed","manifest_path":"/p/Cargo.toml"}"#,
            r#"{"reason":"compiler-artifact","manifest_path":"/p/Cargo.toml","target":{"kind":["cdylib"]},"filenames":["/p/target/release/libmemscope_plugin_p.so"]}"#,
            r#"{"reason":"build-finished","success":true}"#,
        ]
        .join("\n");
        assert_eq!(library_of(&messages, Path::new("/p/Cargo.toml")), Some(PathBuf::from("/p/target/release/libmemscope_plugin_p.so")));
        assert_eq!(library_of(&messages, Path::new("/sdk/Cargo.toml")), None, "an rlib is no plugin");
    }
}
