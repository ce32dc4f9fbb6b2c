//! Errors of the daemon: why it could not start, and what an API request gets back.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use memscope_base::config::Problem;
use serde::Serialize;
use std::path::PathBuf;

/// Why the daemon could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The config is unusable.
    #[error(transparent)]
    Config(#[from] memscope_base::config::ConfigError),
    /// A file or directory of the state could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Another daemon holds the state directory.
    #[error("{path} is in use by another memscope daemon (its lock is held)")]
    StateLocked {
        /// The lock file.
        path: PathBuf,
    },
    /// A job record in the state directory is unreadable.
    #[error("job record {path}: {message}")]
    Record {
        /// The record file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The listen address cannot be bound (in use, not an address of this machine).
    #[error("cannot listen on {addr}")]
    Bind {
        /// The listen address.
        addr: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("HTTP server on {addr}: {source}")]
    Server {
        /// The listen address.
        addr: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The metrics recorder could not be installed.
    #[error(transparent)]
    Metrics(#[from] memscope_prometheus::MetricsError),
}

impl DaemonError {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        DaemonError::Io { path: path.to_path_buf(), source }
    }
}

/// What an API request gets when it cannot be served: a status code and a JSON body
/// `{"error": "...", "problems": [{"key", "message"}]}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The submitted job is not valid TOML, does not fit the schema, or breaks a rule.
    #[error("invalid job: {message}")]
    InvalidJob {
        /// The summary line.
        message: String,
        /// Every problem, where the config parsed far enough to list them.
        problems: Vec<Problem>,
    },
    /// The request body is larger than `max_request_bytes`.
    #[error("request body larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The request (its body) did not arrive within `request_timeout_seconds`.
    #[error("the request did not arrive within {seconds} s")]
    RequestTimeout {
        /// The timeout.
        seconds: u64,
    },
    /// No or wrong bearer token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// No such job, or no such file of a job.
    #[error("{0}")]
    NotFound(String),
    /// The job is not in a state where this makes sense.
    #[error("{0}")]
    Conflict(String),
    /// A request that cannot be understood (a bad query, a body that is not UTF-8).
    #[error("{0}")]
    BadRequest(String),
    /// The `Host` header names neither the listen address nor an allowed host.
    #[error("`Host: {0}` does not name this daemon (its listen address, localhost for a loopback address, or `allowed_hosts`)")]
    WrongHost(String),
    /// A page of another origin sent the request.
    #[error("requests from pages of origin `{0}` are refused")]
    ForeignOrigin(String),
    /// A submission that is not `application/toml`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The path exists, the method does not; these are the methods it has.
    #[error("method not allowed here; allowed: {0}")]
    MethodNotAllowed(&'static str),
    /// The daemon is shutting down.
    #[error("the daemon is shutting down and accepts no new jobs")]
    ShuttingDown,
    /// The review engine (the process serving the review pages) could not be started
    /// or did not answer.
    #[error("{0}")]
    ReviewEngine(String),
    /// Something on the daemon's side failed (a file could not be written).
    #[error("{0}")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: String,
    #[serde(skip_serializing_if = "<[Problem]>::is_empty")]
    problems: &'a [Problem],
}

impl actix_web::ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidJob { .. } | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::WrongHost(_) => StatusCode::MISDIRECTED_REQUEST,
            ApiError::ForeignOrigin(_) => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::ReviewEngine(_) => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let problems = match self {
            ApiError::InvalidJob { problems, .. } => problems.as_slice(),
            _ => &[],
        };
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthorized(_) => {
                response.insert_header(("WWW-Authenticate", "Bearer"));
            }
            ApiError::MethodNotAllowed(allow) => {
                response.insert_header(("Allow", *allow));
            }
            // The rest of the request may still come or never will: the connection
            // cannot be used for another request either way.
            ApiError::RequestTimeout { .. } | ApiError::TooLarge { .. } => {
                response.force_close();
            }
            _ => {}
        }
        response.json(ErrorBody { error: self.to_string(), problems })
    }
}
