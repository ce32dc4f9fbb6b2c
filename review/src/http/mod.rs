//! The review over HTTP (actix-web): the bundled page and its JSON API under one
//! scope, mounted by `memscope review` at `/` and by the daemon at
//! `/v1/jobs/{id}/review/`. A [`RunLocator`] says which run directory a request is
//! about; a [`RunCache`] keeps the opened runs.

mod assets;
mod cache;
mod handlers;
mod host;
mod locate;
mod routes;
mod serve;

pub use assets::is_page_asset;
pub use cache::RunCache;
pub use locate::{FixedRun, RunLocator, RunPlace};
pub use routes::{scope, Reviewer};
pub use serve::{serve, ServeOptions};
