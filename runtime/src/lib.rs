//! memscope: trains one network on a labelled image dataset and scores, for every
//! training sample, how strongly the network memorized it.
//!
//! The library is what the `memscope` binary is made of: typed configs ([`config`]),
//! datasets and the loader ([`data`]), models, optimizers and checkpoints ([`model`]),
//! per-sample scores ([`scores`]), the plugin host ([`plugins`]), the actors that run a
//! job ([`actors`]), the run directory they write ([`run`]) and the report made from
//! it ([`report`]).

pub mod actors;
pub mod allocator;
pub mod config;
pub mod daemon;
pub mod data;
pub mod logging;
pub mod metrics;
pub mod model;
mod panics;
pub mod plugins;
pub mod report;
pub mod run;
pub mod scores;
pub mod seeding;
