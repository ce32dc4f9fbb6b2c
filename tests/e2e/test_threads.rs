//! A user's machine is rarely idle: with `threads = 0` (the default) a job trains on the
//! cores other processes leave free, measured before training and again as it goes, and
//! `summary.json` says which thread counts it used. A count the user set is kept.
//! (`make test` fixes `OMP_NUM_THREADS` for the other tests, which compare runs byte for
//! byte; these tests remove it.)

use memscope::threads::CpuReading;
use memscope_tests::{memscope_bin, read_summary, write_job};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The digits `cnn`, long enough on one core to outlast a change of load by seconds.
fn job(epochs: usize, threads: usize) -> String {
    format!("name = \"job\"\nseed = 0\nthreads = {threads}\n[data]\nformat = \"digits\"\n[train]\nepochs = {epochs}\n[score]\nbuiltin = [\"loss\"]\n")
}

/// Processes that keep a core busy each, as another user's jobs would: stopped on drop.
struct BusyCores(Vec<Child>);

impl BusyCores {
    fn start(count: usize) -> Self {
        Self((0..count).map(|_| Command::new("yes").stdout(Stdio::null()).spawn().expect("spawning yes")).collect())
    }
}

impl Drop for BusyCores {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How many cores other processes keep busy now, measured as a job measures them, over
/// half a second while this test waits: the checks that need an idle machine are made
/// only on one.
fn cores_busy_now() -> f64 {
    let before = CpuReading::now().expect("Linux has /proc/stat");
    std::thread::sleep(std::time::Duration::from_millis(500));
    CpuReading::now().unwrap().others_busy_since(&before).unwrap()
}

/// Whether the machine is idle enough to expect every core free; says so when not.
fn machine_is_idle() -> bool {
    let busy = cores_busy_now();
    if busy > 0.3 {
        eprintln!("the machine keeps {busy:.1} cores busy besides this test: what needs an idle machine is not checked");
    }
    busy <= 0.3
}

fn cores() -> usize {
    std::thread::available_parallelism().unwrap().get()
}

/// `memscope run` with the environment as a user's shell has it (no `OMP_NUM_THREADS`
/// unless `omp` gives one): the run's `summary.json` `threads`.
fn threads_used(dir: &Path, text: &str, omp: Option<&str>) -> Vec<u64> {
    let job = write_job(dir, text);
    let mut command = Command::new(memscope_bin());
    command.args(["run", job.to_str().unwrap(), "--out", "runs", "--force", "--quiet"]).current_dir(dir).env("MEMSCOPE_LOG", "warn");
    match omp {
        Some(n) => command.env("OMP_NUM_THREADS", n),
        None => command.env_remove("OMP_NUM_THREADS"),
    };
    let output = command.output().unwrap();
    assert!(output.status.success(), "memscope failed:\n{}", String::from_utf8_lossy(&output.stderr));
    as_counts(&read_summary(&dir.join("runs/job"))["threads"])
}

fn as_counts(value: &Value) -> Vec<u64> {
    value.as_array().unwrap_or_else(|| panic!("summary.json threads is not a list: {value}")).iter().map(|v| v.as_u64().unwrap()).collect()
}

#[test]
fn a_job_leaves_the_cores_that_other_processes_keep_busy_to_them() {
    let dir = tempfile::tempdir().unwrap();
    let busy = {
        let _others = BusyCores::start(cores());
        threads_used(dir.path(), &job(2, 0), None)
    };
    assert_eq!(busy, [1], "every core was busy: one thread is left");
    if cores() > 1 && machine_is_idle() {
        let idle = threads_used(dir.path(), &job(2, 0), None);
        assert!(idle[0] > 1, "on an idle machine of {} cores the job trained on {idle:?} threads", cores());
    }
}

#[test]
fn a_job_takes_the_cores_back_once_the_other_processes_end() {
    if cores() < 2 || !machine_is_idle() {
        return; // one core, or others keep cores busy: nothing would be given back
    }
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), &job(40, 0));
    let others = BusyCores::start(cores());
    let mut run = Command::new(memscope_bin())
        .args(["run", job.to_str().unwrap(), "--out", "runs", "--force", "--quiet", "--events-json"])
        .current_dir(dir.path())
        .env("MEMSCOPE_LOG", "warn")
        .env_remove("OMP_NUM_THREADS")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The busy processes end once the job has trained its first epoch on one thread.
    let mut others = Some(others);
    for line in BufReader::new(run.stdout.take().unwrap()).lines() {
        let event: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if event["event"] == "train_epoch_end" {
            others = None;
        }
    }
    drop(others);
    assert!(run.wait().unwrap().success());
    let used = as_counts(&read_summary(&dir.path().join("runs/job"))["threads"]);
    assert_eq!(used.first(), Some(&1), "it started beside busy cores: {used:?}");
    assert!(used.last().unwrap() > &1, "the cores became free for the last 39 epochs, the job kept {used:?}");
}

#[test]
fn a_thread_count_the_user_set_is_kept_however_busy_the_machine() {
    if cores() < 2 {
        return; // one core: one thread either way
    }
    let dir = tempfile::tempdir().unwrap();
    let _others = BusyCores::start(cores());
    assert_eq!(threads_used(dir.path(), &job(1, 2), None), [2], "threads = 2 in the job");
    // libtorch's default follows OMP_NUM_THREADS: the job does not adapt it.
    assert_eq!(threads_used(dir.path(), &job(1, 0), Some("2")), [2], "OMP_NUM_THREADS=2");
}
