//! A job with `[metrics] listen` serves Prometheus metrics while it trains and, with
//! `linger_seconds`, after it ended; the exposition parses and carries the names the
//! dashboard needs.

use memscope::metrics::Metric;
use memscope_tests::{memscope_bin, write_job};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET /metrics over plain HTTP/1.0; `None` while nothing listens.
fn scrape(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_string())
}

/// Parses the text exposition format: every sample line is `name{labels} value`.
fn samples(body: &str) -> Vec<(String, String, f64)> {
    body.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad line `{line}`"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in `{line}`"));
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}').unwrap_or_else(|| panic!("bad labels in `{line}`"))),
                None => (series, ""),
            };
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "bad name in `{line}`");
            (name.to_string(), labels.to_string(), value)
        })
        .collect()
}

#[test]
fn a_job_serves_its_metrics_during_and_after_training() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let text = format!(
        "name = \"watched\"\nthreads = 2\n[data]\nformat = \"digits\"\n[train]\nepochs = 6\n\
         [score]\nbuiltin = [\"loss\", \"eval_loss\"]\n[metrics]\nlisten = \"127.0.0.1:{port}\"\nlinger_seconds = 4\n\
         [[plugins]]\nname = \"noise\"\nconfig = {{ fraction = 0.1 }}\n"
    );
    let job = write_job(dir.path(), &text);
    let mut child = Command::new(memscope_bin())
        .args(["run", job.to_str().unwrap(), "--out", "runs", "--quiet"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // During training: the epoch counter is there before the run directory is complete.
    let deadline = Instant::now() + Duration::from_secs(60);
    let during = loop {
        assert!(Instant::now() < deadline, "no metrics during training");
        if let Some(body) = scrape(port) {
            if body.contains(Metric::Epoch.name()) && !dir.path().join("runs/watched/summary.json").exists() {
                break body;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let during = samples(&during);
    assert!(during.iter().any(|(n, l, v)| n == Metric::JobRunning.name() && l.contains("run=\"watched\"") && *v == 1.0));

    // After training, while the exporter lingers.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !dir.path().join("runs/watched/summary.json").exists() {
        assert!(Instant::now() < deadline, "the job did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut after = None;
    while after.is_none() && Instant::now() < deadline {
        after = scrape(port).filter(|b| b.contains(Metric::JobSucceeded.name()));
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = samples(&after.expect("metrics after the job ended"));
    let value = |name: &str, label: &str| {
        after.iter().find(|(n, l, _)| n == name && l.contains(label)).map(|(_, _, v)| *v).unwrap_or_else(|| panic!("no {name}{{{label}}}"))
    };
    assert_eq!(value(Metric::Epoch.name(), "run=\"watched\""), 6.0);
    assert_eq!(value(Metric::PluginErrors.name(), "plugin=\"noise\""), 0.0);
    assert!(value(Metric::EvalAccuracy.name(), "subset=\"train\"") > 0.5);
    assert!(after.iter().any(|(n, _, _)| n == "memscope_train_step_duration_seconds_bucket"));
    assert_eq!(value(Metric::JobSucceeded.name(), "run=\"watched\""), 1.0);
    assert_eq!(value(Metric::TrainSamples.name(), "run=\"watched\""), 6.0 * 1797.0);
    assert_eq!(value("memscope_scored_samples_total", "scorer=\"eval_loss\""), 6.0 * 1797.0);
    assert_eq!(value(Metric::BuildInfo.name(), "torch_version=\"2.13.0\""), 1.0);
    assert_eq!(value("memscope_plugin_noisy_samples", "plugin=\"noise\""), 180.0);
    // Scores split by the noise mask, and their AUROC against it.
    let noisy = value(Metric::ScoreMean.name(), "scorer=\"eval_loss\",subset=\"noisy\"");
    let clean = value(Metric::ScoreMean.name(), "scorer=\"eval_loss\",subset=\"clean\"");
    assert!(noisy > clean, "noisy samples have the higher loss: {noisy} vs {clean}");
    let auroc = value(Metric::ScoreAuroc.name(), "scorer=\"eval_loss\",subset=\"noise_mask\"");
    assert!((0.5..=1.0).contains(&auroc), "{auroc}");
    // Histograms come with explicit buckets, not as summaries.
    let score_buckets = after.iter().filter(|(n, l, _)| n == "memscope_score_value_bucket" && l.contains("scorer=\"eval_loss\"")).count();
    assert_eq!(score_buckets, Metric::ScoreValue.buckets().unwrap().len() + 1, "explicit log buckets and +Inf");
    assert!(after.iter().any(|(n, _, _)| n == "memscope_epoch_duration_seconds_bucket"));
    // Labels stay within run, scorer, plugin, subset (build info aside).
    for (name, labels, _) in &after {
        if name == Metric::BuildInfo.name() {
            continue;
        }
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            let key = pair.split('=').next().unwrap();
            assert!(["run", "scorer", "plugin", "subset", "le"].contains(&key), "label `{key}` on {name}");
        }
    }
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_taken_metrics_port_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let job = write_job(dir.path(), &format!("name = \"x\"\n[data]\nformat = \"digits\"\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"));
    let err = memscope_tests::memscope(dir.path(), &["run", job.to_str().unwrap(), "--quiet"]).clean_failure();
    assert!(err.contains(&format!("metrics exporter on 127.0.0.1:{port}")), "{err}");
    assert!(!dir.path().join("runs/x").exists(), "nothing started");
}
