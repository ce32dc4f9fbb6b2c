//! Which files are plugins: one file-name rule for `memscope plugins list` and for a
//! job's lookup, a warning when two builds of one plugin are on the search path or a
//! debug build is loaded, and the provenance of every loaded plugin in `summary.json`.

use memscope_tests::{memscope, memscope_bin, read_summary, write_job};
use std::path::{Path, PathBuf};

/// A quick job on 300 digits with `plugins/` as its plugin directory.
fn job(plugins: &str) -> String {
    format!(
        "name = \"job\"\nplugin_dirs = [\"plugins\"]\n[data]\nformat = \"digits\"\nlimit = 300\n[train]\nepochs = 1\n\
         [score]\nbatch_size = 128\n[report]\nenabled = false\n{plugins}"
    )
}

/// A library built by the workspace (beside the binary), copied into `dir/plugins/` as `file`.
fn copy_built(dir: &Path, built: &str, file: &str) -> PathBuf {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let to = plugins.join(file);
    std::fs::copy(memscope_bin().parent().unwrap().join(built), &to).unwrap();
    to
}

fn sha256(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

#[test]
fn plugins_list_and_a_job_agree_on_which_files_are_plugins() {
    let dir = tempfile::tempdir().unwrap();
    // Not a name discovery takes: `list` says so and how to rename it, a job does not find it.
    let unfindable = copy_built(dir.path(), "libmemscope_fixture_faulty.so", "fixture_faulty.so");
    copy_built(dir.path(), "libmemscope_fixture_debug_build.so", "libfixture_debug_build.so");
    let plugins = dir.path().join("plugins");
    let out = memscope(dir.path(), &["plugins", "list", "--dir", plugins.to_str().unwrap()]).success().stdout();
    let expected = format!(
        "unusable: {}: plugin `fixture-faulty`, but a job looks for it as libmemscope_plugin_fixture_faulty.so or libfixture_faulty.so: rename the file",
        unfindable.display()
    );
    assert!(out.lines().any(|l| l == expected), "{out}");
    assert!(!out.lines().any(|l| l.starts_with("fixture-faulty ")), "{out}");
    let debug = out.lines().find(|l| l.starts_with("fixture-debug-build ")).unwrap_or_else(|| panic!("{out}"));
    assert!(debug.contains("DEBUG BUILD"), "{debug}");

    let path = write_job(dir.path(), &job("[[plugins]]\nname = \"fixture-faulty\"\n"));
    let err = memscope(dir.path(), &["run", path.to_str().unwrap(), "--out", "runs", "--quiet"]).clean_failure();
    assert!(err.contains("plugin `fixture-faulty` not found"), "{err}");

    // What `list` shows by a name, a job loads by that name: here with a warning.
    let path = write_job(dir.path(), &job("[[plugins]]\nname = \"fixture-debug-build\"\n"));
    let finished = memscope(dir.path(), &["run", path.to_str().unwrap(), "--out", "runs", "--quiet", "--force"]).success();
    assert!(
        finished.stderr().contains("plugin `fixture-debug-build`") && finished.stderr().contains("is a debug build"),
        "{}",
        finished.stderr()
    );
    let summary = read_summary(&dir.path().join("runs/job"));
    let record = &summary["plugins"][0];
    assert_eq!(record["name"], "fixture-debug-build");
    assert_eq!(record["debug_build"], true);
}

#[test]
fn of_two_builds_on_the_search_path_the_first_wins_with_a_warning_and_the_summary_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let ours = copy_built(dir.path(), "libmemscope_plugin_margin.so", "libmargin.so");
    let theirs = memscope_bin().parent().unwrap().join("libmemscope_plugin_margin.so");
    let path = write_job(dir.path(), &job("[[plugins]]\nname = \"margin\"\n[[plugins]]\nname = \"noise\"\nconfig = { fraction = 0.1 }\n"));
    let finished = memscope(dir.path(), &["run", path.to_str().unwrap(), "--out", "runs", "--quiet"]).success();
    let warning = format!("plugin `margin`: loading {}; also found {}", ours.display(), theirs.display());
    assert!(finished.stderr().contains(&warning), "{}", finished.stderr());
    assert!(!finished.stderr().contains("plugin `noise`: loading"), "one build of noise: no warning\n{}", finished.stderr());

    let summary = read_summary(&dir.path().join("runs/job"));
    let plugins = summary["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 2, "{summary}");
    let margin = &plugins[0];
    assert_eq!(margin["name"], "margin");
    assert_eq!(margin["path"], ours.display().to_string());
    assert_eq!(margin["size"].as_u64(), Some(std::fs::metadata(&ours).unwrap().len()));
    assert_eq!(margin["sha256"], sha256(&ours));
    assert_eq!(margin["debug_build"], false);
    assert_eq!(margin["sdk_version"], "0.1.0");
    assert!(margin["version"].is_string() && margin["torch_version"].as_str().unwrap().starts_with("2.13.0"), "{margin}");
    assert_eq!(margin["shadowed"], serde_json::json!([theirs.display().to_string()]));
    assert_eq!(plugins[1]["name"], "noise");
    assert!(plugins[1].get("shadowed").is_none(), "{}", plugins[1]);

    // `list` shows both, and which one a job loads.
    let plugins = dir.path().join("plugins");
    let out = memscope(dir.path(), &["plugins", "list", "--dir", plugins.to_str().unwrap()]).success().stdout();
    let shadowed = out.lines().find(|l| l.contains(&format!("[{}]", theirs.display()))).unwrap_or_else(|| panic!("{out}"));
    assert!(shadowed.ends_with(&format!("(shadowed: a job loads {})", ours.display())), "{shadowed}");
}
