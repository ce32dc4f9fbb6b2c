//! Errors of the report module. Each names the file and what is wrong with it.
//!
//! Underlying errors are part of the message and not also returned as `source()`:
//! the binary prints the whole cause chain on one line, which would repeat them.

use std::path::PathBuf;

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The run directory does not exist.
    #[error("run directory {path} does not exist")]
    RunDirMissing {
        /// The directory given.
        path: PathBuf,
    },
    /// The directory exists but lacks what every finished run has.
    #[error("{path} is not a finished run directory: {message}")]
    NotARunDir {
        /// The directory given.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
    /// The run's `config.toml` is invalid (the message names the file, key, line and column).
    #[error("{0}")]
    Config(memscope::config::ConfigError),
    /// The dataset the run's config names could not be opened again.
    #[error("cannot re-open the run's dataset: {0}")]
    Data(memscope::data::DataError),
    /// A file of the run (labels, mask, scores, summary) is unreadable or does not fit
    /// the run (wrong length, shape or type, values that are not finite).
    #[error("{path}: {message}")]
    RunFile {
        /// The file.
        path: PathBuf,
        /// What was expected and what was found.
        message: String,
    },
    /// A reference score file is unreadable or does not fit the run.
    #[error("reference {path}: {message}")]
    Reference {
        /// The reference file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A report setting given on the command line is out of range.
    #[error("report setting `{key}`: {message}")]
    Setting {
        /// The setting.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A plot could not be drawn.
    #[error("cannot draw {path}: {message}")]
    Plot {
        /// The PNG being drawn.
        path: PathBuf,
        /// The drawing library's message.
        message: String,
    },
    /// A PNG could not be encoded or written.
    #[error("cannot write image {path}: {cause}")]
    Image {
        /// The PNG.
        path: PathBuf,
        /// The encoder's error.
        cause: image::ImageError,
    },
    /// A file of the report could not be written.
    #[error("cannot write {path}: {cause}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// libtorch failed while projecting images for the duplicates search.
    #[error("duplicates search: {0}")]
    Torch(tch::TchError),
}

impl From<memscope::data::DataError> for ReportError {
    fn from(e: memscope::data::DataError) -> Self {
        ReportError::Data(e)
    }
}

impl From<tch::TchError> for ReportError {
    fn from(e: tch::TchError) -> Self {
        ReportError::Torch(e)
    }
}

impl ReportError {
    pub(crate) fn io(path: &std::path::Path, cause: std::io::Error) -> Self {
        ReportError::Io { path: path.to_path_buf(), cause }
    }

    pub(crate) fn run_file(path: &std::path::Path, message: impl Into<String>) -> Self {
        ReportError::RunFile { path: path.to_path_buf(), message: message.into() }
    }

    pub(crate) fn reference(path: &std::path::Path, message: impl Into<String>) -> Self {
        ReportError::Reference { path: path.to_path_buf(), message: message.into() }
    }

    pub(crate) fn plot(path: &std::path::Path, message: impl std::fmt::Display) -> Self {
        ReportError::Plot { path: path.to_path_buf(), message: message.to_string() }
    }
}
