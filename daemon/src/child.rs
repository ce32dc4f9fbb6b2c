//! One job's process: `memscope-engine run` started by the daemon, reporting its events
//! as JSON lines on stdout, its stderr copied into the job's log (`job_log.rs`).
//!
//! Jobs run in child processes so that nothing a job or its plugins do (a panic, an
//! abort, a segfault in native code, running out of memory) can take the daemon or
//! other jobs down, and so that a job is stopped by a signal like any program.

use super::job_log::{self, JobLog, MAX_LINE};
use super::shared::Shared;
use memscope_base::events::{EventProcessor, JobEvent};
use memscope_base::metrics::MetricsSink;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A started job process and the threads reading its output.
pub struct JobProcess {
    /// The job's id.
    pub id: String,
    /// The process.
    pub child: Child,
    /// Read the process's events and its stderr until it exits.
    readers: Vec<JoinHandle<()>>,
    /// When SIGINT was sent (cancel or shutdown): it is killed after the grace period.
    pub interrupted_at: Option<std::time::Instant>,
    /// The GPUs it was given (busy until it is reaped).
    pub gpus: Vec<u32>,
}

impl JobProcess {
    /// Starts the job: resumes it when its run directory holds a started run
    /// (`config.toml`), else starts it fresh in that directory. Under a daemon with
    /// `gpus`, `gpus` are the GPUs it may see (`CUDA_VISIBLE_DEVICES`, empty for none).
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        shared: &Arc<Shared>,
        id: &str,
        run_dir: &Path,
        config: &Path,
        log: &Path,
        attempt: u32,
        run_label: String,
        gpus: Option<&[u32]>,
    ) -> std::io::Result<JobProcess> {
        let settings = shared.settings();
        // Absolute: the process runs in another working directory (below).
        let (run_dir, config) = (std::path::absolute(run_dir)?, std::path::absolute(config)?);
        let ranks = gpus.map_or(0, <[u32]>::len);
        let mut command = if ranks > 1 {
            // A job on N GPUs runs as N ranks, one per GPU (each takes cuda:LOCAL_RANK
            // of those it sees), through `memscope launch` beside this daemon. Rank 0's
            // events alone are read: every rank's would count each epoch N times.
            let mut launch = Command::new(memscope_cli::front_end_path()?);
            launch.args(["launch", "--stdout-rank0-only", "--nproc", &ranks.to_string()]);
            launch
        } else {
            // The engine beside this daemon: the daemon itself links no libtorch.
            Command::new(memscope_cli::engine_path()?)
        };
        let resume = run_dir.join("config.toml").is_file();
        if resume {
            command.arg("run").arg("--resume").arg(&run_dir);
        } else {
            command.arg("run").arg(&config).arg("--run-dir").arg(&run_dir).arg("--force");
        }
        command.args(["--events-json", "--only-plugin-dirs"]);
        // The job checks every data file it opens against the roots, so a symlink
        // inside a root that points outside is refused when it is read.
        // Without roots nothing may be read: a root that does not exist matches no file.
        let roots = &settings.policy.data_roots;
        if roots.is_empty() {
            command.arg("--data-root").arg("/nonexistent-data-root");
        }
        for root in roots {
            command.arg("--data-root").arg(root);
        }
        let log = Arc::new(Mutex::new(JobLog::open(log, settings.config.job_log_max_bytes)?));
        let header = format!(
            "--- memscope daemon: attempt {attempt}, {} at unix time {:.0} ---\n",
            if resume { "resuming from the last checkpoint" } else { "starting" },
            super::store::now()
        );
        log.lock().expect("log lock").write(header.as_bytes())?;
        command
            .current_dir(working_dir(&settings.policy.base_dir(), &run_dir)?)
            .env_remove("MEMSCOPE_PLUGIN_PATH")
            .env("MEMSCOPE_LOG", std::env::var("MEMSCOPE_JOB_LOG").unwrap_or_else(|_| "info".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(gpus) = gpus {
            command.env("CUDA_VISIBLE_DEVICES", super::gpus::visible_devices(gpus));
        }
        // Its own process group: the signals that stop a job reach every process of it
        // (a launch's ranks too), and a Ctrl-C at the daemon's terminal reaches the
        // daemon alone, which stops its jobs itself.
        command.process_group(0);
        // The job dies with the daemon (even on kill -9), so a restarted daemon never
        // finds an orphan still writing the run directory it resumes. Spawned from the
        // runner thread, which lives as long as the daemon.
        memscope_cli::launch::die_with_parent(&mut command);
        let recorder = shared.run_metrics.recorder(id).map_err(std::io::Error::other)?;
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (shared, job) = (shared.clone(), id.to_string());
        let events_log = log.clone();
        // The job's series go to its own registry (see `run_metrics`).
        let events = std::thread::Builder::new()
            .name(format!("memscope-job-{id}"))
            .spawn(move || metrics::with_local_recorder(&*recorder, || follow_events(stdout, &shared, &job, &run_label, &events_log)))?;
        let job = id.to_string();
        let copier = std::thread::Builder::new().name(format!("memscope-log-{id}")).spawn(move || copy_log(stderr, &log, &job))?;
        let gpus = gpus.unwrap_or_default().to_vec();
        Ok(JobProcess { id: id.to_string(), child, readers: vec![events, copier], interrupted_at: None, gpus })
    }

    /// Asks the job to stop at its next training step (as Ctrl-C does): every process
    /// of it, a launch's ranks included, which cancel together.
    pub fn interrupt(&mut self) {
        if self.interrupted_at.is_none() {
            signal_group(&self.child, libc::SIGINT);
            self.interrupted_at = Some(std::time::Instant::now());
        }
    }

    /// Kills every process of the job (after it did not stop when asked).
    pub fn kill(&mut self) {
        signal_group(&self.child, libc::SIGKILL);
    }

    /// Waits for the event and log threads after the process exited.
    pub fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

/// Sends `signal` to the job's process group (its pid: `process_group(0)`).
fn signal_group(child: &Child, signal: libc::c_int) {
    // The child is not reaped until `try_wait` sees it exit, so its pid, which names
    // its group, is still ours.
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(-pid, signal);
    }
}

/// Where a job process runs: the first data root, against which the policy resolves
/// a submitted job's relative paths, so that a plugin setting naming a bare relative
/// file (`file = "ref"`) means the same file to the job; without one, the job's own
/// run directory (never the daemon's working directory, which lies outside the roots).
fn working_dir(base: &Path, run_dir: &Path) -> std::io::Result<PathBuf> {
    if base.is_dir() {
        return Ok(base.to_path_buf());
    }
    std::fs::create_dir_all(run_dir)?;
    Ok(run_dir.to_path_buf())
}

/// Feeds the job's events into its live progress and the daemon's metrics. A line
/// that is not an event (a plugin printing to stdout) goes to the job's log. Event
/// lines are read whole: a scorer's event holds a value per sample.
fn follow_events(stdout: std::process::ChildStdout, shared: &Shared, id: &str, run_label: &str, log: &Mutex<JobLog>) {
    let mut sink = MetricsSink::new(run_label);
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        match serde_json::from_slice::<JobEvent>(&line) {
            Ok(event) => {
                shared.progress.lock().expect("progress lock").entry(id.to_string()).or_default().update(&event);
                sink.process(&event);
            }
            Err(_) => line.chunks(MAX_LINE as usize).for_each(|piece| write_log(log, piece, id)),
        }
    }
}

/// Copies the job's stderr into its log, line by line (a line longer than
/// [`MAX_LINE`] in pieces).
fn copy_log(stderr: std::process::ChildStderr, log: &Mutex<JobLog>, id: &str) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => write_log(log, &line, id),
        }
    }
}

fn write_log(log: &Mutex<JobLog>, line: &[u8], id: &str) {
    if let Err(e) = log.lock().expect("log lock").write(line) {
        tracing::error!("job {id}: cannot write its log: {e}");
    }
}

/// The last `error: ...` line of a job's log, for its record (read from its end).
pub fn last_error(log: &Path) -> Option<String> {
    let tail = job_log::tail(log, 200).ok()?;
    let text = String::from_utf8_lossy(&tail);
    text.lines().rev().find_map(|l| l.strip_prefix("error: ")).map(str::to_string)
}
