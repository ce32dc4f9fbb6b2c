//! `memscope estimate memorization` as a user runs it: models trained one task at a
//! time (as a Slurm array or a Kubernetes Indexed Job runs them), the aggregate over
//! the models that finished, a partial estimate resumed (only the missing models run,
//! an interrupted one continues from its checkpoint), the daemon's queue as the engine,
//! and a run's scores compared with the estimate in its ranking table.

use memscope_tests::daemon::Daemon;
use memscope_tests::{memscope, memscope_bin, read_npy_f32, read_npy_i64, read_summary, run_until_epoch_then_interrupt, write_job};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A small digits job: 480 samples, 60 short epochs (long enough to stop one model
/// in the middle), one thread; scored by curvature, which the estimate's models leave
/// out.
const JOB: &str = "name = \"tiny\"\nthreads = 1\n[data]\nformat = \"digits\"\nlimit = 480\n[train]\nepochs = 60\n\
                   [checkpoint]\nevery = 5\n[[plugins]]\nname = \"curvature\"\nconfig = { draws = 2 }\n";
/// Its samples.
const N: usize = 480;

fn read_bools(path: &Path) -> (Vec<bool>, Vec<i64>) {
    let t = tch::Tensor::read_npy(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    (Vec::<bool>::try_from(&t.flatten(0, -1)).unwrap(), t.size())
}

fn estimate(dir: &Path, extra: &[&str]) -> memscope_tests::Finished {
    let mut args = vec!["estimate", "memorization", "job.toml", "--models", "4", "--subset", "0.5", "--out", "out"];
    args.extend_from_slice(extra);
    memscope(dir, &args)
}

/// Recomputes the estimate from the per-model rows it wrote, by the definition:
/// P(correct | in) - P(correct | out), NaN without models on a side.
fn by_definition(masks: &[bool], correct: &[bool], models: usize, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let side = |trained: bool| {
                let rows: Vec<usize> = (0..models).filter(|&m| masks[m * n + i] == trained).collect();
                (rows.len(), rows.iter().filter(|&&m| correct[m * n + i]).count())
            };
            let ((n_in, c_in), (n_out, c_out)) = (side(true), side(false));
            match n_in > 0 && n_out > 0 {
                true => (c_in as f64 / n_in as f64 - c_out as f64 / n_out as f64) as f32,
                false => f32::NAN,
            }
        })
        .collect()
}

/// Checks the estimate directory against the finished models' own files, exactly.
fn check_aggregate(estimate_dir: &Path, expected_models: &[i64]) {
    assert_eq!(read_npy_i64(&estimate_dir.join("models.npy")), expected_models);
    let m = expected_models.len();
    let (masks, shape) = read_bools(&estimate_dir.join("masks.npy"));
    assert_eq!(shape, [m as i64, N as i64]);
    let (correct, _) = read_bools(&estimate_dir.join("correct.npy"));
    for (row, &k) in expected_models.iter().enumerate() {
        let run = estimate_dir.join(format!("models/model-{k:04}"));
        assert_eq!(read_bools(&run.join("subset_mask.npy")).0, &masks[row * N..(row + 1) * N], "model {k}'s subset");
        assert_eq!(read_bools(&run.join("correct.npy")).0, &correct[row * N..(row + 1) * N], "model {k}'s correctness");
        assert!(!run.join("label_issues.csv").exists(), "model {k} trained on part of the samples: it gives no verdict");
        assert_eq!(masks[row * N..(row + 1) * N].iter().filter(|&&b| b).count(), N / 2, "model {k} trains on half");
    }
    let (ins, outs) = (read_npy_i64(&estimate_dir.join("in_counts.npy")), read_npy_i64(&estimate_dir.join("out_counts.npy")));
    assert!(ins.iter().zip(&outs).all(|(i, o)| (i + o) as usize == m), "each sample is in or out of every finished model");
    let (mem, _) = read_npy_f32(&estimate_dir.join("mem.npy"));
    let want = by_definition(&masks, &correct, m, N);
    for (i, (a, b)) in mem.iter().zip(&want).enumerate() {
        assert!(a == b || (a.is_nan() && b.is_nan()), "sample {i}: mem {a}, by definition {b}");
    }
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(estimate_dir.join("estimate.json")).unwrap()).unwrap();
    assert_eq!((summary["finished"].as_u64(), summary["models"].as_u64()), (Some(m as u64), Some(4)));
    assert_eq!(summary["undefined_samples"].as_u64().unwrap() as usize, want.iter().filter(|v| v.is_nan()).count());
}

/// Two array tasks (one by `--index`, one by `SLURM_ARRAY_TASK_ID`), the aggregate of
/// those two, then the command without a task: only the two missing models train, one
/// of them resuming where Ctrl-C stopped it, and the aggregate covers all four.
#[test]
fn the_aggregate_covers_the_finished_models_and_a_partial_estimate_resumes() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let estimate_dir = dir.path().join("out/tiny-memorization");

    estimate(dir.path(), &["--index", "0"]).success();
    let task = Command::new(memscope_bin())
        .args(["estimate", "memorization", "job.toml", "--models", "4", "--subset", "0.5", "--out", "out"])
        .env("SLURM_ARRAY_TASK_ID", "2")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(task.status.success(), "{}", String::from_utf8_lossy(&task.stderr));
    for k in 0..4 {
        assert_eq!(estimate_dir.join(format!("models/model-{k:04}/summary.json")).exists(), k == 0 || k == 2, "model {k}");
    }
    let aggregated = estimate(dir.path(), &["--aggregate"]).success();
    assert!(aggregated.stdout().contains("from 2 of 4 models"), "{}", aggregated.stdout());
    check_aggregate(&estimate_dir, &[0, 2]);

    // Model 1 is stopped by Ctrl-C after its second epoch, as an array task may be.
    let model_1 = estimate_dir.join("models/model-0001");
    let config = estimate_dir.join("models/model-0001.toml");
    let stopped = run_until_epoch_then_interrupt(
        dir.path(),
        &["run".as_ref(), config.as_os_str(), "--run-dir".as_ref(), model_1.as_os_str(), "--quiet".as_ref()],
        2,
    );
    assert_eq!(stopped.code(), Some(130));
    assert!(!model_1.join("summary.json").exists());
    let finished_before: Vec<String> =
        [0, 2].iter().map(|k| std::fs::read_to_string(estimate_dir.join(format!("models/model-{k:04}/summary.json"))).unwrap()).collect();

    let resumed = estimate(dir.path(), &["--parallel", "2"]).success();
    assert!(resumed.stderr().contains("2 of 4 models finished; training 2"), "{}", resumed.stderr());
    assert!(resumed.stdout().contains("from 4 of 4 models"), "{}", resumed.stdout());
    for (k, before) in [0, 2].iter().zip(&finished_before) {
        let after = std::fs::read_to_string(estimate_dir.join(format!("models/model-{k:04}/summary.json"))).unwrap();
        assert_eq!(&after, before, "model {k} was trained again");
    }
    let summary = read_summary(&model_1);
    assert!(summary["resumed_at_epoch"].as_u64().unwrap() >= 2, "model 1 started over: {summary}");
    assert_eq!((summary["subset"]["samples"].as_u64(), summary["epochs"].as_u64()), (Some(N as u64 / 2), Some(60)));
    assert_eq!(read_summary(&estimate_dir.join("models/model-0003"))["resumed_at_epoch"], 0);
    check_aggregate(&estimate_dir, &[0, 1, 2, 3]);

    // Running it once more trains nothing.
    let again = estimate(dir.path(), &[]).success();
    assert!(again.stderr().contains("4 of 4 models finished; training 0"), "{}", again.stderr());

    // A run of the job compares every score with the estimate, in the ranking table
    // beside the noise mask; samples the estimate leaves undefined are left out.
    let text = format!(
        "{JOB}[[plugins]]\nname = \"noise\"\nconfig = {{ fraction = 0.1 }}\n[[plugins]]\nname = \"baseline\"\nconfig = {{ against = [\"noise_mask\", \"{}\"], k = [20] }}\n",
        estimate_dir.join("mem.npy").display()
    );
    let text = text.replace("name = \"tiny\"", "name = \"compared\"").replace("epochs = 60", "epochs = 5");
    std::fs::write(dir.path().join("compared.toml"), text).unwrap();
    memscope(dir.path(), &["run", "compared.toml", "--out", "out", "--quiet"]).success();
    let run = read_summary(&dir.path().join("out/compared"));
    let rankings = run["rankings"].as_array().unwrap();
    let against: Vec<&str> = rankings.iter().map(|r| r["against"].as_str().unwrap()).collect();
    assert_eq!(against, ["noise_mask", "mem"]);
    let mem = &rankings[1];
    assert_eq!(mem["kind"], "reference");
    let scores: Vec<&str> = mem["rows"].as_array().unwrap().iter().map(|r| r["score"].as_str().unwrap()).collect();
    for score in ["loss", "curvature"] {
        assert!(scores.contains(&score), "{score} not ranked against the estimate: {mem}");
    }
    let compared = run["comparisons"].as_array().unwrap().iter().find(|c| c["against"] == "mem" && c["score"] == "curvature").unwrap();
    for measure in ["cosine", "spearman", "top_k_overlap_20"] {
        assert!(compared[measure].as_f64().is_some_and(f64::is_finite), "{measure} of curvature vs mem: {compared}");
    }
    assert!(dir.path().join("out/compared/report/vs_mem_curvature.png").exists());
}

/// The daemon as the engine: `--submit` queues each model as a job of its own, the
/// daemon runs them, and `--aggregate` reads them where the daemon wrote them.
#[test]
fn models_submitted_to_the_daemon_are_aggregated_from_its_run_directories() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "max_running_jobs = 2\n");
    std::fs::write(dir.path().join("job.toml"), JOB.replace("epochs = 60", "epochs = 2")).unwrap();
    let args = ["estimate", "memorization", "job.toml", "--models", "3", "--subset", "0.5", "--out", "out"];
    let submitted = daemon.cli(&[&args[..], &["--submit"]].concat()).success();
    assert!(submitted.stdout().contains("submitted 3 models"), "{}", submitted.stdout());
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/tiny-memorization/daemon_jobs.json")).unwrap()).unwrap();
    let ids: Vec<String> = (0..3).map(|k| record[k.to_string()]["id"].as_str().unwrap().to_string()).collect();
    // Submitting again sends nothing new.
    assert!(daemon.cli(&[&args[..], &["--submit"]].concat()).success().stdout().contains("submitted 0 models"));
    for id in &ids {
        let job = daemon.wait_done(id, Duration::from_secs(180));
        assert_eq!(job["state"], "completed", "{job}");
    }
    let aggregated = daemon.cli(&[&args[..], &["--aggregate"]].concat()).success();
    assert!(aggregated.stdout().contains("from 3 of 3 models"), "{}", aggregated.stdout());
    let run_dirs: Vec<PathBuf> = (0..3).map(|k| PathBuf::from(record[k.to_string()]["run_dir"].as_str().unwrap())).collect();
    let (masks, _) = read_bools(&dir.path().join("out/tiny-memorization/masks.npy"));
    for (k, run) in run_dirs.iter().enumerate() {
        assert!(run.starts_with(dir.path().join("state")), "model {k} ran under the daemon's runs_dir: {}", run.display());
        assert_eq!(read_bools(&run.join("subset_mask.npy")).0, &masks[k * N..(k + 1) * N]);
    }
}

/// Settings that cannot make an estimate, a task index out of range or unreadable, and
/// an estimate directory of another estimate are one-line errors naming the thing.
#[test]
fn bad_estimates_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let error = |extra: &[&str], env: Option<(&str, &str)>| {
        let mut command = Command::new(memscope_bin());
        command.args(["estimate", "memorization", "job.toml", "--models", "4", "--out", "out"]).args(extra).current_dir(dir.path());
        if let Some((k, v)) = env {
            command.env(k, v);
        }
        memscope_tests::Finished { output: command.output().unwrap() }.clean_failure()
    };
    assert_eq!(error(&["--subset", "1"], None), "error: --subset: 1 is not a share in (0, 1) (each model must leave some samples out)");
    assert!(error(&["--index", "4"], None).contains("--index is 4, but the estimate has models 0..3"));
    assert!(error(&[], Some(("JOB_COMPLETION_INDEX", "seven"))).contains("JOB_COMPLETION_INDEX=\"seven\" is not a model index"));
    let other = error(&["--subset", "0.5"], None);
    assert!(other.contains("model-0000.toml: was written for another estimate (another job, --subset or --set)"), "{other}");
}

/// The array examples as their schedulers run them: `configs/launch/estimate.sbatch` as
/// the array task `SLURM_ARRAY_TASK_ID=1` runs it, and the container command of
/// `configs/launch/estimate-indexed-job.yaml` as the Job controller starts the pod of
/// index 0 (`JOB_COMPLETION_INDEX`), the image's paths mapped into a directory here.
/// Each trains the model its index names, and that one only.
#[test]
fn the_array_examples_train_the_model_their_scheduler_names() {
    let dir = tempfile::tempdir().unwrap();
    let small = JOB.replace("epochs = 60", "epochs = 2").replace("limit = 480", "limit = 120");
    write_job(dir.path(), &small);
    // The script runs `target/release/memscope`, from where it is submitted.
    std::fs::create_dir_all(dir.path().join("target/release")).unwrap();
    std::os::unix::fs::symlink(memscope_bin(), dir.path().join("target/release/memscope")).unwrap();
    let task = Command::new("bash")
        .arg(memscope_tests::repo_root().join("configs/launch/estimate.sbatch"))
        .args(["job.toml", "3", "slurm-runs"])
        .envs([("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_CPUS_PER_TASK", "1"), ("MEMSCOPE_LOG", "warn")])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(task.status.success(), "{}", String::from_utf8_lossy(&task.stderr));
    let models = dir.path().join("slurm-runs/tiny-memorization/models");
    let finished: Vec<bool> = (0..3).map(|k| models.join(format!("model-{k:04}/summary.json")).exists()).collect();
    assert_eq!(finished, [false, true, false]);

    let manifest = std::fs::read_to_string(memscope_tests::repo_root().join("configs/launch/estimate-indexed-job.yaml")).unwrap();
    let field =
        |key: &str| manifest.lines().find_map(|l| l.trim().strip_prefix(key)).unwrap_or_else(|| panic!("no {key}")).trim().to_string();
    let command: Vec<String> = serde_json::from_str(&field("command: ")).unwrap();
    let models_flag = command.iter().position(|a| a == "--models").expect("--models");
    assert_eq!(command[models_flag + 1], field("completions: "), "one pod per model");
    std::fs::create_dir_all(dir.path().join("memscope/configs")).unwrap();
    std::fs::write(dir.path().join("memscope/configs/digits.toml"), &small).unwrap();
    let image_path = |arg: &String| match arg.as_str() {
        "/memscope/target/release/memscope" => memscope_bin().display().to_string(),
        _ if arg.starts_with('/') => dir.path().join(&arg[1..]).display().to_string(),
        _ => arg.clone(),
    };
    let command: Vec<String> = command.iter().map(image_path).collect();
    let pod = Command::new(&command[0]).args(&command[1..]).env("JOB_COMPLETION_INDEX", "0").env("MEMSCOPE_LOG", "warn").output().unwrap();
    assert!(pod.status.success(), "{}", String::from_utf8_lossy(&pod.stderr));
    let models = dir.path().join("runs/tiny-memorization/models");
    assert!(models.join("model-0000/summary.json").exists());
    assert!(!models.join("model-0001").exists());
}
