//! The daemon's command-line client: `submit`, `jobs`, `status`, `cancel`, `retry`,
//! `logs`.
//! Each is one HTTP request to the API (the same one `curl` would make). Answers are
//! read as JSON values, not as the daemon's types, so this crate needs nothing of the
//! runtime (and the `memscope` binary does not link libtorch).

use anyhow::{bail, Context};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The media type of a submitted job (the daemon refuses others with 415).
pub const JOB_MEDIA_TYPE: &str = "application/toml";

/// Where the daemon is, and how to authenticate.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// The daemon's URL.
    #[arg(long, env = "MEMSCOPE_SERVER", default_value = "http://127.0.0.1:7464")]
    server: String,
    /// A file holding the daemon's bearer token.
    #[arg(long, env = "MEMSCOPE_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,
}

struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

/// A response: status and body text.
struct Reply {
    status: u16,
    body: String,
}

impl Client {
    fn new(args: &ServerArgs) -> anyhow::Result<Client> {
        let token = match &args.token_file {
            Some(file) => Some(
                std::fs::read_to_string(file).with_context(|| format!("cannot read the token file {}", file.display()))?.trim().to_string(),
            ),
            None => None,
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(60)))
            .build()
            .into();
        Ok(Client { agent, base: args.server.trim_end_matches('/').to_string(), token })
    }

    fn request(&self, method: &str, path: &str, body: Option<String>, headers: &[(&str, &str)]) -> anyhow::Result<Reply> {
        let url = format!("{}{path}", self.base);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        for (key, value) in headers {
            request = request.header(*key, *value);
        }
        let result = match body {
            Some(body) => {
                let request = request.header("Content-Type", JOB_MEDIA_TYPE).body(body).context("building the request")?;
                self.agent.run(request)
            }
            None => self.agent.run(request.body(()).context("building the request")?),
        };
        let mut response =
            result.with_context(|| format!("cannot reach the memscope daemon at {} (is it running? see --server)", self.base))?;
        let status = response.status().as_u16();
        let body =
            response.body_mut().with_config().limit(1 << 30).read_to_string().with_context(|| format!("reading the answer of {url}"))?;
        Ok(Reply { status, body })
    }

    /// The body of a 2xx reply, or the daemon's error as an error.
    fn ok(&self, method: &str, path: &str, body: Option<String>) -> anyhow::Result<String> {
        let reply = self.request(method, path, body, &[])?;
        Self::answer(reply)
    }

    /// The body of a 2xx reply, or the daemon's error as an error.
    fn answer(reply: Reply) -> anyhow::Result<String> {
        if (200..300).contains(&reply.status) {
            return Ok(reply.body);
        }
        let error: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        let message = error["error"].as_str().map(str::to_string).unwrap_or_else(|| reply.body.trim().to_string());
        let problems: Vec<String> = error["problems"]
            .as_array()
            .map(|ps| {
                ps.iter().map(|p| format!("{}: {}", p["key"].as_str().unwrap_or("?"), p["message"].as_str().unwrap_or("?"))).collect()
            })
            .unwrap_or_default();
        if problems.is_empty() {
            bail!("the daemon answered {}: {message}", reply.status)
        }
        bail!("the daemon answered {}: {message}: {}", reply.status, problems.join("; "))
    }
}

/// How long `submit` waits before each retry after a connection error.
const SUBMIT_RETRY_DELAYS_MS: [u64; 4] = [250, 500, 1000, 2000];

/// Submits a job with a fresh `Idempotency-Key`, and retries with the same key when
/// the connection fails: a submission that reached the daemon but whose answer was
/// lost is then answered with the job it created, not queued twice. `gpus`: the GPUs
/// the job needs (`?gpus=N`).
pub fn submit(server: &ServerArgs, config: &Path, gpus: Option<usize>) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(config).with_context(|| format!("cannot read {}", config.display()))?;
    let job = submit_text(server, text, gpus)?;
    println!("{}", job.id);
    eprintln!("queued job {} ({}); follow it with `memscope status {}`", job.id, job.name, job.id);
    Ok(())
}

/// A job the daemon queued.
#[derive(Debug, Clone)]
pub struct QueuedJob {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its run directory on the daemon's machine.
    pub run_dir: PathBuf,
}

/// Submits the job `text` (TOML) as `submit` does, asking for `gpus` GPUs (`?gpus=N`;
/// without it the daemon reads the job's device), and returns what the daemon queued.
pub fn submit_text(server: &ServerArgs, text: String, gpus: Option<usize>) -> anyhow::Result<QueuedJob> {
    let client = Client::new(server)?;
    let key = format!("{:032x}", rand::random::<u128>());
    let headers = [("Idempotency-Key", key.as_str())];
    let mut delays = SUBMIT_RETRY_DELAYS_MS.iter();
    let reply = loop {
        let path = gpus.map(|n| format!("/v1/jobs?gpus={n}")).unwrap_or_else(|| "/v1/jobs".into());
        match client.request("POST", &path, Some(text.clone()), &headers) {
            Ok(reply) => break reply,
            Err(e) => match delays.next() {
                Some(ms) => {
                    eprintln!("warning: {e:#}; retrying in {ms} ms (same Idempotency-Key)");
                    std::thread::sleep(std::time::Duration::from_millis(*ms));
                }
                None => return Err(e),
            },
        }
    };
    let body = Client::answer(reply)?;
    let job = job_of(&body)?;
    Ok(QueuedJob { id: field(&job, "id"), name: field(&job, "name"), run_dir: PathBuf::from(field(&job, "run_dir")) })
}

/// Queues a failed or cancelled job again.
pub fn retry(server: &ServerArgs, id: &str) -> anyhow::Result<()> {
    let body = Client::new(server)?.ok("POST", &format!("/v1/jobs/{id}/retry"), None)?;
    let job = job_of(&body)?;
    println!("job {}: {}", id, job["message"].as_str().unwrap_or(&field(&job, "state")));
    Ok(())
}

/// Lists the daemon's jobs, one line each.
pub fn jobs(server: &ServerArgs) -> anyhow::Result<()> {
    let body = Client::new(server)?.ok("GET", "/v1/jobs", None)?;
    let list: Value = serde_json::from_str(&body).context("the daemon's answer is not a job list")?;
    let jobs = list["jobs"].as_array().context("the daemon's answer is not a job list")?;
    println!("{:<8} {:<24} {:<10} {:<9} {:<6} MESSAGE", "ID", "NAME", "STATE", "EPOCH", "GPUS");
    for job in jobs {
        let text = |key: &str| job[key].as_str().unwrap_or("").to_string();
        let progress = &job["progress"];
        let epoch = match (progress["epoch"].as_u64(), progress["epochs"].as_u64()) {
            (Some(e), Some(n)) => format!("{e}/{n}"),
            _ => String::new(),
        };
        println!("{:<8} {:<24} {:<10} {:<9} {:<6} {}", text("id"), text("name"), text("state"), epoch, gpus_of(job), text("message"));
    }
    Ok(())
}

/// A job's GPUs for `jobs`: those given to it (`0,1`), else how many it waits for
/// (`(1)`), else `-`.
fn gpus_of(job: &Value) -> String {
    let given: Vec<String> = job["gpus"].as_array().into_iter().flatten().map(|g| g.to_string()).collect();
    match job["gpus_requested"].as_u64() {
        _ if !given.is_empty() => given.join(","),
        Some(n) if n > 0 => format!("({n})"),
        _ => "-".into(),
    }
}

/// Shows one job (as JSON with `json`).
pub fn status(server: &ServerArgs, id: &str, json: bool) -> anyhow::Result<()> {
    let body = Client::new(server)?.ok("GET", &format!("/v1/jobs/{id}"), None)?;
    let job: Value = serde_json::from_str(&body).context("the daemon's answer is not a job")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&job)?);
        return Ok(());
    }
    println!("job {} ({}): {}", id, job["name"].as_str().unwrap_or("?"), job["state"].as_str().unwrap_or("?"));
    if let Some(p) = job.get("progress").filter(|p| p.is_object()) {
        let loss = p["loss"].as_f64().map(|l| format!(", loss {l:.4}")).unwrap_or_default();
        // `epoch` counts the epochs completed.
        println!("  epoch {}/{} done{loss}", p["epoch"], p["epochs"]);
        let scoring = &p["scoring"];
        if scoring.is_object() {
            let scorer = scoring["scorer"].as_str().unwrap_or("?");
            println!("  scoring epoch {}: {scorer} {}/{} samples", scoring["epoch"], scoring["done"], scoring["total"]);
        }
    }
    if let Some(message) = job["message"].as_str() {
        println!("  {message}");
    }
    println!("  attempts {}, run directory {}", job["attempts"], job["run_dir"].as_str().unwrap_or("?"));
    Ok(())
}

/// Cancels a queued or running job.
pub fn cancel(server: &ServerArgs, id: &str) -> anyhow::Result<()> {
    let body = Client::new(server)?.ok("DELETE", &format!("/v1/jobs/{id}"), None)?;
    let job = job_of(&body)?;
    println!("job {}: {}", id, job["message"].as_str().unwrap_or(&field(&job, "state")));
    Ok(())
}

/// Prints a job's log (its last `tail` lines).
pub fn logs(server: &ServerArgs, id: &str, tail: Option<usize>) -> anyhow::Result<()> {
    let path = match tail {
        Some(n) => format!("/v1/jobs/{id}/logs?tail={n}"),
        None => format!("/v1/jobs/{id}/logs"),
    };
    print!("{}", Client::new(server)?.ok("GET", &path, None)?);
    Ok(())
}

/// A job the daemon answered with: an object with at least its id, name and state.
fn job_of(body: &str) -> anyhow::Result<Value> {
    let job: Value = serde_json::from_str(body).context("the daemon's answer is not a job")?;
    for key in ["id", "name", "state"] {
        if !job[key].is_string() {
            bail!("the daemon's answer is not a job (no `{key}`)");
        }
    }
    Ok(job)
}

/// A text field of a JSON object ("" when absent).
fn field(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_string()
}
