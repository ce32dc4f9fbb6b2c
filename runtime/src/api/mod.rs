//! The library's front door: [`Job`] puts a job together (a config, and optionally a
//! program's own model, data, plugins and event callbacks) and hands back a
//! [`JobHandle`] (cancel, progress, join) whose outcome holds every score. `memscope
//! run` (and so each job the daemon starts) is a user of it; underneath run the same
//! loader, trainer, scorer, supervisor and plugin host.

mod builder;
mod handle;

pub use builder::Job;
pub use handle::{Canceller, JobHandle, Progress};
