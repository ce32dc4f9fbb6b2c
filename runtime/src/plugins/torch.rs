//! The libtorch this process runs with, read from the loaded library's own files: a
//! plugin's descriptor says which libtorch it was built against, and the two must be
//! the same release (see `memscope_sdk::TORCH_BUILT_WITH`).

use memscope_sdk::{torch_release, TORCH_BUILT_WITH};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The version of the loaded `libtorch_cpu.so` (`version.py` or `build-version` beside
/// its directory); the host's build-time version when it cannot be read.
pub fn runtime_torch_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| loaded_libtorch_dir().and_then(|dir| read_version(&dir)).unwrap_or_else(|| TORCH_BUILT_WITH.to_string()))
}

/// Refuses to run on a libtorch of another release than the one this build compiled
/// against: tch's C++ glue and memscope's own shim are compiled for one release's
/// headers, and another release's libraries crash or corrupt tensors rather than fail
/// (2.13 glue on 2.11 libraries: a segfault creating an NCCL group, "incoherent element
/// sizes" reading a dataset). A process usually gets another libtorch through
/// `LD_LIBRARY_PATH`, which wins over the binaries' own rpath.
pub fn check_running_libtorch() -> Result<(), String> {
    check_release(TORCH_BUILT_WITH, runtime_torch_version(), loaded_libtorch_dir().as_deref())
}

fn check_release(built: &str, running: &str, dir: Option<&Path>) -> Result<(), String> {
    if torch_release(built) == torch_release(running) {
        return Ok(());
    }
    let from = dir.map(|d| format!(" (loaded from {})", d.display())).unwrap_or_default();
    Err(format!(
        "this memscope was built against libtorch {built} but runs with libtorch {running}{from}; the two must be the \
         same release. Remove the other libtorch from LD_LIBRARY_PATH, or rebuild memscope against it (README: \
         \"Using an existing libtorch\")"
    ))
}

/// The version of the libtorch whose library directory is `lib`.
pub fn read_version(lib: &Path) -> Option<String> {
    let root = lib.parent()?;
    if let Ok(text) = std::fs::read_to_string(root.join("version.py")) {
        let line = text.lines().find(|l| l.starts_with("__version__"))?;
        return Some(line.split(['\'', '"']).nth(1)?.to_string());
    }
    Some(std::fs::read_to_string(root.join("build-version")).ok()?.trim().to_string())
}

/// The directory of the `libtorch_cpu.so` loaded in this process.
fn loaded_libtorch_dir() -> Option<PathBuf> {
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
        // SAFETY: the loader passes a valid `dl_phdr_info` for the duration of the call,
        // and `data` is the `Option<PathBuf>` below, which outlives dl_iterate_phdr.
        let (info, found) = unsafe { (&*info, &mut *(data as *mut Option<PathBuf>)) };
        if info.dlpi_name.is_null() {
            return 0;
        }
        // SAFETY: a non-null `dlpi_name` is the loader's NUL-terminated path string.
        let name = unsafe { CStr::from_ptr(info.dlpi_name as *const c_char) }.to_string_lossy();
        let path = Path::new(name.as_ref());
        if path.file_name().is_some_and(|n| n == "libtorch_cpu.so") {
            *found = path.parent().map(Path::to_path_buf);
            return 1;
        }
        0
    }
    let mut found: Option<PathBuf> = None;
    // SAFETY: `visit` only reads the entries it is given and writes `found`, which lives
    // until dl_iterate_phdr returns.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut found as *mut Option<PathBuf> as *mut c_void) };
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_libtorch_is_found_and_is_the_release_tch_expects() {
        assert!(loaded_libtorch_dir().is_some(), "libtorch_cpu.so is loaded in a test of the runtime");
        assert_eq!(memscope_sdk::torch_release(runtime_torch_version()), memscope_sdk::TORCH_VERSION);
    }

    #[test]
    fn another_release_is_refused_with_both_versions_and_the_directory() {
        assert_eq!(check_release("2.13.0+cu130", "2.13.0+cpu", None), Ok(()), "CPU and CUDA builds of one release share the ABI");
        let err = check_release("2.13.0+cu130", "2.11.0+cu130", Some(Path::new("/opt/torch/lib"))).unwrap_err();
        assert!(
            err.starts_with(
                "this memscope was built against libtorch 2.13.0+cu130 but runs with libtorch 2.11.0+cu130 (loaded from /opt/torch/lib)"
            ),
            "{err}"
        );
        assert!(err.contains("LD_LIBRARY_PATH"), "{err}");
        assert_eq!(check_running_libtorch(), Ok(()), "the tests run on the libtorch they were built against");
    }

    #[test]
    fn versions_are_read_from_a_wheel_or_a_libtorch_download() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("lib");
        std::fs::create_dir(&lib).unwrap();
        assert_eq!(read_version(&lib), None);
        std::fs::write(dir.path().join("build-version"), "2.12.1+cpu\n").unwrap();
        assert_eq!(read_version(&lib).as_deref(), Some("2.12.1+cpu"));
        std::fs::write(dir.path().join("version.py"), "x = 1\n__version__ = '2.13.0+cu130'\n").unwrap();
        assert_eq!(read_version(&lib).as_deref(), Some("2.13.0+cu130"));
    }
}
