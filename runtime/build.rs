fn main() {
    memscope_link::link_libtorch();
    // For the crates that depend on this one (a program embedding memscope): torch-sys
    // hands its libtorch directory to direct dependents only.
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:libtorch_lib={lib}");
    }
}
