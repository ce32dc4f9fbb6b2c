//! `memscope plugins new NAME`: writes a plugin crate that builds on its own, outside
//! the workspace: `Cargo.toml` (the SDK as an absolute path dependency on this checkout's
//! `sdk/`, memscope's release profile, a workspace of its own), a `build.rs` with the
//! libtorch link settings, a working scorer with typed settings and a test, a README,
//! this checkout's `Cargo.lock`, so its dependencies are the versions memscope built,
//! and a `.cargo/config.toml` whose `build.build-dir` is this checkout's target
//! directory, so cargo reuses the artifacts memscope built (torch-sys, tch) while the
//! plugin's library lands in the crate's own `target/`, where no job sees it before
//! `memscope plugins install`.

use std::path::{Path, PathBuf};

/// What the written plugin does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// A scorer: `score_batch` on every scored snapshot (the cross-entropy at a
    /// temperature), with typed settings and tests through the SDK's fake host.
    #[default]
    Scorer,
    /// A plugin that watches training: each step's logits (`TrainBatchOutputs`),
    /// counts kept across a resume (`SaveState`/`LoadState`), a score published after the
    /// last epoch; tests through the SDK's fake host.
    Training,
}

/// Why a plugin crate could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The name cannot be a plugin name.
    #[error("`{name}` cannot name a plugin: {reason}")]
    BadName {
        /// The name given.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The crate's folder exists already.
    #[error("{} exists already: choose another name or --dir", path.display())]
    Exists {
        /// The folder.
        path: PathBuf,
    },
    /// The SDK of the checkout this memscope was built from is not there.
    #[error("this memscope was built from a checkout whose SDK ({}) is gone; run `plugins new` with a memscope built from a checkout", path.display())]
    NoSdk {
        /// Where it was.
        path: PathBuf,
    },
    /// Writing failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The variables torch-sys's build script reads (`cargo:rerun-if-env-changed`), with
/// the values this memscope's build had. The crate's `.cargo/config.toml` sets them
/// (`[env]`, which cargo's rebuild check reads too), so a build of the plugin in the
/// shared build directory finds torch-sys as the checkout left it, whatever the shell.
const LIBTORCH_ENV: [(&str, Option<&str>); 8] = [
    ("LIBTORCH", option_env!("LIBTORCH")),
    ("LIBTORCH_USE_PYTORCH", option_env!("LIBTORCH_USE_PYTORCH")),
    ("LIBTORCH_INCLUDE", option_env!("LIBTORCH_INCLUDE")),
    ("LIBTORCH_LIB", option_env!("LIBTORCH_LIB")),
    ("LIBTORCH_CXX11_ABI", option_env!("LIBTORCH_CXX11_ABI")),
    ("LIBTORCH_STATIC", option_env!("LIBTORCH_STATIC")),
    ("LIBTORCH_BYPASS_VERSION_CHECK", option_env!("LIBTORCH_BYPASS_VERSION_CHECK")),
    ("TORCH_CUDA_VERSION", option_env!("TORCH_CUDA_VERSION")),
];

/// The `[env]` lines of [`LIBTORCH_ENV`]'s variables that were set.
fn libtorch_env() -> String {
    LIBTORCH_ENV.iter().filter_map(|(name, value)| value.map(|v| format!("{name} = {}\n", toml::Value::String(v.to_string())))).collect()
}

/// The checkout this memscope was built from (the workspace root).
fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("/")).to_path_buf()
}

/// Checks a plugin name: lowercase ASCII letters, digits, `-` and `_`, starting with
/// a letter, at most 64 characters (it becomes a crate name and a file name).
pub fn check_name(name: &str) -> Result<(), TemplateError> {
    let bad = |reason| Err(TemplateError::BadName { name: name.to_string(), reason });
    if name.is_empty() || name.len() > 64 {
        return bad("it must have 1 to 64 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return bad("it must start with a lowercase letter");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
        return bad("use lowercase letters, digits, `-` and `_` only");
    }
    Ok(())
}

/// `el2n-fast` as `El2nFast`: the plugin's type name.
fn type_name(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// Writes the crate for plugin `name`, of `kind`, into `dir/name` and returns that folder.
pub fn new_plugin(name: &str, dir: &Path, kind: Kind) -> Result<PathBuf, TemplateError> {
    check_name(name)?;
    let root = dir.join(name);
    if root.exists() {
        return Err(TemplateError::Exists { path: root });
    }
    let checkout = checkout();
    let sdk = checkout.join("sdk");
    let sdk = sdk.canonicalize().map_err(|_| TemplateError::NoSdk { path: sdk.clone() })?;
    let stem = name.replace('-', "_");
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{crate_name}}", &format!("memscope-plugin-{name}"))
            .replace("{{type_name}}", &type_name(name))
            .replace("{{stem}}", &stem)
            .replace("{{lib_file}}", &format!("libmemscope_plugin_{stem}.so"))
            .replace("{{sdk_path}}", &sdk.display().to_string())
            .replace("{{target_dir}}", &checkout.join("target").display().to_string())
            .replace("{{libtorch_env}}", &libtorch_env())
            .replace("{{what}}", match kind {
                Kind::Scorer => "a working scorer (the per-sample cross-entropy at a softmax temperature)",
                Kind::Training => "a working plugin that watches training (the share of each sample's training presentations it was misclassified at, kept across a resume)",
            })
            .replace("{{config_example}}", match kind {
                Kind::Scorer => "{ temperature = 1.0 }",
                Kind::Training => "{ from_epoch = 0 }",
            })
    };
    let lib = match kind {
        Kind::Scorer => include_str!("files/lib.rs.in"),
        Kind::Training => include_str!("files/lib_training.rs.in"),
    };
    let files = [
        ("Cargo.toml", fill(include_str!("files/Cargo.toml.in"))),
        ("build.rs", fill(include_str!("files/build.rs.in"))),
        ("src/lib.rs", fill(lib)),
        ("README.md", fill(include_str!("files/README.md.in"))),
        (".gitignore", fill(include_str!("files/gitignore.in"))),
        (".cargo/config.toml", fill(include_str!("files/cargo_config.toml.in"))),
    ];
    let write = |path: PathBuf, text: &[u8]| {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| TemplateError::Io { path: parent.to_path_buf(), source })?;
        }
        std::fs::write(&path, text).map_err(|source| TemplateError::Io { path, source })
    };
    for (file, text) in &files {
        write(root.join(file), text.as_bytes())?;
    }
    // memscope's versions of every dependency; cargo drops what this crate does not use.
    if let Ok(lock) = std::fs::read(checkout.join("Cargo.lock")) {
        write(root.join("Cargo.lock"), &lock)?;
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_type_names_and_bad_names_are_refused() {
        assert_eq!(type_name("el2n"), "El2n");
        assert_eq!(type_name("in-confidence_2"), "InConfidence2");
        for (bad, reason) in [("", "1 to 64"), ("2x", "lowercase letter"), ("a b", "only"), ("Ab", "lowercase letter")] {
            let err = check_name(bad).unwrap_err().to_string();
            assert!(err.contains(reason), "{bad}: {err}");
        }
    }

    #[test]
    fn the_crate_names_this_checkouts_sdk_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let root = new_plugin("my-score", dir.path(), Kind::Scorer).unwrap();
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let sdk = checkout().join("sdk").canonicalize().unwrap();
        assert!(manifest.contains(&format!("memscope-sdk = {{ path = \"{}\" }}", sdk.display())), "{manifest}");
        assert!(manifest.contains("name = \"memscope-plugin-my-score\""), "{manifest}");
        let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
        assert!(lib.contains("pub struct MyScore") && lib.contains("\"my-score\""), "{lib}");
        assert!(!lib.contains("{{") && !manifest.contains("{{"), "every placeholder is filled");
        assert!(root.join("Cargo.lock").exists() && root.join("build.rs").exists());
        let config = std::fs::read_to_string(root.join(".cargo/config.toml")).unwrap();
        assert!(config.contains(&format!("build-dir = \"{}\"", checkout().join("target").display())), "{config}");
        let env = config.split("[env]\n").nth(1).unwrap_or_else(|| panic!("{config}"));
        let set = LIBTORCH_ENV.iter().filter(|(_, v)| v.is_some()).count();
        assert_eq!(env.lines().filter(|l| !l.trim().is_empty()).count(), set, "{config}");
        if let Some(value) = option_env!("LIBTORCH_USE_PYTORCH") {
            assert!(env.contains(&format!("LIBTORCH_USE_PYTORCH = \"{value}\"")), "{config}");
        }
        let err = new_plugin("my-score", dir.path(), Kind::Training).unwrap_err().to_string();
        assert!(err.contains("exists already"), "{err}");
        let lib = std::fs::read_to_string(new_plugin("my-counts", dir.path(), Kind::Training).unwrap().join("src/lib.rs")).unwrap();
        assert!(lib.contains("pub struct MyCounts") && lib.contains("Hook::SaveState") && !lib.contains("{{"), "{lib}");
        let readme = std::fs::read_to_string(dir.path().join("my-counts/README.md")).unwrap();
        assert!(readme.contains("config = { from_epoch = 0 }") && !readme.contains("{{"), "{readme}");
    }
}
