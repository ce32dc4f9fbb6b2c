//! A checkout that is moved or renamed keeps working: binaries find the project's
//! libtorch relative to themselves (`$ORIGIN`), never by an absolute path into the
//! checkout where they were built. The `memscope` binary itself links no libtorch (it
//! `exec`s `memscope-engine` beside it for the commands that need it).

use memscope_tests::{memscope_bin, repo_root};
use std::process::Command;

/// The entries of an ELF file's dynamic section whose tag contains `tag`
/// (`RUNPATH`, `NEEDED`), as `readelf -d` prints them.
fn dynamic(file: &std::path::Path, tags: &[&str]) -> Vec<String> {
    let out = Command::new("readelf").arg("-d").arg(file).output().expect("readelf (binutils) runs");
    assert!(out.status.success(), "readelf failed on {}", file.display());
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter(|l| tags.iter().any(|t| l.contains(&format!("({t})"))))
        .filter_map(|l| l.split_once('[').and_then(|(_, rest)| rest.split_once(']')).map(|(p, _)| p.to_string()))
        .flat_map(|p| p.split(':').map(str::to_string).collect::<Vec<_>>())
        .collect()
}

/// The `RUNPATH`/`RPATH` entries of an ELF file.
fn runpath(file: &std::path::Path) -> Vec<String> {
    dynamic(file, &["RUNPATH", "RPATH"])
}

/// `memscope-engine`, beside `memscope`.
fn engine() -> std::path::PathBuf {
    memscope_bin().with_file_name("memscope-engine")
}

#[test]
fn the_memscope_binary_links_no_libtorch_and_the_engine_does() {
    let needed = |file: &std::path::Path| dynamic(file, &["NEEDED"]);
    let light = needed(&memscope_bin());
    assert!(!light.iter().any(|l| l.contains("torch") || l.contains("c10") || l.contains("cuda")), "memscope needs {light:?}");
    assert!(runpath(&memscope_bin()).is_empty(), "memscope has an rpath, but nothing to find with it");
    let heavy = needed(&engine());
    assert!(heavy.iter().any(|l| l.starts_with("libtorch_cpu")), "memscope-engine needs {heavy:?}");
}

#[test]
fn binaries_carry_no_absolute_path_into_the_checkout() {
    let root = repo_root().canonicalize().unwrap();
    let bin = engine();
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
    // The layout of a checkout somewhere else: its binaries, and its venv.
    let moved = tempfile::tempdir().unwrap();
    let release = moved.path().join("target/release");
    std::fs::create_dir_all(&release).unwrap();
    std::fs::copy(memscope_bin(), release.join("memscope")).unwrap();
    std::fs::copy(engine(), release.join("memscope-engine")).unwrap();
    std::os::unix::fs::symlink(venv.canonicalize().unwrap(), moved.path().join(".venv")).unwrap();
    // `plugins list` runs in the engine, which loads libtorch when it starts.
    let out = Command::new(release.join("memscope"))
        .args(["plugins", "list"])
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("MEMSCOPE_PLUGIN_PATH")
        .output()
        .expect("spawning the moved binary");
    assert!(out.status.success(), "the moved binaries failed: {}", String::from_utf8_lossy(&out.stderr));
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains(&format!("plugin directories: {}", release.display())), "the engine looked beside itself: {listed}");
}

/// A libtorch of another release found first (here through `LD_LIBRARY_PATH`, as when a
/// user's environment points at another PyTorch) is refused by name before any libtorch
/// work, instead of crashing in it. The other release is the project's own libraries
/// in a directory whose `version.py` says 2.11.0, which is all memscope reads.
#[test]
fn a_libtorch_of_another_release_is_refused_by_name() {
    let Some(torch_lib) = std::fs::read_dir(repo_root().join(".venv/lib"))
        .ok()
        .and_then(|mut pythons| pythons.find_map(|p| Some(p.ok()?.path().join("site-packages/torch/lib"))))
        .filter(|lib| lib.join("libtorch_cpu.so").exists())
    else {
        return; // libtorch comes from outside the checkout (`make LIBTORCH=...`)
    };
    let other = tempfile::tempdir().unwrap();
    let lib = other.path().join("torch/lib");
    std::fs::create_dir_all(&lib).unwrap();
    for entry in std::fs::read_dir(&torch_lib).unwrap() {
        let entry = entry.unwrap();
        std::os::unix::fs::symlink(entry.path(), lib.join(entry.file_name())).unwrap();
    }
    std::fs::write(other.path().join("torch/version.py"), "__version__ = '2.11.0+cu130'\n").unwrap();
    // The CUDA libraries libtorch finds through its rpath ($ORIGIN/../../nvidia/...).
    let nvidia = torch_lib.join("../../nvidia");
    if nvidia.exists() {
        std::os::unix::fs::symlink(nvidia.canonicalize().unwrap(), other.path().join("nvidia")).unwrap();
    }
    let runs = tempfile::tempdir().unwrap();
    let out = Command::new(memscope_bin())
        .args(["run", "configs/digits.toml", "--out"])
        .arg(runs.path())
        .current_dir(repo_root())
        .env("LD_LIBRARY_PATH", &lib)
        .output()
        .expect("spawning memscope");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "memscope ran on another libtorch release: {stderr}");
    let expected = format!(
        "error: this memscope was built against libtorch {} but runs with libtorch 2.11.0+cu130 (loaded from {})",
        memscope_sdk::TORCH_BUILT_WITH,
        lib.display()
    );
    assert!(stderr.contains(&expected), "expected `{expected}` in:\n{stderr}");
    assert!(stderr.contains("LD_LIBRARY_PATH"), "{stderr}");
    assert!(std::fs::read_dir(runs.path()).unwrap().next().is_none(), "nothing is written before the check");
}
