//! Plugins compiled into the embedding program: an SDK [`Plugin`] type run by the host
//! without a `cdylib`. It goes through the same descriptor and `extern "C"` glue the
//! export macro gives a library (`memscope_sdk::ffi`), so its hooks are dispatched,
//! guarded and reported exactly like a loaded plugin's (a panic in `score_batch` is
//! `plugin `X` panicked in score_batch: ...`).

use super::instance::{Adopt, Opened};
use super::{PluginError, PluginInfo};
use crate::config::PluginConfig;
use memscope_sdk::abi::PluginDescriptor;
use memscope_sdk::ffi::{descriptor_cell, DescriptorCell};
use memscope_sdk::{Direction, Hook, Host, Plugin, PluginResult, ScoreBatch};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tch::Tensor;

/// What [`PluginInfo::path`] says of a plugin that has no file.
pub const IN_PROCESS: &str = "(in process)";

/// A plugin of the embedding program: a type created with the config its `create`
/// receives, an instance the program made ([`InProcessPlugin::instance`]), or a closure
/// scorer ([`InProcessPlugin::scorer`]).
#[derive(Clone)]
pub struct InProcessPlugin {
    /// The descriptor (in the SDK's `Sync` wrapper: its pointers are to statics).
    cell: &'static DescriptorCell,
    /// Its name, config table and whether a failure ends the job, as a `[[plugins]]`
    /// entry of a job file would give them. The name is the type's `Plugin::name`
    /// unless the program gave another ([`InProcessPlugin::named`]).
    pub config: PluginConfig,
    /// The program's own instance, adopted once instead of created from the config.
    adopt: Option<Arc<Mutex<Option<Adopt>>>>,
    /// The direction of its `score_batch` score, when the program says it.
    direction: Option<Direction>,
}

impl std::fmt::Debug for InProcessPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessPlugin").field("config", &self.config).field("instance", &self.adopt.is_some()).finish()
    }
}

impl InProcessPlugin {
    /// Plugin `P`, created with `config` (its `[plugins.config]` table).
    pub fn new<P: Plugin + 'static>(config: toml::Table) -> Self {
        InProcessPlugin {
            cell: descriptor_cell::<P>(),
            config: PluginConfig { name: P::name().to_string(), optional: false, config },
            adopt: None,
            direction: None,
        }
    }

    /// The program's own `plugin`, with whatever values and state it holds (its
    /// `create` is not called): its hooks are called, guarded and reported as a
    /// created one's. One job uses it.
    pub fn instance<P: Plugin + 'static>(plugin: P) -> Self {
        // SAFETY: the host calls this with its callback table, which it keeps for as
        // long as the instance lives (as for `create`).
        let adopt: Adopt = Box::new(move |host| unsafe { memscope_sdk::ffi::adopt(plugin, host) });
        InProcessPlugin { adopt: Some(Arc::new(Mutex::new(Some(adopt)))), ..InProcessPlugin::new::<P>(toml::Table::new()) }
    }

    /// A scorer made of a closure: called for every batch of every scored snapshot
    /// with the host (whose [`Host::forward`] runs the model being scored), where the
    /// batch sits, the images and the labels; it returns `float32 [B]`, as a plugin's
    /// `score_batch` does. Its score is `name`, read the way `direction` says.
    pub fn scorer<F>(name: &str, direction: Direction, score: F) -> Self
    where
        F: FnMut(&Host, &ScoreBatch, &Tensor, &Tensor) -> PluginResult<Tensor> + Send + 'static,
    {
        InProcessPlugin::instance(ClosureScorer { score: Box::new(score) }).named(name).direction(direction)
    }

    /// Gives it another name than its type's (its `score_batch` score is named after
    /// it): the same plugin type twice in one job needs two names.
    pub fn named(mut self, name: &str) -> Self {
        self.config.name = name.to_string();
        self
    }

    /// Says which way its `score_batch` score reads, over what its type declares.
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = Some(direction);
        self
    }

    /// Marks it optional: a failing hook is reported and the plugin skipped, as
    /// `optional = true` does in a job file.
    pub fn optional(mut self) -> Self {
        self.config.optional = true;
        self
    }

    /// Its descriptor, as a loaded library's symbol returns it.
    pub(crate) fn descriptor(&self) -> &'static PluginDescriptor {
        &self.cell.0
    }

    /// Its descriptor and, for the program's instance, how to adopt it (once), with what
    /// the host knows of it.
    pub(crate) fn open(&self) -> Result<(Opened, PluginInfo), PluginError> {
        let adopt = match &self.adopt {
            None => None,
            Some(slot) => Some(slot.lock().expect("in-process instance").take().ok_or_else(|| PluginError::Hook {
                plugin: self.config.name.clone(),
                hook: "create".into(),
                message: "this instance was given to a job already: give each job an instance of its own".into(),
                panicked: false,
            })?),
        };
        Ok((Opened { descriptor: self.descriptor(), adopt }, self.info()))
    }

    /// What the host knows of it: the descriptor's versions, hooks and declarations,
    /// under the name the program gave it (no file: nothing to measure or checksum).
    pub(crate) fn info(&self) -> PluginInfo {
        let mut info = PluginInfo::from_descriptor(self.descriptor(), PathBuf::from(IN_PROCESS));
        let own = std::mem::replace(&mut info.name, self.config.name.clone());
        // Its `score_batch` score is named after it, as the program names it.
        for score in info.scores.iter_mut().filter(|s| s.name == own) {
            score.name = self.config.name.clone();
            score.direction = self.direction.unwrap_or(score.direction);
        }
        info
    }
}

/// A scoring closure: host, batch position, images, labels to `float32 [B]`.
type ScoreFn = Box<dyn FnMut(&Host, &ScoreBatch, &Tensor, &Tensor) -> PluginResult<Tensor> + Send>;

/// A closure as a `score_batch` plugin ([`InProcessPlugin::scorer`]).
struct ClosureScorer {
    score: ScoreFn,
}

impl Plugin for ClosureScorer {
    fn name() -> &'static str {
        "closure-scorer"
    }

    fn hooks() -> &'static [Hook] {
        &[Hook::ScoreBatch]
    }

    fn create(_config: &str, _host: &Host) -> PluginResult<Self> {
        Err("a closure scorer is made by the program (`Job::scorer`), not from settings".into())
    }

    fn score_batch(&mut self, host: &Host, batch: &ScoreBatch, images: &Tensor, labels: &Tensor) -> PluginResult<Tensor> {
        (self.score)(host, batch, images, labels)
    }
}
