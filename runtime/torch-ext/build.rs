//! Compiles the C++ shim (`csrc/`) against the headers of the libtorch that torch-sys
//! links, the way torch-sys compiles its own `libtch`.

use std::path::PathBuf;

/// Every translation unit of the shim; each is one feature (issue 17 adds c10d).
const SOURCES: &[&str] = &["csrc/script_module.cpp"];
/// Headers shared by the sources (rebuild when they change).
const HEADERS: &[&str] = &["csrc/shim.h"];

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    for file in SOURCES.iter().chain(HEADERS) {
        println!("cargo:rerun-if-changed={file}");
    }
    let lib_dir = PathBuf::from(std::env::var("DEP_TCH_LIBTORCH_LIB").expect(
        "DEP_TCH_LIBTORCH_LIB is not set: torch-sys must be a direct dependency of this crate",
    ));
    // The wheel (torch/lib, torch/include) and a standalone libtorch (lib/, include/)
    // keep their headers beside the library directory.
    let include = lib_dir.join("..").join("include");
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .std("c++17")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .include("csrc")
        // The wheel and current libtorch builds use the C++11 ABI for std::string.
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        .define("GLOG_USE_GLOG_EXPORT", None)
        // libtorch's headers warn under newer compilers; ours are kept clean by review.
        .warnings(false)
        .flag_if_supported("-w")
        .files(SOURCES)
        .compile("memscope_torch_ext");
    // The crate's own test binaries need libtorch at run time too.
    memscope_link::link_libtorch();
}
