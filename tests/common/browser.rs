//! A real browser for the end-to-end tests: Debian's `chromium`, headless, driven over
//! the Chrome DevTools Protocol (CDP) on a websocket (tungstenite).
//!
//! A small client of our own rather than `headless_chrome`: the tests need a handful
//! of CDP methods (create and attach a page, navigate, evaluate, mouse events),
//! tungstenite is a small, synchronous, well-kept websocket crate, and the browser is
//! started with exactly the flags this machine needs. Clicks are real mouse events at
//! an element's centre, after checking that nothing covers it there.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long a wait for the page lasts before the test fails.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// The flags every start uses (the machine has no GPU, no sandbox, no network).
const FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
];

/// A headless chromium with one page. Killed when dropped.
pub struct Browser {
    child: Child,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    /// Uncaught exceptions the page threw, as CDP describes them.
    exceptions: Vec<String>,
    stderr: Arc<Mutex<Vec<String>>>,
    _profile: tempfile::TempDir,
}

/// `chromium` on the PATH; the test fails with what to install when it is not.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("the browser tests need Debian's `chromium`, which is not on the PATH: install it (`apt-get install chromium`; `make test-deps` does)")
        })
}

impl Browser {
    /// Starts chromium with a fresh profile and opens a blank page.
    pub fn start() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(chromium())
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--remote-debugging-port=0")
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromium: {e}"));
        // Chromium names its DevTools websocket on stderr; the rest of stderr is kept
        // (and drained, so the browser never blocks on a full pipe) for failures.
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (found, address) = std::sync::mpsc::channel();
        let lines = BufReader::new(child.stderr.take().unwrap());
        let kept = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                if let Some(at) = line.find("ws://") {
                    let _ = found.send(line[at..].trim().to_string());
                }
                kept.lock().unwrap().push(line);
            }
        });
        let url = match address.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("chromium did not open its DevTools port within 60 s:\n{}", stderr.lock().unwrap().join("\n"));
            }
        };
        let (socket, _) = tungstenite::connect(&url).unwrap_or_else(|e| panic!("connecting to chromium at {url}: {e}"));
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        }
        let mut browser = Browser { child, socket, session: String::new(), next_id: 0, exceptions: Vec::new(), stderr, _profile: profile };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = browser.call("Target.attachToTarget", json!({"targetId": target["targetId"], "flatten": true}));
        browser.session = attached["sessionId"].as_str().expect("a session id").to_string();
        browser.call("Runtime.enable", json!({}));
        browser.call("Page.enable", json!({}));
        browser
    }

    /// Sends one CDP command (to the page once it is attached) and returns its result;
    /// events that arrive meanwhile are looked at for uncaught exceptions.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket.send(Message::text(message.to_string())).unwrap_or_else(|e| panic!("sending {method} to chromium: {e}"));
        loop {
            let frame =
                self.socket.read().unwrap_or_else(|e| panic!("waiting for chromium's answer to {method}: {e}{}", self.stderr_tail()));
            let Message::Text(text) = frame else { continue };
            let value: Value = serde_json::from_str(&text).expect("CDP sends JSON");
            if value["method"] == "Runtime.exceptionThrown" {
                let details = &value["params"]["exceptionDetails"];
                let description = details["exception"]["description"].as_str().or(details["text"].as_str()).unwrap_or("?");
                self.exceptions.push(description.to_string());
            }
            if value["id"] == id {
                if let Some(error) = value.get("error") {
                    panic!("chromium refused {method}: {error}");
                }
                return value["result"].clone();
            }
        }
    }

    /// Opens `url` and waits until the document has loaded.
    pub fn goto(&mut self, url: &str) {
        let answer = self.call("Page.navigate", json!({"url": url}));
        assert!(answer.get("errorText").is_none(), "cannot open {url}: {answer}");
        self.wait_for("document.readyState === 'complete'", &format!("{url} to load"));
    }

    /// The value of a JavaScript expression in the page (promises awaited).
    pub fn eval(&mut self, expression: &str) -> Value {
        let answer = self.call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true, "awaitPromise": true}));
        if let Some(details) = answer.get("exceptionDetails") {
            panic!("`{expression}` threw in the page: {}", details["exception"]["description"].as_str().unwrap_or(&details.to_string()));
        }
        answer["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy (polling), and returns its value; fails the
    /// test after [`PAGE_TIMEOUT`], saying what it waited for and the page's status line.
    pub fn wait_for(&mut self, expression: &str, what: &str) -> Value {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            let value = self.eval(expression);
            let truthy = !matches!(&value, Value::Null | Value::Bool(false)) && value != json!(0) && value != json!("");
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                let status = self.eval("(document.getElementById('status') || {}).textContent || ''");
                panic!(
                    "waited {PAGE_TIMEOUT:?} for {what} (`{expression}` is {value}); page status: {status}; exceptions: {:?}",
                    self.exceptions
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Clicks the element `selector` names with the mouse, at its centre, after
    /// scrolling it into view; fails when there is none or something else covers it.
    pub fn click(&mut self, selector: &str) {
        let quoted = serde_json::to_string(selector).unwrap();
        let point = self.eval(&format!(
            "(() => {{ const e = document.querySelector({quoted}); if (!e) return null; e.scrollIntoView({{block: 'center'}});
               const r = e.getBoundingClientRect(); const x = r.left + r.width / 2, y = r.top + r.height / 2;
               return [x, y, e.contains(document.elementFromPoint(x, y))]; }})()"
        ));
        let point = point.as_array().unwrap_or_else(|| panic!("no element matches `{selector}`"));
        assert_eq!(point[2], json!(true), "`{selector}` is covered by another element at its centre");
        self.click_at(point[0].as_f64().unwrap(), point[1].as_f64().unwrap());
    }

    /// A left click at `(x, y)` in the viewport.
    pub fn click_at(&mut self, x: f64, y: f64) {
        self.call("Input.dispatchMouseEvent", json!({"type": "mouseMoved", "x": x, "y": y}));
        for kind in ["mousePressed", "mouseReleased"] {
            self.call("Input.dispatchMouseEvent", json!({"type": kind, "x": x, "y": y, "button": "left", "buttons": 1, "clickCount": 1}));
        }
    }

    /// The uncaught exceptions the page threw so far.
    pub fn exceptions(&self) -> &[String] {
        &self.exceptions
    }

    fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().unwrap();
        let tail: Vec<&str> = lines.iter().rev().take(20).rev().map(String::as_str).collect();
        format!("\nchromium's last lines:\n{}", tail.join("\n"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
