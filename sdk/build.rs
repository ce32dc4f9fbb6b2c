//! Records which libtorch this build of the SDK (and so of the plugin that uses it)
//! compiled and linked against: torch-sys hands its library directory over as
//! `DEP_TCH_LIBTORCH_LIB`, and the version sits beside it (`../version.py` in the
//! PyTorch wheel, `../build-version` in a libtorch download). The host compares it with
//! the libtorch it runs with, so a plugin built against another libtorch is refused
//! before any of its code runs.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let version = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .ok()
        .and_then(|lib| read_version(std::path::Path::new(&lib)))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MEMSCOPE_SDK_TORCH_BUILT_WITH={version}");
    // The SDK's own tests run libtorch (`testing`): their binary needs the rpath.
    memscope_link::link_libtorch();
}

/// The version of the libtorch whose library directory is `lib`.
fn read_version(lib: &std::path::Path) -> Option<String> {
    let root = lib.parent()?;
    if let Ok(text) = std::fs::read_to_string(root.join("version.py")) {
        println!("cargo:rerun-if-changed={}", root.join("version.py").display());
        let line = text.lines().find(|l| l.starts_with("__version__"))?;
        return Some(line.split(['\'', '"']).nth(1)?.to_string());
    }
    let text = std::fs::read_to_string(root.join("build-version")).ok()?;
    println!("cargo:rerun-if-changed={}", root.join("build-version").display());
    Some(text.trim().to_string())
}
