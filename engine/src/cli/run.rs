//! `memscope run`: validate the config, run the job through the library's
//! [`memscope::Job`] builder, print where the results are.
//!
//! Under a launcher (`torchrun --no-python`, Slurm, a `PyTorchJob`, with a
//! `WORLD_SIZE` above one) each process is one rank of a data-parallel job. Rank 0
//! does everything a single process does (run directory, metrics, report, the printed
//! results); the other ranks train their shards in memory and print only their errors
//! (or, with `--events-json`, their events). Restarted with `CONFIG --resume` (every
//! rank the same argv), rank 0 resumes from its run directory and sends the
//! checkpoint to the others.

use super::progress::Progress;
use super::RunArgs;
use anyhow::Context;
use memscope::actors::EventProcessor;
use memscope::config::{load_job_file, DeviceChoice};
use memscope::data::Access;
use memscope::dist::Launch;
use memscope::metrics::MetricsSink;
use memscope::Job;
use memscope_prometheus::install_exporter;

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let launch = Launch::from_env()?;
    let rank = launch.as_ref().map_or(0, |l| l.rank);
    let (config, run_dir, resume) = match (&args.resume, &args.config) {
        (Some(Some(dir)), None) => {
            if args.run_dir.is_some() {
                anyhow::bail!("--resume RUN_DIR names the run directory: drop --run-dir, or give CONFIG --run-dir DIR --resume");
            }
            let config = load_job_file(&dir.join("config.toml"), &args.overrides).with_context(|| match rank {
                0 => format!("cannot resume {}", dir.display()),
                // Only rank 0 needs the run directory when every rank is given the job's config.
                r => format!("rank {r} cannot resume {} (without the run directory on this machine, restart every rank with `memscope run CONFIG --resume`)", dir.display()),
            })?;
            (config, dir.clone(), true)
        }
        (Some(Some(dir)), Some(config)) => anyhow::bail!(
            "give either `--resume {}` (the run's own config) or `{} --resume` (the run directory CONFIG names), not both",
            dir.display(),
            config.display()
        ),
        (resume, Some(path)) => {
            let config = load_job_file(path, &args.overrides)?;
            let dir = args.run_dir.clone().unwrap_or_else(|| args.out.join(&config.name));
            // An earlier attempt's run has its config written first. Only rank 0 has the
            // run directory; the others follow rank 0's reading of it.
            let unfinished = args.resume_or_start && dir.join("config.toml").exists();
            if unfinished && rank == 0 {
                tracing::info!("{} holds an earlier attempt of this run: resuming it", dir.display());
            }
            (config, dir, resume.is_some() || unfinished)
        }
        (_, None) => anyhow::bail!("--resume without RUN_DIR needs the job's CONFIG (`memscope run CONFIG --resume`)"),
    };
    let linger = config.metrics.linger_seconds;
    // One exporter for the whole job: the others would contend for its address.
    let listen = config.metrics.listen.as_ref().filter(|_| rank == 0);
    if let Some(listen) = listen {
        let addr = listen.parse().expect("validate() checked the address");
        let device = match config.device {
            DeviceChoice::Auto if tch::Cuda::is_available() => "cuda:0".to_string(),
            DeviceChoice::Auto => "cpu".to_string(),
            ref other => other.to_string(),
        };
        install_exporter(addr, &device, memscope_sdk::TORCH_VERSION)?;
        tracing::info!("serving metrics on http://{addr}/metrics");
    }
    let metrics_on = listen.is_some();
    let write_report = config.report.enabled && !args.no_report && rank == 0;
    let run_name = config.name.clone();
    // The daemon names its data roots; a job run by hand reads any file.
    let data_access = if args.data_roots.is_empty() { Access::Anything } else { Access::inside(&args.data_roots) };
    let events_json = args.events_json;
    let mut job = Job::new(config)
        .run_dir((rank == 0).then(|| run_dir.clone()))
        .launch(launch)
        .resume(resume)
        .overwrite(args.force)
        .only_configured_plugin_dirs(args.only_plugin_dirs)
        .data_access(data_access.clone())
        // A daemon's job (`--events-json`) logs its epoch and scoring lines to stderr,
        // the job's log; its stdout carries the events.
        .processor(Box::new(Progress::new(args.quiet || rank > 0)));
    // Rank 0 speaks for a group (`memscope launch` under a daemon): the ranks share
    // one stdout, and every rank's events would count each epoch once per rank.
    if events_json && rank == 0 {
        job = job.processor(Box::new(JsonEvents));
    }
    if metrics_on {
        job = job.processor(Box::new(MetricsSink::new(&run_name)));
    }
    let handle = job.spawn()?;
    let canceller = handle.canceller();
    // Ctrl-C (and the daemon's SIGINT) stops the job at its next step; a second one
    // ends the process. The watcher is never joined: it ends with the process.
    std::thread::Builder::new().name("memscope-signals".into()).spawn(move || {
        actix_rt::System::new().block_on(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::warn!("interrupted: stopping at the next step (Ctrl-C again to abort)");
                canceller.cancel();
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        })
    })?;
    let outcome = handle.join();
    if metrics_on && linger > 0 {
        tracing::info!("job ended; serving metrics for {linger} more seconds");
        std::thread::sleep(std::time::Duration::from_secs(linger));
    }
    let outcome = outcome?;
    if rank > 0 {
        return Ok(());
    }
    let run_dir = outcome.run_dir.clone().expect("a job given a run directory writes it");

    let s = &outcome.summary;
    let test = s.test_accuracy.map(|a| format!(", test accuracy {a:.4}")).unwrap_or_default();
    // With --events-json, stdout carries only events: the verdict goes to the log.
    let say = |line: String| if events_json { eprintln!("{line}") } else { println!("{line}") };
    if !args.quiet {
        say(format!(
            "{}: {} epochs on {} samples, train accuracy {:.4}{test}, {:.0} samples/s",
            s.name, s.epochs, s.samples, s.train_accuracy, s.timings.train_samples_per_second
        ));
        for score in &s.scores {
            let file = score.file.as_deref().unwrap_or_default();
            say(format!("  score {:<10} {}", score.name, run_dir.join(file).display()));
        }
        let costly: Vec<String> =
            s.timings.plugins.iter().filter(|p| p.seconds >= 0.05).map(|p| format!("{} {:.1} s", p.plugin, p.seconds)).collect();
        if !costly.is_empty() {
            say(format!("  plugin time      {}", costly.join(", ")));
        }
        if let Some(c) = &s.corrections {
            say(format!(
                "  corrections      {} relabelled, {} excluded, {} kept as they were, from {}",
                c.relabelled, c.excluded, c.kept, c.file
            ));
        }
        say(format!("  time             {}", times_line(&s.timings)));
        say(format!("  summary          {}", run_dir.join("summary.json").display()));
    }
    // The comparisons are the job's verdict: shown even with --quiet, and before the
    // report, so that a failing report does not hide them.
    for c in &s.comparisons {
        say(comparison_line(c));
    }
    for ranking in s.rankings.iter().filter(|r| r.rows.len() > 1) {
        for line in ranking_lines(ranking) {
            say(line);
        }
    }
    if let Some(issues) = &s.label_issues {
        let file = issues.file.as_deref().map(|f| run_dir.join(f).display().to_string()).unwrap_or_default();
        say(format!("label issues: {} flagged by confident learning over {}: {file}", issues.flagged, issues.span()));
    }
    if write_report {
        super::report::write_run_report(&run_dir, data_access, args.quiet, events_json)?;
    }
    Ok(())
}

/// `data 2.1 s (decoded 3000 images), train 40.3 s, score 72.9 s, total 117.0 s`:
/// where the run's time went (scoring overlaps training on a GPU).
fn times_line(t: &memscope::run::Timings) -> String {
    let decoded = match t.decoded_images {
        0 => String::new(),
        n => format!(" (decoded {n} images)"),
    };
    format!(
        "data {:.1} s{decoded}, train {:.1} s, score {:.1} s, total {:.1} s",
        t.data_seconds, t.train_seconds, t.score_seconds, t.total_seconds
    )
}

/// Writes each job event as one JSON line on stdout (`--events-json`): how the
/// daemon follows the jobs it runs.
struct JsonEvents;

impl EventProcessor for JsonEvents {
    fn process(&mut self, event: &memscope::actors::JobEvent) {
        use std::io::Write;
        let line = serde_json::to_string(event).expect("events serialize");
        let mut out = std::io::stdout().lock();
        // A closed stdout (the daemon went away) must not stop the job.
        let _ = writeln!(out, "{line}").and_then(|_| out.flush());
    }
}

/// A ranking as an aligned table:
///
/// ```text
/// scores against noise_mask, best first:
///   1  margin      AUROC 0.9989  AP 0.9924  P@noisy 0.9660
///   2  curvature   AUROC 0.9968  AP 0.9679  P@noisy 0.9290
/// ```
fn ranking_lines(ranking: &memscope::run::ScoreRanking) -> Vec<String> {
    let width = ranking.rows.iter().map(|r| r.score.len()).max().unwrap_or(0);
    let mut lines = vec![format!("scores against {}, best first:", ranking.against)];
    for row in &ranking.rows {
        let values: Vec<String> = ranking
            .measures
            .iter()
            .map(|m| match row.values.get(m) {
                Some(v) => format!("{} {v:.4}", memscope::run::measure_label(m)),
                None => format!("{} -", memscope::run::measure_label(m)),
            })
            .collect();
        lines.push(format!("  {:>2}  {:<width$}  {}", row.rank, row.score, values.join("  ")));
    }
    lines
}

/// `curvature vs noise_mask: AUROC 0.9931, AP 0.9342, ...` with the headline measures
/// first and every other measure after them.
fn comparison_line(c: &memscope::run::Comparison) -> String {
    const HEADLINE: [&str; 5] = ["auroc", "average_precision", "spearman", "pearson", "cosine"];
    let mut parts: Vec<String> =
        HEADLINE.iter().filter_map(|key| c.metrics.get(*key).map(|v| format!("{} {v:.4}", memscope::run::measure_label(key)))).collect();
    parts.extend(c.metrics.iter().filter(|(k, _)| !HEADLINE.contains(&k.as_str())).map(|(k, v)| format!("{k} {v:.4}")));
    format!("{} vs {}: {}", c.score, c.against, parts.join(", "))
}
