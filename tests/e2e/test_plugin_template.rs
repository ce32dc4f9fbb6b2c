//! `memscope plugins new`: the crate it writes builds outside the workspace (sharing
//! the workspace's build directory, so torch-sys is not compiled again), its own test
//! passes, and a job loads the library and publishes its scores.

use memscope_tests::{memscope, memscope_bin, read_npy_f32, read_summary, write_job};
use std::path::Path;
use std::process::Command;

/// Runs cargo `args` in `dir` with the workspace's profile (the crate's own
/// `.cargo/config.toml` shares the workspace's build directory).
fn cargo(dir: &Path, args: &[&str]) -> String {
    let profile_dir = memscope_bin().parent().unwrap().to_path_buf();
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.args(args).arg("--offline").current_dir(dir).env_remove("CARGO_TARGET_DIR");
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        command.arg("--release");
    }
    let out = command.output().expect("running cargo");
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "cargo {args:?} failed in {}:\n{text}", dir.display());
    text
}

/// The library `file` that cargo built in the crate `root`, in its own target directory
/// (the profile of this test binary's).
fn built_library(root: &Path, file: &str) -> std::path::PathBuf {
    let profile = memscope_bin().parent().unwrap().file_name().unwrap().to_owned();
    let built = root.join("target").join(profile).join(file);
    assert!(built.is_file(), "{} was not built", built.display());
    built
}

#[test]
fn a_crate_from_plugins_new_builds_outside_the_workspace_and_a_job_loads_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = memscope(dir.path(), &["plugins", "new", "tmpl-check", "--dir", dir.path().to_str().unwrap()]).success().stdout();
    let root = dir.path().join("tmpl-check");
    assert!(out.contains(&format!("wrote {}", root.display())), "{out}");

    // Its tests drive the plugin through the SDK's fake host: a plain `cargo test`.
    let tested = cargo(&root, &["test"]);
    assert!(tested.contains("test result: ok. 3 passed"), "{tested}");
    assert!(tested.contains("the_plugin_scores_a_batch_through_a_fake_host ... ok"), "{tested}");
    cargo(&root, &["build"]);

    // The library lands in the crate's own target directory (nothing beside the binary,
    // where every job would find it); it goes into a plugin directory of the job's own.
    let built = built_library(&root, "libmemscope_plugin_tmpl_check.so");
    assert!(!memscope_bin().parent().unwrap().join("libmemscope_plugin_tmpl_check.so").exists());
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(&built, plugins.join("libmemscope_plugin_tmpl_check.so")).unwrap();

    let job = write_job(
        dir.path(),
        "name = \"job\"\nplugin_dirs = [\"plugins\"]\n[data]\nformat = \"digits\"\nlimit = 300\n[train]\nepochs = 1\n\
         [score]\nbatch_size = 128\n[report]\nenabled = false\n\
         [[plugins]]\nname = \"noise\"\nconfig = { fraction = 0.2 }\n\
         [[plugins]]\nname = \"tmpl-check\"\nconfig = { temperature = 2.0 }\n\
         [[plugins]]\nname = \"baseline\"\nconfig = { against = [\"noise_mask\"] }\n",
    );
    memscope(dir.path(), &["run", job.to_str().unwrap(), "--out", "runs", "--quiet"]).success();
    let (scores, shape) = read_npy_f32(&dir.path().join("runs/job/scores/tmpl-check.npy"));
    assert_eq!(shape, vec![300]);
    assert!(scores.iter().all(|v| v.is_finite() && *v >= 0.0), "cross-entropies");
    let summary = read_summary(&dir.path().join("runs/job"));
    let record = summary["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "tmpl-check").unwrap();
    assert_eq!(record["path"], plugins.join("libmemscope_plugin_tmpl_check.so").display().to_string());
    let auroc = summary["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["score"] == "tmpl-check" && c["against"] == "noise_mask")
        .and_then(|c| c["auroc"].as_f64())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(auroc > 0.8, "the loss finds relabelled samples: AUROC {auroc}");

    // A misspelt setting is refused by the SDK's typed settings, naming the key.
    let err = memscope(
        dir.path(),
        &["run", job.to_str().unwrap(), "--out", "runs", "--quiet", "--force", "--set", "plugins.tmpl-check.temprature=2"],
    )
    .clean_failure();
    assert!(err.contains("plugin `tmpl-check` failed in create: config: unknown key `temprature`, expected `temperature`"), "{err}");
}

#[test]
fn a_training_plugin_from_plugins_new_tests_its_resume_with_the_fake_host_and_a_job_compares_its_score() {
    let dir = tempfile::tempdir().unwrap();
    memscope(dir.path(), &["plugins", "new", "tmpl-counts", "--kind", "training", "--dir", dir.path().to_str().unwrap()]).success();
    let root = dir.path().join("tmpl-counts");
    let tested = cargo(&root, &["test"]);
    assert!(tested.contains("counts_go_into_the_checkpoint_and_come_back_on_resume ... ok"), "{tested}");
    assert!(tested.contains("test result: ok. 2 passed"), "{tested}");
    cargo(&root, &["build"]);
    let built = built_library(&root, "libmemscope_plugin_tmpl_counts.so");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(&built, plugins.join("libmemscope_plugin_tmpl_counts.so")).unwrap();

    // Its score, published after the last epoch, reaches the comparer and finds relabelled samples.
    let job = write_job(
        dir.path(),
        "name = \"job\"\nplugin_dirs = [\"plugins\"]\n[data]\nformat = \"digits\"\nlimit = 300\n[train]\nepochs = 3\n\
         [report]\nenabled = false\n\
         [[plugins]]\nname = \"noise\"\nconfig = { fraction = 0.2 }\n\
         [[plugins]]\nname = \"tmpl-counts\"\n\
         [[plugins]]\nname = \"baseline\"\nconfig = { against = [\"noise_mask\"] }\n",
    );
    memscope(dir.path(), &["run", job.to_str().unwrap(), "--out", "runs", "--quiet"]).success();
    let (scores, shape) = read_npy_f32(&dir.path().join("runs/job/scores/tmpl-counts.npy"));
    assert_eq!(shape, vec![300]);
    assert!(scores.iter().all(|v| (0.0..=1.0).contains(v)), "shares of presentations");
    let summary = read_summary(&dir.path().join("runs/job"));
    let auroc = summary["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["score"] == "tmpl-counts" && c["against"] == "noise_mask")
        .and_then(|c| c["auroc"].as_f64())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(auroc > 0.7, "misclassified presentations find relabelled samples: AUROC {auroc}");
}
