//! `memscope daemon` under faults from its surroundings: nobody reading its stderr, its
//! port taken by another program, huge job logs.

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

#[test]
fn damaged_job_records_are_set_aside_as_broken_and_the_other_jobs_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path(), "max_running_jobs = 0\n");
    let ids: Vec<String> = ["good", "corrupt", "empty", "missing", "moved"].iter().map(|n| daemon.submit_ok(&quick_job(n))).collect();
    assert!(daemon.terminate(MINUTE).success());

    let jobs = dir.path().join("state/jobs");
    let record = |id: &str| jobs.join(id).join("record.json");
    std::fs::write(record(&ids[1]), "{\"id\": \"000002\", \"name\": ").unwrap();
    std::fs::write(record(&ids[2]), "").unwrap();
    std::fs::remove_file(record(&ids[3])).unwrap();
    std::fs::copy(record(&ids[0]), record(&ids[4])).unwrap();
    let config = dir.path().join("daemon.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace("max_running_jobs = 0\n", "");
    std::fs::write(&config, text).unwrap();

    daemon.restart();
    assert_eq!(daemon.wait_done(&ids[0], MINUTE)["state"], "completed", "the intact job runs");
    let listed = daemon.get("/v1/jobs").unwrap().json();
    let states: Vec<(&str, &str)> =
        listed["jobs"].as_array().unwrap().iter().map(|j| (j["name"].as_str().unwrap(), j["state"].as_str().unwrap())).collect();
    assert_eq!(states, [("good", "completed"), ("corrupt", "broken"), ("empty", "broken"), ("missing", "broken"), ("moved", "broken")]);
    let why = |i: usize| daemon.job(&ids[i])["message"].as_str().unwrap().to_string();
    assert!(why(1).contains("record.json: EOF while parsing"), "{}", why(1));
    assert!(why(2).ends_with("record.json is empty"), "{}", why(2));
    assert!(why(3).contains("record.json: No such file"), "{}", why(3));
    assert!(why(4).contains("names job `000001`, but its directory is job `000005`"), "{}", why(4));

    let table = daemon.cli(&["jobs"]).success().stdout();
    assert!(table.lines().any(|l| l.starts_with(&ids[2]) && l.contains("broken") && l.contains("is empty")), "{table}");
    // A broken job is not retried or cancelled: its record needs a person.
    let retry = daemon.cli(&["retry", &ids[2]]).clean_failure();
    assert!(retry.contains("409") && retry.contains("broken"), "{retry}");
    assert_eq!(daemon.delete(&format!("/v1/jobs/{}", ids[2])).status, 409);
    assert!(daemon.log().contains(&format!("job {} set aside as broken", ids[2])), "{}", daemon.log());
}

#[test]
fn failed_and_cancelled_jobs_can_be_retried() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/bad.npz"), b"not an npz file").unwrap();
    let daemon = Daemon::start(dir.path(), "data_roots = [\"data\"]\n");
    let fails = daemon.submit_ok("name = \"bad\"\n[data]\nformat = \"npz\"\npath = \"bad.npz\"\n");
    let failed = daemon.wait_done(&fails, MINUTE);
    assert_eq!((failed["state"].as_str(), failed["attempts"].as_u64()), (Some("failed"), Some(1)), "{failed}");

    let said = daemon.cli(&["retry", &fails]).success().stdout();
    assert!(said.contains("queued again by a retry (it was failed)"), "{said}");
    let again = daemon.wait_for(&fails, MINUTE, |j| j["state"] == "failed" && j["attempts"] == 2);
    assert!(again["message"].as_str().unwrap().contains("bad.npz"), "{again}");

    // Cancelled while queued, retried, then it runs to the end.
    let long = daemon.submit_ok("name = \"long\"\nthreads = 1\n[data]\nformat = \"digits\"\n[train]\nepochs = 500\n");
    let quick = daemon.submit_ok(&quick_job("quick"));
    assert_eq!(daemon.delete(&format!("/v1/jobs/{quick}")).json()["state"], "cancelled");
    let reply = daemon.raw("POST", &format!("/v1/jobs/{quick}/retry"), &[], "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["state"], "queued");
    daemon.delete(&format!("/v1/jobs/{long}"));
    assert_eq!(daemon.wait_done(&quick, MINUTE)["state"], "completed");

    let done = daemon.raw("POST", &format!("/v1/jobs/{quick}/retry"), &[], "");
    assert_eq!(done.status, 409, "{}", done.body);
    assert!(done.json()["error"].as_str().unwrap().contains("only failed or cancelled jobs"), "{}", done.body);
    assert_eq!(daemon.raw("POST", "/v1/jobs/999999/retry", &[], "").status, 404);
}

#[test]
fn a_finished_runs_metric_series_expire_so_a_hundred_jobs_leave_metrics_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "max_running_jobs = 2\nmetrics_retention_seconds = 2\n");
    let job = |name: &str| {
        format!("name = \"{name}\"\nthreads = 1\n[data]\nformat = \"digits\"\nlimit = 64\n[model]\narch = \"mlp\"\n[train]\nepochs = 1\n[report]\nenabled = false\n")
    };
    let lines = |page: &str| page.lines().filter(|l| l.starts_with("memscope_")).count();
    let first = daemon.submit_ok(&job("m0"));
    assert_eq!(daemon.wait_done(&first, MINUTE)["state"], "completed");
    let page = daemon.get("/metrics").unwrap().body;
    assert!(page.contains(&format!("memscope_epoch{{run=\"m0-{first}\"}} 1")), "a finished run is shown during its retention:\n{page}");
    assert_eq!(page.matches("# TYPE memscope_epoch gauge").count(), 1, "{page}");
    let with_one_run = lines(&page);

    let started = Instant::now();
    let ids: Vec<String> = (1..100).map(|i| daemon.submit_ok(&job(&format!("m{i}")))).collect();
    for id in &ids {
        assert_eq!(daemon.wait_done(id, 5 * MINUTE)["state"], "completed");
    }
    println!("99 quick jobs in {:.1} s", started.elapsed().as_secs_f64());
    std::thread::sleep(Duration::from_millis(2600));
    let page = daemon.get("/metrics").unwrap().body;
    let after = lines(&page);
    println!("memscope_ lines: {with_one_run} with one run shown, {after} after 100 runs expired");
    assert!(!page.contains("run=\""), "every run's series expired:\n{page}");
    assert!(page.contains("memscope_daemon_jobs{state=\"completed\"} 100"), "{page}");
    assert!(after < with_one_run, "{after} lines after 100 runs, {with_one_run} with one");
}

/// The daemon's resident memory in kB.
fn resident_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches(" kB").parse().unwrap()
}

/// Issue 27, leftover 4: `?tail=5` of a 200 MB log read all of it into memory (RSS grew
/// by 227 MB per request and stayed there), and job logs had no size cap.
#[test]
fn a_huge_job_log_is_read_from_its_end_and_job_logs_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = memscope_tests::fixture_plugins(dir.path());
    let exe_dir = memscope_bin().parent().unwrap().to_path_buf();
    let plugins = format!("plugin_dirs = [{exe_dir:?}, {fixtures:?}]\n");
    let mut daemon = Daemon::start(dir.path(), &format!("max_running_jobs = 0\n{plugins}"));
    let id = daemon.submit_ok(&quick_job("waiting"));
    // A 200 MB log, as a job without a cap could leave (written here directly).
    let log = dir.path().join(format!("state/jobs/{id}/log.txt"));
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
        for i in 0..2_000_000 {
            writeln!(file, "line {i:09} {}", "x".repeat(84)).unwrap();
        }
    }
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(size >= 200_000_000, "{size}");
    let before = resident_kb(daemon.pid());
    let tail = daemon.get(&format!("/v1/jobs/{id}/logs?tail=2")).unwrap();
    assert_eq!(tail.status, 200);
    assert_eq!(tail.body, format!("line 001999998 {0}\nline 001999999 {0}\n", "x".repeat(84)));
    let after_tail = resident_kb(daemon.pid());
    let (status, whole) = daemon.get_bytes(&format!("/v1/jobs/{id}/logs"));
    assert_eq!((status, whole.len() as u64), (200, size), "the whole log, streamed");
    let after_whole = resident_kb(daemon.pid());
    println!("daemon RSS: {before} kB, {after_tail} kB after ?tail=2, {after_whole} kB after the whole log");
    assert!(after_tail < before + 20_000, "?tail=2 of a {size}-byte log grew the daemon from {before} to {after_tail} kB");
    assert!(after_whole < before + 40_000, "the whole log grew the daemon from {before} to {after_whole} kB");

    // A job that writes 300 kB to a log capped at 64 kB: its newest lines are kept, in
    // two parts of at most the cap, and served as one log.
    assert!(daemon.terminate(MINUTE).success());
    let config = dir.path().join("daemon.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace("max_running_jobs = 0\n", "job_log_max_bytes = 65536\n");
    std::fs::write(&config, text).unwrap();
    daemon.restart();
    let chatty = format!("{}[[plugins]]\nname = \"fixture-faulty\"\nconfig = {{ mode = \"chatty\" }}\n", quick_job("chatty"));
    let id = daemon.submit_ok(&chatty);
    assert_eq!(daemon.wait_done(&id, MINUTE)["state"], "completed");
    let log = dir.path().join(format!("state/jobs/{id}/log.txt"));
    let (newer, older) = (std::fs::read_to_string(&log).unwrap(), std::fs::read_to_string(log.with_extension("txt.1")).unwrap());
    assert!(newer.len() <= 65536 && older.len() <= 65536, "{} and {} bytes", newer.len(), older.len());
    let whole = daemon.get(&format!("/v1/jobs/{id}/logs")).unwrap().body;
    assert_eq!(whole, format!("{older}{newer}"));
    assert!(!whole.contains("attempt 1, starting") && !whole.contains("fixture chatter 0000 "), "the oldest lines were dropped");
    assert!(whole.contains("fixture chatter 2999 ") && whole.contains("chatty: 1 epochs on 1797 samples"), "{whole}");
    let tail = daemon.get(&format!("/v1/jobs/{id}/logs?tail=1")).unwrap().body;
    assert_eq!(tail, whole[whole[..whole.len() - 1].rfind('\n').unwrap() + 1..]);
}
