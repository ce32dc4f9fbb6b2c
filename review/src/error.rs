//! Errors of the review: why a run cannot be opened, why a request is refused, why a
//! decision could not be saved. Over HTTP each is a JSON body `{"error": "..."}` with
//! the status that fits it.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use std::path::PathBuf;

/// Why the review could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The run directory, its config, labels or scores, or its dataset, could not be
    /// read (the report's reader says which file and what is wrong).
    #[error("{0}")]
    Run(#[from] memscope_report::ReportError),
    /// A file the review reads besides the report's (`label_issues.csv`,
    /// `predictions/*.npy`, `summary.json`) does not fit the run.
    #[error("{path}: {message}")]
    RunFile {
        /// The file.
        path: PathBuf,
        /// What was expected and what was found.
        message: String,
    },
    /// A line of `corrections.csv` names no sample of the run, an unknown class or
    /// action, or is not a row of the contract's columns.
    #[error("{path} line {line}: {message}")]
    Corrections {
        /// The corrections file.
        path: PathBuf,
        /// Its 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// `--listen` is not an IP address and port.
    #[error("--listen `{0}` is not an address and port (e.g. 127.0.0.1:7465)")]
    Listen(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {cause}")]
    Bind {
        /// The address given.
        addr: String,
        /// The underlying error.
        cause: std::io::Error,
    },
    /// A request's parameters or body are not what the API takes.
    #[error("{0}")]
    BadRequest(String),
    /// No such sample, endpoint, or (in the daemon) job.
    #[error("{0}")]
    NotFound(String),
    /// The run cannot be reviewed yet (in the daemon: the job has not completed).
    #[error("{0}")]
    Conflict(String),
    /// A decision was not sent as `Content-Type: application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A known path asked with another method; the methods it takes.
    #[error("method not allowed (allowed: {0})")]
    MethodNotAllowed(&'static str),
    /// The `Host` header names another server (DNS rebinding).
    #[error("`Host: {0}` does not name this server")]
    WrongHost(String),
    /// A request from a page of another origin.
    #[error("requests from `{0}` are not allowed")]
    ForeignOrigin(String),
    /// A request to the daemon's review server that does not come from the daemon.
    #[error("{0}: this review server answers its daemon only")]
    NotTheDaemon(String),
    /// A worker thread failed.
    #[error("{0}")]
    Internal(String),
}

impl ReviewError {
    pub(crate) fn io(path: &std::path::Path, cause: std::io::Error) -> Self {
        ReviewError::Io { path: path.to_path_buf(), cause }
    }

    pub(crate) fn run_file(path: &std::path::Path, message: impl Into<String>) -> Self {
        ReviewError::RunFile { path: path.to_path_buf(), message: message.into() }
    }
}

#[derive(serde::Serialize)]
struct ErrorBody {
    error: String,
}

impl actix_web::ResponseError for ReviewError {
    fn status_code(&self) -> StatusCode {
        match self {
            ReviewError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ReviewError::NotFound(_) => StatusCode::NOT_FOUND,
            ReviewError::Conflict(_) => StatusCode::CONFLICT,
            ReviewError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ReviewError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ReviewError::WrongHost(_) => StatusCode::MISDIRECTED_REQUEST,
            ReviewError::ForeignOrigin(_) | ReviewError::NotTheDaemon(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let ReviewError::MethodNotAllowed(allow) = self {
            response.insert_header(("Allow", *allow));
        }
        response.json(ErrorBody { error: self.to_string() })
    }
}
