//! A user runs the default job and finds a complete run directory.

use memscope_tests::{memscope, read_npy_f32, read_npy_i64, read_summary, repo_root};

#[test]
fn default_digits_job_writes_summary_labels_and_loss_scores() {
    let out = tempfile::tempdir().unwrap();
    let config = repo_root().join("configs/digits.toml");
    let run = memscope(&repo_root(), &["run", config.to_str().unwrap(), "--out", out.path().to_str().unwrap()]).success();
    assert!(run.stdout().contains("train accuracy"), "{}", run.stdout());

    let dir = out.path().join("digits");
    let summary = read_summary(&dir);
    for key in ["dataset", "samples", "epochs", "train_accuracy", "timings", "comparisons", "scores"] {
        assert!(summary.get(key).is_some(), "summary.json lacks `{key}`: {summary}");
    }
    for key in ["train_seconds", "score_seconds", "scored_samples", "total_seconds"] {
        assert!(summary["timings"].get(key).is_some(), "timings lack `{key}`: {summary}");
    }
    assert_eq!(summary["samples"], 1797);
    assert_eq!(summary["epochs"], 30);
    // The cnn fits digits: a broken trainer or optimizer would not.
    assert!(summary["train_accuracy"].as_f64().unwrap() > 0.98, "{summary}");

    let (loss, shape) = read_npy_f32(&dir.join("scores/loss.npy"));
    assert_eq!(shape, vec![1797]);
    assert!(loss.iter().all(|v| v.is_finite() && *v >= 0.0));
    let (per_epoch, shape) = read_npy_f32(&dir.join("scores/loss_epochs.npy"));
    assert_eq!(shape, vec![30, 1797]);
    // The cumulative loss is the sum of the per-epoch losses.
    let sum0: f32 = (0..30).map(|e| per_epoch[e * 1797]).sum();
    assert!((sum0 - loss[0]).abs() <= 1e-3 * sum0.max(1.0));

    let (eval_loss, shape) = read_npy_f32(&dir.join("scores/eval_loss.npy"));
    assert_eq!(shape, vec![1797]);
    assert!(eval_loss.iter().all(|v| v.is_finite()));
    assert_eq!(summary["timings"]["scored_samples"], 2 * 30 * 1797, "eval_loss and curvature, every epoch");

    // The noise plugin relabelled 10 %; labels.npy holds the labels as trained.
    let labels = read_npy_i64(&dir.join("labels.npy"));
    let original = read_npy_i64(&dir.join("original_labels.npy"));
    assert_eq!(labels.len(), 1797);
    assert_eq!(&original[..3], &[0, 1, 2]);
    assert_eq!(labels.iter().zip(&original).filter(|(a, b)| a != b).count(), 180);
    assert!(dir.join("config.toml").exists());

    // The curvature plugin's score, loaded through libloading, finds the noisy labels.
    let (curvature, shape) = read_npy_f32(&dir.join("scores/curvature.npy"));
    assert_eq!(shape, vec![1797]);
    assert!(curvature.iter().all(|v| v.is_finite() && *v >= 0.0));
    let (_, shape) = read_npy_f32(&dir.join("scores/curvature_epochs.npy"));
    assert_eq!(shape, vec![30, 1797]);
    let comparison = summary["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["score"] == "curvature" && c["against"] == "noise_mask")
        .unwrap_or_else(|| panic!("no curvature vs noise_mask comparison: {summary}"));
    let auroc = comparison["auroc"].as_f64().unwrap();
    assert!(auroc >= 0.97, "curvature AUROC against the noise mask {auroc}");
    assert!(run.stdout().contains("curvature vs noise_mask: AUROC"), "{}", run.stdout());
}

#[test]
fn same_seed_gives_the_same_losses_and_another_seed_does_not() {
    let out = tempfile::tempdir().unwrap();
    let config = repo_root().join("configs/digits.toml");
    let run = |name: &str, seed: u64| {
        memscope(
            &repo_root(),
            &[
                "run",
                config.to_str().unwrap(),
                "--out",
                out.path().to_str().unwrap(),
                "--set",
                &format!("name={name}"),
                "--set",
                &format!("seed={seed}"),
                "--set",
                "train.epochs=3",
                "--set",
                "threads=2",
                "--quiet",
            ],
        )
        .success();
        read_npy_f32(&out.path().join(name).join("scores/loss_epochs.npy")).0
    };
    let a = run("a", 7);
    let b = run("b", 7);
    let c = run("c", 8);
    assert_eq!(a, b, "same seed, same losses");
    assert_ne!(a, c, "another seed, other losses");
}

#[test]
fn an_existing_run_is_not_overwritten_without_force() {
    let out = tempfile::tempdir().unwrap();
    let config = repo_root().join("configs/digits.toml");
    let args = |extra: &[&'static str]| {
        let mut a = vec!["run".to_string(), config.display().to_string(), "--out".into(), out.path().display().to_string()];
        a.extend(["--set".into(), "train.epochs=1".into(), "--quiet".into()]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let call = |a: Vec<String>| memscope(&repo_root(), &a.iter().map(String::as_str).collect::<Vec<_>>());
    call(args(&[])).success();
    let err = call(args(&[])).clean_failure();
    assert!(err.contains("completed run") && err.contains("--force"), "{err}");
    assert!(out.path().join("digits/summary.json").exists(), "the earlier run is intact");
    call(args(&["--force"])).success();
}

/// `deterministic = true` turns on libtorch's deterministic algorithms. Every CPU path
/// of the default job (training, the cnn's curvature, eval_loss, the plugins) runs under
/// them, and since those paths are deterministic already, the scores are the very same.
#[test]
fn a_deterministic_job_runs_every_path_and_scores_as_the_default() {
    let out = tempfile::tempdir().unwrap();
    let config = repo_root().join("configs/digits.toml");
    let run = |name: &str, sets: &[&str]| {
        let mut args = vec!["run", config.to_str().unwrap(), "--out", out.path().to_str().unwrap(), "--quiet"];
        args.extend(["--set", "train.epochs=2", "--set", "device=\"cpu\"", "--set"]);
        args.push(name);
        for set in sets {
            args.extend(["--set", set]);
        }
        memscope(&repo_root(), &args).success();
    };
    run("name=\"plain\"", &[]);
    run("name=\"deterministic\"", &["deterministic=true"]);
    for file in ["scores/curvature.npy", "scores/eval_loss.npy", "scores/loss_epochs.npy"] {
        let (a, _) = read_npy_f32(&out.path().join("plain").join(file));
        let (b, _) = read_npy_f32(&out.path().join("deterministic").join(file));
        assert_eq!(a, b, "{file}");
    }
    assert_eq!(read_summary(&out.path().join("deterministic"))["deterministic"], true, "libtorch's switch was on");
    assert_eq!(read_summary(&out.path().join("plain"))["deterministic"], false);
}
