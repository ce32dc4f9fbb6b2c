//! `memscope review RUN` as a user starts it: its own process on a free loopback port,
//! the URL it prints, and an HTTP client for the page's JSON API.

use crate::daemon::Reply;
use crate::memscope_bin;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running review server. Killed when dropped.
pub struct ReviewServer {
    child: Child,
    /// The page, as printed: `http://127.0.0.1:PORT/`.
    pub url: String,
    agent: ureq::Agent,
}

impl ReviewServer {
    /// Starts `memscope review RUN_DIR --listen 127.0.0.1:0` and waits for the line
    /// with its URL.
    pub fn start(run_dir: &Path) -> ReviewServer {
        let mut child = Command::new(memscope_bin())
            .arg("review")
            .arg(run_dir)
            .args(["--listen", "127.0.0.1:0"])
            .env("MEMSCOPE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning memscope review");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let Some(at) = line.find("http://") else {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("memscope review printed no URL: {line}\n{}", String::from_utf8_lossy(&output.stderr));
        };
        let url = line[at..].split_whitespace().next().unwrap().to_string();
        let agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(60))).build().into();
        ReviewServer { child, url, agent }
    }

    /// `GET api/PATH`.
    pub fn get(&self, path: &str) -> Reply {
        let mut response = self.agent.get(format!("{}api/{path}", self.url)).call().unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or(""))).collect();
        let body = response.body_mut().with_config().limit(1 << 30).read_to_string().unwrap_or_default();
        Reply { status, body, headers }
    }

    /// `GET api/PATH` that must succeed, as JSON.
    pub fn json(&self, path: &str) -> serde_json::Value {
        let reply = self.get(path);
        assert_eq!(reply.status, 200, "GET api/{path}: {}", reply.body);
        reply.json()
    }

    /// `GET api/PATH` of a binary body.
    pub fn bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let mut response = self.agent.get(format!("{}api/{path}", self.url)).call().unwrap();
        (response.status().as_u16(), response.body_mut().read_to_vec().unwrap())
    }

    /// `POST api/PATH` with `body` as `content_type`.
    pub fn post(&self, path: &str, body: &str, content_type: &str) -> Reply {
        let mut response = self.agent.post(format!("{}api/{path}", self.url)).header("Content-Type", content_type).send(body).unwrap();
        let status = response.status().as_u16();
        Reply { status, body: response.body_mut().read_to_string().unwrap_or_default(), headers: Vec::new() }
    }

    /// A decision, as the page sends it.
    pub fn decide(&self, decision: serde_json::Value) -> Reply {
        self.post("decisions", &decision.to_string(), "application/json")
    }
}

impl Drop for ReviewServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
