//! The folder `make gpu-bundle` leaves for a GPU machine that has PyTorch but no Rust
//! (`scripts/gpu-bundle`): stripped binaries that find libtorch through the machine's
//! own python, and refuse a torch of another release by name. The full target builds
//! against another torch release (2.11, fetched); here the folder is assembled from this
//! build and its own libtorch, which is all the folder's launcher and checks depend on.

use memscope_tests::{memscope_bin, repo_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The project venv's python and its torch directory, or `None` when libtorch comes
/// from outside the checkout (`make LIBTORCH=...`: no python knows it).
fn venv_torch() -> Option<(PathBuf, PathBuf)> {
    let venv = repo_root().join(".venv");
    let torch = std::fs::read_dir(venv.join("lib"))
        .ok()?
        .find_map(|p| Some(p.ok()?.path().join("site-packages/torch")))
        .filter(|t| t.join("lib/libtorch_cpu.so").exists())?;
    Some((venv.join("bin/python"), torch))
}

/// `scripts/gpu-bundle assemble` of this build into `dir/.gpu`.
fn assemble(dir: &Path, torch: &Path) -> PathBuf {
    let folder = dir.join(".gpu");
    let profile = memscope_bin().parent().unwrap().to_path_buf();
    let out = Command::new(repo_root().join("scripts/gpu-bundle"))
        .arg("assemble")
        .args([&profile, torch, &folder])
        .output()
        .expect("spawning scripts/gpu-bundle");
    assert!(out.status.success(), "assemble failed: {}", String::from_utf8_lossy(&out.stderr));
    folder
}

/// `plugins list` through `program` (it runs in the engine, which loads libtorch when
/// it starts), with nothing else pointing at a libtorch or a plugin.
fn plugins_list(program: &Path, python: &Path, pythonpath: Option<&Path>) -> Output {
    let mut command = Command::new(program);
    command.args(["plugins", "list"]).env_remove("LD_LIBRARY_PATH").env_remove("MEMSCOPE_PLUGIN_PATH").env("MEMSCOPE_PYTHON", python);
    match pythonpath {
        Some(path) => command.env("PYTHONPATH", path),
        None => command.env_remove("PYTHONPATH"),
    };
    command.output().expect("spawning memscope")
}

/// The entries of an ELF file's dynamic section tagged `tag` (`NEEDED`, `RUNPATH`), as
/// `readelf -d` lists them, a path list split at its colons.
fn dynamic(file: &Path, tag: &str) -> Vec<String> {
    let out = Command::new("readelf").arg("-d").arg(file).output().expect("readelf (binutils) runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("({tag})")))
        .filter_map(|l| l.split_once('[').and_then(|(_, rest)| rest.split_once(']')).map(|(v, _)| v.to_string()))
        .flat_map(|v| v.split(':').map(str::to_string).collect::<Vec<_>>())
        .collect()
}

#[test]
fn the_folder_runs_its_stripped_binaries_with_the_libtorch_its_python_finds() {
    let Some((python, torch)) = venv_torch() else { return };
    let dir = tempfile::tempdir().unwrap();
    let folder = assemble(dir.path(), &torch);
    let bin = folder.join("bin");

    let built = memscope_bin().with_file_name("memscope-engine");
    let stripped = bin.join("memscope-engine");
    assert!(
        stripped.metadata().unwrap().len() < built.metadata().unwrap().len() / 2,
        "memscope-engine is not stripped: {} bytes of {}",
        stripped.metadata().unwrap().len(),
        built.metadata().unwrap().len()
    );
    assert!(bin.join("libmemscope_plugin_curvature.so").exists(), "the plugins are in bin/");
    assert_eq!(std::fs::read_to_string(bin.join("torch-version")).unwrap().trim(), memscope_sdk::TORCH_BUILT_WITH);
    if torch.join("lib/libtorch_cuda.so").exists() {
        for file in ["memscope-engine", "libmemscope_plugin_curvature.so"] {
            assert!(dynamic(&bin.join(file), "NEEDED").iter().any(|l| l == "libtorch_cuda.so"), "{file} dropped libtorch_cuda.so");
        }
    }

    // Where this build's rpath is relative (a checkout whose venv lies inside it), the
    // binaries alone find no libtorch from the folder, as on the GPU machine, where bin/
    // has no rpath at all: then only the launcher can have given it. (A venv linked in
    // from elsewhere gives the build an absolute rpath, which still resolves.)
    if dynamic(&built, "RUNPATH").iter().all(|entry| entry.starts_with("$ORIGIN")) {
        let alone = plugins_list(&bin.join("memscope"), &python, None);
        assert!(!alone.status.success(), "bin/memscope found a libtorch by itself: {}", String::from_utf8_lossy(&alone.stdout));
    }

    let out = plugins_list(&folder.join("memscope"), &python, None);
    assert!(out.status.success(), "the folder's memscope failed: {}", String::from_utf8_lossy(&out.stderr));
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains(&format!("plugin directories: {}", bin.display())), "the engine looked beside itself: {listed}");
    assert!(listed.contains("curvature"), "the stripped curvature plugin is listed: {listed}");
}

#[test]
fn the_folder_refuses_a_torch_of_another_release_by_name() {
    let Some((python, torch)) = venv_torch() else { return };
    let dir = tempfile::tempdir().unwrap();
    let folder = assemble(dir.path(), &torch);
    // A python whose torch is another release: only its version.py is read.
    let other = dir.path().join("python");
    std::fs::create_dir_all(other.join("torch")).unwrap();
    std::fs::write(other.join("torch/__init__.py"), "").unwrap();
    std::fs::write(other.join("torch/version.py"), "__version__ = '1.13.1+cu117'\n").unwrap();

    let out = plugins_list(&folder.join("memscope"), &python, Some(&other));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "error: memscope in {} was built against torch {}, but {}'s torch is 1.13.1+cu117 ({}): \
         make the folder for it with `make gpu-bundle GPU_TORCH_VERSION=1.13.1`\n",
        folder.display(),
        memscope_sdk::TORCH_BUILT_WITH,
        python.display(),
        other.join("torch/lib").display()
    );
    assert_eq!(stderr, expected);
}
