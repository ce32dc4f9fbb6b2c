//! A program embedding memscope, set up as README's "From Rust" says, in a crate
//! outside the workspace: one dependency, one build dependency and a one-line
//! `build.rs`; it builds (sharing the checkout's target directory, so torch-sys's C++
//! is not compiled again), runs a job and leaves the checkout's own artifacts as they
//! were.

use memscope_tests::memscope_bin;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The checkout this test belongs to.
fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The program: its own module and data, a shipped plugin crate as a library, the
/// typed config, the outcome's ranking; every library through `memscope::`.
const MAIN: &str = r#"use memscope::config::{JobConfig, TrainConfig};
use memscope::data::{ImageShape, InMemoryDataset};
use memscope::tch::nn;
use memscope::Job;

fn my_net(p: &nn::Path, shape: ImageShape, classes: usize) -> nn::SequentialT {
    nn::seq_t()
        .add_fn(|x| x.flatten(1, -1))
        .add(nn::linear(p / "fc1", shape.len() as i64, 32, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(p / "fc2", 32, classes as i64, Default::default()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 200 images of 8x8 in 4 classes: each class lights its own quarter.
    let shape = ImageShape { channels: 1, height: 8, width: 8 };
    let labels: Vec<i64> = (0..200).map(|i| i % 4).collect();
    let images: Vec<f32> = labels.iter().flat_map(|&l| (0..64).map(move |p| if p / 16 == l as usize { 1.0 } else { 0.1 })).collect();
    let data = InMemoryDataset::new(shape, 4, images, labels)?;
    let config = JobConfig { threads: 1, train: TrainConfig { epochs: 3, ..Default::default() }, ..JobConfig::new("embedded") };
    let outcome = Job::new(config)
        .model(my_net)
        .dataset(data)
        .plugin::<memscope_plugin_margin::Margin>(memscope::toml::Table::new())
        .run()?;
    println!("samples {} margin {} top {:?}", outcome.summary.samples, outcome.score("margin").map_or(0, |m| m.len()), outcome.top_k("loss", 3).unwrap());
    Ok(())
}
"#;

#[test]
fn a_crate_outside_the_workspace_set_up_as_the_readme_says_builds_and_runs_a_job() {
    let checkout = checkout();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("embed-check");
    std::fs::create_dir_all(root.join("src")).unwrap();
    let manifest = format!(
        "[package]\nname = \"embed-check\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nmemscope-runtime = {{ path = \"{0}/runtime\" }}\nmemscope-plugin-margin = {{ path = \"{0}/plugins/margin\" }}\n\n\
         [build-dependencies]\nmemscope-link = {{ path = \"{0}/runtime/link\" }}\n\n\
         [profile.release]\nincremental = true\ndebug = \"line-tables-only\"\n\n[workspace]\n",
        checkout.display()
    );
    std::fs::write(root.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(root.join("build.rs"), "fn main() { memscope_link::link_libtorch() }\n").unwrap();
    std::fs::copy(checkout.join("Cargo.lock"), root.join("Cargo.lock")).unwrap();
    std::fs::write(root.join("src/main.rs"), MAIN).unwrap();

    // The checkout's shipped plugin library and the margin crate's own rlib, before.
    let profile_dir = memscope_bin().parent().unwrap().to_path_buf();
    let shipped = profile_dir.join("libmemscope_plugin_margin.so");
    let before = std::fs::read(&shipped).ok();

    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.args(["build", "--offline"]).current_dir(&root).env("CARGO_TARGET_DIR", profile_dir.parent().unwrap());
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        command.arg("--release");
    }
    let out = command.output().expect("running cargo");
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "cargo build failed in {}:\n{text}", root.display());
    // torch-sys's C++ glue is the heavy build. tch itself (Rust) may be compiled once
    // more, under a hash of its own, where the program's features differ from the
    // workspace's, as on a fresh checkout.
    assert!(!text.contains("Compiling torch-sys"), "the heavy build is shared:\n{text}");

    // It runs without LD_LIBRARY_PATH: the rpath to libtorch came from the build dependency.
    let program = profile_dir.join("embed-check");
    let run = Command::new(&program).env_remove("LD_LIBRARY_PATH").output().expect("running the program");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.starts_with("samples 200 margin 200 top ["), "{stdout}");
    let _ = std::fs::remove_file(&program);

    // The checkout's shipped plugin is as it was (the margin library crate is an rlib
    // with a hash of its own in each build; the cdylib is another crate).
    assert_eq!(std::fs::read(&shipped).ok(), before, "{} was rebuilt", shipped.display());
}
