//! The memscope SDK: what a plugin author needs and nothing else.
//!
//! A plugin is a `cdylib` crate with one type implementing [`Plugin`], exported with
//! [`export_plugin!`]. The host (`memscope`) finds it by name in its plugin
//! directories, checks the versions in its descriptor before calling anything, and
//! calls the hooks the plugin subscribes to. Errors and panics in a hook come back to
//! the host as an error naming the plugin and hook; they never abort the process.
//!
//! A scorer in full (a per-sample margin: how far the true class's logit is below the
//! best other class; high = the model disagrees with the label):
//!
//! ```no_run
//! use memscope_sdk::settings::{self, NoSettings};
//! use memscope_sdk::{export_plugin, Hook, Host, Plugin, PluginResult, ScoreBatch};
//! use tch::{Kind, Tensor};
//!
//! struct Margin;
//!
//! impl Plugin for Margin {
//!     fn name() -> &'static str { "margin" }
//!     fn hooks() -> &'static [Hook] { &[Hook::ScoreBatch] }
//!     fn create(config: &str, _host: &Host) -> PluginResult<Self> {
//!         settings::parse::<NoSettings>(config)?; // any key is an error naming it
//!         Ok(Margin)
//!     }
//!     fn score_batch(&mut self, host: &Host, _batch: &ScoreBatch, images: &Tensor, labels: &Tensor) -> PluginResult<Tensor> {
//!         let logits = tch::no_grad(|| host.forward(images))?;
//!         let true_logit = logits.gather(1, &labels.unsqueeze(1), false).squeeze_dim(1);
//!         let others = logits.scatter_value(1, &labels.unsqueeze(1), f64::NEG_INFINITY);
//!         Ok((others.amax(&[1i64][..], false) - true_logit).to_kind(Kind::Float))
//!     }
//! }
//!
//! export_plugin!(Margin);
//! ```
//!
//! `memscope plugins new NAME` writes a crate around such a type that builds outside
//! memscope's checkout (crate type `cdylib`, the SDK as a path dependency, libtorch link
//! settings, a test). Build it with `cargo build --release`, put the library in a
//! plugin directory, and name it in a job: `[[plugins]] name = "margin"`. Its scores
//! land in `scores/margin.npy`. Settings come from the job's `config` table, parsed by
//! [`settings::parse`] into a struct of the plugin's own; [`Plugin::check_settings`]
//! (with [`settings::check`]) lets a daemon refuse bad settings when a job is
//! submitted, every problem at once.
//!
//! **Watching training.** [`Plugin::on_train_batch_end`] receives each optimizer step's
//! sample indices, losses and the labels trained on ([`BatchInfo`]). A plugin that also
//! lists [`Hook::TrainBatchOutputs`] gets each sample's logits from the training
//! forward pass, with [`BatchInfo::predicted`], [`BatchInfo::correct`] and
//! [`BatchInfo::margin`]; the host copies the logits off the device only when some
//! plugin subscribes. `plugins/forgetting` and `plugins/aum` are examples.
//!
//! **Testing a plugin.** [`testing::FakeHost`] plays memscope in a plain `cargo test`:
//! a forward function or fixed logits as the model, and a record of what the plugin
//! publishes; [`testing::TestPlugin`] creates the plugin from its settings and calls its
//! hooks through the same glue a job uses.
//!
//! **State across a resume.** A plugin that accumulates over training lists
//! [`Hook::SaveState`] and [`Hook::LoadState`]: [`Plugin::save_state`] returns bytes
//! (encode named arrays with [`state::State`]) that every checkpoint stores, and a
//! `--resume`d job hands them to [`Plugin::load_state`] before training continues, so
//! the result is the uninterrupted run's.
#![warn(missing_docs)]

pub mod abi;
#[doc(hidden)]
pub mod ffi;
mod hook;
mod host;
mod plugin;
pub mod settings;
pub mod state;
pub mod testing;
mod version;

pub use hook::Hook;
pub use host::{Host, Level};
pub use plugin::{
    ArrayKind, BatchInfo, DatasetView, Direction, EpochInfo, JobInfo, NamedArray, Plugin, PluginError, PluginResult, ScoreBatch, ScoreSpec,
};
pub use serde;
pub use tch;
pub use version::{torch_release, ABI_VERSION, MIN_HOST_ABI, OLDEST_PLUGIN_ABI, SDK_VERSION, TORCH_BUILT_WITH, TORCH_VERSION};

/// Exports a [`Plugin`] type as this library's plugin: defines the
/// `memscope_plugin_descriptor` symbol ([`abi::DESCRIPTOR_SYMBOL`]) that returns its
/// descriptor, and the settings check `memscope_plugin_check_settings_v1`
/// ([`abi::CHECK_SETTINGS_SYMBOL`]).
///
/// Call it in the crate that is built as the plugin's `cdylib`, once per library. A
/// crate meant to be used as a Rust library too (in a program's own process, with
/// `memscope::Job::plugin`) keeps its plugin type in a library crate without this
/// macro and exports it from a small `cdylib` crate of its own (as `plugins/*/cdylib`
/// do): two libraries that both export these symbols cannot be linked into one program.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[no_mangle]
        pub extern "C" fn memscope_plugin_descriptor() -> *const $crate::abi::PluginDescriptor {
            static CELL: ::std::sync::OnceLock<$crate::ffi::DescriptorCell> = ::std::sync::OnceLock::new();
            // Evaluated here, in the plugin's crate: its own build profile.
            $crate::ffi::descriptor::<$plugin>(&CELL, cfg!(debug_assertions))
        }

        /// # Safety
        /// Called by the host only, with a valid string and sinks for the call.
        #[no_mangle]
        pub unsafe extern "C" fn memscope_plugin_check_settings_v1(
            config: $crate::abi::StrRef,
            problems: *mut $crate::abi::ProblemSink,
            err: *mut $crate::abi::ErrorSink,
        ) -> $crate::abi::Status {
            // SAFETY: the caller's guarantees are this function's.
            unsafe { $crate::ffi::check_settings::<$plugin>(config, problems, err) }
        }
    };
}
