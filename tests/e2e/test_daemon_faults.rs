//! `memscope daemon` under faults from its surroundings: nobody reading its stderr, its
//! port taken by another program.

use memscope_tests::daemon::Daemon;
use memscope_tests::memscope_bin;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MINUTE: Duration = Duration::from_secs(60);

/// A one-epoch digits mlp job.
fn quick_job(name: &str) -> String {
    format!("name = \"{name}\"\nthreads = 1\n[data]\nformat = \"digits\"\n[model]\narch = \"mlp\"\n[train]\nepochs = 1\n")
}

#[test]
fn a_daemon_whose_stderr_reader_is_gone_keeps_serving_and_logs_to_its_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::configure(dir.path(), "", &[]);
    // As `memscope daemon 2> fifo` whose reader then ends: every write to stderr now
    // fails with EPIPE.
    let reader = daemon.spawn(Stdio::piped()).expect("stderr is piped");
    drop(reader);

    // Submissions log on the server's workers, starts and ends on the runner thread.
    let ids: Vec<String> = (0..3).map(|i| daemon.submit_ok(&quick_job(&format!("q{i}")))).collect();
    for id in &ids {
        assert_eq!(daemon.wait_done(id, MINUTE)["state"], "completed");
    }
    let jobs = daemon.get("/v1/jobs").unwrap();
    assert_eq!(jobs.status, 200, "{}", jobs.body);
    assert_eq!(jobs.json()["jobs"].as_array().unwrap().len(), 3);

    let log = std::fs::read_to_string(dir.path().join("state/daemon.log")).unwrap();
    for id in &ids {
        assert!(log.contains(&format!("job {id} (q")) && log.contains("completed"), "{log}");
    }
    let status = daemon.terminate(Duration::from_secs(30));
    assert!(status.success(), "SIGTERM should end the daemon with 0, got {status}");
    let log = std::fs::read_to_string(dir.path().join("state/daemon.log")).unwrap();
    assert!(log.contains("stopping: no new jobs"), "{log}");
}

#[test]
fn a_port_in_use_is_a_clear_error_before_the_state_is_touched_or_a_job_started() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path(), "max_running_jobs = 0\n");
    let id = daemon.submit_ok(&quick_job("waiting"));
    assert!(daemon.terminate(MINUTE).success());

    // The same state with a job slot, on a port another program holds.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap();
    let config = dir.path().join("daemon.toml");
    std::fs::write(&config, format!("listen = \"{addr}\"\nstate_dir = \"state\"\n")).unwrap();
    let mut child = Command::new(memscope_bin())
        .args(["daemon", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon neither served nor exited on a port in use");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("error: cannot listen on {addr}")) && err.contains("in use"), "{err}");

    // Nothing ran: the job is still queued, never attempted, and has no run directory.
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(format!("state/jobs/{id}/record.json"))).unwrap()).unwrap();
    assert_eq!((record["state"].as_str(), record["attempts"].as_u64()), (Some("queued"), Some(0)), "{record}");
    assert!(!dir.path().join(format!("state/runs/{id}-waiting")).exists());
}
