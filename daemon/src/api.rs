//! The HTTP API (`/v1/...`, `/healthz`, `/readyz`, `/metrics`). Every error is a JSON
//! body `{"error": ..., "problems": [...]}` with a 4xx or 5xx status.

use super::job_log;
use super::shared::{Progress, Shared};
use super::store::{Idempotency, JobRecord, JobState, KeyLookup, Store};
use super::{ApiError, RunnerCommand};
use actix_web::{guard, web, FromRequest, Handler, HttpRequest, HttpResponse, Responder};
use memscope_base::config::DaemonConfig;
use memscope_base::metrics::Metric;
use memscope_npy::NpyArray;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// Registers every route. A known path with another method is 405 with `Allow`; bad
/// path segments and queries are JSON errors like every other. Every GET route
/// answers HEAD too, as GET without the body (actix-web sends a HEAD response's
/// headers only).
pub fn routes(routes: &mut web::ServiceConfig) {
    routes
        .app_data(web::QueryConfig::default().error_handler(|e, _| ApiError::BadRequest(format!("bad query: {e}")).into()))
        .app_data(web::PathConfig::default().error_handler(|e, _| ApiError::BadRequest(format!("bad path: {e}")).into()))
        .service(resource("/healthz", "GET, HEAD").route(get(healthz)))
        .service(resource("/readyz", "GET, HEAD").route(get(readyz)))
        .service(resource("/metrics", "GET, HEAD").route(get(metrics)))
        .service(
            web::scope("/v1")
                .service(resource("/jobs", "GET, HEAD, POST").route(get(list)).route(web::post().to(submit)))
                .service(resource("/jobs/{id}", "GET, HEAD, DELETE").route(get(status)).route(web::delete().to(cancel)))
                .service(resource("/jobs/{id}/retry", "POST").route(web::post().to(retry)))
                .service(resource("/jobs/{id}/summary", "GET, HEAD").route(get(summary)))
                .service(resource("/jobs/{id}/scores/{scorer}", "GET, HEAD").route(get(scores)))
                .service(resource("/jobs/{id}/report/{file}", "GET, HEAD").route(get(report)))
                .service(resource("/jobs/{id}/logs", "GET, HEAD").route(get(logs)))
                .service(resource("/jobs/{id}/config", "GET, HEAD").route(get(config))),
        )
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::NotFound("no such endpoint (the API is described in the README)".into()))
        }));
}

/// A path whose other methods get 405 with `Allow: allow`.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed(allow)) }))
}

/// A GET route that answers HEAD as well (RFC 9110: HEAD is GET without content).
fn get<F, Args>(handler: F) -> actix_web::Route
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::route().guard(guard::Any(guard::Get()).or(guard::Head())).to(handler)
}

/// A job as the API shows it: its record, and its progress while it runs.
#[derive(Debug, Serialize, Deserialize)]
pub struct JobView {
    /// The record.
    #[serde(flatten)]
    pub record: JobRecord,
    /// Live progress, for jobs that ran since the daemon started.
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

fn view(shared: &Shared, record: JobRecord) -> JobView {
    let progress = shared.progress.lock().expect("progress lock").get(&record.id).cloned();
    JobView { record, progress }
}

pub fn find(shared: &Shared, id: &str) -> Result<JobRecord, ApiError> {
    shared.store.lock().expect("store lock").get(id).cloned().ok_or_else(|| ApiError::NotFound(format!("no job `{id}`")))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn readyz(shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    if shared.accepting() {
        Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
    } else {
        Err(ApiError::ShuttingDown)
    }
}

/// The daemon's and its jobs' series, and each of its GPUs' memory (read now).
async fn metrics(shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    let mut text = shared.run_metrics.render(&shared.metrics);
    if let Some(gpus) = shared.settings().gpus.filter(|g| !g.is_empty()) {
        text += &web::block(move || super::gpus::metrics_text(&gpus)).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(text))
}

/// A request's body, within `max_request_bytes` and `request_timeout_seconds`: a
/// declared length over the limit is refused before any of the body is waited for.
pub async fn read_body(request: &HttpRequest, body: web::Payload, config: &DaemonConfig) -> Result<web::Bytes, ApiError> {
    let limit = config.max_request_bytes;
    let declared = request.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::TooLarge { limit });
    }
    let seconds = config.request_timeout_seconds;
    actix_web::rt::time::timeout(Duration::from_secs(seconds), body.to_bytes_limited(limit))
        .await
        .map_err(|_| ApiError::RequestTimeout { seconds })?
        .map_err(|_| ApiError::TooLarge { limit })?
        .map_err(|e| ApiError::BadRequest(format!("reading the request body: {e}")))
}

/// The media type of a submission. A browser form can only send
/// `application/x-www-form-urlencoded`, `multipart/form-data` or `text/plain`, and a
/// script on another origin cannot send anything else without the daemon's consent
/// (a CORS preflight, which it never gives).
pub const JOB_MEDIA_TYPE: &str = "application/toml";

/// What a submission may ask besides its job.
#[derive(Debug, Deserialize)]
struct SubmitQuery {
    /// GPUs the job needs (by default 1 for `device = "cuda"`, else 0).
    gpus: Option<usize>,
}

/// `POST /v1/jobs` with the job's TOML as the body (`Content-Type: application/toml`),
/// `?gpus=N` for a job that needs N GPUs: validated completely, stored durably, then
/// queued. 201 with the job.
async fn submit(
    shared: web::Data<Shared>,
    request: HttpRequest,
    query: web::Query<SubmitQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let media_type = request.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = media_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case(JOB_MEDIA_TYPE) {
        let given = if media_type.is_empty() { "no Content-Type".to_string() } else { format!("`{media_type}`") };
        return Err(ApiError::UnsupportedMediaType(format!("a job is submitted as `Content-Type: {JOB_MEDIA_TYPE}`, not {given}")));
    }
    if !shared.accepting() {
        return Err(ApiError::ShuttingDown);
    }
    let settings = shared.settings();
    let bytes = read_body(&request, body, &settings.config).await?;
    let text = std::str::from_utf8(&bytes).map_err(|_| ApiError::BadRequest("the job must be UTF-8 TOML text".into()))?.to_string();
    let idempotency = idempotency(&request, &bytes, query.gpus)?;
    // A retried submission is answered before it is checked again: the policy may
    // have changed since, and the job exists either way.
    if let Some(used) = &idempotency {
        if let Some(answer) = replay(&shared, used)? {
            return Ok(answer);
        }
    }
    // The plugins' settings are checked by a process of their own (`plugin_check`).
    let (policy, checker) = (settings.policy.clone(), shared.settings_checker.clone());
    let job = web::block(move || policy.check(&text, &checker)).await.map_err(|e| ApiError::Internal(e.to_string()))??;
    let gpus_requested = super::gpus::request(query.gpus, &job.device, settings.gpus.as_deref())
        .map_err(|problem| ApiError::InvalidJob { message: "1 problem(s)".into(), problems: vec![problem] })?;
    let stored = toml::to_string_pretty(&job).expect("a job config serializes to TOML");
    let runs_dir = settings.config.runs_dir();
    let staged = {
        let mut store = shared.store.lock().expect("store lock");
        // Checked again under the lock that stages: two copies of one request may race.
        if let Some(used) = &idempotency {
            if let Some(answer) = replay_locked(&shared, &store, used)? {
                return Ok(answer);
            }
        }
        store.stage(&job.name, &stored, &runs_dir, idempotency, gpus_requested)
    };
    let (staged, written) = web::block(move || {
        let written = staged.write();
        (staged, written)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Err(e) = written {
        shared.store.lock().expect("store lock").abandon(&staged);
        return Err(ApiError::Internal(e.to_string()));
    }
    let record = shared.store.lock().expect("store lock").commit(staged);
    metrics::counter!(Metric::DaemonSubmissions.name()).increment(1);
    tracing::info!("job {} ({}) queued", record.id, record.name);
    let _ = shared.runner.send(RunnerCommand::Wake);
    Ok(HttpResponse::Created().json(view(&shared, record)))
}

/// The longest `Idempotency-Key` accepted.
const MAX_KEY_LENGTH: usize = 200;

/// The request's `Idempotency-Key` (1 to 200 visible ASCII characters) with the
/// SHA-256 of what it asks: its body and its `?gpus`. A retry repeats both; the same
/// body asking for other GPUs is another request. Without `?gpus` the hash is the
/// body's alone, as it was before `?gpus` existed, so stored keys still match.
fn idempotency(request: &HttpRequest, body: &[u8], gpus: Option<usize>) -> Result<Option<Idempotency>, ApiError> {
    let Some(value) = request.headers().get("idempotency-key") else { return Ok(None) };
    let key = value.to_str().unwrap_or("");
    if key.is_empty() || key.len() > MAX_KEY_LENGTH || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::BadRequest(format!("`Idempotency-Key` must be 1 to {MAX_KEY_LENGTH} visible ASCII characters")));
    }
    let mut hasher = Sha256::new();
    hasher.update(body);
    if let Some(n) = gpus {
        hasher.update(format!("\0?gpus={n}"));
    }
    let body_sha256 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Some(Idempotency { key: key.to_string(), body_sha256 }))
}

/// The answer to a submission whose key was seen before, if it was.
fn replay(shared: &Shared, used: &Idempotency) -> Result<Option<HttpResponse>, ApiError> {
    let store = shared.store.lock().expect("store lock");
    replay_locked(shared, &store, used)
}

/// [`replay`] with the store already locked: 200 with the job for the same key and
/// body, 409 for the same key with another body or while the first copy is stored.
fn replay_locked(shared: &Shared, store: &Store, used: &Idempotency) -> Result<Option<HttpResponse>, ApiError> {
    match store.lookup_key(&used.key, &used.body_sha256) {
        KeyLookup::Free => Ok(None),
        KeyLookup::Same(record) => Ok(Some(HttpResponse::Ok().json(view(shared, record)))),
        KeyLookup::Pending(id) => {
            Err(ApiError::Conflict(format!("a submission with this Idempotency-Key (job `{id}`) is still being stored; retry")))
        }
        KeyLookup::OtherBody(id) => Err(ApiError::Conflict(format!(
            "this Idempotency-Key was used for job `{id}` with another request (body or `?gpus`); use a new key for a new job"
        ))),
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct JobList {
    jobs: Vec<JobView>,
}

async fn list(shared: web::Data<Shared>) -> HttpResponse {
    let records: Vec<JobRecord> = shared.store.lock().expect("store lock").list().cloned().collect();
    let jobs = records.into_iter().map(|r| view(&shared, r)).collect();
    HttpResponse::Ok().json(JobList { jobs })
}

async fn status(shared: web::Data<Shared>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let record = find(&shared, &id)?;
    Ok(HttpResponse::Ok().json(view(&shared, record)))
}

/// `DELETE /v1/jobs/{id}`: a queued job is cancelled at once (200); a running one is
/// asked to stop at its next step (202); a finished one cannot be (409).
async fn cancel(shared: web::Data<Shared>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let record = {
        let mut store = shared.store.lock().expect("store lock");
        let record = store.get(&id).cloned().ok_or_else(|| ApiError::NotFound(format!("no job `{id}`")))?;
        match record.state {
            JobState::Queued => store.update(&id, |r| {
                r.state = JobState::Cancelled;
                r.cancel_requested = true;
                r.finished_at = Some(super::store::now());
                r.message = Some("cancelled before it started".into());
            }),
            JobState::Running => store.update(&id, |r| {
                r.cancel_requested = true;
                r.message = Some("cancelling: stops at its next training step".into());
            }),
            state => return Err(ApiError::Conflict(format!("job `{id}` is already {}", state.name()))),
        }
        .map_err(|e| ApiError::Internal(e.to_string()))?
    };
    if record.state == JobState::Running {
        let _ = shared.runner.send(RunnerCommand::Cancel(record.id.clone()));
        Ok(HttpResponse::Accepted().json(view(&shared, record)))
    } else {
        Ok(HttpResponse::Ok().json(view(&shared, record)))
    }
}

/// `POST /v1/jobs/{id}/retry`: a failed or cancelled job is queued again (200) and
/// resumes from its newest checkpoint when its run got that far. A job in any other
/// state is 409; a `broken` one needs its record repaired (or removed) by hand.
async fn retry(shared: web::Data<Shared>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    if !shared.accepting() {
        return Err(ApiError::ShuttingDown);
    }
    let record = {
        let mut store = shared.store.lock().expect("store lock");
        let record = store.get(&id).cloned().ok_or_else(|| ApiError::NotFound(format!("no job `{id}`")))?;
        if !matches!(record.state, JobState::Failed | JobState::Cancelled) {
            let state = record.state.name();
            return Err(ApiError::Conflict(format!("job `{id}` is {state}: only failed or cancelled jobs can be retried")));
        }
        store
            .update(&id, |r| {
                r.state = JobState::Queued;
                r.cancel_requested = false;
                r.finished_at = None;
                r.message = Some(format!("queued again by a retry (it was {})", record.state.name()));
            })
            .map_err(|e| ApiError::Internal(e.to_string()))?
    };
    tracing::info!("job {} ({}) queued again by a retry", record.id, record.name);
    let _ = shared.runner.send(RunnerCommand::Wake);
    Ok(HttpResponse::Ok().json(view(&shared, record)))
}

fn completed(shared: &Shared, id: &str) -> Result<JobRecord, ApiError> {
    let record = find(shared, id)?;
    if record.state != JobState::Completed {
        return Err(ApiError::Conflict(format!("job `{id}` is {}, not completed", record.state.name())));
    }
    Ok(record)
}

async fn summary(shared: web::Data<Shared>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let record = completed(&shared, &id)?;
    let path = record.run_dir.join("summary.json");
    let text = std::fs::read_to_string(&path).map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))?;
    Ok(HttpResponse::Ok().content_type("application/json").body(text))
}

#[derive(Debug, Deserialize)]
struct ScoresQuery {
    /// `npy` (default) or `json`.
    format: Option<String>,
}

/// `GET /v1/jobs/{id}/scores/{scorer}`: the `.npy` file, or `?format=json` for
/// `{"scorer", "values", "labels", "sources", "class_names"}`: with each value the
/// sample's label as trained and its source (the file to open to check it), and the
/// class names that the labels index (runs made before these files existed lack them).
async fn scores(
    shared: web::Data<Shared>,
    path: web::Path<(String, String)>,
    query: web::Query<ScoresQuery>,
) -> Result<HttpResponse, ApiError> {
    let (id, scorer) = path.into_inner();
    if scorer.is_empty() || !scorer.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(ApiError::BadRequest(format!("`{scorer}` is not a score name (letters, digits, - and _)")));
    }
    let record = completed(&shared, &id)?;
    let file = record.run_dir.join("scores").join(format!("{scorer}.npy"));
    if !file.is_file() {
        let known: Vec<String> = std::fs::read_dir(record.run_dir.join("scores"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".npy")).map(str::to_string))
            .filter(|n| !n.ends_with("_epochs"))
            .collect();
        return Err(ApiError::NotFound(format!("job `{id}` has no score `{scorer}` (it has: {})", known.join(", "))));
    }
    match query.format.as_deref().unwrap_or("npy") {
        "npy" => {
            let bytes = std::fs::read(&file).map_err(|e| ApiError::Internal(format!("{}: {e}", file.display())))?;
            Ok(HttpResponse::Ok().content_type("application/octet-stream").body(bytes))
        }
        "json" => {
            let run_dir = record.run_dir.clone();
            let (values, names) = web::block(move || Ok::<_, String>((read_scores(&file)?, read_names(&run_dir)?)))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
                .map_err(ApiError::Internal)?;
            let mut body = serde_json::json!({"scorer": scorer, "values": values});
            for (key, value) in names {
                body[key] = value;
            }
            Ok(HttpResponse::Ok().json(body))
        }
        other => Err(ApiError::BadRequest(format!("unknown format `{other}`: use npy or json"))),
    }
}

/// The run's labels as trained (`labels.npy`), `sources.json` and `classes.json`, for
/// those that exist.
fn read_names(run_dir: &std::path::Path) -> Result<Vec<(&'static str, serde_json::Value)>, String> {
    let mut names = Vec::new();
    let labels = run_dir.join("labels.npy");
    if labels.is_file() {
        let values = read_array(&labels, |array| array.to_i64())?;
        names.push(("labels", serde_json::json!(values)));
    }
    for (key, file) in [("sources", "sources.json"), ("class_names", "classes.json")] {
        let path = run_dir.join(file);
        if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let value: Vec<String> = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            names.push((key, serde_json::json!(value)));
        }
    }
    Ok(names)
}

fn read_scores(file: &std::path::Path) -> Result<Vec<f32>, String> {
    read_array(file, |array| Ok(array.to_f32()))
}

/// The values of the `.npy` file at `path`, read without libtorch (the daemon never
/// loads it, see `memscope-daemon`).
fn read_array<T>(path: &std::path::Path, values: impl FnOnce(&NpyArray) -> Result<Vec<T>, String>) -> Result<Vec<T>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    NpyArray::parse(&bytes).and_then(|array| values(&array)).map_err(|e| format!("{}: {e}", path.display()))
}

/// `GET /v1/jobs/{id}/report/{file}`: a file of the run's report (`index.html` links
/// the others by relative name, so the page works when opened from here).
async fn report(shared: web::Data<Shared>, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (id, file) = path.into_inner();
    let plain = !file.starts_with('.') && file.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !plain {
        return Err(ApiError::BadRequest(format!("`{file}` is not a report file name")));
    }
    let record = completed(&shared, &id)?;
    let path = record.run_dir.join("report").join(&file);
    let bytes = std::fs::read(&path).map_err(|_| ApiError::NotFound(format!("job `{id}` has no report file `{file}`")))?;
    let content_type = match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("png") => "image/png",
        Some("csv") => "text/csv; charset=utf-8",
        _ => "application/octet-stream",
    };
    Ok(HttpResponse::Ok().content_type(content_type).body(bytes))
}

#[derive(Debug, Deserialize)]
struct LogsQuery {
    /// Only the last N lines.
    tail: Option<usize>,
}

/// `GET /v1/jobs/{id}/logs`: the job's log (its older part first when it was rotated,
/// see `job_log`), streamed; `?tail=N`: its last N lines, read from the end.
async fn logs(shared: web::Data<Shared>, id: web::Path<String>, query: web::Query<LogsQuery>) -> Result<HttpResponse, ApiError> {
    find(&shared, &id)?;
    let path = shared.store.lock().expect("store lock").log_path(&id);
    let mut response = HttpResponse::Ok();
    response.content_type("text/plain; charset=utf-8");
    match query.tail {
        Some(n) => {
            let tail = web::block(move || job_log::tail(&path, n)).await.map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok(response.body(tail.map_err(|e| ApiError::Internal(format!("the job's log: {e}")))?))
        }
        None => Ok(response.streaming(job_log::LogStream::new(&path))),
    }
}

async fn config(shared: web::Data<Shared>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    find(&shared, &id)?;
    let path = shared.store.lock().expect("store lock").config_path(&id);
    let text = std::fs::read_to_string(&path).map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))?;
    Ok(HttpResponse::Ok().content_type("application/toml").body(text))
}

/// The shared state as handlers receive it.
pub fn data(shared: Arc<Shared>) -> web::Data<Shared> {
    web::Data::from(shared)
}
