//! `memscope daemon` placing jobs on GPUs, as an operator of a 2-GPU server sees it.
//! This machine has no GPU: the daemon's inventory is a script that prints
//! nvidia-smi's CSV (`MEMSCOPE_NVIDIA_SMI`, for tests), and the jobs train on the CPU
//! while asking for a GPU (`--gpus 1`), so that they really run.

use memscope_tests::daemon::{children_of, Daemon};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

/// A digits job on the CPU, one thread, a checkpoint every epoch.
fn cpu_job(name: &str, arch: &str, epochs: usize) -> String {
    format!(
        "name = \"{name}\"\ndevice = \"cpu\"\nthreads = 1\n[data]\nformat = \"digits\"\n[model]\narch = \"{arch}\"\n\
         [train]\nepochs = {epochs}\n[checkpoint]\nevery = 1\n[score]\nbuiltin = [\"loss\"]\n"
    )
}

/// Writes `nvidia-smi` standing in for the real one: it checks the arguments the
/// daemon passes and prints `gpus.csv`, which the test may change between scrapes.
fn fake_nvidia_smi(dir: &Path, csv: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(dir.join("gpus.csv"), csv).unwrap();
    let script = dir.join("nvidia-smi");
    let text = "#!/bin/sh\n[ \"$*\" = \"--query-gpu=index,memory.used,memory.total --format=csv,noheader,nounits\" ] \
                || { echo \"unexpected arguments: $*\" >&2; exit 2; }\ncat \"$(dirname \"$0\")/gpus.csv\"\n";
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// `CUDA_VISIBLE_DEVICES` in the environment of the daemon's job process whose run
/// directory is `run` (`000001-a`): `None` when it is not set.
fn visible_devices_of(daemon: &Daemon, run: &str) -> Option<String> {
    let (pid, _) = children_of(daemon.pid())
        .into_iter()
        .find(|(_, command)| command.contains(run))
        .unwrap_or_else(|| panic!("no job process for {run}"));
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    environ.split(|b| *b == 0).find_map(|v| v.strip_prefix(b"CUDA_VISIBLE_DEVICES=")).map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The GPUS column of job `id` in `memscope jobs`.
fn gpus_column(jobs: &str, id: &str) -> String {
    let at = jobs.lines().next().unwrap().find("GPUS").expect("a GPUS column");
    let line = jobs.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("no job {id} in:\n{jobs}"));
    line[at..at + 6].trim().to_string()
}

#[test]
fn jobs_get_their_own_gpu_wait_for_a_free_one_and_impossible_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let smi = fake_nvidia_smi(dir.path(), "0, 1024, 81559\n1, 0, 81559\n");
    let settings = "gpus = \"auto\"\nmax_running_jobs = 3\n";
    let daemon = Daemon::start_with_env(dir.path(), settings, &[("MEMSCOPE_NVIDIA_SMI", smi.to_str().unwrap())]);
    assert!(daemon.log().contains("gpus = \"auto\": jobs are placed on GPU(s) [0, 1]"), "{}", daemon.log());
    for (file, text) in [("a.toml", cpu_job("a", "cnn", 500)), ("c.toml", cpu_job("c", "mlp", 2)), ("d.toml", cpu_job("d", "cnn", 500))] {
        std::fs::write(dir.path().join(file), text).unwrap();
    }

    // Two jobs asking for a GPU each run at once, each on its own.
    let a = daemon.cli(&["submit", "--gpus", "1", "a.toml"]).success().stdout().trim().to_string();
    let reply = daemon.post_with("/v1/jobs?gpus=1", &cpu_job("b", "cnn", 500), None);
    assert_eq!(reply.status, 201, "{}", reply.body);
    let b = reply.json()["id"].as_str().unwrap().to_string();
    let c = daemon.cli(&["submit", "--gpus", "1", "c.toml"]).success().stdout().trim().to_string();
    let running = |j: &serde_json::Value| j["state"] == "running";
    assert_eq!(daemon.wait_for(&a, MINUTE, running)["gpus"], serde_json::json!([0]));
    assert_eq!(daemon.wait_for(&b, MINUTE, running)["gpus"], serde_json::json!([1]));
    assert_eq!(visible_devices_of(&daemon, &format!("{a}-a")).as_deref(), Some("0"));
    assert_eq!(visible_devices_of(&daemon, &format!("{b}-b")).as_deref(), Some("1"));

    // The third waits for a GPU, though a job slot is free, and says so.
    let waiting = daemon.wait_for(&c, MINUTE, |j| j["message"].as_str().is_some_and(|m| m.starts_with("waiting")));
    assert_eq!((waiting["state"].as_str(), waiting["gpus_requested"].as_u64()), (Some("queued"), Some(1)));
    assert_eq!(waiting["message"], "waiting for 1 GPU(s): GPU(s) [0, 1] are in use");
    let jobs = daemon.cli(&["jobs"]).success().stdout();
    assert_eq!([gpus_column(&jobs, &a), gpus_column(&jobs, &b), gpus_column(&jobs, &c)], ["0", "1", "(1)"], "{jobs}");

    // Each GPU's memory, read from the inventory at each scrape.
    let metrics = daemon.get("/metrics").unwrap().body;
    assert!(metrics.contains(&format!("memscope_daemon_gpu_memory_used_bytes{{gpu=\"0\"}} {}", 1024u64 << 20)), "{metrics}");
    assert!(metrics.contains("memscope_daemon_gpu_memory_used_bytes{gpu=\"1\"} 0\n"), "{metrics}");
    assert!(metrics.contains(&format!("memscope_daemon_gpu_memory_total_bytes{{gpu=\"1\"}} {}", 81559u64 << 20)), "{metrics}");
    std::fs::write(dir.path().join("gpus.csv"), "0, 1024, 81559\n1, 30000, 81559\n").unwrap();
    let metrics = daemon.get("/metrics").unwrap().body;
    assert!(metrics.contains(&format!("memscope_daemon_gpu_memory_used_bytes{{gpu=\"1\"}} {}", 30000u64 << 20)), "{metrics}");

    // Requests the daemon cannot meet are refused at submission, naming the reason.
    let refused = |path: &str, job: &str| {
        let reply = daemon.post_with(path, job, None);
        assert_eq!(reply.status, 400, "{}", reply.body);
        let problem = &reply.json()["problems"][0];
        format!("{}: {}", problem["key"].as_str().unwrap(), problem["message"].as_str().unwrap())
    };
    assert_eq!(refused("/v1/jobs?gpus=3", &cpu_job("three", "mlp", 1)), "gpus: asks for 3 GPU(s); this daemon has 2 ([0, 1])");
    let on_one = refused("/v1/jobs", &cpu_job("on1", "mlp", 1).replace("\"cpu\"", "\"cuda:1\""));
    assert!(on_one.starts_with("device: `cuda:1`: under a daemon with `gpus`, a job names `cuda`"), "{on_one}");
    let cli = daemon.cli(&["submit", "--gpus", "3", "c.toml"]).clean_failure();
    assert!(cli.contains("400") && cli.contains("asks for 3 GPU(s); this daemon has 2"), "{cli}");
    assert_eq!(daemon.get("/v1/jobs").unwrap().json()["jobs"].as_array().unwrap().len(), 3, "nothing refused was queued");

    // A job that asks for no GPU sees none, and starts (a slot is free) behind the
    // one waiting for a GPU only once that one started: jobs start in their order.
    let d = daemon.cli(&["submit", "d.toml"]).success().stdout().trim().to_string();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(daemon.job(&d)["state"], "queued", "{}", daemon.job(&d));
    daemon.cli(&["cancel", &a]).success();
    assert_eq!(daemon.wait_done(&a, MINUTE)["state"], "cancelled");
    let done = daemon.wait_done(&c, MINUTE);
    assert_eq!((done["state"].as_str(), &done["gpus"]), (Some("completed"), &serde_json::json!([0])), "{done}");
    assert_eq!(daemon.wait_for(&d, MINUTE, running)["gpus"], serde_json::json!([]));
    assert_eq!(visible_devices_of(&daemon, &format!("{d}-d")).as_deref(), Some(""));
    for id in [&b, &d] {
        daemon.cli(&["cancel", id]).success();
        assert_eq!(daemon.wait_done(id, MINUTE)["state"], "cancelled");
    }
    let log = daemon.log();
    assert!(
        log.contains(&format!("job {a} (a) started on GPU(s) [0]")) && log.contains(&format!("job {c} (c) started on GPU(s) [0]")),
        "{log}"
    );
}

#[test]
fn without_gpus_or_without_nvidia_smi_no_job_gets_a_gpu() {
    let dir = tempfile::tempdir().unwrap();
    // No `gpus`: the daemon places nothing, as before, and says so to a request.
    let mut daemon = Daemon::start(dir.path(), "");
    let reply = daemon.post_with("/v1/jobs?gpus=1", &cpu_job("one", "mlp", 1), None);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        reply.json()["problems"][0]["message"],
        "asks for 1 GPU(s), but this daemon places no job on GPUs (its config has no `gpus`)"
    );
    assert!(!daemon.get("/metrics").unwrap().body.contains("gpu_memory"));
    daemon.kill();

    // `gpus = "auto"` on a machine without nvidia-smi: no GPU, said once in the log, and
    // a job with device = "cuda" is refused instead of waiting forever.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-nvidia-smi");
    let daemon = Daemon::start_with_env(dir.path(), "gpus = \"auto\"\n", &[("MEMSCOPE_NVIDIA_SMI", missing.to_str().unwrap())]);
    let reply = daemon.submit(&cpu_job("cuda", "mlp", 1).replace("\"cpu\"", "\"cuda\""));
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.json()["problems"][0]["message"], "asks for 1 GPU(s); this daemon has 0 ([])");
    let log = daemon.log();
    let said = format!("gpus = \"auto\": `{}` was not found (no NVIDIA GPUs on this machine)", missing.display());
    assert_eq!(log.matches(&said).count(), 1, "{log}");
    let state_log = std::fs::read_to_string(dir.path().join("state/daemon.log")).unwrap();
    assert_eq!(state_log.matches(&said).count(), 1, "the daemon's own log says it too:\n{state_log}");
    assert!(!daemon.get("/metrics").unwrap().body.contains("gpu_memory"));
}

#[test]
fn a_retried_submission_must_ask_for_the_same_gpus_as_its_first_copy() {
    let dir = tempfile::tempdir().unwrap();
    let smi = fake_nvidia_smi(dir.path(), "0, 0, 81559\n1, 0, 81559\n");
    // No job runs: the queue keeps them, as a busy server does.
    let daemon =
        Daemon::start_with_env(dir.path(), "gpus = \"auto\"\nmax_running_jobs = 0\n", &[("MEMSCOPE_NVIDIA_SMI", smi.to_str().unwrap())]);
    let post =
        |path: &str| daemon.raw("POST", path, &[("Content-Type", "application/toml"), ("Idempotency-Key", "k-1")], &cpu_job("a", "mlp", 1));

    let first = post("/v1/jobs?gpus=1");
    assert_eq!(first.status, 201, "{}", first.body);
    let again = post("/v1/jobs?gpus=1");
    assert_eq!((again.status, &again.json()["id"]), (200, &first.json()["id"]), "the same request: the same job");
    // The same body asking for no GPU is another request, not a retry of the first.
    let other = post("/v1/jobs?gpus=0");
    assert_eq!(other.status, 409, "{}", other.body);
    assert!(other.json()["error"].as_str().unwrap().contains("another request"), "{}", other.body);
    let other = post("/v1/jobs");
    assert_eq!(other.status, 409, "without `?gpus` too: {}", other.body);
    assert_eq!(daemon.get("/v1/jobs").unwrap().json()["jobs"].as_array().unwrap().len(), 1);
}

/// The processes on this machine whose command line mentions `needle`, with their
/// command lines.
fn processes_naming(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(command) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let command = String::from_utf8_lossy(&command).replace('\0', " ");
        if command.contains(needle) && !memscope_tests::daemon::has_ended(pid) {
            found.push((pid, command));
        }
    }
    found
}

/// `NAME=value` of process `pid`'s environment.
fn env_of(pid: u32, name: &str) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{name}=");
    environ.split(|b| *b == 0).find_map(|v| v.strip_prefix(prefix.as_bytes())).map(|v| String::from_utf8_lossy(v).into_owned())
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_job_on_two_gpus_runs_as_two_ranks_that_stop_resume_and_end_together() {
    let dir = tempfile::tempdir().unwrap();
    let smi = fake_nvidia_smi(dir.path(), "0, 0, 81559\n1, 0, 81559\n");
    let mut daemon =
        Daemon::start_with_env(dir.path(), "gpus = \"auto\"\nmax_running_jobs = 2\n", &[("MEMSCOPE_NVIDIA_SMI", smi.to_str().unwrap())]);
    std::fs::write(dir.path().join("pair.toml"), cpu_job("pair", "cnn", 500)).unwrap();
    std::fs::write(dir.path().join("short.toml"), cpu_job("short", "mlp", 2)).unwrap();

    // Asked for 2 GPUs, the job runs as 2 ranks of `memscope launch`, each seeing both.
    let pair = daemon.cli(&["submit", "--gpus", "2", "pair.toml"]).success().stdout().trim().to_string();
    let job = daemon.wait_for(&pair, MINUTE, |j| j["state"] == "running" && j["progress"]["checkpoint_epoch"].as_u64() >= Some(1));
    assert_eq!(job["gpus"], serde_json::json!([0, 1]));
    let run_dir = job["run_dir"].as_str().unwrap().to_string();
    let ranks = || processes_naming(&run_dir).into_iter().filter(|(_, c)| c.contains("memscope-engine")).collect::<Vec<_>>();
    let mut seen: Vec<(Option<String>, Option<String>)> =
        ranks().iter().map(|(pid, _)| (env_of(*pid, "RANK"), env_of(*pid, "CUDA_VISIBLE_DEVICES"))).collect();
    seen.sort();
    let both = Some("0,1".to_string());
    assert_eq!(seen, [(Some("0".into()), both.clone()), (Some("1".into()), both)], "{:?}", ranks());

    // The daemon killed outright takes every rank with it; started again, it resumes
    // the job from its checkpoint as 2 ranks again.
    daemon.kill();
    wait_until("the ranks to end with the daemon", Duration::from_secs(15), || processes_naming(&run_dir).is_empty());
    daemon.restart();
    let job = daemon.wait_for(&pair, MINUTE, |j| j["state"] == "running" && j["attempts"].as_u64() == Some(2));
    assert_eq!(job["gpus"], serde_json::json!([0, 1]));
    wait_until("2 resumed ranks", MINUTE, || ranks().len() == 2 && ranks().iter().all(|(_, c)| c.contains("--resume")));

    // Cancelled, the ranks stop together and the job is cancelled, not failed.
    daemon.cli(&["cancel", &pair]).success();
    assert_eq!(daemon.wait_done(&pair, MINUTE)["state"], "cancelled");
    wait_until("no process of the cancelled job", Duration::from_secs(15), || processes_naming(&run_dir).is_empty());

    // A short one on both GPUs completes, scoring every sample once.
    let short = daemon.cli(&["submit", "--gpus", "2", "short.toml"]).success().stdout().trim().to_string();
    let done = daemon.wait_done(&short, 2 * MINUTE);
    assert_eq!(done["state"], "completed", "{done}\n{}", daemon.log());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(done["run_dir"].as_str().unwrap()).join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["samples"], 1797, "{summary}");
    // The daemon follows rank 0's events alone: its step count is the group's, not
    // one per rank.
    let metrics = daemon.get("/metrics").unwrap().body;
    let run = format!("run=\"short-{short}\"");
    let steps = metrics
        .lines()
        .find(|l| l.starts_with("memscope_train_steps_total{") && l.contains(&run))
        .unwrap_or_else(|| panic!("no step count of {run}:\n{metrics}"));
    assert_eq!(steps.rsplit(' ').next().unwrap().parse::<u64>().unwrap(), summary["timings"]["dist"]["steps"].as_u64().unwrap(), "{steps}");
}
