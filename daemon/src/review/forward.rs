//! One review request forwarded to the review engine, after the daemon's guard: the
//! same method, path, query, `Content-Type` and body (read within the daemon's
//! request limits), plus the engine's secret and, for the API, the run directory of
//! the completed job the path names. The engine's status, its headers of a page and
//! of an API answer, and its body come back; a long body (the data map: 860 KB for
//! 60,000 samples) is streamed as the engine sends it. ureq is
//! blocking, so the call runs on actix's blocking pool.

use super::engine::{Lease, ReviewEngine};
use super::is_review_page;
use crate::api::{find, read_body};
use crate::shared::Shared;
use crate::store::JobState;
use crate::ApiError;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use memscope_base::review_engine::{encode_path, RUN_HEADER, SECRET_HEADER};
use std::io::Read;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use ureq::http;

/// The engine's headers that reach the client (the rest describe the engine's
/// connection, which is not the client's).
const ANSWER_HEADERS: [&str; 6] =
    ["content-type", "cache-control", "location", "allow", "content-security-policy", "x-content-type-options"];

/// A body up to this long is read whole (a page of 48 cards, a thumbnail); a longer
/// one (500 cards, the data map: 860 KB for 60,000 samples) is streamed.
const WHOLE: u64 = 16 * 1024;

/// The blocks a long body is streamed in.
const BLOCK: usize = 64 * 1024;

/// Blocks of a streamed body read ahead of the client.
const BLOCKS_AHEAD: usize = 4;

/// The handler of every path under `/v1/jobs/{id}/review`.
pub async fn forward(shared: web::Data<Shared>, request: HttpRequest, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    // The page's files hold no run data; everything else is about a completed job's run.
    let run_dir = match is_review_page(request.path()) {
        true => None,
        false => Some(completed_run(&shared, request.match_info().get("id").unwrap_or_default())?),
    };
    let settings = shared.settings();
    let body = read_body(&request, payload, &settings.config).await?;
    let call = Call {
        // HEAD is GET without the body, as on every GET route of the daemon (actix-web
        // sends a HEAD answer's headers only); the engine's routes take GET alone.
        method: match request.method().as_str() {
            "HEAD" => "GET".to_string(),
            other => other.to_string(),
        },
        path: request.uri().path_and_query().map_or(request.path(), |p| p.as_str()).to_string(),
        content_type: request.headers().get("content-type").map(|v| v.as_bytes().to_vec()),
        run_dir,
        body,
    };
    let engine = shared.review_engine.clone();
    let roots = settings.config.data_roots;
    let answer = web::block(move || call.send(&engine, &roots)).await.map_err(|e| ApiError::Internal(format!("review worker: {e}")))??;
    Ok(answer.into_response())
}

/// The run directory of job `id`, when it has completed.
fn completed_run(shared: &Shared, id: &str) -> Result<PathBuf, ApiError> {
    let record = find(shared, id)?;
    if record.state != JobState::Completed {
        return Err(ApiError::Conflict(format!("job `{id}` is {}, not completed: its run cannot be reviewed yet", record.state.name())));
    }
    Ok(record.run_dir)
}

/// What is forwarded.
struct Call {
    method: String,
    path: String,
    content_type: Option<Vec<u8>>,
    run_dir: Option<PathBuf>,
    body: Bytes,
}

/// The engine's answer: its status and headers, its body read whole or to be streamed.
struct Answer {
    status: StatusCode,
    headers: Vec<(&'static str, Vec<u8>)>,
    length: Option<u64>,
    body: AnswerBody,
}

enum AnswerBody {
    Whole(Bytes),
    Stream(Box<dyn Read + Send>, Lease),
}

impl Call {
    /// Sends the request to the engine (started when none runs) and reads the head of
    /// its answer, and the body when it is short. Blocks.
    fn send(self, engine: &ReviewEngine, roots: &[PathBuf]) -> Result<Answer, ApiError> {
        let target = engine.acquire(roots).map_err(ApiError::ReviewEngine)?;
        let unanswered =
            |e: &dyn std::fmt::Display| ApiError::ReviewEngine(format!("the review engine (pid {}) did not answer: {e}", target.pid));
        let mut outgoing = http::Request::builder()
            .method(self.method.as_str())
            .uri(format!("http://{}{}", target.addr, self.path))
            .header(SECRET_HEADER, &target.secret);
        if let Some(dir) = &self.run_dir {
            outgoing = outgoing.header(RUN_HEADER, encode_path(dir));
        }
        if let Some(content_type) = self.content_type {
            outgoing = outgoing.header("content-type", content_type);
        }
        let outgoing =
            outgoing.body(self.body.to_vec()).map_err(|e| ApiError::BadRequest(format!("this request cannot be forwarded: {e}")))?;
        // A body-less request goes without one: ureq refuses a body on GET and HEAD.
        let answer = match outgoing.body().is_empty() {
            true => engine.agent().run(outgoing.map(|_| ())),
            false => engine.agent().run(outgoing),
        };
        let answer = answer.map_err(|e| unanswered(&e))?;
        let status = StatusCode::from_u16(answer.status().as_u16()).map_err(|e| unanswered(&e))?;
        let headers =
            ANSWER_HEADERS.iter().filter_map(|&name| answer.headers().get(name).map(|value| (name, value.as_bytes().to_vec()))).collect();
        let length = answer.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        let mut reader = answer.into_body().into_reader();
        let body = match length {
            Some(length) if length <= WHOLE => {
                let mut bytes = Vec::with_capacity(length as usize);
                reader.read_to_end(&mut bytes).map_err(|e| unanswered(&e))?;
                AnswerBody::Whole(Bytes::from(bytes))
            }
            _ => AnswerBody::Stream(Box::new(reader), target.lease),
        };
        Ok(Answer { status, headers, length, body })
    }
}

impl Answer {
    fn into_response(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        for (name, value) in self.headers {
            response.insert_header((name, value));
        }
        match self.body {
            AnswerBody::Whole(bytes) => response.body(bytes),
            AnswerBody::Stream(reader, lease) => {
                if let Some(length) = self.length {
                    response.no_chunking(length);
                }
                response.streaming(BodyStream::start(reader, lease))
            }
        }
    }
}

/// A long body, read from the engine in blocks by a blocking task and sent on as the
/// client takes them; the engine is held until the last block has been read.
struct BodyStream(tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>);

impl BodyStream {
    fn start(mut reader: Box<dyn Read + Send>, lease: Lease) -> BodyStream {
        let (blocks, receiver) = tokio::sync::mpsc::channel(BLOCKS_AHEAD);
        actix_web::rt::task::spawn_blocking(move || {
            let _lease = lease;
            loop {
                let mut block = vec![0; BLOCK];
                let read = match reader.read(&mut block) {
                    Ok(0) => return,
                    Ok(n) => {
                        block.truncate(n);
                        Ok(Bytes::from(block))
                    }
                    Err(e) => Err(e),
                };
                let failed = read.is_err();
                // An error ends the body; a client gone ends the reading.
                if blocks.blocking_send(read).is_err() || failed {
                    return;
                }
            }
        });
        BodyStream(receiver)
    }
}

impl futures_core::Stream for BodyStream {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(context)
    }
}
