//! One job's process: `memscope run` started by the daemon, reporting its events as
//! JSON lines on stdout and writing its log to the job's `log.txt`.
//!
//! Jobs run in child processes so that nothing a job or its plugins do (a panic, an
//! abort, a segfault in native code, running out of memory) can take the daemon or
//! other jobs down, and so that a job is stopped by a signal like any program.

use super::shared::Shared;
use memscope::actors::{EventProcessor, JobEvent};
use memscope::metrics::MetricsSink;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A started job process and the thread following its events.
pub struct JobProcess {
    /// The job's id.
    pub id: String,
    /// The process.
    pub child: Child,
    /// Reads the process's events until it exits.
    events: Option<JoinHandle<()>>,
    /// When SIGINT was sent (cancel or shutdown): it is killed after the grace period.
    pub interrupted_at: Option<std::time::Instant>,
}

impl JobProcess {
    /// Starts the job: resumes it when its run directory holds a started run
    /// (`config.toml`), else starts it fresh in that directory.
    pub fn start(shared: &Arc<Shared>, id: &str, run_dir: &Path, config: &Path, log: &Path, attempt: u32, run_label: String) -> std::io::Result<JobProcess> {
        let exe = std::env::current_exe()?;
        let mut command = Command::new(exe);
        let resume = run_dir.join("config.toml").is_file();
        if resume {
            command.arg("run").arg("--resume").arg(run_dir);
        } else {
            command.arg("run").arg(config).arg("--run-dir").arg(run_dir).arg("--force");
        }
        command.args(["--events-json", "--only-plugin-dirs"]);
        // The job checks every data file it opens against the roots, so a symlink
        // inside a root that points outside is refused when it is read.
        // Without roots nothing may be read: a root that does not exist matches no file.
        let roots = shared.settings().policy.data_roots;
        if roots.is_empty() {
            command.arg("--data-root").arg("/nonexistent-data-root");
        }
        for root in &roots {
            command.arg("--data-root").arg(root);
        }
        let mut log_file = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        writeln!(
            log_file,
            "--- memscope daemon: attempt {attempt}, {} at unix time {:.0} ---",
            if resume { "resuming from the last checkpoint" } else { "starting" },
            super::store::now()
        )?;
        command
            .env_remove("MEMSCOPE_PLUGIN_PATH")
            .env("MEMSCOPE_LOG", std::env::var("MEMSCOPE_JOB_LOG").unwrap_or_else(|_| "info".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent. The
        // job dies with the daemon (even on kill -9), so a restarted daemon never finds
        // an orphan still writing the run directory it resumes. The signal is tied to
        // the spawning thread, which is the runner thread that lives as long as the
        // daemon.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let recorder = shared.run_metrics.recorder(id).map_err(std::io::Error::other)?;
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (shared, job) = (shared.clone(), id.to_string());
        // The job's series go to its own registry (see `run_metrics`).
        let events = std::thread::Builder::new()
            .name(format!("memscope-job-{id}"))
            .spawn(move || metrics::with_local_recorder(&*recorder, || follow_events(stdout, &shared, &job, &run_label)))?;
        Ok(JobProcess { id: id.to_string(), child, events: Some(events), interrupted_at: None })
    }

    /// Asks the job to stop at its next training step (as Ctrl-C does).
    pub fn interrupt(&mut self) {
        if self.interrupted_at.is_none() {
            send_signal(&self.child, libc::SIGINT);
            self.interrupted_at = Some(std::time::Instant::now());
        }
    }

    /// Waits for the event thread after the process exited.
    pub fn join_events(&mut self) {
        if let Some(events) = self.events.take() {
            let _ = events.join();
        }
    }
}

fn send_signal(child: &Child, signal: libc::c_int) {
    // The child is not reaped until `try_wait` sees it exit, so its pid is still ours.
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Feeds the job's events into its live progress and the daemon's metrics.
fn follow_events(stdout: std::process::ChildStdout, shared: &Shared, id: &str, run_label: &str) {
    let mut sink = MetricsSink::new(run_label);
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str::<JobEvent>(&line) {
            Ok(event) => {
                shared.progress.lock().expect("progress lock").entry(id.to_string()).or_default().update(&event);
                sink.process(&event);
            }
            Err(e) => tracing::warn!("job {id}: unreadable event line ({e}): {}", line.chars().take(120).collect::<String>()),
        }
    }
}

/// The last `error: ...` line of a job's log, for its record.
pub fn last_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|l| l.strip_prefix("error: ")).map(str::to_string)
}
