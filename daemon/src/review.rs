//! The review page of a completed job's run at `/v1/jobs/{id}/review/` (the same page
//! and API as `memscope review RUN`, from `memscope-review`), behind the daemon's
//! guard: Host and Origin checks on everything, the bearer token on the API. The
//! page's own files (HTML, script, style: no run data) pass without the token, since
//! a browser cannot add a header to a link it follows; opened as
//! `.../review/#token=TOKEN`, the page sends it with every API request.

use super::shared::Shared;
use super::store::JobState;
use actix_web::{web, HttpRequest, Scope};
use memscope::data::Access;
use memscope_review::http::{is_page_asset, scope, Reviewer, RunCache, RunLocator, RunPlace};
use memscope_review::ReviewError;
use std::sync::Arc;

/// Runs kept open at once (each holds its scores and, for formats read into memory,
/// its images): the ones being reviewed now, not every run the daemon has made.
const OPEN_RUNS: usize = 4;

/// The review's path under the daemon, `{id}` the job.
pub const REVIEW_PATH: &str = "/v1/jobs/{id}/review";

/// The review's handlers' shared state, made once for every worker.
pub fn reviewer(shared: Arc<Shared>) -> web::Data<Reviewer> {
    web::Data::new(Reviewer { locator: Box::new(JobRuns { shared }), cache: RunCache::new(OPEN_RUNS) })
}

/// The review's scope, to register before the rest of `/v1`.
pub fn review_scope(reviewer: web::Data<Reviewer>) -> Scope {
    scope(REVIEW_PATH, reviewer)
}

/// Whether `path` is a file of the review page (which the token does not guard).
pub fn is_review_page(path: &str) -> bool {
    let Some((id, rest)) = path.strip_prefix("/v1/jobs/").and_then(|p| p.split_once('/')) else {
        return false;
    };
    !id.is_empty() && rest.strip_prefix("review").is_some_and(is_page_asset)
}

/// A job's run: a completed job of this daemon, its data opened only under the data roots.
struct JobRuns {
    shared: Arc<Shared>,
}

impl RunLocator for JobRuns {
    fn locate(&self, request: &HttpRequest) -> Result<RunPlace, ReviewError> {
        let id = request.match_info().get("id").unwrap_or_default();
        let record = self.shared.store.lock().expect("store lock").get(id).cloned();
        let record = record.ok_or_else(|| ReviewError::NotFound(format!("no job `{id}`")))?;
        if record.state != JobState::Completed {
            return Err(ReviewError::Conflict(format!("job `{id}` is {}, not completed: its run cannot be reviewed yet", record.state.name())));
        }
        let access = Access::inside(&self.shared.settings().config.data_roots);
        Ok(RunPlace { dir: record.run_dir, access })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_page_files_are_page_files() {
        for path in ["/v1/jobs/3/review", "/v1/jobs/3/review/", "/v1/jobs/3/review/app.js", "/v1/jobs/3/review/style.css"] {
            assert!(is_review_page(path), "{path}");
        }
        for path in ["/v1/jobs/3/review/api/run", "/v1/jobs/3/reviewer", "/v1/jobs//review/", "/v1/jobs/3", "/v1/jobs/3/summary", "/metrics"] {
            assert!(!is_review_page(path), "{path}");
        }
    }
}
