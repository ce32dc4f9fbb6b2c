//! Plugins loaded from the real libraries through libloading: the seed plugins at work,
//! and every kind of broken plugin turned into a clear error naming it.

use memscope_tests::{fixture_plugins, memscope, memscope_bin, read_npy_f32, read_summary, write_job};
use std::path::Path;

/// A quick job on 300 digits with the given `[[plugins]]` text.
fn job(plugins: &str) -> String {
    format!("name = \"job\"\n[data]\nformat = \"digits\"\nlimit = 300\n[train]\nepochs = 1\n[score]\nbatch_size = 128\n{plugins}")
}

fn run(dir: &Path, text: &str) -> memscope_tests::Finished {
    let path = write_job(dir, text);
    memscope(dir, &["run", path.to_str().unwrap(), "--out", "runs", "--quiet"])
}

#[test]
fn plugins_list_shows_the_seed_plugins_with_versions_and_hooks() {
    let out = memscope(Path::new("."), &["plugins", "list"]).success().stdout();
    let expected = [
        ("curvature", "score_batch"),
        ("noise", "on_dataset_ready"),
        ("baseline", "on_job_end"),
        ("margin", "score_batch"),
        ("el2n", "score_batch"),
        ("in-confidence", "score_batch"),
        ("forgetting", "train_batch_outputs"),
        ("aum", "save_state"),
    ];
    for (name, hook) in expected {
        let line = out.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name} missing:\n{out}"));
        assert!(line.contains("torch 2.13.0") && line.contains(hook), "{line}");
    }
    assert!(!out.contains("fixture"), "test fixtures are not plugins of the build:\n{out}");
}

#[test]
fn the_template_scorer_writes_its_scores_and_the_comparer_ranks_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = job("[[plugins]]\nname = \"noise\"\nconfig = { fraction = 0.2 }\n\
         [[plugins]]\nname = \"margin\"\n\
         [[plugins]]\nname = \"baseline\"\nconfig = { against = [\"noise_mask\", \"loss\"], k = [10] }\n");
    let stdout = run(dir.path(), &text).success().stdout();
    let (margin, shape) = read_npy_f32(&dir.path().join("runs/job/scores/margin.npy"));
    assert_eq!(shape, vec![300]);
    assert!(margin.iter().all(|v| v.is_finite()));
    let summary = read_summary(&dir.path().join("runs/job"));
    let comparisons = summary["comparisons"].as_array().unwrap();
    let find = |score: &str, against: &str| {
        comparisons.iter().find(|c| c["score"] == score && c["against"] == against).unwrap_or_else(|| panic!("{summary}"))
    };
    assert!(find("margin", "noise_mask")["auroc"].as_f64().unwrap() > 0.5);
    assert!(find("margin", "loss")["spearman"].as_f64().is_some());
    assert!(stdout.contains("margin vs noise_mask: AUROC"), "{stdout}");
    // The noise plugin's outputs: a boolean mask and the original labels.
    let mask = std::fs::read(dir.path().join("runs/job/noise_mask.npy")).unwrap();
    assert!(String::from_utf8_lossy(&mask[..80]).contains("'|b1'"));
    assert_eq!(mask.iter().rev().take(300).filter(|&&b| b == 1).count(), 60, "20 % of 300 relabelled");
    assert!(dir.path().join("runs/job/original_labels.npy").exists());
}

#[test]
fn unknown_plugins_are_reported_together_with_where_we_looked() {
    let dir = tempfile::tempdir().unwrap();
    let err = run(dir.path(), &job("[[plugins]]\nname = \"nope\"\n[[plugins]]\nname = \"nada\"\n")).clean_failure();
    assert!(err.contains("2 plugin(s) could not be loaded"), "{err}");
    assert!(err.contains("`nope` not found") && err.contains("`nada` not found"), "{err}");
    assert!(err.contains("target/release"), "{err}");
}

#[test]
fn a_library_of_another_abi_version_is_refused_before_it_runs() {
    let lib = memscope_bin().parent().unwrap().join("libmemscope_fixture_old_abi.so");
    let err = memscope(Path::new("."), &["plugins", "check", lib.to_str().unwrap()]).clean_failure();
    assert!(
        err.contains("libmemscope_fixture_old_abi.so")
            && err.contains(
                "built for ABI version 1 (it exports `memscope_plugin_v1`), this memscope has 5 (and loads plugins of ABI 4 to 5)"
            ),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    fixture_plugins(dir.path());
    let text = format!("plugin_dirs = [\"fixture-plugins\"]\n{}", job("[[plugins]]\nname = \"fixture-old-abi\"\n"));
    let err = run(dir.path(), &text).clean_failure();
    assert!(err.contains("built for ABI version 1"), "{err}");
}

#[test]
fn a_plugin_built_against_the_sdk_of_abi_4_loads_and_scores_in_this_abi() {
    // Built against a frozen copy of the ABI 4 SDK (tests/fixtures/sdk-abi4): the
    // versioned symbol and the fixed descriptor of that ABI, none of the later fields.
    let lib = memscope_bin().parent().unwrap().join("libmemscope_fixture_abi4_scorer.so");
    let out = memscope(Path::new("."), &["plugins", "check", lib.to_str().unwrap()]).success().stdout();
    assert!(out.contains("ok: fixture-abi4-scorer") && out.contains("abi 4"), "{out}");

    // It scores what `margin` scores, through the old glue: on the same snapshots the
    // two files are equal, bit for bit.
    let dir = tempfile::tempdir().unwrap();
    fixture_plugins(dir.path());
    let text = format!(
        "plugin_dirs = [\"fixture-plugins\"]\n{}",
        job("[[plugins]]\nname = \"fixture-abi4-scorer\"\n[[plugins]]\nname = \"margin\"\n[[plugins]]\nname = \"baseline\"\nconfig = { against = [\"loss\"] }\n")
    );
    run(dir.path(), &text).success();
    let (old, shape) = read_npy_f32(&dir.path().join("runs/job/scores/fixture-abi4-scorer.npy"));
    let (margin, _) = read_npy_f32(&dir.path().join("runs/job/scores/margin.npy"));
    assert_eq!(shape, vec![300]);
    assert_eq!(old, margin);
    let summary = read_summary(&dir.path().join("runs/job"));
    let record = summary["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "fixture-abi4-scorer").unwrap();
    assert_eq!(record["abi"], 4, "{record}");
    // Its on_job_end-free life ends cleanly, and the comparer (ABI 5) compares it too.
    assert!(summary["comparisons"].as_array().unwrap().iter().any(|c| c["score"] == "fixture-abi4-scorer"), "{summary}");
}

#[test]
fn a_plugin_that_needs_a_newer_memscope_is_refused_naming_both_abis() {
    let lib = memscope_bin().parent().unwrap().join("libmemscope_fixture_future_abi.so");
    let err = memscope(Path::new("."), &["plugins", "check", lib.to_str().unwrap()]).clean_failure();
    assert!(
        err.contains("plugin `fixture-future-abi`")
            && err.contains("built for plugin ABI 6, it needs a memscope of ABI 6 or newer; this memscope has ABI 5"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    fixture_plugins(dir.path());
    let text = format!("plugin_dirs = [\"fixture-plugins\"]\n{}", job("[[plugins]]\nname = \"fixture-future-abi\"\n"));
    let err = run(dir.path(), &text).clean_failure();
    assert!(err.contains("it needs a memscope of ABI 6 or newer; this memscope has ABI 5"), "{err}");
}

#[test]
fn a_library_of_a_two_digit_abi_is_named_with_its_version() {
    // A library as a fixed-layout ABI 10 would have made it: only `memscope_plugin_v10`.
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("v10.c");
    std::fs::write(&source, "void *memscope_plugin_v10(void) { return 0; }\n").unwrap();
    let lib = dir.path().join("libmemscope_plugin_ten.so");
    let built = std::process::Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(&lib).arg(&source).status().expect("running cc");
    assert!(built.success());
    let err = memscope(Path::new("."), &["plugins", "check", lib.to_str().unwrap()]).clean_failure();
    assert!(err.contains("built for ABI version 10 (it exports `memscope_plugin_v10`), this memscope has 5"), "{err}");
}

#[test]
fn a_score_name_written_twice_is_refused_naming_both_writers() {
    let dir = tempfile::tempdir().unwrap();
    // A plugin listed twice in a job file is refused by the config check (in a program,
    // added twice, by the host: test_library).
    let err = run(dir.path(), &job("[[plugins]]\nname = \"margin\"\n[[plugins]]\nname = \"margin\"\n")).clean_failure();
    assert!(err.contains("plugins[1].name: `margin` is listed twice"), "{err}");
    // A plugin publishing memscope's own `loss` (before: accepted, `loss` twice in the
    // comparisons and the ranking, `scores/loss.npy` the built-in's): refused when it
    // publishes it.
    fixture_plugins(dir.path());
    let text = format!(
        "plugin_dirs = [\"fixture-plugins\"]\n{}",
        job("[[plugins]]\nname = \"fixture-faulty\"\nconfig = { mode = \"publish_loss\" }\n")
    );
    let err = run(dir.path(), &text).clean_failure();
    assert!(
        err.contains("plugin `fixture-faulty` failed in on_dataset_ready: `loss` is written by both memscope (a built-in score) and plugin `fixture-faulty` (`[[plugins]]` entry 1)"),
        "{err}"
    );
}

#[test]
fn a_plugin_built_against_another_libtorch_is_refused_before_it_runs() {
    let lib = memscope_bin().parent().unwrap().join("libmemscope_fixture_other_torch.so");
    let err = memscope(Path::new("."), &["plugins", "check", lib.to_str().unwrap()]).clean_failure();
    // The host's side is the libtorch it runs with, read from the loaded library.
    assert!(
        err.contains("plugin `fixture-other-torch`") && err.contains("built for libtorch 2.12.1+cpu, this memscope has 2.13.0"),
        "{err}"
    );
    // The seed plugins carry the version of the libtorch they were built against.
    let out = memscope(Path::new("."), &["plugins", "list"]).success().stdout();
    let curvature = out.lines().find(|l| l.starts_with("curvature ")).unwrap();
    assert!(curvature.contains("torch 2.13.0"), "{curvature}");
}

#[test]
fn files_that_are_not_plugins_are_named_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(plugins.join("libmemscope_plugin_text.so"), "not a library").unwrap();
    let libm = ["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("libm");
    std::fs::copy(libm, plugins.join("libmemscope_plugin_nosym.so")).unwrap();
    let text = format!("plugin_dirs = [\"plugins\"]\n{}", job("[[plugins]]\nname = \"text\"\n[[plugins]]\nname = \"nosym\"\n"));
    let err = run(dir.path(), &text).clean_failure();
    assert!(err.contains("libmemscope_plugin_text.so: not a loadable plugin library"), "{err}");
    assert!(err.contains("libmemscope_plugin_nosym.so: not a memscope plugin"), "{err}");
}

#[test]
fn a_panicking_or_failing_plugin_ends_the_job_with_its_name_and_hook() {
    let dir = tempfile::tempdir().unwrap();
    fixture_plugins(dir.path());
    let cases = [
        ("panic_in_score", "plugin `fixture-faulty` panicked in score_batch: fixture panics while scoring"),
        ("panic_in_create", "plugin `fixture-faulty` panicked in create: fixture panics while being created"),
        ("error_in_dataset_ready", "plugin `fixture-faulty` failed in on_dataset_ready: fixture refuses the dataset"),
        ("bad_label", "plugin `fixture-faulty` failed in on_dataset_ready: set sample 3 to label 15, outside 0..10"),
        // The score contract, checked on the batch that breaks it.
        (
            "wrong_length",
            "plugin `fixture-faulty` score_batch (epoch 1, samples 0..128): returned float32 [3]; scores must be float32 [128]",
        ),
        ("int64", "plugin `fixture-faulty` score_batch (epoch 1, samples 0..128): returned int64 [128]; scores must be float32 [128]"),
        ("float64", "plugin `fixture-faulty` score_batch (epoch 1, samples 0..128): returned float64 [128]; scores must be float32 [128]"),
        (
            "column",
            "plugin `fixture-faulty` score_batch (epoch 1, samples 0..128): returned float32 [128, 1]; scores must be float32 [128]",
        ),
        ("nan", "plugin `fixture-faulty` score_batch (epoch 1, samples 0..128): returned NaN for sample 5 (row 5); scores must be finite"),
        ("bad_forward", "plugin `fixture-faulty` failed in score_batch"),
    ];
    for (mode, expected) in cases {
        let text = format!(
            "plugin_dirs = [\"fixture-plugins\"]\n{}",
            job(&format!("[[plugins]]\nname = \"fixture-faulty\"\nconfig = {{ mode = \"{mode}\" }}\n"))
        );
        let finished = run(dir.path(), &text.replace("name = \"job\"", &format!("name = \"{mode}\"")));
        assert_eq!(finished.output.status.code(), Some(1), "{mode}: a clean exit, not a signal");
        let err = finished.clean_failure();
        assert!(err.contains(expected), "{mode}: {err}");
    }
}

#[test]
fn an_optional_plugin_that_panics_is_skipped_and_the_job_completes() {
    let dir = tempfile::tempdir().unwrap();
    fixture_plugins(dir.path());
    let text = format!(
        "plugin_dirs = [\"fixture-plugins\"]\n{}",
        job("[[plugins]]\nname = \"fixture-faulty\"\noptional = true\nconfig = { mode = \"panic_in_score\" }\n")
    );
    let path = write_job(dir.path(), &text);
    let finished = memscope(dir.path(), &["run", path.to_str().unwrap(), "--out", "runs"]).success();
    assert!(finished.stderr().contains("optional scorer `fixture-faulty` dropped"), "{}", finished.stderr());
    assert!(dir.path().join("runs/job/summary.json").exists());
    assert!(!dir.path().join("runs/job/scores/fixture-faulty.npy").exists());
}

#[test]
fn an_optional_plugin_that_fails_in_training_is_never_called_again_and_its_scores_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    fixture_plugins(dir.path());
    let plugins = "[[plugins]]\nname = \"noise\"\nconfig = { fraction = 0.2 }\n\
                   [[plugins]]\nname = \"fixture-faulty\"\noptional = true\nconfig = { mode = \"panic_in_train_batch\" }\n\
                   [[plugins]]\nname = \"baseline\"\nconfig = { against = [\"noise_mask\"] }\n";
    let text = format!("plugin_dirs = [\"fixture-plugins\"]\n{}", job(plugins).replace("epochs = 1", "epochs = 2"));
    let path = write_job(dir.path(), &text);
    let finished = memscope(dir.path(), &["run", path.to_str().unwrap(), "--out", "runs"]).success();
    let (stdout, stderr) = (finished.stdout(), finished.stderr());
    // Epoch 0 was scored before the panic in epoch 1's first step; epoch 1 never is.
    assert!(stderr.contains("fixture scores epoch 0"), "{stderr}");
    assert!(stderr.contains("plugin `fixture-faulty` panicked in on_train_batch_end"), "{stderr}");
    assert!(!stderr.contains("fixture scores epoch 1"), "score_batch called after the failure:\n{stderr}");
    assert!(stderr.contains("optional plugin `fixture-faulty` was dropped (on_train_batch_end failed)"), "{stderr}");
    // Neither its table nor the score it published early is written, listed or compared.
    let run = dir.path().join("runs/job");
    assert!(!run.join("scores/fixture-faulty.npy").exists());
    assert!(!run.join("scores/fixture-faulty-early.npy").exists());
    let summary = read_summary(&run);
    let text = summary.to_string();
    assert!(!summary["scores"].as_array().unwrap().iter().any(|s| s["name"].as_str().unwrap().starts_with("fixture")), "{text}");
    assert!(!summary["comparisons"].as_array().unwrap().iter().any(|c| c["score"].as_str().unwrap().starts_with("fixture")), "{text}");
    assert!(summary["comparisons"].as_array().unwrap().iter().any(|c| c["score"] == "loss"), "the others are compared: {text}");
    assert!(!stdout.contains("fixture-faulty"), "{stdout}");
    let dropped = &summary["dropped_plugins"][0];
    assert_eq!(dropped["plugin"], "fixture-faulty", "{text}");
    assert_eq!(dropped["hook"], "on_train_batch_end", "{text}");
    assert!(dropped["message"].as_str().unwrap().contains("fixture panics after a training step"), "{text}");
}

#[test]
fn a_score_a_plugin_publishes_is_listed_in_the_summary_and_by_the_cli_with_its_file() {
    let dir = tempfile::tempdir().unwrap();
    fixture_plugins(dir.path());
    let plugins = "[[plugins]]\nname = \"noise\"\nconfig = { fraction = 0.2 }\n\
                   [[plugins]]\nname = \"fixture-faulty\"\nconfig = { mode = \"publish_score\" }\n\
                   [[plugins]]\nname = \"baseline\"\nconfig = { against = [\"noise_mask\"] }\n";
    let text = format!("plugin_dirs = [\"fixture-plugins\"]\n{}", job(plugins));
    let path = write_job(dir.path(), &text);
    let stdout = memscope(dir.path(), &["run", path.to_str().unwrap(), "--out", "runs", "--no-report"]).success().stdout();
    let run = dir.path().join("runs/job");
    let summary = read_summary(&run);
    let listed = summary["scores"].as_array().unwrap().iter().find(|s| s["name"] == "fixture-published");
    let listed = listed.unwrap_or_else(|| panic!("not in summary.json's scores: {summary}"));
    assert_eq!(listed["file"], "scores/fixture-published.npy", "{listed}");
    assert_eq!(listed["plugin"], "fixture-faulty", "{listed}");
    assert_eq!(listed["aggregate"], "published", "{listed}");
    let (values, shape) = read_npy_f32(&run.join("scores/fixture-published.npy"));
    assert_eq!(shape, vec![300]);
    assert_eq!(values[7], 7.0);
    // The CLI lists it with the scores it combined, and it is compared as before.
    let line = stdout.lines().find(|l| l.contains("score fixture-published")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.ends_with("runs/job/scores/fixture-published.npy"), "{line}");
    assert!(stdout.lines().any(|l| l.trim_start().starts_with("score loss")), "{stdout}");
    assert!(stdout.contains("fixture-published vs noise_mask: AUROC"), "{stdout}");
}
