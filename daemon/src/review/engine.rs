//! The review engine: one `memscope-engine serve-review` process serving the review
//! pages of every run the daemon names (it keeps the last 4 open). One process, not
//! one per run: each holds libtorch (386 MiB resident serving a digits run) besides
//! its runs.
//!
//! - Started by the first review request (libtorch loads: about half a second), with a
//!   fresh secret as the first line of its standard input and the daemon's data roots
//!   as `--data-root`; it answers on a loopback port it prints, and only to requests
//!   carrying the secret.
//! - Ended when no request has used it for `review_idle_seconds` ([`ReviewEngine::tend`],
//!   every second), when the data roots change (a reload: the next request starts one
//!   with the new roots), and when the daemon stops ([`ReviewEngine::close`]). Ending
//!   is closing its standard input: it lets the requests under way finish and exits;
//!   it is killed if it has not within [`STOP_GRACE`]. A daemon that dies (`kill -9`)
//!   closes that pipe too, so the engine never outlives it.
//! - One that ended by itself (a crash) is noted, and the next request starts another.

use memscope_base::review_engine::READY;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long the engine may take to load libtorch and listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long an ending engine gets to exit (it gives its requests 5 s) before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The review engine process, when one runs, and the client that forwards to it.
pub struct ReviewEngine {
    program: PathBuf,
    agent: ureq::Agent,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    running: Option<Running>,
    /// Set when the daemon stops: no engine starts after it.
    closed: bool,
}

/// A started engine.
struct Running {
    child: Child,
    /// Closing it ends the engine.
    stdin: ChildStdin,
    addr: SocketAddr,
    secret: String,
    /// The data roots it was started with.
    roots: Vec<PathBuf>,
    last_used: Instant,
    /// Requests forwarded to it whose answers are still being read.
    in_flight: Arc<AtomicUsize>,
}

/// Where to send one request. Holds the engine against the idle end until dropped
/// (after its answer has been read).
pub struct Target {
    /// `IP:PORT` of the engine.
    pub addr: SocketAddr,
    /// The engine's secret.
    pub secret: String,
    /// The engine's process id, for error messages.
    pub pid: u32,
    /// The hold on the engine.
    pub lease: Lease,
}

/// A request under way at the engine; the engine does not end idle while one is held.
pub struct Lease(Arc<AtomicUsize>);

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ReviewEngine {
    /// An engine run from `program` (`memscope-engine`), not started yet.
    pub fn new(program: PathBuf) -> ReviewEngine {
        // No proxy: ureq would otherwise take one from `http_proxy` for this loopback
        // address. No redirects: the engine's (`review` to `review/`) go to the browser.
        let agent = ureq::Agent::config_builder()
            .proxy(None)
            .max_redirects(0)
            .http_status_as_error(false)
            .allow_non_standard_methods(true)
            .timeout_connect(Some(Duration::from_secs(5)))
            .build()
            .into();
        ReviewEngine { program, agent, state: Mutex::default() }
    }

    /// The HTTP client for the engine (its connections are kept and reused).
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// The running engine for `roots`, started (or started again) when needed.
    /// Blocks while an engine starts; an error says why none could.
    pub fn acquire(&self, roots: &[PathBuf]) -> Result<Target, String> {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = &mut *guard;
        if state.closed {
            return Err("the daemon is stopping: no review engine starts".into());
        }
        if let Some(mut running) = state.running.take() {
            if let Some(status) = running.exited() {
                tracing::warn!("the review engine (pid {}) ended by itself ({status}); starting another", running.child.id());
            } else if running.roots != roots {
                tracing::info!("the data roots changed: the review engine (pid {}) ends, another starts with them", running.child.id());
                std::thread::spawn(move || running.end());
            } else {
                state.running = Some(running);
            }
        }
        if state.running.is_none() {
            state.running = Some(Running::start(&self.program, roots)?);
        }
        let running = state.running.as_mut().expect("started above");
        running.last_used = Instant::now();
        running.in_flight.fetch_add(1, Ordering::SeqCst);
        Ok(Target { addr: running.addr, secret: running.secret.clone(), pid: running.child.id(), lease: Lease(running.in_flight.clone()) })
    }

    /// Ends the engine once no request has used it for `idle`, and notes one that ended
    /// by itself. The daemon calls this every second.
    pub fn tend(&self, idle: Duration) {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(mut running) = guard.running.take() else { return };
        if let Some(status) = running.exited() {
            tracing::warn!(
                "the review engine (pid {}) ended by itself ({status}); the next review request starts another",
                running.child.id()
            );
        } else if running.in_flight.load(Ordering::SeqCst) == 0 && running.last_used.elapsed() >= idle {
            drop(guard);
            tracing::info!("the review engine (pid {}) was idle for {} s: it ends", running.child.id(), idle.as_secs());
            running.end();
        } else {
            guard.running = Some(running);
        }
    }

    /// Ends the engine and starts no other: the daemon is stopping.
    pub fn close(&self) {
        let running = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.closed = true;
            state.running.take()
        };
        if let Some(running) = running {
            running.end();
        }
    }
}

impl Running {
    /// Starts an engine and waits until it listens.
    fn start(program: &Path, roots: &[PathBuf]) -> Result<Running, String> {
        let started = Instant::now();
        let secret = new_secret().map_err(|e| format!("no secret for the review engine (/dev/urandom: {e})"))?;
        let mut child = Command::new(program)
            .arg("serve-review")
            .args(roots.iter().flat_map(|root| [OsStr::new("--data-root"), root.as_os_str()]))
            .env("MEMSCOPE_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the review engine {}: {e}", program.display()))?;
        let pid = child.id();
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let (stdout, stderr) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
        // Its log lines (warnings and errors) go to the daemon's log.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                tracing::warn!("review engine (pid {pid}): {line}");
            }
        });
        let (first, first_line) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = first.send(lines.next());
            for line in lines.map_while(Result::ok) {
                tracing::warn!("review engine (pid {pid}): {line}");
            }
        });
        if let Err(e) = writeln!(stdin, "{secret}").and_then(|()| stdin.flush()) {
            let status = stop(child, Duration::ZERO);
            return Err(format!("the review engine ended ({status}) before it took its secret: {e}"));
        }
        let addr = match first_line.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => match line.strip_prefix(READY).and_then(|addr| addr.parse::<SocketAddr>().ok()) {
                Some(addr) => addr,
                None => {
                    stop(child, Duration::ZERO);
                    return Err(format!("the review engine did not start: {line}"));
                }
            },
            Ok(_) => {
                let status = stop(child, Duration::from_secs(1));
                return Err(format!("the review engine ended ({status}) before it listened; its errors are in the daemon's log"));
            }
            Err(_) => {
                stop(child, Duration::ZERO);
                return Err(format!("the review engine did not start within {} s", START_TIMEOUT.as_secs()));
            }
        };
        tracing::info!("review engine started: pid {pid}, listening on {addr}, in {} ms", started.elapsed().as_millis());
        let roots = roots.to_vec();
        Ok(Running { child, stdin, addr, secret, roots, last_used: Instant::now(), in_flight: Arc::default() })
    }

    /// How it ended, if it has.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Closes its standard input (it finishes the requests under way, then exits) and
    /// waits for it.
    fn end(self) {
        let Running { child, stdin, .. } = self;
        drop(stdin);
        stop(child, STOP_GRACE);
    }
}

/// Waits up to `grace` for `child` to exit, then kills it; says how it ended.
fn stop(mut child: Child, grace: Duration) -> String {
    let deadline = Instant::now() + grace;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.to_string(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                if !grace.is_zero() {
                    tracing::warn!("the review engine (pid {}) did not end within {} s: killed", child.id(), grace.as_secs());
                }
                return child.wait().map_or_else(|e| e.to_string(), |status| status.to_string());
            }
        }
    }
}

/// 32 random bytes as hex.
fn new_secret() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
