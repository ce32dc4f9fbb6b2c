//! Data-parallel training on c10d (Gloo over loopback): two `memscope run` processes
//! under torchrun's variables, as `torchrun --no-python --nproc-per-node=2` starts them.

use memscope_tests::torchscript::{script_model, CNN_TWIN};
use memscope_tests::trajectory::{assert_trains_alike, Training};
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
    let mut args = vec!["job.toml", "--out", out];
    for set in sets {
        args.extend(["--set", set]);
    }
    rank_with(dir, rank, world, port, &args)
}

/// `memscope run ARGS --events-json` as rank `rank` of `world`.
fn rank_with(dir: &Path, rank: usize, world: usize, port: u16, args: &[&str]) -> Child {
    rank_with_env(dir, rank, world, port, args, &[])
}

/// [`rank_with`] with more environment variables.
fn rank_with_env(dir: &Path, rank: usize, world: usize, port: u16, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(memscope_bin());
    cmd.envs(env.iter().copied());
    cmd.arg("run").args(args).arg("--events-json").current_dir(dir);
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

/// The job's first step alone: 64 samples, one epoch, a checkpoint after it.
const ONE_STEP: [&str; 4] = ["data.limit=64", "train.epochs=1", "score.every=1", "checkpoint.every=1"];

/// The variables of a safetensors file of the run `<dir>/<out>/dp`'s first checkpoint.
fn first_checkpoint(dir: &Path, out: &str, file: &str) -> Vec<(String, tch::Tensor)> {
    let path = dir.join(out).join("dp/checkpoints/epoch-000001").join(file);
    tch::Tensor::read_safetensors(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// From the same seeded weights, one step of two ranks of 32 samples is the step of one
/// process of 64: the same per-sample losses, and the same gradient (the momentum
/// buffer after a first step is the gradient: the all-reduced one on two ranks), to
/// float tolerance. Here the equivalence is exact on any CPU; over epochs training
/// amplifies the rounding by which batches of 32 and 64 sum (see [`assert_trains_alike`]).
/// `sets` are more overrides for all three processes.
fn one_step_of_two_ranks_is_one_step_of_one_process(dir: &Path, sets: &[&str]) {
    let step = [&ONE_STEP[..], sets].concat();
    let port = free_port();
    let ranks = [rank(dir, 0, 2, port, "two", &step), rank(dir, 1, 2, port, "two", &step)];
    let single = rank(dir, 0, 1, 0, "one", &[&step[..], &["train.batch_size=64"]].concat());
    let [r0, _] = ranks.map(events);
    let (one, _) = events(single);
    assert_eq!(r0.0.iter().filter(|e| e["event"] == "train_batch_end").count(), 1, "one step");

    let (a, shape_a) = read_npy_f32(&dir.join("one/dp/scores/loss_epochs.npy"));
    let (b, shape_b) = read_npy_f32(&dir.join("two/dp/scores/loss_epochs.npy"));
    assert_eq!((shape_a.clone(), shape_b), (vec![1, 64], vec![1, 64]));
    assert_close(&a, &b, "the step's per-sample losses, two ranks vs one process");
    assert_close(&epoch_losses(&r0.0), &epoch_losses(&one), "the step's loss");

    let gradients = |out: &str| {
        first_checkpoint(dir, out, "optimizer.safetensors").into_iter().find(|(name, _)| name == "slot0").expect("a momentum buffer").1
    };
    let (g1, g2) = (gradients("one"), gradients("two"));
    let apart = f64::try_from((&g2 - &g1).norm()).unwrap() / f64::try_from(g1.norm()).unwrap();
    assert!(apart < 1e-5, "the all-reduced gradient is {apart:.1e} (relative L2) from one process's");
    // And each variable after the step (so also what the step did to buffers).
    let weights = first_checkpoint(dir, "two", "model.safetensors");
    let one_weights = first_checkpoint(dir, "one", "model.safetensors");
    assert_eq!(weights.len(), one_weights.len());
    for (name, w1) in &one_weights {
        let w2 = &weights.iter().find(|(other, _)| other == name).unwrap_or_else(|| panic!("{name} is missing on two ranks")).1;
        let apart = f64::try_from((w2 - w1).norm()).unwrap() / f64::try_from(w1.norm()).unwrap().max(1e-12);
        assert!(apart < 1e-5, "{name} after the step: {apart:.1e} (relative L2) from one process's");
    }
}

/// The job trained by two ranks (`<dir>/two`), by one process with the global batch
/// (`<dir>/one`) and, as the yardstick, by one process on 2 threads (`<dir>/threads`):
/// returns the events of both ranks and of the one process.
#[allow(clippy::type_complexity)]
fn trained_three_ways(
    dir: &Path,
    sets: &[&str],
) -> ([(Vec<serde_json::Value>, String); 2], Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let port = free_port();
    // torchrun hands every rank the same arguments; rank 1 gets another --out here
    // only to show that it writes nothing.
    let ranks = [rank(dir, 0, 2, port, "two", sets), rank(dir, 1, 2, port, "rank1", sets)];
    let global = [sets, &["train.batch_size=64"]].concat();
    let single = rank(dir, 0, 1, 0, "one", &global);
    let ranks = ranks.map(events);
    let (one, _) = events(single);
    let (threads, _) = events(rank(dir, 0, 1, 0, "threads", &[&global[..], &["threads=2"]].concat()));
    (ranks, one, threads)
}

/// Over epochs, two ranks train as one process does, as closely as another thread
/// count does (the yardstick, see [`assert_trains_alike`]).
fn trains_alike_over_epochs(
    dir: &Path,
    two: &[serde_json::Value],
    one: &[serde_json::Value],
    threads: &[serde_json::Value],
    scores: &[&str],
) {
    let (two_losses, one_losses, thread_losses) = (epoch_losses(two), epoch_losses(one), epoch_losses(threads));
    let (two_run, one_run, threads_run) = (dir.join("two/dp"), dir.join("one/dp"), dir.join("threads/dp"));
    assert_trains_alike(
        Training { name: "two ranks of 32", epoch_losses: &two_losses, run: &two_run },
        Training { name: "one process of 64", epoch_losses: &one_losses, run: &one_run },
        Training { name: "one process of 64 on 2 threads", epoch_losses: &thread_losses, run: &threads_run },
        scores,
    );
}

#[test]
fn one_step_on_two_ranks_of_batch_32_is_the_step_of_one_process_of_batch_64() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    one_step_of_two_ranks_is_one_step_of_one_process(dir.path(), &[]);
}

#[test]
fn two_ranks_of_batch_32_train_as_one_process_of_batch_64() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let ([r0, r1], one, threads) = trained_three_ways(dir.path(), &[]);
    assert_eq!(epoch_losses(&one).len(), 3);
    assert_eq!(epoch_losses(&r0.0), epoch_losses(&r1.0), "both ranks report the group's losses");
    // (Curvature's finite differences divide by h = 1e-3 and so magnify the rounding
    // further: compared on identical weights in `sharded_scores_equal_those_of_one_process`.)
    trains_alike_over_epochs(dir.path(), &r0.0, &one, &threads, &["scores/loss_epochs.npy", "scores/loss.npy", "scores/eval_loss.npy"]);
    // Same weights on both ranks: the job's own check passed (it fails the job
    // otherwise), and each rank's final pass over the training set with its own
    // weights gives the very same loss and accuracy.
    assert_eq!(evaluated(&r0.0), evaluated(&r1.0));
    assert!(!evaluated(&r0.0).is_empty());
    assert!(dir.path().join("two/dp/summary.json").exists());
    assert!(!dir.path().join("rank1").exists(), "only rank 0 writes the run directory");
    // Whichever rank ends first, the other's liveness watch leaves libtorch quiet.
    for (r, (_, stderr)) in [(0, &r0), (1, &r1)] {
        assert!(!stderr.contains("[c10d]"), "rank {r}: {stderr}");
    }
}

/// Augmentation draws one stream per sample and epoch, so two ranks crop and flip every
/// sample as one process does: with random crops and flips on, one step of two ranks of
/// batch 32 is still the step of one process of batch 64, and their trainings stay
/// alike. The plain job's losses differ, so the augmentation did act.
#[test]
fn augmented_training_on_two_ranks_equals_one_process() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let augment = ["data.augment.crop_padding=1", "data.augment.hflip=true"];
    one_step_of_two_ranks_is_one_step_of_one_process(dir.path(), &augment);

    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let augment = [&augment[..], &["train.epochs=2", "score.every=2"]].concat();
    let plain = rank(dir.path(), 0, 1, 0, "plain", &["train.epochs=2", "score.every=2", "train.batch_size=64"]);
    let ([r0, _], one, threads) = trained_three_ways(dir.path(), &augment);
    let (plain, _) = events(plain);
    assert_eq!(epoch_losses(&one).len(), 2);
    trains_alike_over_epochs(dir.path(), &r0.0, &one, &threads, &["scores/loss_epochs.npy"]);
    let (unaugmented, losses) = (epoch_losses(&plain), epoch_losses(&one));
    assert!(
        unaugmented.iter().zip(&losses).any(|(p, l)| (p - l).abs() > 1e-3 * p.abs()),
        "augmentation changed nothing: {unaugmented:?} vs {losses:?}"
    );
}

/// The gradients travel in several buckets, each all-reduced by c10d's Reducer as soon
/// as backward has produced it: with 50 KiB buckets the digits `cnn`'s 0.6 MB of
/// gradients take several (the count comes from the shim's communication hook, in
/// `summary.json`), and training is still that of one process with the global batch.
/// A global batch of 1796 leaves one sample for each epoch's last step, so rank 1 then
/// has none and takes part with a zero gradient. The bucket layout changes no bit of
/// the sums: the losses equal those of two ranks with one default bucket exactly.
#[test]
fn gradients_are_all_reduced_in_several_buckets_during_backward() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let big = ["train.batch_size=898"];
    let small_buckets = [("MEMSCOPE_DIST_BUCKET_MB", "0.05")];
    let args = ["job.toml", "--out", "two", "--set", big[0]];
    let port = free_port();
    let ranks =
        [rank_with_env(dir.path(), 0, 2, port, &args, &small_buckets), rank_with_env(dir.path(), 1, 2, port, &args, &small_buckets)];
    let single = rank(dir.path(), 0, 1, 0, "one", &["train.batch_size=1796"]);
    let [(r0, _), (r1, _)] = ranks.map(events);
    let (one, _) = events(single);
    let (threads, _) = events(rank(dir.path(), 0, 1, 0, "threads", &["train.batch_size=1796", "threads=2"]));
    let port = free_port();
    let one_bucket = [rank(dir.path(), 0, 2, port, "default", &big), rank(dir.path(), 1, 2, port, "default", &big)];
    let _ = one_bucket.map(events);
    assert_eq!(read_summary(&dir.path().join("default/dp"))["timings"]["dist"]["buckets"], 1);
    for file in ["scores/loss.npy", "scores/eval_loss.npy"] {
        let (a, _) = read_npy_f32(&dir.path().join("default/dp").join(file));
        let (b, _) = read_npy_f32(&dir.path().join("two/dp").join(file));
        assert!(a == b, "{file}: the bucket layout changed the training");
    }
    let steps: Vec<usize> =
        r1.iter().filter(|e| e["event"] == "train_batch_end").map(|e| e["samples"].as_u64().unwrap() as usize).collect();
    assert_eq!(steps, [898, 0].repeat(3), "rank 1's samples per step");

    trains_alike_over_epochs(dir.path(), &r0, &one, &threads, &["scores/loss.npy", "scores/eval_loss.npy"]);
    assert_eq!(evaluated(&r0), evaluated(&r1));

    let dist = &read_summary(&dir.path().join("two/dp"))["timings"]["dist"];
    assert_eq!(dist["world"], 2);
    assert_eq!(dist["bucket_cap_bytes"], 52428);
    assert_eq!(dist["steps"], 6);
    let buckets = dist["buckets"].as_u64().unwrap();
    assert!(buckets > 1, "{dist}");
    assert!(dist["allreduce_seconds"].as_f64().unwrap() > 0.0, "{dist}");
    assert!(read_summary(&dir.path().join("one/dp"))["timings"].get("dist").is_none(), "one process reduces nothing");
}

/// A TorchScript model (its parameters are a CModule's) takes the step of one process
/// with the global batch on two ranks, and trains alike, its gradients in one
/// default-sized bucket.
#[test]
fn a_torchscript_model_trains_on_two_ranks_as_on_one_process() {
    let dir = tempfile::tempdir().unwrap();
    script_model(dir.path(), "cnn", CNN_TWIN, None);
    write_job(dir.path(), &JOB.replace("arch = \"cnn\"", "torchscript = \"cnn.pt\""));
    one_step_of_two_ranks_is_one_step_of_one_process(dir.path(), &[]);

    for out in ["one", "two"] {
        std::fs::remove_dir_all(dir.path().join(out)).unwrap();
    }
    let ([r0, r1], one, threads) = trained_three_ways(dir.path(), &[]);
    assert_eq!(read_summary(&dir.path().join("two/dp"))["arch"], "torchscript cnn.pt");
    trains_alike_over_epochs(dir.path(), &r0.0, &one, &threads, &["scores/loss_epochs.npy", "scores/eval_loss.npy"]);
    assert_eq!(evaluated(&r0.0), evaluated(&r1.0));
    let dist = &read_summary(&dir.path().join("two/dp"))["timings"]["dist"];
    assert_eq!((dist["buckets"].as_u64(), dist["bucket_cap_bytes"].as_u64()), (Some(1), Some(25 << 20)), "{dist}");
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

/// Scoring on a thread of its own in a group (a GPU's default; on the CPU through
/// `MEMSCOPE_SCORER_THREAD=1`): each rank's scorer scores its block beside training
/// and gathers through a second group of its own. A group of two scoring every epoch
/// that way ends with exactly the scores of the same group scoring inline on the
/// trainer's thread, and both ranks are told the same gathered scores.
#[test]
fn scoring_on_a_thread_in_a_group_of_two_equals_scoring_inline() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let group = |out: &str, env: &[(&str, &str)]| {
        let port = free_port();
        let args = ["job.toml", "--out", out, "--set", "score.every=1"];
        [0, 1].map(|r| rank_with_env(dir.path(), r, 2, port, &args, env)).map(events)
    };
    // Inline spelled out: the test's own environment may ask for threads.
    let [(inline0, _), (inline1, _)] = group("inline", &[("MEMSCOPE_SCORER_THREAD", "0")]);
    let [(thread0, _), (thread1, _)] = group("thread", &[("MEMSCOPE_SCORER_THREAD", "1")]);

    let (inline, thread) = (dir.path().join("inline/dp"), dir.path().join("thread/dp"));
    assert_eq!(read_summary(&inline)["timings"]["scorer_thread"], false);
    assert_eq!(read_summary(&thread)["timings"]["scorer_thread"], true);
    assert_same_scores(&inline, &thread, &["curvature_epochs.npy"], "scored on a thread, differs from inline");
    assert_eq!(read_npy_f32(&thread.join("scores/curvature_epochs.npy")).1, [3, 1797], "curvature scored every epoch");
    let ready = |events: &[serde_json::Value]| -> Vec<serde_json::Value> {
        events.iter().filter(|e| e["event"] == "scores_ready").map(|e| e["values"].clone()).collect()
    };
    assert_eq!(ready(&thread0).len(), 6, "eval_loss and curvature, 3 epochs");
    assert_eq!(ready(&thread0), ready(&thread1));
    assert_eq!(ready(&thread0), ready(&inline0));
    assert_eq!(ready(&inline0), ready(&inline1));
}

/// Asserts that `run` wrote the score files `expected` wrote, `including` these, each
/// of the same shape and equal bit for bit (else: "FILE `differs`").
fn assert_same_scores(expected: &Path, run: &Path, including: &[&str], differs: &str) {
    let scores = score_files(expected);
    for score in including {
        assert!(scores.iter().any(|s| s == score), "{score} in {scores:?}");
    }
    assert_eq!(scores, score_files(run));
    for score in &scores {
        let (a, shape_a) = read_npy_f32(&expected.join("scores").join(score));
        let (b, shape_b) = read_npy_f32(&run.join("scores").join(score));
        assert_eq!(shape_a, shape_b, "{score}");
        assert!(a == b, "{score} {differs}");
    }
}

/// The files of a run's `scores/`, sorted.
fn score_files(run: &Path) -> Vec<String> {
    let mut files: Vec<String> =
        std::fs::read_dir(run.join("scores")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    files
}

/// A group's scorer threads lag behind training, and rank 0's checkpoint does not wait
/// for them: it records the snapshots its thread had not scored. Rank 0 killed -9 as
/// soon as that checkpoint exists (rank 1 then ends with an error), the group resumed
/// with `--resume` (rank 1 without the run directory) sends those snapshots to every
/// rank, scores them first, and ends with the scores of an uninterrupted group, bit
/// for bit.
#[test]
fn a_group_checkpoint_with_pending_snapshots_resumes_to_the_scores_of_an_uninterrupted_group() {
    let dir = tempfile::tempdir().unwrap();
    // The `mlp` trains an epoch in a twentieth of the time curvature with 200 draws
    // scores it: the scorers are behind at every checkpoint.
    write_job(dir.path(), &JOB.replace("arch = \"cnn\"", "arch = \"mlp\"").replace("draws = 2", "draws = 200"));
    let sets = ["train.epochs=4", "checkpoint.every=2", "score.every=1", "deterministic=true"];
    let thread = [("MEMSCOPE_SCORER_THREAD", "1")];
    // Both started before either is waited for.
    let ranks = |out: [&str; 2], resume: bool| -> [Child; 2] {
        let port = free_port();
        [0, 1].map(|r| {
            let mut args = vec!["job.toml", "--out", out[r]];
            for set in sets {
                args.extend(["--set", set]);
            }
            if resume {
                args.push("--resume");
            }
            rank_with_env(dir.path(), r, 2, port, &args, &thread)
        })
    };
    for rank in ranks(["whole", "whole"], false) {
        events(rank);
    }

    let [mut first, second] = ranks(["cut", "cut"], false);
    let state = dir.path().join("cut/dp/checkpoints/epoch-000002/state.json");
    memscope_tests::kill_at_checkpoint(&mut first, &state);
    // Whichever of its threads meets the loss first (the trainer's all-reduce, the
    // scorer's gather), it ends with memscope's error naming the rank.
    let error = failure_line(&ended_within(second, Duration::from_secs(60), "rank 1"));
    assert!(error.starts_with("error: rank 1 of 2: "), "{error}");
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let pending = state["pending_snapshots"].as_array().map_or(0, Vec::len);
    assert!(pending > 0, "the checkpoint after epoch 2 waited for the scorer (no pending snapshot): {state}");

    let resumed = ranks(["cut", "elsewhere"], true).map(events);
    let run = dir.path().join("cut/dp");
    let at = read_summary(&run)["resumed_at_epoch"].as_u64().unwrap();
    assert_eq!(at, 2, "resumed from the checkpoint after epoch 2");
    for (r, (events, _)) in resumed.iter().enumerate() {
        let started = events.iter().find(|e| e["event"] == "job_started").unwrap();
        assert_eq!(started["scored_epochs"].as_array().unwrap().len(), pending + 2, "rank {r} scores the pending snapshots too");
    }
    assert!(!dir.path().join("elsewhere").exists(), "rank 1 writes nothing");
    let including = ["curvature_epochs.npy", "curvature.npy", "eval_loss_epochs.npy", "loss.npy"];
    assert_same_scores(&dir.path().join("whole/dp"), &run, &including, "differs from the uninterrupted group's");
}

/// Waits at most `limit` for `child`; kills it and fails past that. Its piped output
/// must close with it: a process it left behind that still holds a pipe fails the
/// test, rather than hanging it.
fn ended_within(mut child: Child, limit: Duration, what: &str) -> std::process::Output {
    let start = Instant::now();
    let (stdout, stderr) = (child.stdout.take().map(drain), child.stderr.take().map(drain));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            let text = stderr.and_then(|r| r.recv_timeout(Duration::from_secs(5)).ok()).unwrap_or_default();
            panic!("{what} still ran {limit:?} later:\n{}", String::from_utf8_lossy(&text));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let closed = |pipe: Option<std::sync::mpsc::Receiver<Vec<u8>>>| match pipe {
        Some(pipe) => pipe
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{what} ended ({status}), but a process it started still holds its output: one was left behind")),
        None => Vec::new(),
    };
    std::process::Output { status, stdout: closed(stdout), stderr: closed(stderr) }
}

/// Reads `pipe` to its end on a thread of its own; the receiver gets the bytes.
fn drain(mut pipe: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = send.send(bytes);
    });
    receive
}

/// The `error: ` line of a rank that failed (and did not panic).
fn failure_line(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the rank succeeded:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("no error line:\n{stderr}")).to_string()
}

/// Waits until `child` has printed the `train_epoch_end` event of epoch `epoch`
/// (counted from 1, as events count); its
/// later output is read on (and dropped), so that it never writes into a closed pipe.
fn until_epoch_ends(child: &mut Child, epoch: u32) {
    let stdout = child.stdout.take().unwrap();
    let end = format!("\"epoch\":{epoch},");
    let (reached, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("\"train_epoch_end\"") && line.contains(&end) {
                let _ = reached.send(());
            }
        }
    });
    assert!(wait.recv().is_ok(), "the rank never finished epoch {epoch}");
}

/// Three ranks train; rank 2 is killed (as the OOM killer would). The all-reduce of
/// ranks 0 and 1 fails alike, yet each error names rank 2, within the 30 s timeout.
#[test]
fn a_rank_killed_while_training_ends_the_others_with_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let port = free_port();
    let long = ["train.epochs=500"];
    let survivors = [rank(dir.path(), 0, 3, port, "runs", &long), rank(dir.path(), 1, 3, port, "runs", &long)];
    let mut victim = rank(dir.path(), 2, 3, port, "runs", &long);
    until_epoch_ends(&mut victim, 2);
    victim.kill().unwrap();
    victim.wait().unwrap();
    let killed = Instant::now();
    let deadline = Duration::from_secs(30);
    for (r, survivor) in survivors.into_iter().enumerate() {
        let error = failure_line(&ended_within(survivor, deadline + Duration::from_secs(10), &format!("rank {r}")));
        let expected = format!("error: rank {r} of 3: all_reduce failed (rank 2 gave no sign of life for ");
        assert!(error.starts_with(&expected), "{error}");
        assert!(killed.elapsed() < deadline, "rank {r} ended {:?} after rank 2 died", killed.elapsed());
    }
}

/// Rank 1 freezes (SIGSTOP, as when its machine hangs or drops off the network): no
/// error reaches rank 0, whose all-reduce would wait out the group's 30 s timeout.
/// With `MEMSCOPE_DIST_LIVENESS=3` rank 0 finds rank 1 silent and ends with an error
/// naming it well before, and the checkpoints it wrote stay whole: the run resumes.
#[test]
fn a_frozen_rank_is_found_silent_and_the_other_ends_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let port = free_port();
    let args = ["job.toml", "--out", "runs", "--set", "train.epochs=6", "--set", "checkpoint.every=1"];
    let watch = [("MEMSCOPE_DIST_LIVENESS", "3")];
    let survivor = rank_with_env(dir.path(), 0, 2, port, &args, &watch);
    let mut frozen = rank_with_env(dir.path(), 1, 2, port, &args, &watch);
    // After epoch 3, so that rank 0 has surely written epoch 2's checkpoint.
    until_epoch_ends(&mut frozen, 3);
    assert!(Command::new("kill").args(["-STOP", &frozen.id().to_string()]).status().unwrap().success());
    let stopped = Instant::now();
    let out = ended_within(survivor, Duration::from_secs(40), "rank 0");
    let took = stopped.elapsed();
    frozen.kill().unwrap();
    frozen.wait().unwrap();
    let error = failure_line(&out);
    assert!(error.starts_with("error: rank 0 of 2: all_reduce cannot complete: rank 1 gave no sign of life for "), "{error}");
    assert!(took < Duration::from_secs(25), "rank 0 ended {took:?} after rank 1 froze (its timeout is 30 s)");

    // What was written is intact: the group resumes from its newest checkpoint.
    let port = free_port();
    let resumed: Vec<&str> = args.iter().copied().chain(["--resume"]).collect();
    let ranks = [rank_with(dir.path(), 0, 2, port, &resumed), rank_with(dir.path(), 1, 2, port, &resumed)];
    let [(events0, _), _] = ranks.map(events);
    let first_epoch = events0.iter().find(|e| e["event"] == "train_epoch_end").map(|e| e["epoch"].as_u64().unwrap());
    // Events count epochs from 1: the first epoch trained after at least 2 done is 3.
    assert!(first_epoch > Some(2), "the resumed group started over: {first_epoch:?}");
    assert!(dir.path().join("runs/dp/summary.json").exists());
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

/// Waits for each named process (three minutes at most) and checks that it succeeded.
fn each_succeeds(processes: impl IntoIterator<Item = (String, Child)>) {
    for (name, process) in processes {
        let out = ended_within(process, Duration::from_secs(180), &name);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// [`JOB`]'s run in `runs` (the `--out` of rank 0): all its epochs, by a group of two.
fn written_by_a_group_of_two(runs: &Path) {
    let summary = read_summary(&runs.join("dp"));
    assert_eq!((summary["epochs"].as_u64(), summary["timings"]["dist"]["world"].as_u64()), (Some(3), Some(2)));
}

/// The Slurm example, `configs/launch/slurm.sbatch JOB OUT`, as `sbatch` runs it in an
/// allocation of one node and two tasks. Only `srun` and `scontrol` are stand-ins
/// (`tests/data/slurm/`): srun starts the tasks with Slurm's task variables,
/// scontrol lists the job's hosts. The script's own lines run as they are, and make
/// one group of two from Slurm's variables, whose rank 0 writes the run.
#[test]
fn the_slurm_example_runs_a_job_on_two_tasks() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    // The script runs `target/release/memscope`, from where it is submitted.
    std::fs::create_dir_all(dir.path().join("target/release")).unwrap();
    std::os::unix::fs::symlink(memscope_bin(), dir.path().join("target/release/memscope")).unwrap();
    let stand_ins = repo_root().join("tests/data/slurm");
    let out = Command::new("bash")
        .arg(repo_root().join("configs/launch/slurm.sbatch"))
        .args(["job.toml", "slurm-runs"])
        .current_dir(dir.path())
        .env("PATH", format!("{}:{}", stand_ins.display(), std::env::var("PATH").unwrap()))
        .envs([("SLURM_JOB_NODELIST", "127.0.0.1"), ("SLURM_NTASKS", "2"), ("SLURM_CPUS_PER_TASK", "1")])
        .env("MASTER_PORT", free_port().to_string())
        .env("MEMSCOPE_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    written_by_a_group_of_two(&dir.path().join("slurm-runs"));
}

/// The Kubernetes example, `configs/launch/pytorchjob.yaml`: each replica's container
/// command and environment, as the manifest gives them, run as the training operator
/// starts its pods (`MASTER_ADDR`, `MASTER_PORT`, `WORLD_SIZE`, `RANK`; no `LOCAL_RANK`),
/// with the image's paths (`/memscope/...`, `/runs`, `/tmp/runs`) mapped into a
/// directory here. They make one group, and the Master alone writes the run.
#[test]
fn the_pytorchjob_example_runs_as_the_operator_starts_its_pods() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string(repo_root().join("configs/launch/pytorchjob.yaml")).unwrap();
    let (master, worker) = manifest.split_once("    Worker:").expect("a Master and a Worker replica spec");
    std::fs::create_dir_all(dir.path().join("memscope/configs")).unwrap();
    std::fs::write(dir.path().join("memscope/configs/mnist.toml"), JOB).unwrap();
    let image_path = |arg: &str| -> String {
        match arg {
            "/memscope/target/release/memscope" => memscope_bin().display().to_string(),
            _ if arg.starts_with('/') => dir.path().join(&arg[1..]).display().to_string(),
            _ => arg.to_string(),
        }
    };
    let port = free_port().to_string();
    let pod = |spec: &str, rank: &str| {
        let command = spec.lines().find_map(|l| l.trim().strip_prefix("command: ")).expect("a container command");
        let command: Vec<String> = serde_json::from_str::<Vec<String>>(command).unwrap().iter().map(|a| image_path(a)).collect();
        // The container's `env:` list, up to its `resources:`.
        let block = spec.split_once("env:").and_then(|(_, rest)| rest.split_once("resources:")).expect("an env list").0;
        let names = block.lines().filter_map(|l| l.trim().strip_prefix("- name: ")).map(|n| n.split_whitespace().next().unwrap());
        let values = block.lines().filter_map(|l| l.trim().strip_prefix("value: ")).map(|v| v.trim_matches('"'));
        let env: Vec<(&str, &str)> = names.zip(values).collect();
        assert!(env.iter().any(|(n, _)| *n == "MEMSCOPE_DIST_LIVENESS"), "{env:?}");
        Command::new(&command[0])
            .args(&command[1..])
            .envs(env)
            .envs([("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", port.as_str()), ("WORLD_SIZE", "2"), ("RANK", rank)])
            .env("MEMSCOPE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    each_succeeds([("the Master's pod".to_string(), pod(master, "0")), ("the Worker's pod".to_string(), pod(worker, "1"))]);
    written_by_a_group_of_two(&dir.path().join("runs"));
    assert!(!dir.path().join("tmp/runs").exists(), "the Worker writes no run directory");
}

/// Sends `signal` to the rank `rank` that `launcher` (torchrun, `memscope launch`)
/// started: one of its children, the one whose environment says `RANK=<rank>`.
fn signal_rank(launcher: &Child, rank: usize, signal: &str) {
    let children = Command::new("pgrep").args(["-P", &launcher.id().to_string()]).output().unwrap();
    let mark = format!("RANK={rank}");
    let pid = String::from_utf8_lossy(&children.stdout)
        .split_whitespace()
        .find(|pid| std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == mark.as_bytes())))
        .unwrap_or_else(|| panic!("no rank {rank} among the launcher's children"))
        .to_string();
    assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
}

/// Waits until `file` exists (a checkpoint a run writes), two minutes at most.
fn until_written(file: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !file.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", file.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// torchrun `--max-restarts=1` with `--resume-or-start`: rank 1 is killed after the
/// group's first checkpoint; torchrun ends rank 0 and starts both again with the same
/// command, and the restarted group meets afresh in torchrun's store (keys of restart
/// 1) and resumes the run instead of refusing the directory the first attempt left.
#[test]
fn torchrun_restarts_a_failed_group_and_it_resumes() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let mut torchrun = Command::new(repo_root().join(".venv/bin/torchrun"));
    torchrun.args(["--no-python", "--nproc-per-node=2", "--max-restarts=1", "--monitor-interval=0.2"]);
    torchrun.arg(format!("--master-port={}", free_port())).arg(memscope_bin());
    let group = start_restartable(dir.path(), torchrun, "runs");
    until_written(&dir.path().join("runs/dp/checkpoints/epoch-000002/state.json"));
    signal_rank(&group, 1, "-KILL");
    restarted_and_resumed(dir.path(), group, "torchrun");
}

/// `LAUNCHER memscope run job.toml --out OUT --quiet --resume-or-start`, 8 epochs with a
/// checkpoint after each, from `dir`: `launcher` is the command up to memscope's `run`.
fn start_restartable(dir: &Path, mut launcher: Command, out: &str) -> Child {
    launcher
        .args(["run", "job.toml", "--out", out, "--quiet", "--resume-or-start"])
        .args(["--set", "train.epochs=8", "--set", "checkpoint.every=1"])
        .current_dir(dir)
        .env("MEMSCOPE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The launcher of a [`start_restartable`] job in `dir/runs`, after a rank was killed:
/// it succeeds, the restarted group having resumed the run past its first checkpoint
/// and completed it. The launcher's stderr.
fn restarted_and_resumed(dir: &Path, launcher: Child, name: &str) -> String {
    let out = ended_within(launcher, Duration::from_secs(180), name);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let summary = read_summary(&dir.join("runs/dp"));
    assert_eq!(summary["epochs"], 8);
    let at = summary["resumed_at_epoch"].as_u64().unwrap_or(0);
    assert!(at >= 2, "the restarted group started over (resumed at {at}):\n{stderr}");
    stderr
}

/// [`JOB`] with, instead of curvature, the forgetting plugin (which keeps state across
/// epochs) and an optional scorer that fails in epoch 1 (dropped from then on, which
/// a resumed job must remember on every rank: the ranks score together).
fn stateful_job() -> String {
    let plugins =
        "name = \"forgetting\"\n[[plugins]]\nname = \"fixture-faulty\"\noptional = true\nconfig = { mode = \"panic_in_train_batch\" }";
    format!("plugin_dirs = [\"fixture-plugins\"]\n{}", JOB.replace("name = \"curvature\"\nconfig = { draws = 2, h = 1e-3 }", plugins))
}

/// Six epochs with the per-epoch `eval_loss`, a checkpoint every 4 epochs.
const RESUMED: [&str; 3] = ["train.epochs=6", "checkpoint.every=4", "score.every=1"];

/// `memscope run job.toml --out OUT [--set RESUMED...] [--resume]` as rank `rank` of 2.
fn resumable(dir: &Path, r: usize, port: u16, out: &str, resume: bool) -> Child {
    let mut args = vec!["job.toml", "--out", out];
    for set in RESUMED {
        args.extend(["--set", set]);
    }
    if resume {
        args.push("--resume");
    }
    rank_with(dir, r, 2, port, &args)
}

/// Waits for a rank that must fail; its `error:` line, no panic.
fn error_line(r: usize, child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "rank {r} succeeded:\n{stderr}");
    assert!(!stderr.contains("panicked at"), "rank {r}:\n{stderr}");
    stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("rank {r}: no error line:\n{stderr}")).to_string()
}

/// Checkpoints and `--resume` across the group: stopped with Ctrl-C on rank 0 after
/// epoch 1 and restarted as it was launched (every rank `job.toml --resume`; rank 1
/// without the run directory, which it never needs), the job ends bit for bit where
/// an uninterrupted two-rank job ends: weights, optimizer state, the loss and
/// eval_loss tables and the forgetting plugin's counts; the plugin dropped before the
/// stop stays dropped on both ranks. Resumed as one process, it is refused.
#[test]
fn a_group_stopped_and_resumed_ends_where_an_uninterrupted_group_ends() {
    let dir = tempfile::tempdir().unwrap();
    memscope_tests::fixture_plugins(dir.path());
    let job = stateful_job();
    assert!(job.contains("forgetting") && job.contains("fixture-faulty"));
    write_job(dir.path(), &job);
    let port = free_port();
    let whole = [resumable(dir.path(), 0, port, "whole", false), resumable(dir.path(), 1, port, "whole", false)];
    let [whole0, whole1] = whole.map(events);

    let port = free_port();
    let mut first = resumable(dir.path(), 0, port, "cut", false);
    let second = resumable(dir.path(), 1, port, "cut", false);
    // After the second epoch (its plugins' epoch 1), in which the faulty plugin was
    // dropped; events count epochs from 1.
    let lines = BufReader::new(first.stdout.take().unwrap()).lines();
    let trained = lines.map_while(Result::ok).any(|l| l.contains("\"train_epoch_end\"") && l.contains("\"epoch\":2,"));
    assert!(trained, "rank 0 never finished epoch 2");
    assert!(Command::new("kill").args(["-INT", &first.id().to_string()]).status().unwrap().success());
    let stopped = error_line(0, first);
    assert!(stopped.starts_with("error: cancelled after ") && stopped.ends_with("with `memscope run CONFIG --resume`"), "{stopped}");
    assert!(error_line(1, second).starts_with("error: cancelled after "));
    let run = dir.path().join("cut/dp");
    assert!(!run.join("summary.json").exists(), "the job ended before the interrupt");

    // Not with another number of processes: each global batch would differ.
    let mut alone = vec!["run", "job.toml", "--out", "cut", "--resume"];
    for set in RESUMED {
        alone.extend(["--set", set]);
    }
    let refused = memscope_tests::memscope(dir.path(), &alone).clean_failure();
    assert!(
        refused.contains("the checkpoint was written by a job of 2 processes and this job has 1 process: resume it with 2 processes (`memscope launch --nproc 2`"),
        "{refused}"
    );

    let port = free_port();
    let resumed = [resumable(dir.path(), 0, port, "cut", true), resumable(dir.path(), 1, port, "elsewhere", true)];
    let [resumed0, resumed1] = resumed.map(events);
    let at = read_summary(&run)["resumed_at_epoch"].as_u64().unwrap();
    assert!((2..6).contains(&at), "resumed at epoch {at}");
    // Each rank logs the faulty plugin's training steps: in epoch 0, and never after
    // its drop (rank 1 knows of it only from rank 0's checkpoint).
    for (r, whole, resumed) in [(0, &whole0.1, &resumed0.1), (1, &whole1.1, &resumed1.1)] {
        assert!(whole.contains("fixture trains epoch 0"), "rank {r}:\n{whole}");
        assert!(!resumed.contains("fixture trains epoch"), "rank {r} runs the dropped plugin again:\n{resumed}");
    }
    assert_eq!(read_summary(&run)["dropped_plugins"], read_summary(&dir.path().join("whole/dp"))["dropped_plugins"]);
    assert_eq!(read_summary(&run)["dropped_plugins"][0]["plugin"], "fixture-faulty");
    for (r, events) in [(0, &resumed0.0), (1, &resumed1.0)] {
        let started = events.iter().find(|e| e["event"] == "job_started").unwrap();
        assert_eq!(started["start_epoch"], at + 1, "rank {r} starts where rank 0's checkpoint ends (the next epoch, counted from 1)");
        assert_eq!(epoch_losses(events), epoch_losses(&whole0.0)[at as usize..], "rank {r}'s epoch losses after the resume");
    }
    assert!(!dir.path().join("elsewhere").exists(), "rank 1 writes nothing");

    let whole_dir = dir.path().join("whole/dp");
    let including = ["loss.npy", "loss_epochs.npy", "eval_loss.npy", "eval_loss_epochs.npy", "forgetting.npy"];
    assert_same_scores(&whole_dir, &run, &including, "differs from the uninterrupted job's");
    for file in ["model.safetensors", "optimizer.safetensors"] {
        let final_checkpoint = |d: &Path| std::fs::read(d.join("checkpoints/epoch-000006").join(file)).unwrap();
        assert!(final_checkpoint(&whole_dir) == final_checkpoint(&run), "{file} of the last epoch differs");
    }
    assert_eq!(evaluated(&resumed0.0), evaluated(&whole0.0));
    assert_eq!(evaluated(&resumed1.0), evaluated(&whole1.0));
    let world = |d: &Path| {
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(d.join("checkpoints/epoch-000006/state.json")).unwrap()).unwrap()
            ["world"]
            .clone()
    };
    assert_eq!(world(&run), 2);
}

/// A run of one process, stopped with Ctrl-C after its first epoch (so that its
/// checkpoint holds that epoch); its run directory.
fn stopped_single_process_run(dir: &Path) -> std::path::PathBuf {
    write_job(dir, JOB);
    let args = ["run", "job.toml", "--out", "runs", "--set", "train.epochs=500", "--set", "checkpoint.every=400"];
    let status = memscope_tests::run_until_epoch_then_interrupt(dir, &args, 1);
    assert!(!status.success());
    let run = dir.join("runs/dp");
    assert!(run.join("checkpoints").read_dir().unwrap().next().is_some(), "no checkpoint was written");
    run
}

/// Restarts `run` as a group of two with `--resume` (rank 1 without the run
/// directory) and returns each rank's error line, both within the group's timeout.
fn resume_as_two_ranks_failing(dir: &Path) -> [String; 2] {
    let port = free_port();
    let resume = |r: usize, out: &str| {
        rank_with(dir, r, 2, port, &["job.toml", "--out", out, "--set", "train.epochs=500", "--set", "checkpoint.every=400", "--resume"])
    };
    let started = Instant::now();
    let (first, second) = (resume(0, "runs"), resume(1, "elsewhere"));
    let lines = [error_line(0, first), error_line(1, second)];
    assert!(started.elapsed() < Duration::from_secs(30), "the ranks took {:?} to fail", started.elapsed());
    lines
}

/// The reverse of a group resumed alone: a checkpoint of one process resumed by two
/// is refused by rank 0, and rank 1 ends with rank 0's reason, not a lost connection.
#[test]
fn a_single_process_checkpoint_resumed_by_a_group_is_refused_on_every_rank() {
    let dir = tempfile::tempdir().unwrap();
    stopped_single_process_run(dir.path());
    let [rank0, rank1] = resume_as_two_ranks_failing(dir.path());
    let reason = "the checkpoint was written by a job of 1 process and this job has 2 processes: resume it as a single process (without a launcher), or start a new run";
    assert!(rank0.starts_with("error: run directory ") && rank0.contains(reason), "{rank0}");
    assert!(rank1.starts_with("error: rank 1 of 2: rank 0 could not resume the job: run directory ") && rank1.contains(reason), "{rank1}");
}

/// Rank 0 cannot read its checkpoint (a truncated weights file in a checkpoint that
/// records no checksums, as older ones do): both ranks end at once, rank 0 with the
/// file and rank 1 with rank 0's error.
#[test]
fn a_checkpoint_rank0_cannot_read_ends_every_rank_with_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = stopped_single_process_run(dir.path());
    let checkpoint = run.join("checkpoints").read_dir().unwrap().next().unwrap().unwrap().path();
    let state = checkpoint.join("state.json");
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("sha256");
    json["world"] = 2.into();
    std::fs::write(&state, serde_json::to_vec(&json).unwrap()).unwrap();
    let model = checkpoint.join("model.safetensors");
    let length = std::fs::metadata(&model).unwrap().len();
    std::fs::File::options().write(true).open(&model).unwrap().set_len(length / 2).unwrap();

    let [rank0, rank1] = resume_as_two_ranks_failing(dir.path());
    let name = checkpoint.file_name().unwrap().to_string_lossy().into_owned();
    let unreadable = format!("checkpoint runs/dp/checkpoints/{name}/model.safetensors: ");
    assert!(rank0.starts_with(&format!("error: {unreadable}")), "{rank0}");
    assert!(rank1.starts_with(&format!("error: rank 1 of 2: rank 0 could not resume the job: {unreadable}")), "{rank1}");
}

/// `memscope launch` does torchrun's part without Python: two ranks on this machine,
/// rank 0 writing the run; a job every rank fails ends with each rank's error and
/// the launcher's summary, and a non-zero status.
#[test]
fn launch_starts_the_ranks_itself() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let launched =
        memscope_tests::memscope(dir.path(), &["launch", "--nproc", "2", "run", "job.toml", "--out", "runs", "--quiet"]).success();
    assert!(launched.stderr().is_empty(), "{}", launched.stderr());
    assert_eq!(read_summary(&dir.path().join("runs/dp"))["epochs"], 3);

    let error = memscope_tests::memscope(dir.path(), &["launch", "--nproc", "2", "run", "missing.toml"]).clean_failure();
    assert!(error.starts_with("error: cannot read config missing.toml"), "{error}");
    let failed = memscope_tests::memscope(dir.path(), &["launch", "--nproc", "2", "run", "missing.toml"]).stderr();
    assert!(failed.lines().last().unwrap().contains("of 2 failed first (exit status: 1) (then rank(s) "), "{failed}");
}

/// `memscope launch --nnodes 2`, one launch per machine (here two on loopback, one
/// rank each): they make one group of two, whose rank 0 (node 0's) alone writes the run.
#[test]
fn two_launches_as_two_nodes_make_one_group() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let port = free_port().to_string();
    let node = |k: &str| {
        Command::new(memscope_bin())
            .args(["launch", "--nproc", "1", "--nnodes", "2", "--node-rank", k, "--master-addr", "127.0.0.1", "--master-port", &port])
            .args(["run", "job.toml", "--out", &format!("node{k}"), "--quiet"])
            .current_dir(dir.path())
            .env("MEMSCOPE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    each_succeeds([("node 0".to_string(), node("0")), ("node 1".to_string(), node("1"))]);
    written_by_a_group_of_two(&dir.path().join("node0"));
    assert!(!dir.path().join("node1").exists(), "only rank 0 writes the run directory");

    let launch = |args: &[&str]| memscope_tests::memscope(dir.path(), &[&["launch", "--nproc", "1"], args, &["run", "job.toml"]].concat());
    let error = launch(&["--nnodes", "2", "--node-rank", "2", "--master-port", &port]).clean_failure();
    assert_eq!(error, "error: --node-rank 2: the nodes of --nnodes 2 are 0 to 1");
    let error = launch(&["--nnodes", "2", "--node-rank", "1"]).clean_failure();
    assert!(error.starts_with("error: --nnodes 2: give --master-port"), "{error}");
    // Node 0 serves the store on the port: one already taken is named.
    let taken = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let error = launch(&["--nnodes", "2", "--node-rank", "0", "--master-port", &port]).clean_failure();
    assert!(error.starts_with(&format!("error: cannot serve the rendezvous store on port {port}: ")), "{error}");
    assert!(error.ends_with("address already in use"), "{error}");
}

/// `memscope launch --max-restarts 1` does what torchrun's does: rank 1 killed after the
/// first checkpoint, the group is started again and resumes (`--resume-or-start`) to
/// the end. A group stopped by Ctrl-C at its terminal (SIGINT to the launcher, its
/// store and every rank: one process group) is cancelled, not failed: the launcher and
/// the store it serves outlive the ranks' cancelling together, and it is not restarted.
#[test]
fn launch_restarts_a_failed_group_but_not_a_cancelled_one() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let launch = |out: &str| {
        let mut launcher = Command::new(memscope_bin());
        launcher.args(["launch", "--nproc", "2", "--max-restarts", "1"]).process_group(0);
        start_restartable(dir.path(), launcher, out)
    };
    let group = launch("runs");
    until_written(&dir.path().join("runs/dp/checkpoints/epoch-000002/state.json"));
    signal_rank(&group, 1, "-KILL");
    let stderr = restarted_and_resumed(dir.path(), group, "memscope launch");
    let restart = stderr.lines().find(|l| l.starts_with("memscope launch: ")).unwrap_or_else(|| panic!("no restart line:\n{stderr}"));
    assert!(restart.starts_with("memscope launch: rank 1 of 2 failed first (signal: 9 (SIGKILL))"), "{restart}");
    assert!(restart.ends_with("starting every rank again (restart 1 of 1)"), "{restart}");

    let group = launch("stopped");
    until_written(&dir.path().join("stopped/dp/checkpoints/epoch-000001/state.json"));
    // Ctrl-C: the terminal signals its foreground process group.
    assert!(Command::new("kill").args(["-INT", "--", &format!("-{}", group.id())]).status().unwrap().success());
    let out = ended_within(group, Duration::from_secs(120), "memscope launch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "cancelled, as its ranks:\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert!(errors.len() == 3 && errors[..2].iter().all(|e| e.starts_with("error: cancelled after ")), "{stderr}");
    assert!(errors[2].contains("(exit status: 130)"), "{stderr}");
    assert!(!stderr.contains("starting every rank again"), "a cancelled group was restarted:\n{stderr}");
}

/// Two launches as two nodes, each with `--max-restarts 1`: node 1's rank killed after
/// the first checkpoint fails node 0's rank too (its collective loses the peer), so
/// both launchers start their ranks again, and the two new ranks meet afresh (keys of
/// restart 1 in node 0's new store) and resume the run to its end.
#[test]
fn two_nodes_restart_together_after_a_rank_of_one_dies() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), JOB);
    let port = free_port().to_string();
    let node = |k: &str| {
        let mut launcher = Command::new(memscope_bin());
        launcher.args(["launch", "--nproc", "1", "--nnodes", "2", "--node-rank", k, "--master-port", &port, "--max-restarts", "1"]);
        start_restartable(dir.path(), launcher, "runs")
    };
    let (node0, node1) = (node("0"), node("1"));
    until_written(&dir.path().join("runs/dp/checkpoints/epoch-000002/state.json"));
    signal_rank(&node1, 1, "-KILL");
    let stderr = restarted_and_resumed(dir.path(), node0, "node 0");
    assert!(stderr.contains("starting every rank again (restart 1 of 1)"), "node 0 did not restart:\n{stderr}");
    let out = ended_within(node1, Duration::from_secs(60), "node 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("memscope launch: rank 1 of 2 failed first (signal: 9 (SIGKILL))"), "{stderr}");
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
