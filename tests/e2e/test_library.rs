//! memscope as a library (`memscope::Job`): a job built in code (the program's own
//! module, data in memory, a plugin compiled into the program) against the same job
//! run by the CLI; cancelling from another thread; a panicking in-process scorer;
//! two jobs in one process against two processes.

use memscope::config::{parse_job, DataConfig, JobConfig, TrainConfig};
use memscope::data::{load_data, ImageDataset, ImageShape, InMemoryDataset, LoadOptions};
use memscope::plugins::InProcessPlugin;
use memscope::{Job, JobError, JobEvent, JobOutcome};
use memscope_plugin_margin::Margin;
use memscope_sdk::{Hook, Host, Plugin, PluginResult, ScoreBatch, ScoreSpec};
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
    let in_memory = outcome.verdict.as_ref().expect("every run over the whole training set has a verdict");
    assert_eq!(key(&in_memory.issues), key(&read_verdict(&run)));
    let verdict = outcome.summary.label_issues.as_ref().expect("the summary carries the verdict");
    assert_eq!((verdict.file.as_deref(), verdict.flagged), (None, in_memory.issues.len()));
    assert_eq!(in_memory.probs.len(), 300 * 10);
    assert_eq!(in_memory.label_prob_epochs.len(), 3, "one row per epoch");
}

#[test]
fn a_job_built_in_code_without_any_toml_runs_and_scores() {
    // A typed config: the keys the program sets, every other one at the value a TOML
    // file gives it when absent; the program's dataset needs no `[data]` format.
    let config = JobConfig {
        threads: 1,
        data: DataConfig { limit: 300, ..Default::default() },
        train: TrainConfig { epochs: 2, ..Default::default() },
        ..JobConfig::new("in-code")
    };
    let toml = "name = \"in-code\"\nthreads = 1\n[data]\nlimit = 300\n[train]\nepochs = 2\n";
    assert_eq!(config, self::config(toml), "the same job as the TOML that sets the same keys");

    let outcome = Job::new(config).dataset(digits_in_memory()).run().unwrap();
    assert_eq!((outcome.summary.samples, outcome.summary.epochs), (300, 2));
    let loss = outcome.score("loss").expect("the loss score is recorded by default");
    assert_eq!(loss.len(), 300);
    assert!(loss.iter().all(|v| v.is_finite() && *v > 0.0), "a cumulative loss per sample");
    assert!(outcome.verdict.is_some(), "the default scoring gives the verdict too");

    // With no data at all, one error names the missing key and both ways to give it.
    let error = Job::new(JobConfig::new("no-data")).run().unwrap_err().to_string();
    assert!(error.contains("data.format: missing") && error.contains("Job::dataset"), "{error}");
}

#[test]
fn two_shipped_plugin_crates_run_in_one_program() {
    // Linking both into this test binary failed before (`duplicate symbol:
    // memscope_plugin_v4`): each crate exported the plugin symbol itself.
    let mut curvature = toml::Table::new();
    curvature.insert("draws".into(), 2.into());
    let outcome = Job::new(config(&job_text(0, "").replace("epochs = 3", "epochs = 1")))
        .plugin::<Margin>(toml::Table::new())
        .plugin::<memscope_plugin_curvature::Curvature>(curvature)
        .run()
        .unwrap();
    for name in ["margin", "curvature"] {
        let scores = outcome.score(name).unwrap_or_else(|| panic!("no score {name}"));
        assert_eq!(scores.len(), 300);
        assert!(scores.iter().all(|v| v.is_finite()), "{name}");
    }
    assert!(outcome.score("curvature").unwrap().iter().all(|&v| v >= 0.0), "curvature is a norm");
}

/// p(label) under the snapshot: high means learned, so it reads "lower = more
/// memorized", and it says so.
struct Confidence;

/// The same values without the declaration: read by the convention (higher = more
/// memorized), they find the clean samples instead of the relabelled ones.
struct Undeclared;

fn p_label(host: &Host, images: &Tensor, labels: &Tensor) -> PluginResult<Tensor> {
    let logits = tch::no_grad(|| host.forward(images))?;
    Ok(logits.softmax(1, tch::Kind::Float).gather(1, &labels.unsqueeze(1), false).squeeze_dim(1))
}

impl Plugin for Confidence {
    fn name() -> &'static str {
        "confidence"
    }
    fn hooks() -> &'static [Hook] {
        &[Hook::ScoreBatch]
    }
    fn scores() -> Vec<ScoreSpec> {
        vec![ScoreSpec::lower("confidence")]
    }
    fn create(_config: &str, _host: &Host) -> PluginResult<Self> {
        Ok(Confidence)
    }
    fn score_batch(&mut self, host: &Host, _batch: &ScoreBatch, images: &Tensor, labels: &Tensor) -> PluginResult<Tensor> {
        p_label(host, images, labels)
    }
}

impl Plugin for Undeclared {
    fn name() -> &'static str {
        "undeclared"
    }
    fn hooks() -> &'static [Hook] {
        &[Hook::ScoreBatch]
    }
    fn create(_config: &str, _host: &Host) -> PluginResult<Self> {
        Ok(Undeclared)
    }
    fn score_batch(&mut self, host: &Host, _batch: &ScoreBatch, images: &Tensor, labels: &Tensor) -> PluginResult<Tensor> {
        p_label(host, images, labels)
    }
}

#[test]
fn a_score_declared_lower_is_compared_that_way_and_an_inverted_one_warns() {
    let baseline = "[[plugins]]\nname = \"baseline\"\nconfig = { against = [\"noise_mask\"] }\n";
    let outcome = Job::new(config(&job_text(0, baseline)))
        .plugin::<Confidence>(toml::Table::new())
        .plugin::<Undeclared>(toml::Table::new())
        .run()
        .unwrap();
    let summary = &outcome.summary;
    let auroc = |score: &str| {
        let c = summary.comparisons.iter().find(|c| c.score == score && c.against == "noise_mask").unwrap_or_else(|| panic!("{summary:?}"));
        c.metrics["auroc"]
    };
    // The two files hold the same values; read as declared, the confidence finds the
    // relabelled samples; read by the convention, exactly the clean ones.
    assert_eq!(outcome.score("confidence"), outcome.score("undeclared"));
    assert!(auroc("confidence") > 0.8, "AUROC {}", auroc("confidence"));
    assert!((auroc("confidence") + auroc("undeclared") - 1.0).abs() < 1e-9);
    let direction = |name: &str| summary.scores.iter().find(|s| s.name == name).unwrap().direction.clone();
    assert_eq!(
        (direction("confidence").as_str(), direction("undeclared").as_str(), direction("loss").as_str()),
        ("lower", "higher", "higher")
    );
    assert_eq!(summary.warnings.len(), 1, "{:?}", summary.warnings);
    assert!(
        summary.warnings[0].starts_with("score `undeclared` against `noise_mask`: AUROC 0.")
            && summary.warnings[0].contains("looks inverted"),
        "{:?}",
        summary.warnings
    );
    let ranking = summary.rankings.iter().find(|r| r.against == "noise_mask").unwrap();
    let rank = |name: &str| ranking.rows.iter().find(|r| r.score == name).unwrap().rank;
    assert!(rank("confidence") < rank("undeclared"), "{ranking:?}");
}

/// A scorer only the program can make: p(label) times a factor it is given as a value.
struct Scaled {
    factor: f64,
}

impl Plugin for Scaled {
    fn name() -> &'static str {
        "scaled"
    }
    fn hooks() -> &'static [Hook] {
        &[Hook::ScoreBatch]
    }
    fn create(_config: &str, _host: &Host) -> PluginResult<Self> {
        Err(memscope_sdk::PluginError("made by the program, never from settings".into()))
    }
    fn score_batch(&mut self, host: &Host, _batch: &ScoreBatch, images: &Tensor, labels: &Tensor) -> PluginResult<Tensor> {
        Ok(p_label(host, images, labels)? * self.factor)
    }
}

#[test]
fn a_programs_plugin_instance_and_closure_scorer_score_with_its_own_values() {
    let batches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = batches.clone();
    let outcome = Job::new(config(&job_text(0, "").replace("epochs = 3", "epochs = 1")))
        .plugin_instance(Scaled { factor: 2.0 })
        .scorer("p_label", memscope_sdk::Direction::LowerIsMemorized, move |host, _batch, images, labels| {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            p_label(host, images, labels)
        })
        .run()
        .unwrap();
    // The instance's `create` (which fails) was never called, and its factor is used:
    // the same snapshot, the same forward, times 2 (exact in floating point).
    let (scaled, p) = (outcome.score("scaled").unwrap(), outcome.score("p_label").unwrap());
    assert_eq!(p.len(), 300);
    assert!(p.iter().all(|v| *v >= 0.0) && p.iter().any(|v| *v > 0.0), "probabilities");
    assert_eq!(scaled, p.iter().map(|v| v * 2.0).collect::<Vec<f32>>());
    assert!(batches.load(std::sync::atomic::Ordering::Relaxed) > 0, "the program's closure scored");
    let direction = |name: &str| outcome.summary.scores.iter().find(|s| s.name == name).unwrap().direction.clone();
    assert_eq!((direction("p_label").as_str(), direction("scaled").as_str()), ("lower", "higher"));
}

/// Publishes a score `confidence` of its own, whole, when the data is ready.
struct Publisher;

impl Plugin for Publisher {
    fn name() -> &'static str {
        "publisher"
    }
    fn hooks() -> &'static [Hook] {
        &[Hook::OnDatasetReady]
    }
    fn create(_config: &str, _host: &Host) -> PluginResult<Self> {
        Ok(Publisher)
    }
    fn on_dataset_ready(&mut self, host: &Host, data: &mut memscope_sdk::DatasetView<'_>) -> PluginResult {
        host.publish_array("confidence", memscope_sdk::ArrayKind::Score, &vec![0.5; data.labels.len()])
    }
}

#[test]
fn a_plugin_added_twice_or_a_score_published_over_anothers_is_refused() {
    let err =
        Job::new(config(&job_text(0, ""))).plugin::<Margin>(toml::Table::new()).plugin::<Margin>(toml::Table::new()).run().unwrap_err();
    assert!(
        err.to_string()
            .contains("`margin` is written by both plugin `margin` (`Job::plugin` entry 1) and plugin `margin` (`Job::plugin` entry 2)"),
        "{err}"
    );
    let err = Job::new(config(&job_text(0, "")))
        .plugin::<Confidence>(toml::Table::new())
        .plugin::<Publisher>(toml::Table::new())
        .run()
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "plugin `publisher` failed in on_dataset_ready: `confidence` is written by both plugin `confidence` (`Job::plugin` entry 1) and plugin `publisher` (`Job::plugin` entry 2)"
        ),
        "{err}"
    );
    // Under two names the same plugin type writes two scores.
    let outcome = Job::new(config(&job_text(0, "").replace("epochs = 3", "epochs = 1")))
        .plugin::<Margin>(toml::Table::new())
        .plugin_entry(InProcessPlugin::new::<Margin>(toml::Table::new()).named("margin-again"))
        .run()
        .unwrap();
    assert_eq!(outcome.score("margin"), outcome.score("margin-again"));
    assert_eq!(outcome.summary.scores.iter().filter(|s| s.name.starts_with("margin")).count(), 2);
}

/// Spawns `job` and cancels it from another thread once it reports training epoch
/// `epoch`, as a program's stop button would; returns when the cancel was asked.
fn cancelled_after_epoch(job: Job, epoch: usize) -> memscope::JobHandle {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = job
        .on_event(move |e| {
            if let JobEvent::TrainEpochEnd(stats) = e {
                let _ = tx.send(stats.epoch);
            }
        })
        .spawn()
        .unwrap();
    let canceller = handle.canceller();
    std::thread::spawn(move || {
        while let Ok(seen) = rx.recv() {
            if seen == epoch {
                return canceller.cancel();
            }
        }
    })
    .join()
    .unwrap();
    handle
}

#[test]
fn cancelling_from_another_thread_stops_at_the_next_step_with_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    // No checkpoint falls due before the end: the one found is the cancel's.
    let text = job_text(0, "").replace("epochs = 3", "epochs = 6\n[checkpoint]\nevery = 100");
    let handle = cancelled_after_epoch(Job::new(config(&text)).run_dir(Some(run_dir.clone())), 2);
    // The watcher heard of epoch 2 after the handle's progress did (it is the first to
    // hear every event).
    let progress = handle.progress();
    assert!(progress.started && progress.epochs == 6 && progress.epochs_done >= 2, "{progress:?}");
    let error = handle.join().unwrap_err();
    let JobError::Cancelled { epochs_done, run_dir: Some(dir_named), world: 1, .. } = &error else { panic!("not a cancel: {error}") };
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

#[test]
fn a_cancelled_job_in_memory_hands_back_the_scores_of_its_completed_epochs() {
    let text = job_text(0, "").replace("epochs = 3", "epochs = 6");
    let handle = cancelled_after_epoch(Job::new(config(&text)), 2);
    let error = handle.join().unwrap_err();
    let JobError::Cancelled { epochs_done, run_dir: None, partial, .. } = error else { panic!("not a cancel: {error}") };
    assert!((2..6).contains(&epochs_done), "stopped after {epochs_done} epochs");
    let done: Vec<usize> = (0..epochs_done).collect();
    for name in ["loss", "eval_loss"] {
        let table = partial.score_table(name).unwrap_or_else(|| panic!("no partial {name}: {partial:?}"));
        assert_eq!(table.epochs, done, "{name}: one row per completed epoch");
    }

    // They are the first epochs of the same job run to its end (one thread, the same
    // process: the same operations on the same values).
    let whole = Job::new(config(&text)).run().unwrap();
    for name in ["loss", "eval_loss"] {
        assert_eq!(partial.score_table(name).unwrap().rows[..], whole.score_table(name).unwrap().rows[..epochs_done], "{name}");
    }
    let loss = partial.score("loss").unwrap();
    let summed: Vec<f32> =
        (0..300).map(|i| partial.score_table("loss").unwrap().rows.iter().map(|r| r[i] as f64).sum::<f64>() as f32).collect();
    assert_eq!(loss, summed, "the cumulative loss of the completed epochs");
    assert_eq!(partial.top_k("loss", 3).unwrap().len(), 3);
}

/// The predictions of `module` in eval mode over the first 300 images of `data` (the
/// jobs' `limit`), in one batch as the job's final pass takes them.
fn predictions(module: &impl nn::ModuleT, data: &InMemoryDataset) -> Vec<i64> {
    let images: Vec<f32> = (0..300).flat_map(|i| data.get(i).image).collect();
    let shape = data.shape();
    let batch = Tensor::from_slice(&images).view([300, shape.channels as i64, shape.height as i64, shape.width as i64]);
    let logits = tch::no_grad(|| module.forward_t(&batch, false));
    Vec::<i64>::try_from(logits.argmax(1, false)).unwrap()
}

#[test]
fn the_outcome_gives_back_the_trained_weights_and_ranks_samples_by_a_scores_direction() {
    let data = digits_in_memory();
    let outcome = Job::new(config(&job_text(0, "")))
        .model(hand_written_cnn)
        .dataset(data.clone())
        .scorer("p_label", memscope_sdk::Direction::LowerIsMemorized, |host, _batch, images, labels| p_label(host, images, labels))
        .run()
        .unwrap();

    // The program builds its module again, loads the weights: its predictions give
    // exactly the accuracy the job's own final pass measured.
    let store = nn::VarStore::new(tch::Device::Cpu);
    let module = hand_written_cnn(&store.root(), data.shape(), 10);
    let untrained = predictions(&module, &data);
    outcome.weights.load_into(&store).unwrap();
    let trained = predictions(&module, &data);
    // Against the labels as trained (the noise plugin relabelled some).
    let accuracy = |predicted: &[i64]| predicted.iter().zip(&outcome.labels).filter(|(p, l)| p == l).count() as f64 / 300.0;
    assert_eq!(accuracy(&trained), outcome.summary.train_accuracy);
    assert!(accuracy(&trained) > accuracy(&untrained) + 0.3, "{} vs {}", accuracy(&trained), accuracy(&untrained));
    // Saved, they load with tch's own `VarStore::load`.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("weights.ot");
    outcome.weights.save(&file).unwrap();
    let mut again = nn::VarStore::new(tch::Device::Cpu);
    let module_again = hand_written_cnn(&again.root(), data.shape(), 10);
    again.load(&file).unwrap();
    assert_eq!(predictions(&module_again, &data), trained);
    // A module of another shape is refused, naming the variable.
    let other = nn::VarStore::new(tch::Device::Cpu);
    let _ = hand_written_cnn(&other.root(), data.shape(), 3);
    let error = outcome.weights.load_into(&other).unwrap_err().to_string();
    assert!(error.contains("`fc2.bias` is [10], the VarStore's is [3]"), "{error}");

    // Ranked in each score's declared direction: the highest losses, the lowest p(label).
    let (loss, p) = (outcome.score("loss").unwrap(), outcome.score("p_label").unwrap());
    let top = outcome.top_k("loss", 10).unwrap();
    assert!(top.iter().all(|&i| (0..300).filter(|j| !top.contains(j)).all(|j| loss[i] >= loss[j])), "{top:?}");
    let top = outcome.top_k("p_label", 10).unwrap();
    assert!(top.iter().all(|&i| (0..300).filter(|j| !top.contains(j)).all(|j| p[i] <= p[j])), "{top:?}");
    assert!(top.windows(2).all(|w| p[w[0]] <= p[w[1]]), "the most memorized first");
    assert_eq!(outcome.top_k("no-such-score", 10), None);
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

    // A program's module with 3 outputs for the 10 digit classes is refused before
    // training, as a TorchScript file with the same mistake is.
    let three = |p: &nn::Path, shape: ImageShape, _classes: usize| {
        nn::seq_t().add_fn(|x| x.flatten(1, -1)).add(nn::linear(p / "fc", shape.len() as i64, 3, Default::default()))
    };
    let error = Job::new(config(&job_text(0, ""))).model(three).run().unwrap_err().to_string();
    assert!(
        error.contains("the program's model `module`: it has 3 classes (its forward maps [2, 1, 8, 8] to [2, 3]), but the dataset has 10"),
        "{error}"
    );

    let error = Job::new(config(&job_text(0, ""))).resume(true).run().unwrap_err().to_string();
    assert!(error.contains("a job in memory has no checkpoints to resume from"), "{error}");
}
