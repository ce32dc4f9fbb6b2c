//! Compiles the C++ shim (`csrc/`) against the headers of the libtorch that torch-sys
//! links, the way torch-sys compiles its own `libtch`.
//!
//! c10d (`csrc/c10d.cpp`) needs two more sets of headers that libtorch itself does not
//! ship: Gloo's (Debian's `libgloo-dev`; libtorch has Gloo compiled in, so we only
//! need its declarations, never `libgloo.so`) and, for the NCCL path when libtorch has
//! CUDA, CUDA's runtime headers (the wheels `nvidia-cuda-crt` and `nvidia-cuda-cccl`
//! complete the ones torch's CUDA wheel brings). `make setup` installs both; without
//! root, Gloo's land in the project's own `.deps/` (`scripts/debian-deps`), which is
//! looked in first.

use std::path::{Path, PathBuf};

/// Every translation unit of the shim; each is one feature.
const SOURCES: &[&str] = &[
    "csrc/script_module.cpp",
    "csrc/c10d.cpp",
    "csrc/reducer.cpp",
    "csrc/determinism.cpp",
    "csrc/store.cpp",
    "csrc/autocast.cpp",
    "csrc/cuda_stream.cpp",
    "csrc/profiler.cpp",
];
/// Headers shared by the sources (rebuild when they change).
const HEADERS: &[&str] = &["csrc/shim.h", "csrc/c10d.h"];
/// Where Gloo's headers are looked for (`<dir>/gloo/config.h`), after the project's
/// own `.deps/usr/include` ([`project_include_dir`]).
const GLOO_INCLUDE_DIRS: &[&str] = &["/usr/include", "/usr/local/include"];

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    println!("cargo:rerun-if-env-changed=MEMSCOPE_DEPS_DIR");
    for file in SOURCES.iter().chain(HEADERS) {
        println!("cargo:rerun-if-changed={file}");
    }
    let lib_dir = PathBuf::from(
        std::env::var("DEP_TCH_LIBTORCH_LIB")
            .expect("DEP_TCH_LIBTORCH_LIB is not set: torch-sys must be a direct dependency of this crate"),
    );
    // The wheel (torch/lib, torch/include) and a standalone libtorch (lib/, include/)
    // keep their headers beside the library directory.
    let include = lib_dir.join("..").join("include");
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .pic(true)
        .std("c++17")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .include("csrc")
        // The wheel and current libtorch builds use the C++11 ABI for std::string.
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        .define("GLOG_USE_GLOG_EXPORT", None)
        // c10d's headers declare the Gloo process group only under this define.
        .define("USE_C10D_GLOO", None)
        // libtorch's headers warn under newer compilers; ours are kept clean by review.
        .warnings(false)
        .flag_if_supported("-w")
        .files(SOURCES);
    let project = project_include_dir();
    let mut searched: Vec<PathBuf> = project.iter().cloned().collect();
    searched.extend(GLOO_INCLUDE_DIRS.iter().map(PathBuf::from));
    if let Some(gloo) = searched.iter().find(|d| d.join("gloo/config.h").exists()) {
        // Headers unpacked later into the project folder are found on the next build.
        if project.as_ref() == Some(gloo) {
            println!("cargo:rerun-if-changed={}", gloo.join("gloo/config.h").display());
        }
        build.include(gloo);
    } else {
        let searched: Vec<String> = searched.iter().map(|d| d.display().to_string()).collect();
        panic!(
            "Gloo's headers (gloo/config.h) are not in {}: install Debian's libgloo-dev \
             (`make setup` does: as root with apt-get, else into .deps/ with scripts/debian-deps libgloo-dev)",
            searched.join(" or ")
        );
    }
    // The NCCL process group lives in libtorch_cuda: compiled in whenever libtorch has
    // CUDA, so that every CUDA build carries it.
    if lib_dir.join("libtorch_cuda.so").exists() {
        for dir in cuda_include_dirs(&lib_dir) {
            build.include(dir);
        }
        build.define("USE_C10D_NCCL", None).define("MEMSCOPE_WITH_NCCL", None).define("MEMSCOPE_WITH_CUDA", None);
        // The side stream (`csrc/cuda_stream.cpp`) calls c10's CUDA library directly.
        println!("cargo:rustc-link-lib=dylib=c10_cuda");
    }
    build.compile("memscope_torch_ext");
    // The crate's own test binaries need libtorch at run time too.
    memscope_link::link_libtorch();
}

/// The include directory of the Debian packages unpacked into the project's own folder
/// by `scripts/debian-deps` (`$MEMSCOPE_DEPS_DIR` or `<workspace>/.deps`), when any.
fn project_include_dir() -> Option<PathBuf> {
    let deps = match std::env::var_os("MEMSCOPE_DEPS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?).join("../../.deps"),
    };
    let include = deps.join("usr/include");
    include.is_dir().then_some(include)
}

/// The include directories of NCCL and the CUDA runtime for a libtorch with CUDA:
/// the `nvidia/` wheels beside torch's wheel, or a CUDA toolkit at `CUDA_HOME`.
/// Panics with what is missing, since a CUDA build without its NCCL path would be a
/// silent loss.
fn cuda_include_dirs(lib_dir: &Path) -> Vec<PathBuf> {
    let nvidia = lib_dir.join("../../nvidia");
    let wheel: Vec<PathBuf> = ["nccl/include", "cu13/include", "cu13/include/cccl"].iter().map(|d| nvidia.join(d)).collect();
    let needed = |dirs: &[PathBuf]| {
        let has = |file: &str| dirs.iter().any(|d| d.join(file).exists());
        ["nccl.h", "cuda_runtime.h", "crt/host_config.h", "nv/target"].into_iter().filter(|f| !has(f)).collect::<Vec<_>>()
    };
    let missing = needed(&wheel);
    if missing.is_empty() {
        return wheel;
    }
    if let Some(home) = std::env::var_os("CUDA_HOME") {
        let toolkit = vec![PathBuf::from(&home).join("include"), PathBuf::from(&home).join("include/cccl"), nvidia.join("nccl/include")];
        if needed(&toolkit).is_empty() {
            return toolkit;
        }
    }
    panic!(
        "libtorch at {} has CUDA, but the headers its NCCL process group needs are missing ({}): \
         install the wheels nvidia-cuda-crt and nvidia-cuda-cccl matching torch's CUDA runtime \
         into the venv (`make setup` does), or set CUDA_HOME to a CUDA toolkit",
        lib_dir.display(),
        missing.join(", ")
    );
}
