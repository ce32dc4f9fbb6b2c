//! Data-parallel training on c10d (Gloo over loopback): two `memscope run` processes
//! under torchrun's variables, as `torchrun --no-python --nproc-per-node=2` starts them.

use memscope_tests::{assert_close, memscope_bin, read_npy_f32, read_summary, repo_root, write_job};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The digits `cnn`, the per-sample `loss` and `eval_loss` scores and the curvature
/// plugin's on the last epoch; `batch_size` per rank.
const JOB: &str = r#"
name = "dp"
seed = 0
device = "cpu"
threads = 1
[data]
format = "digits"
[model]
arch = "cnn"
[train]
epochs = 3
batch_size = 32
lr = 0.05
momentum = 0.9
[score]
every = 3
builtin = ["loss", "eval_loss"]
[checkpoint]
every = 0
[report]
enabled = false
[[plugins]]
name = "curvature"
config = { draws = 2, h = 1e-3 }
"#;

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `memscope run job.toml --out OUT --events-json SETS...` as rank `rank` of `world`.
fn rank(dir: &Path, rank: usize, world: usize, port: u16, out: &str, sets: &[&str]) -> Child {
    let mut cmd = Command::new(memscope_bin());
    cmd.args(["run", "job.toml", "--out", out, "--events-json"]).current_dir(dir);
    for set in sets {
        cmd.args(["--set", set]);
    }
    if world > 1 {
        cmd.env("RANK", rank.to_string())
            .env("LOCAL_RANK", rank.to_string())
            .env("WORLD_SIZE", world.to_string())
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", port.to_string())
            .env("MEMSCOPE_DIST_TIMEOUT", "30");
    }
    cmd.env("MEMSCOPE_LOG", "warn").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Waits for a rank (at most two minutes) and returns its events and its stderr.
fn events(child: Child) -> (Vec<serde_json::Value>, String) {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "a rank failed:\n{stderr}");
    let events = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (events, stderr)
}

fn epoch_losses(events: &[serde_json::Value]) -> Vec<f32> {
    events.iter().filter(|e| e["event"] == "train_epoch_end").map(|e| e["loss"].as_f64().unwrap() as f32).collect()
}

fn evaluated(events: &[serde_json::Value]) -> Vec<serde_json::Value> {
    events.iter().filter(|e| e["event"] == "evaluated").cloned().collect()
}

#[test]
fn two_ranks_of_batch_32_train_as_one_process_of_batch_64() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let port = free_port();
    // torchrun hands every rank the same arguments; rank 1 gets another --out here
    // only to show that it writes nothing.
    let ranks = [rank(dir.path(), 0, 2, port, "two", &[]), rank(dir.path(), 1, 2, port, "rank1", &[])];
    let single = rank(dir.path(), 0, 1, 0, "one", &["train.batch_size=64"]);
    let [r0, r1] = ranks.map(events);
    let (one, _) = events(single);

    let losses = epoch_losses(&one);
    assert_eq!(losses.len(), 3);
    assert_close(&epoch_losses(&r0.0), &losses, "rank 0's epoch losses vs one process");
    assert_close(&epoch_losses(&r1.0), &losses, "rank 1's epoch losses vs one process");
    // (Curvature's finite differences divide by h = 1e-3 and so magnify the float
    // rounding by which the two trainings differ, up to 8e-4 relative as measured:
    // compared on identical weights below.)
    for file in ["scores/loss_epochs.npy", "scores/loss.npy", "scores/eval_loss.npy"] {
        let (a, shape_a) = read_npy_f32(&dir.path().join("one/dp").join(file));
        let (b, shape_b) = read_npy_f32(&dir.path().join("two/dp").join(file));
        assert_eq!(shape_a, shape_b, "{file}");
        assert_close(&a, &b, file);
    }
    // Same weights on both ranks: the job's own check passed (it fails the job
    // otherwise), and each rank's final pass over the training set with its own
    // weights gives the very same loss and accuracy.
    assert_eq!(evaluated(&r0.0), evaluated(&r1.0));
    assert!(!evaluated(&r0.0).is_empty());
    assert!(dir.path().join("two/dp/summary.json").exists());
    assert!(!dir.path().join("rank1").exists(), "only rank 0 writes the run directory");
}

/// Scoring is sharded by sample and gathered: on the same weights (a learning rate of
/// 1e-30 keeps the seeded initial ones, but for the biases below), two ranks give exactly the scores of one process, curvature's
/// per-sample seeded directions included.
#[test]
fn sharded_scores_equal_those_of_one_process() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let port = free_port();
    let still = ["train.lr=1e-30", "train.epochs=1", "score.every=1"];
    let ranks = [rank(dir.path(), 0, 2, port, "two", &still), rank(dir.path(), 1, 2, port, "two", &still)];
    // World 1 with the same global batch: even a learning rate of 1e-30 moves the
    // zero-initialized biases, and at inputs exactly on a ReLU's kink (digits have many
    // zero pixels) their sign decides the curvature; the same global batch gives the
    // same signs.
    let single = rank(dir.path(), 0, 1, 0, "one", &[&still[..], &["train.batch_size=64"]].concat());
    let [(r0, _), (r1, _)] = ranks.map(events);
    events(single);
    for file in ["scores/curvature.npy", "scores/eval_loss.npy"] {
        let (a, _) = read_npy_f32(&dir.path().join("one/dp").join(file));
        let (b, _) = read_npy_f32(&dir.path().join("two/dp").join(file));
        assert_eq!(a.len(), 1797);
        assert!(a == b, "{file}: sharded scores differ from one process's");
    }
    // Both ranks hold all the gathered scores (what their plugins are told).
    let ready = |events: &[serde_json::Value]| -> Vec<serde_json::Value> {
        events.iter().filter(|e| e["event"] == "scores_ready").map(|e| e["values"].clone()).collect()
    };
    assert_eq!(ready(&r0).len(), 2, "eval_loss and curvature");
    assert_eq!(ready(&r0), ready(&r1));
    assert_eq!(ready(&r1)[1].as_array().unwrap().len(), 1797);
}

#[test]
fn a_rank_killed_while_training_ends_the_other_with_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let port = free_port();
    let long = ["train.epochs=500"];
    let mut survivor = rank(dir.path(), 0, 2, port, "runs", &long);
    let mut victim = rank(dir.path(), 1, 2, port, "runs", &long);
    // Kill rank 1 (as the OOM killer would) once it has finished an epoch.
    let lines = BufReader::new(victim.stdout.take().unwrap()).lines();
    let trained = lines.map_while(Result::ok).any(|l| l.contains("\"train_epoch_end\""));
    assert!(trained, "rank 1 never finished an epoch");
    victim.kill().unwrap();
    victim.wait().unwrap();
    let killed = Instant::now();

    let deadline = Duration::from_secs(30);
    while survivor.try_wait().unwrap().is_none() {
        if killed.elapsed() > deadline + Duration::from_secs(10) {
            survivor.kill().unwrap();
            panic!("rank 0 still runs {:?} after rank 1 died", killed.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = survivor.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
    let error = stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("no error line:\n{stderr}"));
    assert!(error.starts_with("error: rank 0 of 2: all_reduce failed (waiting for rank 1)"), "{error}");
    assert!(killed.elapsed() < deadline, "rank 0 ended {:?} after rank 1 died", killed.elapsed());
}

/// The launcher users already have: torchrun (from the venv's torch) starts both ranks,
/// and its agent serves the store that they meet through.
#[test]
fn torchrun_runs_a_job_on_two_processes() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let torchrun = repo_root().join(".venv/bin/torchrun");
    assert!(torchrun.exists(), "{} is missing: `make setup` installs torch", torchrun.display());
    let out = Command::new(torchrun)
        .args(["--no-python", "--nproc-per-node=2", &format!("--master-port={}", free_port())])
        .arg(memscope_bin())
        .args(["run", "job.toml", "--out", "runs", "--quiet"])
        .current_dir(dir.path())
        .env("MEMSCOPE_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("failed to bind"), "rank 0 tried to serve the agent's store:\n{stderr}");
    assert_eq!(read_summary(&dir.path().join("runs/dp"))["epochs"], 3);
}

/// Resuming across a group is not supported yet: refused at once by every rank, before
/// any rendezvous, rather than resumed wrongly.
#[test]
fn resuming_under_a_group_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("runs/dp");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::write(run_dir.join("config.toml"), JOB).unwrap();
    let out = Command::new(memscope_bin())
        .args(["run", "--resume", run_dir.to_str().unwrap()])
        .env("RANK", "1")
        .env("WORLD_SIZE", "2")
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", free_port().to_string())
        .output()
        .unwrap();
    let finished = memscope_tests::Finished { output: out };
    assert_eq!(finished.clean_failure(), "error: resume: resuming a job run by 2 processes is not supported yet");
}

/// `memscope launch` does torchrun's part without Python: two ranks on this machine,
/// rank 0 writing the run; a job every rank fails ends with each rank's error and
/// the launcher's summary, and a non-zero status.
#[test]
fn launch_starts_the_ranks_itself() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let launched = memscope_tests::memscope(dir.path(), &["launch", "--nproc", "2", "run", "job.toml", "--out", "runs", "--quiet"]).success();
    assert!(launched.stderr().is_empty(), "{}", launched.stderr());
    assert_eq!(read_summary(&dir.path().join("runs/dp"))["epochs"], 3);

    let error = memscope_tests::memscope(dir.path(), &["launch", "--nproc", "2", "run", "missing.toml"]).clean_failure();
    assert!(error.starts_with("error: cannot read config missing.toml"), "{error}");
    let failed = memscope_tests::memscope(dir.path(), &["launch", "--nproc", "2", "run", "missing.toml"]).stderr();
    assert!(failed.lines().last().unwrap().contains("of 2 failed first (exit status: 1) (then rank(s) "), "{failed}");
}

/// Ctrl-C reaching one rank only stops the whole group together: both ranks end as
/// cancelled, none with a connection error, and rank 0 writes the last finished epoch
/// as a checkpoint.
#[test]
fn an_interrupt_of_one_rank_cancels_every_rank_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let port = free_port();
    let long = ["train.epochs=500", "checkpoint.every=400"];
    let mut first = rank(dir.path(), 0, 2, port, "runs", &long);
    let second = rank(dir.path(), 1, 2, port, "runs", &long);
    let lines = BufReader::new(first.stdout.take().unwrap()).lines();
    let trained = lines.map_while(Result::ok).any(|l| l.contains("\"train_epoch_end\""));
    assert!(trained, "rank 0 never finished an epoch");
    assert!(Command::new("kill").args(["-INT", &first.id().to_string()]).status().unwrap().success());
    for (r, child) in [(0, first), (1, second)] {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let error = stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("rank {r}: no error line:\n{stderr}"));
        assert!(error.starts_with("error: cancelled after "), "rank {r}: {error}");
    }
    assert!(dir.path().join("runs/dp/checkpoints").read_dir().unwrap().next().is_some(), "rank 0 wrote no checkpoint");
}
