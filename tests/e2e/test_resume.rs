//! A run killed after a checkpoint, then resumed, ends where an uninterrupted run ends.

use memscope_tests::{
    assert_close, assert_same_verdict, kill_at_checkpoint, memscope, memscope_bin, read_npy_f32, read_npy_i64, read_summary, repo_root,
    run_until_epoch_then_interrupt,
};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SETS: [&str; 4] = ["train.epochs=12", "checkpoint.every=2", "threads=2", "score.builtin=[\"loss\", \"eval_loss\"]"];

fn args<'a>(config: &'a str, out: &'a str, name: &'a str) -> Vec<String> {
    let mut a = vec!["run".to_string(), config.into(), "--out".into(), out.into(), "--quiet".into()];
    for s in SETS.iter().copied().chain([format!("name={name}").leak() as &str]) {
        a.push("--set".into());
        a.push(s.into());
    }
    a
}

#[test]
fn killed_run_resumes_from_its_checkpoint_to_the_same_result() {
    let out = tempfile::tempdir().unwrap();
    let config = repo_root().join("configs/digits.toml");
    let (config, outs) = (config.to_str().unwrap(), out.path().to_str().unwrap());

    let whole: Vec<String> = args(config, outs, "whole");
    memscope(&repo_root(), &whole.iter().map(String::as_str).collect::<Vec<_>>()).success();

    // Start the same job, kill -9 it as soon as its first checkpoint exists.
    let run_dir = out.path().join("cut");
    let mut child = Command::new(memscope_bin())
        .args(args(config, outs, "cut"))
        .current_dir(repo_root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = run_dir.join("checkpoints/epoch-000002/state.json");
    kill_at_checkpoint(&mut child, &first);
    assert!(!run_dir.join("summary.json").exists(), "the run finished before it could be killed");

    let resumed = memscope(&repo_root(), &["run", "--resume", run_dir.to_str().unwrap(), "--quiet"]).success();
    let summary = read_summary(&run_dir);
    let at = summary["resumed_at_epoch"].as_u64().unwrap();
    assert!((2..12).contains(&at), "resumed at epoch {at}: {}", resumed.stderr());
    assert_eq!(summary["epochs"], 12);

    let whole_dir = out.path().join("whole");
    assert_eq!(read_npy_i64(&run_dir.join("labels.npy")), read_npy_i64(&whole_dir.join("labels.npy")));
    for file in ["scores/loss_epochs.npy", "scores/loss.npy", "scores/eval_loss_epochs.npy", "scores/eval_loss.npy"] {
        let (a, sa) = read_npy_f32(&whole_dir.join(file));
        let (b, sb) = read_npy_f32(&run_dir.join(file));
        assert_eq!(sa, sb, "{file} shape");
        assert_close(&a, &b, file);
    }
    let acc = |d: &Path| read_summary(d)["train_accuracy"].as_f64().unwrap();
    assert!((acc(&whole_dir) - acc(&run_dir)).abs() < 1e-9);
    // The verdict's probabilities were checkpointed with the scores: the same verdict.
    assert_same_verdict(&whole_dir, &run_dir);
}

/// `memscope run CONFIG --out OUT --quiet` for the run `name`: the `mlp` for 10 epochs,
/// a checkpoint every 5.
fn mlp_run(config: &str, out: &str, name: &str) -> Vec<String> {
    let sets = ["train.epochs=10", "checkpoint.every=5", "threads=2", "model.arch=\"mlp\""];
    let mut a: Vec<String> = vec!["run".into(), config.into(), "--out".into(), out.into(), "--quiet".into()];
    for s in sets.iter().map(|s| s.to_string()).chain([format!("name={name}")]) {
        a.extend(["--set".into(), s]);
    }
    a
}

/// Ctrl-C between checkpoints: the run writes the last finished epoch before it stops,
/// so `--resume` continues from there, not from the older checkpoint.
#[test]
fn an_interrupted_run_checkpoints_its_last_epoch_and_resumes_to_the_same_result() {
    let out = tempfile::tempdir().unwrap();
    let config = repo_root().join("configs/digits.toml");
    let (config, outs) = (config.to_str().unwrap(), out.path().to_str().unwrap());
    let run_args = |name: &str| mlp_run(config, outs, name);
    memscope(&repo_root(), &run_args("whole").iter().map(String::as_str).collect::<Vec<_>>()).success();

    // Wait until epoch 3 has ended, then press Ctrl-C.
    let status = run_until_epoch_then_interrupt(&repo_root(), &run_args("stopped"), 3);
    assert!(!status.success(), "an interrupted run exits non-zero");

    let run_dir = out.path().join("stopped");
    let written: Vec<String> =
        std::fs::read_dir(run_dir.join("checkpoints")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(written.len(), 1, "{written:?}");
    let at: usize = written[0].strip_prefix("epoch-").unwrap().parse().unwrap();
    assert!((3..5).contains(&at), "the stop wrote epoch {at}, between the cadence's checkpoints (5, 10)");

    memscope(&repo_root(), &["run", "--resume", run_dir.to_str().unwrap(), "--quiet"]).success();
    assert_eq!(read_summary(&run_dir)["resumed_at_epoch"].as_u64().unwrap() as usize, at);
    let whole_dir = out.path().join("whole");
    for file in ["scores/loss.npy", "scores/eval_loss.npy", "scores/curvature.npy"] {
        let (a, _) = read_npy_f32(&whole_dir.join(file));
        let (b, _) = read_npy_f32(&run_dir.join(file));
        assert_close(&a, &b, file);
    }
}

/// A disk damaged the newest checkpoint (its weights truncated) after the run stopped:
/// `--resume` says so, falls back to the older one (`keep = 2`) and still ends where
/// an uninterrupted run ends.
#[test]
fn a_truncated_newest_checkpoint_resumes_from_the_one_before_to_the_same_result() {
    let out = tempfile::tempdir().unwrap();
    let config = repo_root().join("configs/digits.toml");
    let (config, outs) = (config.to_str().unwrap(), out.path().to_str().unwrap());
    let sets = ["train.epochs=8", "checkpoint.every=2", "checkpoint.keep=2", "threads=2", "model.arch=\"mlp\""];
    let run_args = |name: &str| -> Vec<String> {
        let mut a: Vec<String> = vec!["run".into(), config.into(), "--out".into(), outs.into(), "--quiet".into()];
        for s in sets.iter().map(|s| s.to_string()).chain([format!("name={name}")]) {
            a.extend(["--set".into(), s]);
        }
        a
    };
    memscope(&repo_root(), &run_args("whole").iter().map(String::as_str).collect::<Vec<_>>()).success();

    // kill -9 once two checkpoints exist.
    let run_dir = out.path().join("damaged");
    let mut child = Command::new(memscope_bin())
        .args(run_args("damaged"))
        .current_dir(repo_root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let second = run_dir.join("checkpoints/epoch-000004/state.json");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !second.exists() {
        assert!(Instant::now() < deadline, "no second checkpoint appeared");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its second checkpoint");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!run_dir.join("summary.json").exists(), "the run finished before it could be killed");

    let mut kept: Vec<String> = std::fs::read_dir(run_dir.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("epoch-"))
        .collect();
    kept.sort();
    assert_eq!(kept.len(), 2, "keep = 2: {kept:?}");
    let newest = run_dir.join("checkpoints").join(&kept[1]).join("model.safetensors");
    let length = std::fs::metadata(&newest).unwrap().len();
    std::fs::File::options().write(true).open(&newest).unwrap().set_len(length / 2).unwrap();

    let resumed = memscope(&repo_root(), &["run", "--resume", run_dir.to_str().unwrap(), "--quiet"]).success();
    let said = resumed.stderr();
    assert!(said.contains(&format!("checkpoint {} is damaged", run_dir.join("checkpoints").join(&kept[1]).display())), "{said}");
    assert!(said.contains("model.safetensors does not match its SHA-256") && said.contains(&kept[0]), "{said}");
    let older: u64 = kept[0].strip_prefix("epoch-").unwrap().parse().unwrap();
    assert_eq!(read_summary(&run_dir)["resumed_at_epoch"].as_u64(), Some(older));
    let whole_dir = out.path().join("whole");
    for file in ["scores/loss.npy", "scores/eval_loss.npy", "scores/curvature.npy"] {
        let (a, _) = read_npy_f32(&whole_dir.join(file));
        let (b, _) = read_npy_f32(&run_dir.join(file));
        assert_close(&a, &b, file);
    }
}

/// `--resume RUN_DIR` (the run's own config) and `CONFIG --resume` (the run directory
/// CONFIG names) are the two forms; a mix of them is refused before anything runs,
/// saying which to give.
#[test]
fn resume_arguments_that_contradict_each_other_are_refused_with_the_forms_to_use() {
    let dir = tempfile::tempdir().unwrap();
    let error = memscope(dir.path(), &["run", "job.toml", "--resume", "runs/dp"]).clean_failure();
    assert_eq!(
        error,
        "error: give either `--resume runs/dp` (the run's own config) or `job.toml --resume` (the run directory CONFIG names), not both"
    );
    let error = memscope(dir.path(), &["run", "--resume"]).clean_failure();
    assert_eq!(error, "error: --resume without RUN_DIR needs the job's CONFIG (`memscope run CONFIG --resume`)");
    let error = memscope(dir.path(), &["run", "--run-dir", "here", "--resume", "runs/dp"]).clean_failure();
    assert_eq!(error, "error: --resume RUN_DIR names the run directory: drop --run-dir, or give CONFIG --run-dir DIR --resume");
    // CONFIG --resume where CONFIG's run directory holds no run.
    std::fs::write(dir.path().join("job.toml"), "name = \"never\"\n[data]\nformat = \"digits\"\n").unwrap();
    let error = memscope(dir.path(), &["run", "job.toml", "--out", "runs", "--resume"]).clean_failure();
    assert_eq!(error, "error: run directory runs/never: not a run directory (no config.toml); nothing to resume");
}

/// `--resume-or-start`: the one command a launcher runs again after a failure
/// (torchrun `--max-restarts`, a Kubernetes `restartPolicy: OnFailure`). The first
/// time it starts the run; interrupted and run again unchanged, it resumes and ends
/// where an uninterrupted run ends; once the run has completed, it says so.
#[test]
fn one_command_starts_a_run_and_resumes_it_when_run_again() {
    let out = tempfile::tempdir().unwrap();
    let config = repo_root().join("configs/digits.toml");
    let (config, outs) = (config.to_str().unwrap(), out.path().to_str().unwrap());
    memscope(&repo_root(), &mlp_run(config, outs, "whole").iter().map(String::as_str).collect::<Vec<_>>()).success();

    let command: Vec<String> = mlp_run(config, outs, "again").into_iter().chain(["--resume-or-start".into()]).collect();
    let status = run_until_epoch_then_interrupt(&repo_root(), &command, 3);
    assert!(!status.success(), "an interrupted run exits non-zero");
    let run_dir = out.path().join("again");
    assert!(run_dir.join("config.toml").exists(), "the first attempt started the run");

    let command: Vec<&str> = command.iter().map(String::as_str).collect();
    memscope(&repo_root(), &command).success();
    let at = read_summary(&run_dir)["resumed_at_epoch"].as_u64().unwrap();
    assert!((3..5).contains(&at), "resumed at epoch {at}");
    let whole_dir = out.path().join("whole");
    for file in ["scores/loss.npy", "scores/eval_loss.npy", "scores/curvature.npy"] {
        let (a, _) = read_npy_f32(&whole_dir.join(file));
        let (b, _) = read_npy_f32(&run_dir.join(file));
        assert_close(&a, &b, file);
    }

    let error = memscope(&repo_root(), &command).clean_failure();
    assert!(error.contains("this run already completed"), "{error}");
    let error = memscope(&repo_root(), &[command.as_slice(), &["--force"]].concat()).clean_failure();
    assert!(error.contains("--resume-or-start") && error.contains("--force"), "{error}");
}

/// A scorer on a thread of its own (as on a GPU; on the CPU through
/// `MEMSCOPE_SCORER_THREAD=1`) lags behind training: a checkpoint does not wait for it
/// but records the snapshots it had not scored, and `--resume` scores them, ending
/// with the scores of an uninterrupted run, bit for bit (both runs deterministic, in
/// one process on this machine).
#[test]
fn a_checkpoint_with_pending_snapshots_resumes_to_the_scores_of_an_uninterrupted_run() {
    let out = tempfile::tempdir().unwrap();
    let config = repo_root().join("configs/digits.toml");
    let (config, outs) = (config.to_str().unwrap(), out.path().to_str().unwrap());
    // The `mlp` trains an epoch in a twentieth of the time curvature with 200 draws
    // scores it (measured 0.05-0.06 s against 1.2-1.6 s on 2 busy cores): the scorer
    // is behind at every checkpoint.
    let run = |args: &[&str]| {
        let mut command = Command::new(memscope_bin());
        command.args(args).current_dir(repo_root()).env("MEMSCOPE_SCORER_THREAD", "1").env("MEMSCOPE_LOG", "warn");
        command
    };
    let job = |name: &str| -> Vec<String> {
        let sets = [
            "train.epochs=4",
            "checkpoint.every=2",
            "threads=2",
            "deterministic=true",
            "model.arch=\"mlp\"",
            "plugins.curvature.draws=200",
        ];
        let mut a: Vec<String> = vec!["run".into(), config.into(), "--out".into(), outs.into(), "--quiet".into()];
        for s in sets.iter().map(|s| s.to_string()).chain([format!("name={name}")]) {
            a.extend(["--set".into(), s]);
        }
        a
    };
    let whole = run(&job("whole").iter().map(String::as_str).collect::<Vec<_>>()).output().unwrap();
    assert!(whole.status.success(), "{}", String::from_utf8_lossy(&whole.stderr));

    // kill -9 as soon as the first checkpoint exists.
    let run_dir = out.path().join("cut");
    let mut child =
        run(&job("cut").iter().map(String::as_str).collect::<Vec<_>>()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let first = run_dir.join("checkpoints/epoch-000002/state.json");
    kill_at_checkpoint(&mut child, &first);
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&first).unwrap()).unwrap();
    let pending = state["pending_snapshots"].as_array().map_or(0, Vec::len);
    assert!(pending > 0, "the checkpoint after epoch 2 waited for the scorer (no pending snapshot): {state}");
    assert!(run_dir.join("checkpoints/epoch-000002/pending.safetensors").is_file());

    let resumed = run(&["run", "--resume", run_dir.to_str().unwrap(), "--quiet"]).output().unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let at = read_summary(&run_dir)["resumed_at_epoch"].as_u64().unwrap();
    assert!((2..4).contains(&at), "resumed at epoch {at}");
    let whole_dir = out.path().join("whole");
    for file in ["curvature_epochs", "curvature", "eval_loss_epochs", "eval_loss", "loss"] {
        let file = format!("scores/{file}.npy");
        let (a, sa) = read_npy_f32(&whole_dir.join(&file));
        let (b, sb) = read_npy_f32(&run_dir.join(&file));
        assert_eq!(sa, sb, "{file} shape");
        assert!(a == b, "{file} differs from the uninterrupted run's");
    }
}
