//! A checkout that is moved or renamed keeps working: binaries find the project's
//! libtorch relative to themselves (`$ORIGIN`), never by an absolute path into the
//! checkout where they were built.

use memscope_tests::{memscope_bin, repo_root};
use std::process::Command;

/// The `RUNPATH`/`RPATH` entries of an ELF file, as `readelf -d` prints them.
fn runpath(file: &std::path::Path) -> Vec<String> {
    let out = Command::new("readelf").arg("-d").arg(file).output().expect("readelf (binutils) runs");
    assert!(out.status.success(), "readelf failed on {}", file.display());
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter(|l| l.contains("(RUNPATH)") || l.contains("(RPATH)"))
        .filter_map(|l| l.split_once('[').and_then(|(_, rest)| rest.split_once(']')).map(|(p, _)| p.to_string()))
        .flat_map(|p| p.split(':').map(str::to_string).collect::<Vec<_>>())
        .collect()
}

#[test]
fn binaries_carry_no_absolute_path_into_the_checkout() {
    let root = repo_root().canonicalize().unwrap();
    let bin = memscope_bin();
    let profile = bin.parent().unwrap();
    let plugin = profile.join("libmemscope_plugin_curvature.so");
    for file in [bin.clone(), plugin, std::env::current_exe().unwrap()] {
        let entries = runpath(&file);
        assert!(!entries.is_empty(), "{} has no rpath to libtorch", file.display());
        for entry in entries {
            assert!(!entry.starts_with(root.to_str().unwrap()), "{} has the absolute rpath {entry}", file.display());
        }
    }
}

#[test]
fn a_moved_checkout_still_runs() {
    let root = repo_root();
    let venv = root.join(".venv");
    if !venv.exists() {
        return; // libtorch comes from outside the checkout (`make LIBTORCH=...`): nothing moves with it
    }
    // The layout of a checkout somewhere else: its binary, and its venv.
    let moved = tempfile::tempdir().unwrap();
    let release = moved.path().join("target/release");
    std::fs::create_dir_all(&release).unwrap();
    std::fs::copy(memscope_bin(), release.join("memscope")).unwrap();
    std::os::unix::fs::symlink(venv.canonicalize().unwrap(), moved.path().join(".venv")).unwrap();
    let out = Command::new(release.join("memscope"))
        .arg("--version")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("spawning the moved binary");
    assert!(out.status.success(), "the moved binary failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("memscope"));
}
