//! Which run a request is about: one fixed run for `memscope review`, the run the
//! daemon names in a header for its review engine (`daemon.rs`).

use crate::ReviewError;
use actix_web::HttpRequest;
use memscope::data::Access;
use std::path::PathBuf;

/// A run directory and how its dataset may be opened.
#[derive(Debug, Clone)]
pub struct RunPlace {
    /// The run directory.
    pub dir: PathBuf,
    /// Which files its dataset may be read from (the daemon's data roots).
    pub access: Access,
}

/// Finds the run a request is about, from its path (cheap: no file is read).
pub trait RunLocator: Send + Sync + 'static {
    /// The run of `request`, or why there is none (not found, not completed).
    fn locate(&self, request: &HttpRequest) -> Result<RunPlace, ReviewError>;
}

/// Always the same run: `memscope review RUN`.
#[derive(Debug, Clone)]
pub struct FixedRun(pub RunPlace);

impl RunLocator for FixedRun {
    fn locate(&self, _request: &HttpRequest) -> Result<RunPlace, ReviewError> {
        Ok(self.0.clone())
    }
}
