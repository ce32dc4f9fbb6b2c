//! `memscope daemon` as a team runs it: jobs submitted with the CLI or plain HTTP,
//! results fetched back, cancellation, a crash and a restart that lose nothing, a
//! graceful stop, config reload, bad submissions refused, and a bounded load test.

use memscope_tests::daemon::{memory_of, Daemon};
use memscope_tests::images::png;
use memscope_tests::{memscope, read_npy_f32, synthetic_images, write_cifar};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// A small digits job: `arch` for `epochs`, curvature with 2 draws, a checkpoint
/// every epoch, two threads.
fn job(name: &str, arch: &str, epochs: usize) -> String {
    format!(
        "name = \"{name}\"\nthreads = 2\n[data]\nformat = \"digits\"\n[model]\narch = \"{arch}\"\n\
         [train]\nepochs = {epochs}\n[checkpoint]\nevery = 1\n[score]\nbuiltin = [\"loss\", \"eval_loss\"]\n\
         [[plugins]]\nname = \"curvature\"\nconfig = {{ draws = 2 }}\n"
    )
}

fn submitted(daemon: &Daemon, text: &str) -> String {
    let reply = daemon.submit(text);
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()["id"].as_str().unwrap().to_string()
}

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn a_job_submitted_with_the_cli_runs_and_its_results_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "");
    std::fs::write(dir.path().join("job.toml"), job("first", "mlp", 3)).unwrap();

    let submit = daemon.cli(&["submit", "job.toml"]).success();
    let id = submit.stdout().trim().to_string();
    assert_eq!(id, "000001");
    let done = daemon.wait_done(&id, MINUTE);
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["progress"]["epoch"], 3);
    assert_eq!(done["attempts"], 1);

    let jobs = daemon.cli(&["jobs"]).success().stdout();
    assert!(jobs.lines().any(|l| l.starts_with("000001") && l.contains("first") && l.contains("completed")), "{jobs}");
    let status = daemon.cli(&["status", &id]).success().stdout();
    assert!(status.contains("completed") && status.contains("epoch 3/3"), "{status}");

    let summary = daemon.get(&format!("/v1/jobs/{id}/summary")).unwrap();
    assert_eq!(summary.status, 200);
    assert_eq!(summary.json()["samples"], 1797);
    let scores = daemon.get(&format!("/v1/jobs/{id}/scores/curvature?format=json")).unwrap().json();
    let values = scores["values"].as_array().unwrap();
    assert_eq!(values.len(), 1797);
    // The API serves exactly what the run directory holds.
    let run_dir = Path::new(done["run_dir"].as_str().unwrap());
    let (on_disk, _) = read_npy_f32(&run_dir.join("scores/curvature.npy"));
    assert!(values.iter().zip(&on_disk).all(|(a, b)| (a.as_f64().unwrap() as f32 - b).abs() < 1e-6));
    let (status, npy) = daemon.get_bytes(&format!("/v1/jobs/{id}/scores/curvature"));
    assert_eq!(status, 200);
    assert_eq!(npy, std::fs::read(run_dir.join("scores/curvature.npy")).unwrap(), "the .npy file as it is");
    let missing = daemon.get(&format!("/v1/jobs/{id}/scores/nope")).unwrap();
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].as_str().unwrap().contains("it has: curvature"), "{}", missing.body);

    // The run's report, as a page whose relative links resolve under the same path.
    let page = daemon.get(&format!("/v1/jobs/{id}/report/index.html")).unwrap();
    assert_eq!(page.status, 200);
    assert!(page.body.contains("top_curvature.png"), "{}", page.body);
    let (status, png) = daemon.get_bytes(&format!("/v1/jobs/{id}/report/top_curvature.png"));
    assert_eq!((status, &png[1..4]), (200, &b"PNG"[..]));
    assert_eq!(daemon.get(&format!("/v1/jobs/{id}/report/..%2Fsummary.json")).unwrap().status, 400);

    let logs = daemon.cli(&["logs", &id]).success().stdout();
    assert!(logs.contains("attempt 1, starting") && logs.contains("first: 3 epochs"), "{logs}");
    // The report's line is part of the job's log, not of its event stream, and a job
    // that went well leaves no warning in the daemon's log.
    assert!(logs.contains(&format!("report: {}", run_dir.join("report/index.html").display())), "{logs}");
    assert!(!daemon.log().contains("WARN"), "{}", daemon.log());
    let metrics = daemon.get("/metrics").unwrap().body;
    assert!(metrics.contains("memscope_epoch{run=\"first-000001\"} 3"), "{metrics}");
    assert!(metrics.contains("memscope_daemon_jobs{state=\"completed\"} 1"), "{metrics}");
    assert!(metrics.contains("memscope_api_request_duration_seconds_bucket"), "{metrics}");
}

#[test]
fn queued_and_running_jobs_can_be_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "");
    let long = submitted(&daemon, &job("long", "cnn", 500));
    let waiting = submitted(&daemon, &job("waiting", "mlp", 2));
    daemon.wait_for(&long, MINUTE, |j| j["progress"]["epoch"].as_u64().is_some_and(|e| e >= 1));

    // One job at a time by default: the second waits, and is cancelled at once.
    let reply = daemon.delete(&format!("/v1/jobs/{waiting}"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["state"], "cancelled");

    let out = daemon.cli(&["cancel", &long]).success().stdout();
    assert!(out.contains("cancelling"), "{out}");
    let done = daemon.wait_done(&long, MINUTE);
    assert_eq!(done["state"], "cancelled", "{done}");
    assert!(done["progress"]["epoch"].as_u64().unwrap() < 500);

    let again = daemon.delete(&format!("/v1/jobs/{long}"));
    assert_eq!(again.status, 409);
    assert!(again.json()["error"].as_str().unwrap().contains("already cancelled"));
    let summary = daemon.get(&format!("/v1/jobs/{long}/summary")).unwrap();
    assert_eq!(summary.status, 409, "{}", summary.body);
}

/// Processes whose command line mentions `needle` (other than this test).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) && entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) != Some(std::process::id()) {
            found.push(cmdline);
        }
    }
    found
}

#[test]
fn a_daemon_killed_mid_training_resumes_every_job_to_the_same_scores() {
    let dir = tempfile::tempdir().unwrap();
    let text = job("crash", "cnn", 8);
    // The same job, uninterrupted, with the CLI.
    std::fs::write(dir.path().join("job.toml"), &text).unwrap();
    let whole_out = dir.path().join("whole");
    memscope(dir.path(), &["run", "job.toml", "--out", whole_out.to_str().unwrap(), "--quiet"]).success();

    let mut daemon = Daemon::start(dir.path(), "");
    let crash = submitted(&daemon, &text);
    let queued: Vec<String> = (0..2).map(|i| submitted(&daemon, &job(&format!("after-{i}"), "mlp", 2))).collect();
    daemon.wait_for(&crash, MINUTE, |j| j["progress"]["checkpoint_epoch"].as_u64().is_some_and(|e| e >= 2));
    daemon.kill();

    // The job process dies with the daemon: nothing is left writing the run directory.
    let state = dir.path().join("state");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_mentioning(state.to_str().unwrap()).is_empty() {
        assert!(Instant::now() < deadline, "orphans: {:?}", processes_mentioning(state.to_str().unwrap()));
        std::thread::sleep(Duration::from_millis(50));
    }

    daemon.restart();
    let done = daemon.wait_done(&crash, 2 * MINUTE);
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["attempts"], 2, "the job resumed once: {done}");
    let run_dir = Path::new(done["run_dir"].as_str().unwrap());
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap()).unwrap();
    let resumed_at = summary["resumed_at_epoch"].as_u64().unwrap();
    assert!((2..8).contains(&resumed_at), "resumed at epoch {resumed_at}");
    for score in ["curvature", "loss", "eval_loss"] {
        let (a, _) = read_npy_f32(&whole_out.join("crash/scores").join(format!("{score}.npy")));
        let (b, _) = read_npy_f32(&run_dir.join("scores").join(format!("{score}.npy")));
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!((x - y).abs() <= 1e-4 * x.abs().max(1.0), "{score}[{i}]: {x} uninterrupted vs {y} resumed");
        }
    }
    for id in &queued {
        assert_eq!(daemon.wait_done(id, MINUTE)["state"], "completed");
    }
    let logs = daemon.get(&format!("/v1/jobs/{crash}/logs")).unwrap().body;
    assert!(logs.contains("attempt 2, resuming from the last checkpoint"), "{logs}");
}

#[test]
fn sigterm_stops_gracefully_and_sighup_reloads_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let notified = |want: &str| {
        let mut buf = [0u8; 256];
        loop {
            let n = socket.recv(&mut buf).unwrap_or_else(|e| panic!("no {want} from the daemon: {e}"));
            if String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == want) {
                return;
            }
        }
    };
    let env = [("NOTIFY_SOCKET", socket_path.to_str().unwrap())];
    let mut daemon = Daemon::start_with_env(dir.path(), "shutdown_grace_seconds = 20\n", &env);
    notified("READY=1");
    let id = submitted(&daemon, &job("long", "cnn", 500));
    daemon.wait_for(&id, MINUTE, |j| j["progress"]["epoch"].as_u64().is_some_and(|e| e >= 1));

    let started = Instant::now();
    let status = daemon.terminate(Duration::from_secs(30));
    notified("STOPPING=1");
    assert!(status.success(), "SIGTERM should end the daemon with 0, got {status}:\n{}", daemon.log());
    println!("daemon stopped {:.2}s after SIGTERM with a job running", started.elapsed().as_secs_f64());

    // Restart with no job slot: the interrupted job is queued, not lost.
    let config = dir.path().join("daemon.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}max_running_jobs = 0\n")).unwrap();
    daemon.restart();
    notified("READY=1");
    let job = daemon.job(&id);
    assert_eq!(job["state"], "queued", "{job}");
    assert!(job["message"].as_str().unwrap().contains("interrupted by a daemon shutdown"), "{job}");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(daemon.job(&id)["state"], "queued", "max_running_jobs = 0 starts nothing");

    // SIGHUP with one slot again: it resumes from its checkpoint.
    std::fs::write(&config, format!("{text}max_running_jobs = 1\n")).unwrap();
    daemon.signal("HUP");
    notified("RELOADING=1");
    let job = daemon.wait_for(&id, MINUTE, |j| j["state"] == "running" && j["attempts"] == 2);
    let logs = daemon.get(&format!("/v1/jobs/{id}/logs")).unwrap().body;
    assert!(logs.contains("resuming"), "{job}\n{logs}");
    daemon.delete(&format!("/v1/jobs/{id}"));
    assert_eq!(daemon.wait_done(&id, MINUTE)["state"], "cancelled");

    // A reload that fails keeps the running config.
    std::fs::write(&config, "listen = 12\n").unwrap();
    daemon.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(daemon.get("/readyz").unwrap().status, 200);
    assert!(daemon.log().contains("reload failed, keeping the running config"), "{}", daemon.log());
}

#[test]
fn bad_submissions_are_refused_with_a_clear_json_error_and_nothing_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let (data, outside) = (dir.path().join("data"), tempfile::tempdir().unwrap());
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("mine.npz"), b"not checked until the job runs").unwrap();
    std::fs::write(outside.path().join("secret.npz"), b"x").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.npz"), data.join("link.npz")).unwrap();
    let daemon = Daemon::start(dir.path(), "data_roots = [\"data\"]\nmax_request_bytes = 4096\nmax_running_jobs = 0\n");
    let npz = |path: &str| format!("name = \"t\"\n[data]\nformat = \"npz\"\npath = \"{path}\"\n");
    let secret = outside.path().join("secret.npz");
    let digits = "name = \"t\"\n[data]\nformat = \"digits\"\n";

    // From the data root up to `/`, then down to the file outside.
    let depth = data.canonicalize().unwrap().components().count() - 1;
    let dotdot = format!("{}{}", "../".repeat(depth), secret.canonicalize().unwrap().strip_prefix("/").unwrap().display());
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("invalid TOML", "name = \n".into(), 400, "line 1"),
        ("unknown key", format!("{digits}[train]\nepochz = 3\n"), 400, "unknown field `epochz`"),
        ("unknown plugin", format!("{digits}[[plugins]]\nname = \"nosuch\"\n"), 400, "no plugin `nosuch`"),
        ("plugin dirs of its own", format!("plugin_dirs = [\"/tmp\"]\n{digits}"), 400, "only from the daemon's plugin directories"),
        ("data outside the roots", npz(secret.to_str().unwrap()), 400, "outside the daemon's data roots"),
        ("data outside by ..", npz(&dotdot), 400, "outside the daemon's data roots"),
        ("data outside by a symlink", npz("link.npz"), 400, "outside the daemon's data roots"),
        (
            "plugin setting naming a file outside",
            format!("{digits}[[plugins]]\nname = \"baseline\"\nconfig = {{ against = [\"/etc/passwd\"] }}\n"),
            400,
            "plugins[0].config.against[0]",
        ),
        ("own metrics listener", format!("{digits}[metrics]\nlisten = \"127.0.0.1:9999\"\n"), 400, "metrics.listen"),
        (
            "a 250-character name",
            format!("name = \"{}\"\n[data]\nformat = \"digits\"\n", "n".repeat(250)),
            400,
            "250 is more than 100 characters",
        ),
        ("a 56 GB loader queue", format!("{digits}[train]\nprefetch = 1000000000\n"), 400, "train.prefetch"),
        ("oversized request", format!("{digits}# {}\n", "x".repeat(10_000)), 413, "larger than the limit of 4096 bytes"),
    ];
    for (what, body, status, says) in &cases {
        let reply = daemon.submit(body);
        assert_eq!(reply.status, *status, "{what}: {}", reply.body);
        let error = reply.json();
        let text = format!("{} {}", error["error"], error["problems"]);
        assert!(text.contains(says), "{what}: expected `{says}` in {text}");
    }

    // Every problem at once, as the CLI lists them.
    let two = "name = \"../x\"\n[data]\nformat = \"digits\"\n[[plugins]]\nname = \"nosuch\"\n";
    let keys: Vec<String> =
        daemon.submit(two).json()["problems"].as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap().to_string()).collect();
    assert_eq!(keys, ["name", "plugins[0].name"]);

    // The CLI says the same in one line.
    std::fs::write(dir.path().join("bad.toml"), npz("link.npz")).unwrap();
    let line = daemon.cli(&["submit", "bad.toml"]).clean_failure();
    assert!(line.contains("400") && line.contains("data.path") && line.contains("outside the daemon's data roots"), "{line}");

    // A job inside the roots is accepted, with its path made real.
    let ok = daemon.submit(&npz("mine.npz"));
    assert_eq!(ok.status, 201, "{}", ok.body);
    let config = daemon.get("/v1/jobs/000001/config").unwrap().body;
    assert!(config.contains(data.canonicalize().unwrap().join("mine.npz").to_str().unwrap()), "{config}");

    let jobs = daemon.get("/v1/jobs").unwrap().json();
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1, "only the good job was queued: {jobs}");
    for (path, status) in [("/v1/jobs/999999", 404), ("/v1/nothing", 404), ("/v1/jobs/000001/summary", 409)] {
        let reply = daemon.get(path).unwrap();
        assert_eq!(reply.status, status, "{path}: {}", reply.body);
        assert!(reply.json()["error"].is_string(), "{path}: {}", reply.body);
    }
}

#[test]
fn a_token_protects_every_endpoint_but_healthz() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "s3cret-token\n").unwrap();
    let daemon = Daemon::start(dir.path(), "auth_token_file = \"token\"\nmax_running_jobs = 0\n");

    assert_eq!(daemon.get("/healthz").unwrap().status, 200);
    for path in ["/v1/jobs", "/readyz", "/metrics", "/v1/jobs/000001"] {
        let none = daemon.get(path).unwrap();
        assert_eq!(none.status, 401, "{path} without a token: {}", none.body);
        assert!(none.json()["error"].as_str().unwrap().contains("Bearer"));
        let wrong = daemon.get_with(path, Some("guess")).unwrap();
        assert_eq!(wrong.status, 401, "{path} with a wrong token");
    }
    assert_eq!(daemon.post_with("/v1/jobs", &job("t", "mlp", 1), None).status, 401);
    assert_eq!(daemon.post_with("/v1/jobs", &job("t", "mlp", 1), Some("s3cret-token")).status, 201);
    assert_eq!(daemon.get_with("/v1/jobs", Some("s3cret-token")).unwrap().status, 200);

    let line = daemon.cli(&["jobs"]).clean_failure();
    assert!(line.contains("401"), "{line}");
    let listed = daemon.cli(&["jobs", "--token-file", "token"]).success().stdout();
    assert!(listed.contains("000001"), "{listed}");
}

#[test]
fn a_failing_job_does_not_take_the_daemon_or_other_jobs_down() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "");
    let faulty = format!("{}[[plugins]]\nname = \"fixture-faulty\"\nconfig = {{ mode = \"panic_in_score\" }}\n", job("faulty", "mlp", 2));
    // The build's test fixtures lie beside the binary, the default plugin directory,
    // under names discovery never takes: they do not ship as plugins.
    let refused = daemon.submit(&faulty);
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("no plugin `fixture-faulty`"), "{}", refused.body);
    // An operator who wants them names their directory.
    let fixtures = memscope_tests::fixture_plugins(dir.path());
    let config = dir.path().join("daemon.toml");
    let exe_dir = memscope_tests::memscope_bin().parent().unwrap().to_path_buf();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}plugin_dirs = [{:?}, {:?}]\n", exe_dir, fixtures)).unwrap();
    daemon.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !daemon.log().contains("reloaded the config") {
        assert!(Instant::now() < deadline, "no reload: {}", daemon.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let bad = submitted(&daemon, &faulty);
    let good = submitted(&daemon, &job("good", "mlp", 2));

    let failed = daemon.wait_done(&bad, MINUTE);
    assert_eq!(failed["state"], "failed");
    let message = failed["message"].as_str().unwrap();
    assert!(message.contains("plugin `fixture-faulty` panicked in score_batch"), "{message}");
    // An operator filtering the daemon's log for warnings sees it.
    let warned = daemon
        .log()
        .lines()
        .any(|l| l.contains("WARN") && l.contains(&format!("job {bad} (faulty) failed: plugin `fixture-faulty` panicked")));
    assert!(warned, "{}", daemon.log());
    assert_eq!(daemon.wait_done(&good, MINUTE)["state"], "completed");
    assert_eq!(daemon.get("/readyz").unwrap().status, 200);
}

#[test]
fn four_hundred_submissions_from_twenty_clients_are_each_queued_exactly_once() {
    // The figures of the reliability probe (issue 16): 400 of 400 kept, none twice.
    const CLIENTS: usize = 20;
    const EACH: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path(), "max_running_jobs = 0\n");
    let url = daemon.url.clone();

    let started = Instant::now();
    let results: Vec<Vec<(String, String, Duration)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let url = url.clone();
                scope.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                    (0..EACH)
                        .map(|i| {
                            let name = format!("load-{c}-{i}");
                            let t = Instant::now();
                            let mut reply = agent
                                .post(format!("{url}/v1/jobs"))
                                .header("Content-Type", "application/toml")
                                .send(job(&name, "mlp", 1))
                                .unwrap();
                            let took = t.elapsed();
                            let body = reply.body_mut().read_to_string().unwrap();
                            assert_eq!(reply.status().as_u16(), 201, "{body}");
                            let id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_string();
                            (name, id, took)
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let wall = started.elapsed();
    let all: Vec<(String, String, Duration)> = results.into_iter().flatten().collect();
    let mut latencies: Vec<f64> = all.iter().map(|(_, _, d)| d.as_secs_f64() * 1e3).collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1];
    println!(
        "load: {} submissions from {CLIENTS} clients in {:.2}s ({:.0}/s); latency ms p50 {:.2}, p95 {:.2}, p99 {:.2}, max {:.2}",
        all.len(),
        wall.as_secs_f64(),
        all.len() as f64 / wall.as_secs_f64(),
        pct(0.50),
        pct(0.95),
        pct(0.99),
        pct(1.0)
    );

    let check = |daemon: &Daemon| {
        let listed = daemon.get("/v1/jobs").unwrap().json();
        let listed: Vec<(String, String)> = listed["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| (j["name"].as_str().unwrap().to_string(), j["id"].as_str().unwrap().to_string()))
            .collect();
        let mut expected: Vec<(String, String)> = all.iter().map(|(n, i, _)| (n.clone(), i.clone())).collect();
        let mut got = listed.clone();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "every acknowledged job listed exactly once, under its id");
        let ids: std::collections::BTreeSet<&String> = listed.iter().map(|(_, i)| i).collect();
        assert_eq!(ids.len(), CLIENTS * EACH, "ids are unique");
    };
    check(&daemon);
    // And they survive a crash.
    daemon.kill();
    daemon.restart();
    check(&daemon);
}

#[test]
fn command_line_overrides_apply_and_binding_beyond_loopback_without_a_token_warns() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = dir.path().join("daemon.log");
    let mut child = std::process::Command::new(memscope_tests::memscope_bin())
        .args(["daemon", "--listen", &format!("0.0.0.0:{port}"), "--state-dir"])
        .arg(dir.path().join("elsewhere"))
        .env("MEMSCOPE_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.path().join("elsewhere/daemon.lock").exists() || std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "no daemon: {}", std::fs::read_to_string(&log).unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
    // A second daemon on the same state directory is refused.
    let second = std::process::Command::new(memscope_tests::memscope_bin())
        .args(["daemon", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.path().join("elsewhere"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success() && err.contains("in use by another memscope daemon"), "{err}");
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("which is not loopback, without `auth_token_file`"), "{text}");
}

/// Issue 16, finding 3: a dataset directory inside a root may hold a symlink that
/// points outside. Every file a job opens is checked where it really is, when it is
/// opened, so the job fails naming the file as the job knows it and saying only that
/// it is outside; a dataset wholly inside trains, and its scores come with sources.
#[test]
fn every_data_file_a_job_opens_must_be_inside_the_roots_even_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let (data, outside) = (dir.path().join("data"), tempfile::tempdir().unwrap());
    let (pixels, labels) = synthetic_images(24, 3, 32, 32, 10);
    std::fs::create_dir_all(data.join("cifar")).unwrap();
    write_cifar(&data.join("cifar/data_batch_1.bin"), &labels[..12], None, &pixels[..12 * 3072]);
    write_cifar(&outside.path().join("stolen.bin"), &labels[12..], None, &pixels[12 * 3072..]);
    std::os::unix::fs::symlink(outside.path().join("stolen.bin"), data.join("cifar/data_batch_2.bin")).unwrap();
    for (folder, classes) in [("pets", ["cat", "dog"]), ("good", ["cat", "dog"])] {
        for (c, class) in classes.iter().enumerate() {
            std::fs::create_dir_all(data.join(folder).join(class)).unwrap();
            for i in 0..4 {
                let image: Vec<u8> = (0..64).map(|p| if p % 8 == c * 4 + i { 250 } else { 10 }).collect();
                std::fs::write(data.join(folder).join(class).join(format!("{i}.png")), png(&image)).unwrap();
            }
        }
    }
    std::fs::write(outside.path().join("secret.png"), png(&[7; 64])).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.png"), data.join("pets/dog/secret.png")).unwrap();
    let cache = dir.path().join("cache");
    let daemon = Daemon::start_with_env(dir.path(), "data_roots = [\"data\"]\n", &[("XDG_CACHE_HOME", cache.to_str().unwrap())]);
    let tail = "[train]\nepochs = 1\nbatch_size = 4\n[score]\nbuiltin = [\"loss\"]\n";
    let folder =
        |path: &str| format!("name = \"f\"\nthreads = 2\n[data]\nformat = \"folder\"\npath = \"{path}\"\nimage_size = [1, 8, 8]\n{tail}");

    // Both directories are inside the root, so both are accepted; the jobs fail when
    // they open the link.
    let refused = [
        (format!("name = \"c\"\nthreads = 2\n[data]\nformat = \"cifar10\"\npath = \"cifar\"\n{tail}"), "/cifar/data_batch_2.bin"),
        (folder("pets"), "/pets/dog/secret.png"),
    ];
    for (text, link) in &refused {
        let id = submitted(&daemon, text);
        let job = daemon.wait_done(&id, MINUTE);
        assert_eq!(job["state"], "failed", "{job}");
        let message = job["message"].as_str().unwrap();
        assert!(message.contains(&format!("{link} is outside the data roots")), "{message}");
        assert!(!message.contains(&outside.path().display().to_string()), "the real target leaked: {message}");
    }
    let decoded =
        std::fs::read_dir(&cache).map(|d| d.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "u8")).count()).unwrap_or(0);
    assert_eq!(decoded, 0, "nothing was decoded from a folder holding a link outside");

    let id = submitted(&daemon, &folder("good"));
    let job = daemon.wait_done(&id, MINUTE);
    assert_eq!(job["state"], "completed", "{job}");
    let scores = daemon.get(&format!("/v1/jobs/{id}/scores/loss?format=json")).unwrap().json();
    let root = data.canonicalize().unwrap().join("good");
    let sources: Vec<&str> = scores["sources"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(sources.len(), 8);
    assert_eq!(sources[0], root.join("cat/0.png").display().to_string());
    assert_eq!(sources[7], root.join("dog/3.png").display().to_string());
    assert_eq!(scores["class_names"], serde_json::json!(["cat", "dog"]));
    assert_eq!(scores["labels"], serde_json::json!([0, 0, 0, 0, 1, 1, 1, 1]));
    assert_eq!(scores["values"].as_array().unwrap().len(), 8);
}

/// Issue 27, leftover 7: an idle daemon held 391 MB of libtorch it never used.
#[test]
fn the_daemon_loads_no_libtorch_idle_or_after_checking_and_running_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "");
    let (idle, torch) = memory_of(daemon.pid());
    println!("idle daemon: {:.1} MB resident", idle as f64 / 1024.0);
    assert!(!torch, "an idle daemon maps libtorch");

    // A job whose plugin settings are checked (in a process of its own) and that runs.
    let id = submitted(&daemon, &job("light", "mlp", 1));
    assert_eq!(daemon.wait_done(&id, MINUTE)["state"], "completed");
    let (after, torch) = memory_of(daemon.pid());
    println!("after a checked and completed job: {:.1} MB resident", after as f64 / 1024.0);
    assert!(!torch, "the daemon mapped libtorch for a job");
    assert!(after < 100 * 1024, "{after} kB resident");
}

/// Issue 27, leftover 1: plugin settings were accepted at submission and failed when
/// the job ran.
#[test]
fn plugin_settings_are_checked_at_submission_through_each_plugins_own_parser() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = memscope_tests::fixture_plugins(dir.path());
    let exe_dir = memscope_tests::memscope_bin().parent().unwrap().to_path_buf();
    let daemon = Daemon::start(dir.path(), &format!("max_running_jobs = 0\nplugin_dirs = [{exe_dir:?}, {fixtures:?}]\n"));
    let digits = "name = \"t\"\n[data]\nformat = \"digits\"\n";
    let problems = |reply: &memscope_tests::daemon::Reply| -> Vec<(String, String)> {
        assert_eq!(reply.status, 400, "{}", reply.body);
        let body = reply.json();
        body["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["key"].as_str().unwrap().into(), p["message"].as_str().unwrap().into()))
            .collect()
    };

    // Every problem of each plugin at once, in the plugin's own words.
    let two = format!(
        "{digits}[[plugins]]\nname = \"curvature\"\nconfig = {{ draws = 0, bogus = 3 }}\n[[plugins]]\nname = \"noise\"\nconfig = {{ fraction = 2.0 }}\n"
    );
    let found = problems(&daemon.submit(&two));
    let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["plugins[0].config.bogus", "plugins[0].config.draws", "plugins[1].config.fraction"], "{found:?}");
    assert!(found[0].1.starts_with("unknown key `bogus`, expected `draws`"), "{found:?}");
    assert_eq!(found[1].1, "must be at least 1");
    assert_eq!(found[2].1, "2 is not in [0, 1]");
    // With the job's other problems, in one answer.
    let found = problems(&daemon.submit(&format!("{two}[train]\nepochs = 0\n")));
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(found.iter().any(|(k, _)| k == "train.epochs"), "{found:?}");

    // A plugin library without the check (built before it existed) is created with the
    // settings, as the job would create it, and what it refuses is the problem.
    let old = format!("{digits}[[plugins]]\nname = \"fixture-faulty\"\nconfig = {{ mode = \"panic_in_create\" }}\n");
    let found = problems(&daemon.submit(&old));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "plugins[0].config");
    assert!(found[0].1.contains("panicked in create: fixture panics while being created"), "{found:?}");

    // Good settings pass, and nothing was queued before them.
    let good = format!("{digits}[[plugins]]\nname = \"curvature\"\nconfig = {{ draws = 2 }}\n[[plugins]]\nname = \"fixture-faulty\"\nconfig = {{ mode = \"chatty\" }}\n");
    let id = submitted(&daemon, &good);
    let jobs = daemon.get("/v1/jobs").unwrap().json();
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1, "{jobs}");
    assert_eq!(jobs["jobs"][0]["id"], id.as_str());
}

/// Issue 27, leftover 3: a plugin setting naming a bare relative file was looked up in
/// the daemon's working directory, outside the data roots, and the job's error told
/// whether such a file existed there.
#[test]
fn a_bare_relative_file_in_a_plugin_setting_is_looked_up_in_the_data_root_only() {
    let dir = tempfile::tempdir().unwrap();
    let (data, outside) = (dir.path().join("data"), tempfile::tempdir().unwrap());
    std::fs::create_dir(&data).unwrap();
    std::fs::write(outside.path().join("secret.npy"), b"x").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.npy"), data.join("escape")).unwrap();
    // The daemon runs in `dir` (the test harness starts it there).
    let daemon = Daemon::start(dir.path(), "data_roots = [\"data\"]\n");
    let job = |name: &str, file: &str| {
        format!(
            "name = \"{name}\"\nthreads = 1\n[data]\nformat = \"digits\"\nlimit = 200\n[model]\narch = \"mlp\"\n[train]\nepochs = 1\n\
             [report]\nenabled = false\n[[plugins]]\nname = \"baseline\"\nconfig = {{ against = [{{ name = \"r\", file = \"{file}\" }}] }}\n"
        )
    };
    let failure = |name: &str| {
        let id = submitted(&daemon, &job(name, "ref"));
        let done = daemon.wait_done(&id, MINUTE);
        assert_eq!(done["state"], "failed", "{done}");
        done["message"].as_str().unwrap().to_string()
    };
    let without = failure("without");
    std::fs::write(dir.path().join("ref"), b"a file in the daemon's working directory").unwrap();
    let with = failure("with");
    assert_eq!(without, with, "the error tells whether the daemon's directory holds `ref`");

    // A bare name of the data root that leads outside is refused like any path.
    let reply = daemon.submit(&job("escape", "escape"));
    assert_eq!(reply.status, 400, "{}", reply.body);
    let problems = reply.json()["problems"].to_string();
    assert!(problems.contains("`escape` is outside the daemon's data roots"), "{problems}");
}
