//! `train.precision`: the training step's precision, set, checked against the device,
//! applied, and recorded in `summary.json`.

use memscope_tests::{memscope, read_npy_f32, read_summary, repo_root, write_job};
use std::path::Path;

/// The embedded digits, the `mlp` for 2 epochs on the CPU, the `loss` score only.
const JOB: &str = r#"
name = "precision"
seed = 0
device = "cpu"
threads = 2

[data]
format = "digits"

[model]
arch = "mlp"

[train]
epochs = 2

[score]
builtin = ["loss"]
"#;

/// `memscope run JOB --out OUT --quiet --no-report --set name=NAME --set SETS...`,
/// the job file written into `out`.
fn run(out: &Path, name: &str, sets: &[&str]) -> memscope_tests::Finished {
    let job = write_job(out, JOB);
    let (job, outs) = (job.to_str().unwrap(), out.to_str().unwrap());
    let mut args = vec!["run", job, "--out", outs, "--quiet", "--no-report"];
    let name = format!("name={name}");
    for s in sets.iter().copied().chain([name.as_str()]) {
        args.extend(["--set", s]);
    }
    memscope(&repo_root(), &args)
}

/// bf16-mixed trains on the CPU under autocast (its per-sample losses are not float32's),
/// and `summary.json` records it beside scoring's float32; a run without the setting
/// records "32".
#[test]
fn bf16_mixed_trains_under_autocast_and_is_recorded() {
    let out = tempfile::tempdir().unwrap();
    run(out.path(), "full", &[]).success();
    run(out.path(), "bf16", &["train.precision=\"bf16-mixed\""]).success();

    let precision = |name: &str| read_summary(&out.path().join(name))["precision"].clone();
    assert_eq!(precision("full"), serde_json::json!({ "train": "32", "score": "32" }));
    assert_eq!(precision("bf16"), serde_json::json!({ "train": "bf16-mixed", "score": "32" }));
    // The setting is kept with the run (a resume trains in the same precision).
    let written = std::fs::read_to_string(out.path().join("bf16/config.toml")).unwrap();
    assert!(written.contains("precision = \"bf16-mixed\""), "{written}");

    // bfloat16 keeps 8 bits of mantissa: the first epoch's losses already differ.
    let (full, _) = read_npy_f32(&out.path().join("full/scores/loss_epochs.npy"));
    let (bf16, _) = read_npy_f32(&out.path().join("bf16/scores/loss_epochs.npy"));
    let differing = full.iter().zip(&bf16).filter(|(a, b)| a != b).count();
    assert!(differing > full.len() / 2, "only {differing} of {} losses differ from float32's", full.len());
}

/// A value that is no precision names the key and the values allowed; float16 on a
/// device without CUDA is refused before any work, saying what to use.
#[test]
fn a_wrong_precision_or_one_the_device_cannot_run_is_refused_in_one_line() {
    let out = tempfile::tempdir().unwrap();
    let error = run(out.path(), "a", &["train.precision=\"16\""]).clean_failure();
    assert!(error.contains("train.precision: \"16\" is not a precision; use \"32\", \"bf16-mixed\" or \"fp16-mixed\""), "{error}");

    let error = run(out.path(), "b", &["train.precision=\"fp16-mixed\""]).clean_failure();
    assert!(
        error.contains("train.precision: \"fp16-mixed\" runs on CUDA only")
            && error.contains("this job runs on cpu: use \"bf16-mixed\" or \"32\""),
        "{error}"
    );
    assert!(!out.path().join("b/summary.json").exists());
}
