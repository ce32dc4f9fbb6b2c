//! What a user watching a run sees: scoring reports its progress (per scorer, per
//! snapshot) as events, which cross `--events-json` to the daemon; a run without a
//! terminal logs each scored epoch and its times; and every epoch a user sees counts
//! from 1 (events, log, `summary.json`, the report's captions), older summaries too.

use memscope_tests::{memscope, memscope_bin, read_summary, write_job};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// 4 epochs of 600 digits, `eval_loss` scored at epochs 2 and 4, the noise injector's
/// mask for the report's signal curves.
const JOB: &str = "name = \"job\"\nseed = 0\n[data]\nformat = \"digits\"\nlimit = 600\n[train]\nepochs = 4\n\
                   [score]\nbuiltin = [\"loss\", \"eval_loss\"]\nevery = 2\n\
                   [[plugins]]\nname = \"noise\"\nconfig = { fraction = 0.1, kind = \"symmetric\" }\n";

/// Runs `memscope run JOB ARGS` as a pipe would (no terminal), logging at info level
/// (nothing set in `MEMSCOPE_LOG`): (stdout, stderr).
fn run_piped(dir: &Path, args: &[&str]) -> (String, String) {
    let job = write_job(dir, JOB);
    let output = Command::new(memscope_bin())
        .args(["run", job.to_str().unwrap(), "--out", "runs", "--force"])
        .args(args)
        .current_dir(dir)
        .env_remove("MEMSCOPE_LOG")
        // Inline, as on the CPU by default, whatever the test's environment says.
        .env("MEMSCOPE_SCORER_THREAD", "0")
        .output()
        .expect("spawning memscope");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned());
    assert!(output.status.success(), "memscope failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

fn kind(event: &Value) -> &str {
    event["event"].as_str().unwrap()
}

#[test]
fn scoring_reports_its_progress_through_events_json_with_epochs_counted_from_one() {
    let dir = tempfile::tempdir().unwrap();
    let (stdout, stderr) = run_piped(dir.path(), &["--events-json"]);
    let events: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();

    let started = events.iter().find(|e| kind(e) == "job_started").unwrap();
    assert_eq!((started["start_epoch"].as_u64(), started["epochs"].as_u64()), (Some(1), Some(4)));
    assert_eq!(started["scorers"], serde_json::json!(["eval_loss"]));
    assert_eq!(started["scored_epochs"], serde_json::json!([2, 4]));
    let epoch_ends: Vec<u64> = events.iter().filter(|e| kind(e) == "train_epoch_end").map(|e| e["epoch"].as_u64().unwrap()).collect();
    assert_eq!(epoch_ends, [1, 2, 3, 4]);
    assert!(events.iter().filter(|e| kind(e) == "train_batch_end").all(|e| (1..=4).contains(&e["epoch"].as_u64().unwrap())));

    // Each scored snapshot: started, the scorer's progress up to every sample, its
    // scores, ended; on the CPU between its epoch's end and the next epoch's steps.
    let at = |what: &str, epoch: u64| {
        events.iter().position(|e| kind(e) == what && e["epoch"] == epoch).unwrap_or_else(|| panic!("no {what} of epoch {epoch}"))
    };
    for epoch in [2, 4] {
        let start = at("scoring_started", epoch);
        assert_eq!(events[start]["scorers"], serde_json::json!(["eval_loss"]));
        assert_eq!(events[start]["samples"], 600);
        assert!(at("train_epoch_end", epoch) < start);
        let ready = at("scores_ready", epoch);
        let ended = at("scoring_ended", epoch);
        assert!(start < ready && ready < ended, "order: started {start}, ready {ready}, ended {ended}");
        if epoch == 2 {
            let next_step = events.iter().position(|e| kind(e) == "train_batch_end" && e["epoch"] == 3).unwrap();
            assert!(ended < next_step, "scoring ends before epoch 3 trains (inline on the CPU)");
        }
        let progress: Vec<&Value> = events[start..ready].iter().filter(|e| kind(e) == "scoring_progress").collect();
        assert!(!progress.is_empty(), "no scoring_progress for epoch {epoch}");
        let done: Vec<u64> = progress.iter().map(|e| e["done"].as_u64().unwrap()).collect();
        assert!(done.windows(2).all(|w| w[0] < w[1]), "done only grows: {done:?}");
        assert!(progress.iter().all(|e| e["scorer"] == "eval_loss" && e["total"] == 600 && e["epoch"] == epoch));
        assert_eq!(*done.last().unwrap(), 600, "the last progress event counts every sample");
        assert!(events[ended]["seconds"].as_f64().unwrap() >= 0.0);
    }
    assert_eq!(events.iter().filter(|e| kind(e) == "scoring_started").count(), 2);

    // A daemon's job logs to stderr (its log.txt) what a pipe shows.
    assert!(stderr.contains("scored epoch 2 in ") && stderr.contains("eval_loss 600 samples in "), "{stderr}");
    assert!(stderr.contains("epoch 4/4: loss"), "{stderr}");

    // summary.json counts epochs from 1: every scored epoch, and those combined (the
    // default for label noise combines every scored epoch).
    let summary = read_summary(&dir.path().join("runs/job"));
    let file = |name: &str| summary["scores"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap().clone();
    assert_eq!(file("eval_loss")["scored_epochs"], serde_json::json!([2, 4]));
    assert_eq!(file("eval_loss")["epochs"], serde_json::json!([2, 4]));
    assert_eq!(file("loss")["scored_epochs"], serde_json::json!([1, 2, 3, 4]));
    let curve = summary["curves"].as_array().unwrap().iter().find(|c| c["score"] == "eval_loss").unwrap();
    assert_eq!(curve["epochs"], serde_json::json!([2, 4]));
}

#[test]
fn a_run_without_a_terminal_logs_each_scored_epoch_and_ends_with_its_times() {
    let dir = tempfile::tempdir().unwrap();
    let (stdout, stderr) = run_piped(dir.path(), &[]);
    for line in ["run job: 600 samples, 4 epochs", "epoch 1/4: loss", "epoch 4/4: loss", "scored epoch 2 in ", "scored epoch 4 in "] {
        assert!(stderr.contains(line), "no `{line}` in:\n{stderr}");
    }
    let scored = stderr.lines().find(|l| l.contains("scored epoch 2 in ")).unwrap();
    assert!(scored.contains(": eval_loss 600 samples in ") && scored.contains("/s)"), "{scored}");
    assert!(!stderr.contains("scored epoch 1 ") && !stderr.contains("scored epoch 3 "), "only epochs 2 and 4 are scored:\n{stderr}");
    assert!(!stderr.contains("NaN") && !stdout.contains("NaN"), "{stderr}\n{stdout}");
    let times = stdout.lines().find(|l| l.trim_start().starts_with("time ")).unwrap_or_else(|| panic!("no time line in:\n{stdout}"));
    for part in ["data ", "train ", "score ", "total "] {
        assert!(times.contains(part), "{times}");
    }
    let summary = read_summary(&dir.path().join("runs/job"));
    assert!(summary["timings"]["data_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(summary["timings"]["decoded_images"], 0, "digits are not encoded images");
}

/// The signal chart's caption for `score` in the report.
fn signal_caption(run: &Path, score: &str) -> String {
    let html = std::fs::read_to_string(run.join("report/index.html")).unwrap();
    let figure =
        html.lines().find(|l| l.contains(&format!("signal_{score}.png"))).unwrap_or_else(|| panic!("no signal_{score}.png in the report"));
    figure.split("<figcaption>").nth(1).unwrap().split("</figcaption>").next().unwrap().to_string()
}

#[test]
fn the_report_names_training_epochs_also_for_a_summary_that_counted_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), JOB);
    memscope(dir.path(), &["run", job.to_str().unwrap(), "--out", "runs", "--quiet"]).success();
    let run = dir.path().join("runs/job");
    let caption = signal_caption(&run, "eval_loss");
    let epoch = |caption: &str| caption.rsplit("at epoch ").next().unwrap().parse::<u64>().unwrap_or_else(|_| panic!("{caption}"));
    let best = epoch(&caption);
    assert!(best == 2 || best == 4, "eval_loss was scored at training epochs 2 and 4: {caption}");

    // A summary as memscope wrote it before: epochs counted from 0, no scored_epochs
    // (eval_loss's window held only its first scored epoch, so the schedule tells the rest).
    let path = run.join("summary.json");
    let mut summary: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for file in summary["scores"].as_array_mut().unwrap() {
        let epochs: Vec<u64> = file["epochs"].as_array().unwrap().iter().map(|e| e.as_u64().unwrap() - 1).collect();
        file["epochs"] = serde_json::json!(epochs);
        file.as_object_mut().unwrap().remove("scored_epochs");
    }
    for curve in summary["curves"].as_array_mut().unwrap() {
        let epochs: Vec<u64> = curve["epochs"].as_array().unwrap().iter().map(|e| e.as_u64().unwrap() - 1).collect();
        curve["epochs"] = serde_json::json!(epochs);
    }
    std::fs::write(&path, serde_json::to_string(&summary).unwrap()).unwrap();
    memscope(dir.path(), &["report", run.to_str().unwrap()]).success();
    assert_eq!(signal_caption(&run, "eval_loss"), caption, "the same epochs from the older summary");
}

/// The daemon follows its job's scoring through the events the job process writes:
/// `GET /v1/jobs/{id}` shows the snapshot being scored (`progress.scoring`),
/// `memscope status` prints it, and the job's log has the scored epoch's line.
#[test]
fn a_daemon_job_shows_the_snapshot_being_scored() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = memscope_tests::daemon::Daemon::start(dir.path(), "");
    // Curvature with 20 draws: a pass over the digits takes seconds, long enough to be seen.
    let job =
        "name = \"scored\"\nthreads = 2\n[data]\nformat = \"digits\"\n[train]\nepochs = 2\n[score]\nbuiltin = [\"loss\"]\nevery = 2\n\
               [[plugins]]\nname = \"curvature\"\nconfig = { draws = 20 }\n";
    let id = daemon.submit_ok(job);
    let minutes = std::time::Duration::from_secs(180);
    let seen = daemon.wait_for(&id, minutes, |j| j["progress"]["scoring"].is_object());
    let scoring = &seen["progress"]["scoring"];
    assert_eq!(
        (scoring["epoch"].as_u64(), scoring["scorer"].as_str(), scoring["total"].as_u64()),
        (Some(2), Some("curvature"), Some(1797)),
        "{seen}"
    );
    assert!(scoring["done"].as_u64().unwrap() <= 1797);
    assert_eq!(seen["progress"]["epoch"], 2, "both epochs trained: the last is being scored");
    let status = daemon.cli(&["status", &id]).success().stdout();
    assert!(status.contains("epoch 2/2 done"), "{status}");
    let done = daemon.wait_done(&id, minutes);
    assert_eq!(done["state"], "completed", "{done}");
    assert!(done["progress"]["scoring"].is_null(), "no scoring once it ended: {done}");
    let log = daemon.get(&format!("/v1/jobs/{id}/logs")).unwrap().body;
    assert!(log.contains("scored epoch 2 in ") && log.contains("curvature 1797 samples in "), "{log}");
}
