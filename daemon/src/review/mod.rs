//! The review page of a completed job's run at `/v1/jobs/{id}/review/`: the same page
//! and API as `memscope review RUN`, behind the daemon's guard (Host and Origin checks
//! on everything, the bearer token on the API). The page's own files (HTML, script,
//! style: no run data) pass without the token, since a browser cannot add a header to
//! a link it follows; opened as `.../review/#token=TOKEN`, the page sends it with
//! every API request.
//!
//! The review reads the run's dataset (thumbnails) through the core library, which
//! links libtorch, and the daemon does not. So one `memscope-engine serve-review`
//! process serves the review of every run ([`engine`]): the first review request
//! starts it, an idle one ends, a crashed one is started again by the next request.
//! The daemon forwards each request under the prefix to it unchanged ([`forward`]),
//! naming the completed job's run directory.

mod engine;
mod forward;

pub use engine::ReviewEngine;

use actix_web::{web, Scope};
use memscope_base::review_engine::{is_page_file, REVIEW_PATH};

/// The review's scope, to register before the rest of `/v1`: every path under it is
/// forwarded.
pub fn review_scope() -> Scope {
    web::scope(REVIEW_PATH).default_service(web::to(forward::forward))
}

/// Whether `path` is a file of the review page (which the token does not guard).
pub fn is_review_page(path: &str) -> bool {
    let Some((id, rest)) = path.strip_prefix("/v1/jobs/").and_then(|p| p.split_once('/')) else {
        return false;
    };
    !id.is_empty() && rest.strip_prefix("review").is_some_and(is_page_file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_page_files_are_page_files() {
        for path in ["/v1/jobs/3/review", "/v1/jobs/3/review/", "/v1/jobs/3/review/app.js", "/v1/jobs/3/review/style.css"] {
            assert!(is_review_page(path), "{path}");
        }
        for path in
            ["/v1/jobs/3/review/api/run", "/v1/jobs/3/reviewer", "/v1/jobs//review/", "/v1/jobs/3", "/v1/jobs/3/summary", "/metrics"]
        {
            assert!(!is_review_page(path), "{path}");
        }
    }
}
