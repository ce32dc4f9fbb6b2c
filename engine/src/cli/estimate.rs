//! `memscope estimate memorization`: Feldman & Zhang's estimate from K trainings of the
//! job's model on seeded subsets (`memscope::estimate`), each model an ordinary job run
//! through an engine that exists:
//!
//! - here: every model not finished, `--parallel N` processes at a time (each a
//!   `memscope-engine run MODEL.toml --resume-or-start`, so an interrupted model
//!   resumes), then the aggregate;
//! - one model (`--index I`, or `SLURM_ARRAY_TASK_ID`, or `JOB_COMPLETION_INDEX`): one
//!   task of a Slurm array or a Kubernetes Indexed Job;
//! - `--submit`: each model to the daemon's queue;
//! - `--aggregate`: only the aggregate, over whichever models finished.

use anyhow::Context;
use memscope::config::load_job_file;
use memscope::estimate::{read_model, write_estimate, EstimatePlan, EstimateSummary, ModelStatus, SubmittedModel};
use memscope_cli::{EstimateCommand, MemorizationArgs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The variables array schedulers set to a task's index, in the order they are read.
const INDEX_VARIABLES: [&str; 2] = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"];

pub fn estimate(command: EstimateCommand) -> anyhow::Result<()> {
    match command {
        EstimateCommand::Memorization(args) => memorization(args),
    }
}

fn memorization(args: MemorizationArgs) -> anyhow::Result<()> {
    let job = load_job_file(&args.config, &args.overrides)?;
    let dir = args.dir.clone().unwrap_or_else(|| args.out.join(format!("{}-memorization", job.name)));
    let plan = EstimatePlan::new(job, args.models, args.subset, dir)?;
    plan.write_model_configs()?;
    let say = |line: String| {
        if !args.quiet {
            eprintln!("{line}");
        }
    };
    if let Some((k, from)) = task_index(args.index)? {
        if k >= plan.models() {
            anyhow::bail!("{from} is {k}, but the estimate has models 0..{} (--models {})", plan.models() - 1, plan.models());
        }
        let statuses = plan.statuses()?;
        if let ModelStatus::Finished(dir) = &statuses[k] {
            say(format!("model {k} has finished already ({})", dir.display()));
            return Ok(());
        }
        let threads = args.threads.map_or_else(cores, usize::from);
        let failed = Runner::new(&plan, 1, threads, args.quiet).run(&[k])?;
        if let Some((k, why)) = failed.first() {
            anyhow::bail!("model {k} failed: {why}");
        }
        say(format!("aggregate the finished models with `memscope estimate memorization {} --models {} --subset {} --aggregate` (same --dir/--out/--set)", args.config.display(), plan.models(), plan.fraction()));
        return Ok(());
    }
    if args.submit {
        return submit(&plan, &args);
    }
    let mut failed = Vec::new();
    if !args.aggregate {
        let statuses = plan.statuses()?;
        let todo: Vec<usize> = statuses
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s, ModelStatus::NotStarted | ModelStatus::Unfinished(_)))
            .map(|(k, _)| k)
            .collect();
        let queued = statuses.iter().filter(|s| matches!(s, ModelStatus::Submitted(_))).count();
        let done = statuses.iter().filter(|s| matches!(s, ModelStatus::Finished(_))).count();
        if queued > 0 {
            say(format!("{queued} models are with the daemon (daemon_jobs.json): not run here"));
        }
        let parallel = usize::from(args.parallel);
        let threads = args.threads.map_or_else(|| (cores() / parallel).max(1), usize::from);
        say(format!(
            "{done} of {} models finished; training {} ({parallel} at a time, {threads} thread{} each) in {}",
            plan.models(),
            todo.len(),
            if threads == 1 { "" } else { "s" },
            plan.dir().display()
        ));
        failed = Runner::new(&plan, parallel, threads, args.quiet).run(&todo)?;
    }
    let summary = aggregate(&plan)?;
    println!("{}", summary_line(&summary, plan.dir()));
    if !failed.is_empty() {
        let list: Vec<String> = failed.iter().map(|(k, why)| format!("model {k}: {why}")).collect();
        anyhow::bail!(
            "{} models failed (the estimate holds the others; run the command again to retry them): {}",
            failed.len(),
            list.join("; ")
        );
    }
    Ok(())
}

/// The model this process is asked to train alone: `--index`, else an array
/// scheduler's variable. An unreadable variable is an error naming it.
fn task_index(flag: Option<usize>) -> anyhow::Result<Option<(usize, String)>> {
    if let Some(k) = flag {
        return Ok(Some((k, "--index".into())));
    }
    for name in INDEX_VARIABLES {
        if let Ok(value) = std::env::var(name) {
            let k = value.trim().parse::<usize>().with_context(|| format!("{name}={value:?} is not a model index"))?;
            return Ok(Some((k, name.to_string())));
        }
    }
    Ok(None)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Reads every finished model and writes the estimate.
fn aggregate(plan: &EstimatePlan) -> anyhow::Result<EstimateSummary> {
    let mut finished = Vec::new();
    for (k, status) in plan.statuses()?.into_iter().enumerate() {
        if let ModelStatus::Finished(dir) = status {
            finished.push(read_model(plan, k, &dir)?);
        }
    }
    Ok(write_estimate(plan, &finished)?)
}

fn summary_line(s: &EstimateSummary, dir: &Path) -> String {
    let undefined = match s.undefined_samples {
        0 => String::new(),
        u => format!(", {u} samples undefined (never in or never out: NaN)"),
    };
    format!(
        "memorization of {} ({} samples) from {} of {} models on {} % subsets: mean {:.4}, mean standard error {:.4}, every sample in at least {} and out of at least {} models{undefined}; models' held-out accuracy {:.4}\n  estimate {}",
        s.job,
        s.samples,
        s.finished,
        s.models,
        s.subset * 100.0,
        s.mean_mem,
        s.mean_se,
        s.min_in,
        s.min_out,
        s.held_out_accuracy,
        dir.join("mem.npy").display()
    )
}

/// Sends every model neither finished nor submitted to the daemon and records each.
fn submit(plan: &EstimatePlan, args: &MemorizationArgs) -> anyhow::Result<()> {
    let statuses = plan.statuses()?;
    let mut sent = 0;
    for (k, status) in statuses.iter().enumerate() {
        match status {
            ModelStatus::NotStarted => {}
            ModelStatus::Unfinished(dir) => {
                eprintln!(
                    "model {k} started here ({}): resume it here (run this command without --submit), not on the daemon",
                    dir.display()
                );
                continue;
            }
            _ => continue,
        }
        let path = plan.model_config_path(k);
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let job = memscope_cli::client::submit_text(&args.server, text, None).with_context(|| format!("submitting model {k}"))?;
        plan.record_submitted(k, SubmittedModel { id: job.id.clone(), run_dir: job.run_dir })?;
        sent += 1;
    }
    println!("submitted {sent} models (daemon_jobs.json in {}); when they have finished: memscope estimate memorization {} --models {} --subset {} --aggregate", plan.dir().display(), args.config.display(), plan.models(), plan.fraction());
    Ok(())
}

/// Runs models as child processes of this engine, N at a time.
struct Runner<'a> {
    plan: &'a EstimatePlan,
    parallel: usize,
    threads: usize,
    quiet: bool,
    stop: Arc<AtomicBool>,
}

impl<'a> Runner<'a> {
    fn new(plan: &'a EstimatePlan, parallel: usize, threads: usize, quiet: bool) -> Self {
        Runner { plan, parallel, threads, quiet, stop: Arc::new(AtomicBool::new(false)) }
    }

    /// Trains `models`; returns the ones that failed, with why. Ctrl-C reaches the
    /// children too (one process group): each checkpoints and stops, and this returns
    /// an error once they have, so that the same command resumes them.
    fn run(&self, models: &[usize]) -> anyhow::Result<Vec<(usize, String)>> {
        self.watch_ctrl_c()?;
        let exe = std::env::current_exe().context("cannot find this executable")?;
        let mut pending = models.iter().copied();
        let mut running: Vec<(usize, Child, Instant)> = Vec::new();
        let mut failed = Vec::new();
        let mut done = 0;
        loop {
            while running.len() < self.parallel && !self.stop.load(Ordering::Relaxed) {
                let Some(k) = pending.next() else { break };
                running.push((k, self.start(&exe, k)?, Instant::now()));
            }
            if running.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            let mut i = 0;
            while i < running.len() {
                let Some(status) = running[i].1.try_wait()? else {
                    i += 1;
                    continue;
                };
                let (k, _, started) = running.swap_remove(i);
                done += 1;
                match self.outcome(k, status) {
                    Ok(()) if !self.quiet => {
                        eprintln!("model {k}: finished in {:.1} s ({done} of {})", started.elapsed().as_secs_f64(), models.len())
                    }
                    Ok(()) => {}
                    Err(why) => failed.push((k, why)),
                }
            }
        }
        if self.stop.load(Ordering::Relaxed) {
            anyhow::bail!("interrupted: the models in training wrote checkpoints; run the same command to continue");
        }
        Ok(failed)
    }

    fn start(&self, exe: &Path, k: usize) -> anyhow::Result<Child> {
        let log = self.log(k);
        let file =
            std::fs::OpenOptions::new().create(true).append(true).open(&log).with_context(|| format!("cannot open {}", log.display()))?;
        Command::new(exe)
            .arg("run")
            .arg(self.plan.model_config_path(k))
            .arg("--run-dir")
            .arg(self.plan.model_run_dir(k))
            .args(["--resume-or-start", "--quiet", "--no-report", "--set", &format!("threads={}", self.threads)])
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start model {k} ({})", exe.display()))
    }

    /// A model's exit: `Ok` when it finished, else why not (its log's last line).
    fn outcome(&self, k: usize, status: ExitStatus) -> Result<(), String> {
        if status.success() && self.plan.model_run_dir(k).join("summary.json").exists() {
            return Ok(());
        }
        if status.code() == Some(130) {
            self.stop.store(true, Ordering::Relaxed);
        }
        let log = self.log(k);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
        Err(format!("{status}: {last} (log: {})", log.display()))
    }

    fn log(&self, k: usize) -> PathBuf {
        self.plan.model_run_dir(k).with_extension("log")
    }

    /// Ctrl-C: start no more models. The signal reaches the children, which stop by
    /// themselves; a second Ctrl-C ends this process.
    fn watch_ctrl_c(&self) -> anyhow::Result<()> {
        let stop = self.stop.clone();
        std::thread::Builder::new().name("memscope-signals".into()).spawn(move || {
            actix_rt::System::new().block_on(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!("interrupted: the models in training checkpoint and stop (Ctrl-C again to abort)");
                    stop.store(true, Ordering::Relaxed);
                    if tokio::signal::ctrl_c().await.is_ok() {
                        std::process::exit(130);
                    }
                }
            })
        })?;
        Ok(())
    }
}
