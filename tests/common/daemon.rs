//! A real `memscope daemon` process for the end-to-end tests: its own loopback port
//! and state directory, an HTTP client for its API, and kill/terminate/restart.

use crate::{memscope_bin, Finished};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running daemon. Killed when dropped.
pub struct Daemon {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its directory: `daemon.toml`, `state/`, `daemon.log`.
    pub dir: PathBuf,
    agent: ureq::Agent,
    env: Vec<(String, String)>,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Body text.
    pub body: String,
    /// Header lines (`Name: value`), for answers of [`Daemon::raw`].
    pub headers: Vec<String>,
}

impl Reply {
    /// The value of header `name` (case-insensitive), for answers of [`Daemon::raw`].
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Daemon {
    /// Starts a daemon in `dir` with `settings` (daemon.toml lines) on a free port.
    pub fn start(dir: &Path, settings: &str) -> Daemon {
        Daemon::start_with_env(dir, settings, &[])
    }

    /// Like `start`, with extra environment variables for the daemon process.
    pub fn start_with_env(dir: &Path, settings: &str, env: &[(&str, &str)]) -> Daemon {
        let mut daemon = Daemon::configure(dir, settings, env);
        daemon.restart();
        daemon
    }

    /// Writes `daemon.toml` for a free port without starting the process: `restart`
    /// or `spawn` start it.
    pub fn configure(dir: &Path, settings: &str, env: &[(&str, &str)]) -> Daemon {
        let port = free_port();
        let text = format!("listen = \"127.0.0.1:{port}\"\nstate_dir = \"state\"\n{settings}");
        std::fs::write(dir.join("daemon.toml"), text).unwrap();
        let agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(30))).build().into();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Daemon { child: None, url: format!("http://127.0.0.1:{port}"), dir: dir.to_path_buf(), agent, env }
    }

    /// (Re)starts the process on the same config and state, its stderr appended to
    /// `daemon.log`; waits for `/healthz`.
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("daemon.log")).unwrap();
        self.spawn(Stdio::from(log));
    }

    /// Starts the process with this stderr; waits for `/healthz`. Returns the read end
    /// of stderr when it is piped.
    pub fn spawn(&mut self, stderr: Stdio) -> Option<ChildStderr> {
        assert!(self.child.is_none(), "the daemon is still running");
        let child = Command::new(memscope_bin())
            .args(["daemon", "--config"])
            .arg(self.dir.join("daemon.toml"))
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("MEMSCOPE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.as_mut().unwrap().try_wait() {
                panic!("the daemon exited with {status}:\n{}", self.log());
            }
            if self.get("/healthz").map(|r| r.status == 200).unwrap_or(false) {
                return self.child.as_mut().unwrap().stderr.take();
            }
            assert!(Instant::now() < deadline, "the daemon did not come up:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The daemon's own log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// `kill -9`, and wait for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal (`TERM`, `HUP`, ...).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill").arg(format!("-{name}")).arg(self.pid().to_string()).status().unwrap().success();
        assert!(ok, "kill -{name} failed");
    }

    /// SIGTERM, then the exit status (within `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.signal("TERM");
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the daemon did not exit within {timeout:?} of SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn finish(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Reply, ureq::Error> {
        let mut response = result?;
        let status = response.status().as_u16();
        let body = response.body_mut().with_config().limit(1 << 30).read_to_string()?;
        Ok(Reply { status, body, headers: Vec::new() })
    }

    /// `GET path`, optionally with a bearer token.
    pub fn get_with(&self, path: &str, token: Option<&str>) -> Result<Reply, ureq::Error> {
        let mut request = self.agent.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            request = request.header("Authorization", format!("Bearer {t}"));
        }
        Self::finish(request.call())
    }

    /// `GET path` of a binary body.
    pub fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let mut response = self.agent.get(format!("{}{path}", self.url)).call().unwrap();
        let status = response.status().as_u16();
        (status, response.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap())
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Reply, ureq::Error> {
        self.get_with(path, None)
    }

    /// `POST path` with a body (as `application/toml`, the type of a job).
    pub fn post_with(&self, path: &str, body: &str, token: Option<&str>) -> Reply {
        let mut request = self.agent.post(format!("{}{path}", self.url)).header("Content-Type", "application/toml");
        if let Some(t) = token {
            request = request.header("Authorization", format!("Bearer {t}"));
        }
        Self::finish(request.send(body)).unwrap()
    }

    /// `POST /v1/jobs` with a job config.
    pub fn submit(&self, job: &str) -> Reply {
        self.post_with("/v1/jobs", job, None)
    }

    /// Submits a job that must be accepted (201); returns its id.
    pub fn submit_ok(&self, job: &str) -> String {
        let reply = self.submit(job);
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.json()["id"].as_str().unwrap().to_string()
    }

    /// One request exactly as given: `METHOD path HTTP/1.1`, these headers (`Host` is
    /// the daemon's address unless given) and body, on a connection of its own.
    pub fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        use std::io::{Read, Write};
        let addr = self.url.trim_start_matches("http://");
        let mut request = format!("{method} {path} HTTP/1.1\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            request += &format!("Host: {addr}\r\n");
        }
        for (key, value) in headers {
            request += &format!("{key}: {value}\r\n");
        }
        request += &format!("Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {answer}"));
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        Reply { status, body: body.to_string(), headers: head.lines().skip(1).map(str::to_string).collect() }
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Reply {
        Self::finish(self.agent.delete(format!("{}{path}", self.url)).call()).unwrap()
    }

    /// `memscope ARGS --server URL`.
    pub fn cli(&self, args: &[&str]) -> Finished {
        let output = Command::new(memscope_bin()).args(args).args(["--server", &self.url]).current_dir(&self.dir).output().unwrap();
        Finished { output }
    }

    /// The job as `GET /v1/jobs/{id}` shows it.
    pub fn job(&self, id: &str) -> Value {
        let reply = self.get(&format!("/v1/jobs/{id}")).unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    }

    /// Polls the job until `done(job)` holds; panics with the logs after `timeout`.
    pub fn wait_for(&self, id: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let job = self.job(id);
            if done(&job) {
                return job;
            }
            if Instant::now() > deadline {
                let log = self.get(&format!("/v1/jobs/{id}/logs")).map(|r| r.body).unwrap_or_default();
                panic!("job {id} did not get there in {timeout:?}: {job}\njob log:\n{log}\ndaemon log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the job reached a final state and returns it.
    pub fn wait_done(&self, id: &str, timeout: Duration) -> Value {
        self.wait_for(id, timeout, |j| ["completed", "failed", "cancelled"].contains(&j["state"].as_str().unwrap_or("")))
    }

    /// The process id of the daemon's review engine (`memscope-engine serve-review`, a
    /// child of the daemon), while one runs.
    pub fn review_engine(&self) -> Option<u32> {
        children_of(self.pid()).into_iter().find(|(_, command)| command.contains("serve-review")).map(|(pid, _)| pid)
    }

    /// `IP:PORT` of the review engine `pid`, from the daemon's log.
    pub fn review_engine_addr(&self, pid: u32) -> String {
        let marker = format!("review engine started: pid {pid}, listening on ");
        let log = self.log();
        let line =
            log.lines().find(|l| l.contains(&marker)).unwrap_or_else(|| panic!("no start of review engine {pid} in the log:\n{log}"));
        line.split(&marker).nth(1).unwrap().split(',').next().unwrap().to_string()
    }
}

/// The children of process `pid`: each one's id and command line (empty for one that
/// has ended and not been waited for).
pub fn children_of(pid: u32) -> Vec<(u32, String)> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let parent = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|p| p.parse::<u32>().ok());
        if parent == Some(pid) {
            let command = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            children.push((child, String::from_utf8_lossy(&command).replace('\0', " ")));
        }
    }
    children
}

/// Whether process `pid` has ended (gone, or a zombie waiting to be reaped).
pub fn has_ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

/// A process's resident memory (kB) and whether it maps libtorch, from `/proc`.
pub fn memory_of(pid: u32) -> (u64, bool) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches(" kB").parse().unwrap();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    (rss, maps.contains("libtorch") || maps.contains("libc10"))
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}
