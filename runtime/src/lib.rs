//! memscope: trains one network on a labelled image dataset and scores, for every
//! training sample, how strongly the network memorized it.
//!
//! A program embeds it through [`Job`]: a config, and optionally its own tch module,
//! its own dataset and its own plugins, run by the same loader, trainer, scorer and
//! plugin host as `memscope run` (which is a user of the same builder):
//!
//! ```no_run
//! use memscope::config::{JobConfig, TrainConfig};
//! use memscope::data::{ImageShape, InMemoryDataset};
//! use memscope::tch::nn;
//! use memscope::{Job, JobEvent};
//!
//! // A small network of the program's own, built on the VarStore path it is given.
//! fn my_net(p: &nn::Path, shape: ImageShape, classes: usize) -> nn::SequentialT {
//!     let inputs = (shape.channels * shape.height * shape.width) as i64;
//!     nn::seq_t()
//!         .add_fn(|x| x.flatten(1, -1))
//!         .add(nn::linear(p / "fc1", inputs, 64, Default::default()))
//!         .add_fn(|x| x.relu())
//!         .add(nn::linear(p / "fc2", 64, classes as i64, Default::default()))
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Every key not set holds its TOML default; the program's data needs no `[data]`.
//! let config = JobConfig { train: TrainConfig { epochs: 3, ..Default::default() }, ..JobConfig::new("embedded") };
//! let shape = ImageShape { channels: 1, height: 8, width: 8 };
//! let images: Vec<f32> = (0..100 * 64).map(|i| (i % 7) as f32 / 7.0).collect();
//! let labels: Vec<i64> = (0..100).map(|i| i % 10).collect();
//! let data = InMemoryDataset::new(shape, 10, images, labels)?;
//!
//! let job = Job::new(config)
//!     .model(my_net)
//!     .dataset(data)
//!     .on_event(|e: &JobEvent| {
//!         if let JobEvent::TrainEpochEnd(stats) = e {
//!             println!("epoch {}: loss {:.3}", stats.epoch, stats.loss);
//!         }
//!     })
//!     .run_dir(None) // in memory: nothing is written
//!     .spawn()?;
//! let outcome = job.join()?;
//! let loss = outcome.score("loss").expect("the loss score is recorded by default");
//! println!("{} samples scored, train accuracy {:.3}", loss.len(), outcome.summary.train_accuracy);
//! println!("most memorized by loss: {:?}", outcome.top_k("loss", 10));
//! # Ok(())
//! # }
//! ```
//!
//! `examples/embed.rs` does the same with a convolutional network and an in-process
//! scorer plugin ([`Job::plugin`]). The outcome also carries the trained weights
//! ([`JobOutcome::weights`]); a cancelled job's error, the completed epochs' scores
//! ([`JobError::Cancelled`], [`PartialScores`]). A crate of its own needs this one, the
//! `memscope-link` build dependency and a one-line `build.rs` (README, "From Rust").
//!
//! # Process-wide libtorch state
//!
//! libtorch keeps some state per process, not per job, and a job sets it:
//! - **Threads**: a job with `threads > 0` calls `tch::set_num_threads(threads)`,
//!   which sets the intra-op thread count of the calling thread and the default for
//!   threads created later, in the whole process. A job with `threads = 0` on the CPU
//!   sets it from its training thread to the cores other processes leave free,
//!   measured before the first step and once a second after ([`threads`]), unless
//!   `OMP_NUM_THREADS` is set or the job is `deterministic` (then it is left as it is:
//!   libtorch's default, one per core, unless something set it earlier).
//! - **Seeds**: a job seeds libtorch's global generator with its `seed` just before
//!   building its network (so a built-in or a program's module starts from the same
//!   weights every time), and with a value derived from `(seed, epoch)` before each
//!   epoch's training steps (what draws from it while training, such as dropout, does
//!   the same whether or not the job was resumed). Anything else the program draws
//!   from `tch`'s global generator meanwhile changes those draws.
//!
//! Every other random choice (shuffling, augmentation, plugins' draws) comes from
//! streams of the job's own ([`seeding`]). So two jobs run one after the other in one
//! process give the same results as the same jobs in two processes (tested); two jobs
//! running *at the same time* in one process share the generator and the thread
//! count, and are not reproducible: run them in separate processes (as the daemon
//! does).
//!
//! # Modules
//!
//! The library is the core of memscope: typed configs ([`config`]), datasets and the
//! loader ([`data`]), models, optimizers and checkpoints ([`model`]), per-sample scores
//! ([`scores`]), the label-issue verdict ([`verdict`]), the plugin host ([`plugins`]),
//! the actors that run a job ([`actors`]) and the run directory they write ([`run`]).
//! The report (`memscope-report`), the daemon (`memscope-daemon`) and the binaries
//! (`memscope-cli`, `memscope-engine`) are crates of their own.

#![warn(missing_docs)]

pub mod actors;
pub mod allocator;
mod api;
pub use memscope_base::config;
pub mod data;
pub mod dist;
pub mod estimate;
pub use memscope_base::{logging, metrics};
pub mod model;
mod panics;
pub mod plugins;
pub mod run;
pub mod scores;
pub mod seeding;
pub mod threads;
pub mod verdict;

pub use actors::{JobError, JobEvent, JobOutcome, PartialScores};
pub use api::{Canceller, Job, JobHandle, Progress};
/// The plugin SDK this library was built with (`memscope::sdk::Plugin`, `Direction`,
/// ...): a program's plugins and scorers use it, with no version of their own to match.
pub use memscope_sdk as sdk;
/// The tch this library was built with: a program's module (`Job::model`) and its
/// tensors must come from the same tch, so a program uses this one.
pub use tch;
/// The toml this library was built with (`Job::plugin` takes a `toml::Table`).
pub use toml;
