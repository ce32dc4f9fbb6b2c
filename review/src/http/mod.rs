//! The review over HTTP (actix-web): the bundled page and its JSON API under one
//! scope, mounted by `memscope review` at `/` ([`serve`]) and, for the daemon, at
//! `/v1/jobs/{id}/review/` by the engine process it forwards those paths to
//! ([`serve_for_daemon`]). A [`RunLocator`] says which run directory a request is
//! about; a [`RunCache`] keeps the opened runs.

mod assets;
mod cache;
mod daemon;
mod handlers;
mod host;
mod locate;
mod routes;
mod serve;

pub use cache::RunCache;
pub use daemon::{serve_for_daemon, DaemonReview};
pub use locate::{FixedRun, RunLocator, RunPlace};
pub use routes::{scope, Reviewer};
pub use serve::{serve, ServeOptions};
