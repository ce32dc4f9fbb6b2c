//! memscope as a library (`memscope::Job`): a job built in code (the program's own
//! module, data in memory, a plugin compiled into the program) against the same job
//! run by the CLI; cancelling from another thread; a panicking in-process scorer;
//! two jobs in one process against two processes.

use memscope::config::{parse_job, JobConfig};
use memscope::data::{load_data, ImageDataset, ImageShape, InMemoryDataset, LoadOptions};
use memscope::{Job, JobError, JobEvent, JobOutcome};
use memscope_plugin_margin::Margin;
use memscope_sdk::{Hook, Host, Plugin, PluginResult, ScoreBatch};
use memscope_tests::{memscope, memscope_bin, read_npy_f32, read_verdict, write_job};
use std::path::Path;
use tch::nn;
use tch::Tensor;

/// A small digits job: 300 samples, 3 epochs, one libtorch thread (so the CLI's
/// process and this one compute alike), noise from the noise plugin's library.
fn job_text(seed: u64, extra: &str) -> String {
    let plugins = memscope_bin().parent().unwrap().display().to_string();
    format!(
        r#"name = "lib"
seed = {seed}
threads = 1
plugin_dirs = ["{plugins}"]
[data]
format = "digits"
limit = 300
[train]
epochs = 3
[score]
builtin = ["loss", "eval_loss"]
[[plugins]]
name = "noise"
config = {{ fraction = 0.1, kind = "symmetric" }}
{extra}"#
    )
}

fn config(text: &str) -> JobConfig {
    parse_job(text, "<test>", &[], Path::new("/")).unwrap()
}

/// The built-in `cnn` written by hand as a program would: the same variable names,
/// created in the same order (conv2 first, as the zoo does), so the job's seed gives it
/// the same initial weights.
fn hand_written_cnn(p: &nn::Path, shape: ImageShape, classes: usize) -> nn::SequentialT {
    let (c, h, w) = (shape.channels as i64, shape.height as i64, shape.width as i64);
    let conv = nn::ConvConfig { padding: 1, ..Default::default() };
    let conv2 = nn::conv2d(p / "conv2", 32, 64, 3, conv);
    nn::seq_t()
        .add(nn::conv2d(p / "conv1", c, 32, 3, conv))
        .add_fn(|x| x.relu())
        .add(conv2)
        .add_fn(|x| x.max_pool2d_default(2))
        .add_fn(|x| x.relu())
        .add_fn(|x| x.flatten(1, -1))
        .add(nn::linear(p / "fc1", 64 * (h / 2) * (w / 2), 128, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(p / "fc2", 128, classes as i64, Default::default()))
}

/// The digits, read by the program into memory (not through the job's `[data]`).
fn digits_in_memory() -> InMemoryDataset {
    let text = "name = \"d\"\n[data]\nformat = \"digits\"\n";
    let train = load_data(&config(text).data, &LoadOptions::default()).unwrap().train;
    let mut pixels = vec![0.0f32; train.len() * train.shape.len()];
    train.pixels.read_range(0..train.len(), &mut pixels);
    InMemoryDataset::new(train.shape, train.classes, pixels, train.labels.clone()).unwrap()
}

/// Score `name` of a run the CLI wrote.
fn cli_scores(run: &Path, name: &str) -> Vec<f32> {
    read_npy_f32(&run.join("scores").join(format!("{name}.npy"))).0
}

#[test]
fn a_job_built_in_code_scores_like_the_same_job_run_by_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let margin = "[[plugins]]\nname = \"margin\"\n";
    let job = write_job(dir.path(), &job_text(0, margin));
    memscope(dir.path(), &["run", job.to_str().unwrap(), "--out", "runs", "--no-report", "-q"]).success();
    let run = dir.path().join("runs/lib");

    let mut epochs_seen = Vec::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = Job::new(config(&job_text(0, "")))
        .model_named("hand-written cnn", hand_written_cnn)
        .dataset(digits_in_memory())
        .plugin::<Margin>(toml::Table::new())
        .on_event(move |e| {
            if let JobEvent::TrainEpochEnd(stats) = e {
                tx.send(stats.epoch).unwrap();
            }
        })
        .run()
        .unwrap();
    epochs_seen.extend(rx.try_iter());
    assert_eq!(epochs_seen, vec![1, 2, 3], "every epoch's event reached the callback, counted from 1");
    assert_eq!(outcome.run_dir, None, "nothing written without a run directory");
    assert_eq!(outcome.summary.arch, "custom hand-written cnn");
    assert_eq!(outcome.summary.samples, 300);

    // Training runs the same operations on the same weights and batches: identical.
    assert_eq!(outcome.score("loss").unwrap(), cli_scores(&run, "loss"));
    let labels = memscope_tests::read_npy_i64(&run.join("labels.npy"));
    assert_eq!(outcome.labels, labels, "the noise plugin's library changed the same labels");
    let mask = outcome.array("noise_mask").expect("the noise mask is published");
    assert_eq!(mask.values.iter().filter(|&&v| v != 0.0).count(), 30);
    // The scorer keeps a built-in's weights channels-last (a faster layout with the same
    // values), a program's module as it is: the same numbers up to rounding (measured:
    // 4e-7 relative for eval_loss, 1e-6 for margin).
    for name in ["eval_loss", "margin"] {
        let ours = outcome.score(name).unwrap_or_else(|| panic!("no score {name}"));
        let theirs = cli_scores(&run, name);
        assert_eq!(ours.len(), theirs.len());
        let worst = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs() / b.abs().max(1.0)).fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "{name}: in code and by the CLI differ by up to {worst}");
    }
    let table = outcome.score_table("margin").unwrap();
    assert_eq!(table.epochs, vec![0, 1, 2], "per-epoch rows of every scored epoch");

    // The verdict reaches the program as the CLI wrote it: the same training, the same
    // samples flagged with the same suggestions; in memory it names no file.
    let key = |v: &[memscope::verdict::LabelIssue]| v.iter().map(|i| (i.index, i.given_label, i.suggested_label)).collect::<Vec<_>>();
    assert_eq!(key(&outcome.verdict.issues), key(&read_verdict(&run)));
    let verdict = outcome.summary.label_issues.as_ref().expect("the summary carries the verdict");
    assert_eq!((verdict.file.as_deref(), verdict.flagged), (None, outcome.verdict.issues.len()));
    assert_eq!(outcome.verdict.probs.len(), 300 * 10);
    assert_eq!(outcome.verdict.label_prob_epochs.len(), 3, "one row per epoch");
}

#[test]
fn cancelling_from_another_thread_stops_at_the_next_step_with_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    // No checkpoint falls due before the end: the one found is the cancel's.
    let text = job_text(0, "").replace("epochs = 3", "epochs = 6\n[checkpoint]\nevery = 100");
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = Job::new(config(&text))
        .run_dir(Some(run_dir.clone()))
        .on_event(move |e| {
            if let JobEvent::TrainEpochEnd(stats) = e {
                let _ = tx.send(stats.epoch);
            }
        })
        .spawn()
        .unwrap();
    let canceller = handle.canceller();
    let watcher = std::thread::spawn(move || {
        while let Ok(epoch) = rx.recv() {
            if epoch == 2 {
                canceller.cancel();
                return;
            }
        }
    });
    watcher.join().unwrap();
    // The watcher heard of epoch 2 after the handle's progress did (it is the first to
    // hear every event).
    let progress = handle.progress();
    assert!(progress.started && progress.epochs == 6 && progress.epochs_done >= 2, "{progress:?}");
    let error = handle.join().unwrap_err();
    let JobError::Cancelled { epochs_done, run_dir: Some(dir_named), world: 1 } = &error else { panic!("not a cancel: {error}") };
    assert_eq!(dir_named, &run_dir);
    assert!((2..6).contains(epochs_done), "stopped after {epochs_done} epochs");
    let checkpoint = run_dir.join("checkpoints").join(format!("epoch-{epochs_done:06}"));
    assert!(checkpoint.join("state.json").is_file(), "no checkpoint of epoch {epochs_done}: {error}");
    assert!(error.to_string().contains("resume with `memscope run --resume"), "{error}");

    // It resumes from there and completes.
    let resumed = Job::new(config(&text)).run_dir(Some(run_dir.clone())).resume(true).run().unwrap();
    assert_eq!(resumed.summary.resumed_at_epoch, *epochs_done);
    assert_eq!(resumed.summary.epochs, 6);
}

/// A scorer that panics in `score_batch`.
struct Explodes;

impl Plugin for Explodes {
    fn name() -> &'static str {
        "explodes"
    }
    fn hooks() -> &'static [Hook] {
        &[Hook::ScoreBatch]
    }
    fn create(_config: &str, _host: &Host) -> PluginResult<Self> {
        Ok(Explodes)
    }
    fn score_batch(&mut self, _host: &Host, batch: &ScoreBatch, _images: &Tensor, _labels: &Tensor) -> PluginResult<Tensor> {
        panic!("boom at offset {}", batch.offset)
    }
}

#[test]
fn a_panic_in_an_in_process_scorer_is_reported_like_a_plugins() {
    let error = Job::new(config(&job_text(0, ""))).plugin::<Explodes>(toml::Table::new()).run().unwrap_err().to_string();
    assert!(error.contains("plugin `explodes` panicked in score_batch: boom at offset 0"), "{error}");
    assert!(error.contains("test_library.rs"), "the panic's location is kept: {error}");
}

#[test]
fn two_jobs_one_after_the_other_in_one_process_give_what_two_processes_give() {
    let dir = tempfile::tempdir().unwrap();
    let in_process: Vec<JobOutcome> = [0, 1].map(|seed| Job::new(config(&job_text(seed, ""))).run().unwrap()).into();
    for (seed, ours) in [0u64, 1].into_iter().zip(&in_process) {
        let job = write_job(dir.path(), &job_text(seed, ""));
        let out = format!("runs-{seed}");
        memscope(dir.path(), &["run", job.to_str().unwrap(), "--out", &out, "--no-report", "-q"]).success();
        let run = dir.path().join(out).join("lib");
        for name in ["loss", "eval_loss"] {
            assert_eq!(ours.score(name).unwrap(), cli_scores(&run, name), "seed {seed}: {name}");
        }
    }
    assert_ne!(in_process[0].score("loss"), in_process[1].score("loss"), "the seeds differ");
}

#[test]
fn a_job_in_code_refuses_bad_input_with_one_clear_error() {
    let data = InMemoryDataset::new(ImageShape { channels: 1, height: 8, width: 8 }, 10, vec![0.0; 64 * 3], vec![0, 1, 12]).unwrap();
    assert_eq!(data.len(), 3);
    let error = Job::new(config(&job_text(0, ""))).dataset(data).run().unwrap_err().to_string();
    assert!(error.contains("sample 2 has label 12, outside 0..10"), "{error}");

    let mut bad = config(&job_text(0, ""));
    bad.train.epochs = 0;
    let error = Job::new(bad).run().unwrap_err().to_string();
    assert!(error.contains("train.epochs"), "{error}");

    let error = Job::new(config(&job_text(0, ""))).resume(true).run().unwrap_err().to_string();
    assert!(error.contains("a job in memory has no checkpoints to resume from"), "{error}");
}
