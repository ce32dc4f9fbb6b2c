//! The plugins of one job, and the calls into them from the job, trainer and scorer
//! threads. Each instance sits behind a mutex, so a plugin never runs concurrently
//! with itself. A failing hook ends the job with an error naming plugin and hook,
//! unless the job marked the plugin `optional`: then it is reported, never called
//! again, and recorded in `dropped` (its scores are then left out: see `dropped.rs`).

use super::contract::check_scores;
use super::dropped::DroppedPlugin;
use super::host_api::{HostContext, PluginOutputs};
use super::in_process::InProcessPlugin;
use super::instance::{Opened, PluginInstance};
use super::names::{Owner, Owners};
use super::{open_plugin, PluginError, PluginRecord};
use crate::config::PluginConfig;
use crate::model::Network;
use crate::scores::{BatchPosition, ScoreError, SnapshotScorer};
use memscope_sdk::abi::{ArrayC, BatchC, ByteSink, BytesC, DatasetC, EpochC, JobEndC, JobInfoC, ScoreBatchC, ScoresC, StrRef};
use memscope_sdk::{ArrayKind, BatchInfo, Direction, Hook, JobInfo};
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tch::Tensor;

/// The job's plugins, in config order.
#[derive(Default)]
pub struct PluginSet {
    instances: Vec<Mutex<PluginInstance>>,
    /// What the plugins published.
    pub outputs: Arc<Mutex<PluginOutputs>>,
    /// Optional plugins that failed, in order.
    dropped: Mutex<Vec<DroppedPlugin>>,
}

impl PluginSet {
    /// Finds, loads, checks and creates every configured plugin, then every
    /// in-process one (after them, in the order given). Load errors of all required
    /// plugins are reported together; optional ones are warned about. `run_dir` is
    /// where plugins may write files (none for a run in memory).
    pub fn load(
        configs: &[PluginConfig],
        in_process: &[InProcessPlugin],
        dirs: &[PathBuf],
        run: &str,
        run_dir: Option<&Path>,
        samples: usize,
    ) -> Result<Self, PluginError> {
        let outputs = Arc::new(Mutex::new(PluginOutputs::default()));
        let owners = Arc::new(Mutex::new(Owners::default()));
        let mut instances = Vec::new();
        let mut errors = Vec::new();
        let from_files = configs.iter().map(|config| (config, open_plugin(&config.name, dirs).map(|(d, info)| (Opened::create(d), info))));
        let compiled_in = in_process.iter().map(|p| (&p.config, p.open()));
        for (entry, (config, found)) in from_files.chain(compiled_in).enumerate() {
            let created = found.and_then(|(opened, info)| {
                let owner = Owner::plugin(&info.name, entry, configs.len());
                let context = Arc::new(HostContext::new(
                    &info.name,
                    run,
                    run_dir.map(Path::to_path_buf),
                    outputs.clone(),
                    samples,
                    owner,
                    owners.clone(),
                ));
                let text = toml::to_string(&config.config).expect("a TOML table serializes");
                PluginInstance::create(opened, info, config.optional, &text, context)
            });
            match created {
                Ok(instance) => {
                    // Exported at 0 from the start, so a dashboard shows "no errors".
                    plugin_errors(run, instance.name()).increment(0);
                    instances.push(Mutex::new(instance))
                }
                Err(e) if config.optional => tracing::warn!("optional plugin skipped: {e}"),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            // The scores each plugin declares, and its `score_batch` score, claimed now:
            // a clash is refused before any training.
            for slot in &instances {
                let instance = slot.lock().expect("plugin lock");
                let own = instance.wants(Hook::ScoreBatch).then(|| instance.name().to_string());
                for name in instance.info.scores.iter().map(|s| s.name.clone()).chain(own) {
                    owners.lock().expect("name owners lock").claim(&name, &instance.context.owner)?;
                }
            }
        }
        match errors.len() {
            0 => Ok(PluginSet { instances, outputs, dropped: Mutex::default() }),
            1 => Err(errors.pop().expect("one error")),
            _ => Err(PluginError::Many(errors)),
        }
    }

    /// Which file each loaded plugin came from, for `summary.json` (an in-process
    /// plugin has none: its path says so, with no size or checksum).
    pub fn provenance(&self) -> Vec<PluginRecord> {
        self.instances.iter().map(|i| i.lock().expect("plugin lock").info.record()).collect()
    }

    /// The time each plugin took in its hooks so far, in config order.
    pub fn seconds(&self) -> Vec<PluginSeconds> {
        self.instances
            .iter()
            .map(|i| {
                let instance = i.lock().expect("plugin lock");
                PluginSeconds {
                    plugin: instance.name().to_string(),
                    seconds: instance.seconds.values().sum(),
                    hooks: instance.seconds.iter().map(|(hook, s)| (hook.to_string(), *s)).collect(),
                }
            })
            .collect()
    }

    /// The optional plugins that failed so far, with the hook and the error.
    pub fn dropped(&self) -> Vec<DroppedPlugin> {
        self.dropped.lock().expect("dropped plugins").clone()
    }

    /// Marks an optional plugin as failed: it is not called again.
    fn drop_plugin(&self, instance: &mut PluginInstance, hook: Hook, message: String) {
        instance.disabled = true;
        self.dropped.lock().expect("dropped plugins").push(DroppedPlugin::new(instance.name(), hook, message));
    }

    /// Whether any plugin subscribes to `hook`.
    pub fn wants(&self, hook: Hook) -> bool {
        self.instances.iter().any(|i| i.lock().expect("plugin lock").wants(hook))
    }

    /// Calls `f` on every instance subscribed to `hook`, in order.
    fn each(&self, hook: Hook, mut f: impl FnMut(&mut PluginInstance) -> Result<(), PluginError>) -> Result<(), PluginError> {
        for slot in &self.instances {
            self.one(slot, hook, &mut f)?;
        }
        Ok(())
    }

    /// Calls `f` on one instance if it is subscribed to `hook`: whether it was called
    /// and succeeded. A failing optional plugin is dropped; a required one's error returns.
    fn one(
        &self,
        slot: &Mutex<PluginInstance>,
        hook: Hook,
        f: impl FnOnce(&mut PluginInstance) -> Result<(), PluginError>,
    ) -> Result<bool, PluginError> {
        let mut instance = slot.lock().expect("plugin lock");
        if !instance.wants(hook) {
            return Ok(false);
        }
        match f(&mut instance) {
            Ok(()) => Ok(true),
            Err(e) => {
                plugin_errors(&instance.context.run, instance.name()).increment(1);
                if !instance.optional {
                    return Err(e);
                }
                tracing::warn!("{e}; the plugin is optional and is skipped from now on");
                self.drop_plugin(&mut instance, hook, e.to_string());
                Ok(false)
            }
        }
    }

    /// `on_job_start`.
    pub fn job_start(&self, facts: &JobInfo<'_>) -> Result<(), PluginError> {
        let info = JobInfoC {
            run: StrRef::new(facts.run),
            run_dir: StrRef::new(facts.run_dir),
            samples: facts.samples,
            classes: facts.classes,
            epochs: facts.epochs,
            seed: facts.seed,
        };
        // SAFETY: `d` is the descriptor checked at load and `i` the instance it created;
        // `info` and its strings live on this frame for the call (the same holds below).
        self.each(Hook::OnJobStart, |p| p.call(Hook::OnJobStart, |d, i, e| unsafe { (d.on_job_start)(i, &info, e) }))
    }

    /// `on_dataset_ready`: plugins may rewrite `labels`; out-of-range results are errors.
    pub fn dataset_ready(&self, labels: &mut [i64], classes: usize) -> Result<(), PluginError> {
        self.each(Hook::OnDatasetReady, |p| {
            let mut data = DatasetC { labels: labels.as_mut_ptr(), samples: labels.len(), classes };
            // SAFETY: `data` lends `labels` mutably to this one call, which has no other
            // access to them while it runs.
            p.call(Hook::OnDatasetReady, |d, i, e| unsafe { (d.on_dataset_ready)(i, &mut data, e) })?;
            match labels.iter().position(|&l| l < 0 || l as usize >= classes) {
                Some(bad) => Err(PluginError::hook(
                    p.name(),
                    Hook::OnDatasetReady,
                    format!("set sample {bad} to label {}, outside 0..{classes}", labels[bad]),
                    false,
                )),
                None => Ok(()),
            }
        })
    }

    /// `on_train_batch_end`. `logits` (`[B, classes]` row-major, or empty when no
    /// plugin subscribes to `train_batch_outputs`) go only to the plugins that do.
    /// The step is described with the SDK's own [`BatchInfo`], the value plugins receive.
    pub fn train_batch_end(&self, batch: &BatchInfo<'_>) -> Result<(), PluginError> {
        let BatchInfo { epoch, step, indices, losses, labels, logits, classes } = *batch;
        let with = BatchC {
            epoch,
            step,
            indices: indices.as_ptr(),
            losses: losses.as_ptr(),
            labels: labels.as_ptr(),
            len: indices.len(),
            logits: logits.as_ptr(),
            logits_len: logits.len(),
            classes,
        };
        let without = BatchC { logits: std::ptr::null(), logits_len: 0, ..with };
        self.each(Hook::OnTrainBatchEnd, |p| {
            let batch = if p.wants(Hook::TrainBatchOutputs) { &with } else { &without };
            // SAFETY: `batch` points into the slices of `batch`, borrowed for this call.
            p.call(Hook::OnTrainBatchEnd, |d, i, e| unsafe { (d.on_train_batch_end)(i, batch, e) })
        })
    }

    /// `on_train_epoch_end`.
    pub fn train_epoch_end(&self, epoch: usize, loss: f64, accuracy: f64) -> Result<(), PluginError> {
        let info = EpochC { epoch, loss, accuracy };
        self.each(Hook::OnTrainEpochEnd, |p| {
            // SAFETY: `info` is plain data on this frame.
            p.call(Hook::OnTrainEpochEnd, |d, i, e| unsafe { (d.on_train_epoch_end)(i, &info, e) })
        })
    }

    /// `save_state` of every subscribed plugin: its state key (see
    /// [`PluginSet::state_key`]) and bytes, for a checkpoint; with the plugins dropped so far.
    pub fn save_states(&self) -> Result<PluginStates, PluginError> {
        unsafe extern "C" fn write(ctx: *mut c_void, data: *const u8, len: usize) {
            let bytes = match len {
                0 => Vec::new(),
                // SAFETY: the SDK lends `len` bytes of a live vector for this call.
                _ => unsafe { std::slice::from_raw_parts(data, len) }.to_vec(),
            };
            // SAFETY: ctx is the `Vec<u8>` below, alive for the call.
            unsafe { *(ctx as *mut Vec<u8>) = bytes };
        }
        let mut states = Vec::new();
        for (position, slot) in self.instances.iter().enumerate() {
            let key = self.state_key(position, slot.lock().expect("plugin lock").name());
            let mut bytes: Vec<u8> = Vec::new();
            let mut sink = ByteSink { ctx: &mut bytes as *mut Vec<u8> as *mut c_void, write };
            let saved = self.one(slot, Hook::SaveState, |p| {
                // SAFETY: `sink` points to `bytes`, both alive for the call.
                p.call(Hook::SaveState, |d, i, e| unsafe { (d.save_state)(i, &mut sink, e) })
            })?;
            if saved {
                states.push((key, bytes));
            }
        }
        Ok(PluginStates { states, dropped: self.dropped() })
    }

    /// Gives each subscribed plugin its state from a checkpoint, after marking the
    /// plugins dropped before it as dropped again (they are not called, and stay in
    /// `dropped_plugins`). A subscribed plugin without a state in `saved` keeps its fresh
    /// state, with a warning.
    pub fn load_states(&self, saved: &PluginStates) -> Result<(), PluginError> {
        for record in &saved.dropped {
            for slot in &self.instances {
                let mut instance = slot.lock().expect("plugin lock");
                if instance.name() == record.plugin && !instance.disabled {
                    instance.disabled = true;
                    self.dropped.lock().expect("dropped plugins").push(record.clone());
                    break;
                }
            }
        }
        for slot in &self.instances {
            let instance = slot.lock().expect("plugin lock");
            let forgets = instance.info.forgets_on_resume();
            if !forgets.is_empty() && !instance.disabled {
                tracing::warn!(
                    "plugin `{}` listens to training ({}) but saves no state: resumed, it has not seen the epochs before the \
                     checkpoint, so anything it counts differs from an uninterrupted run. If it keeps counts, subscribe it to \
                     save_state and load_state; if it keeps nothing, say so (`Plugin::keeps_no_state`)",
                    instance.name(),
                    forgets.iter().map(|h| h.name()).collect::<Vec<_>>().join(", ")
                );
            }
        }
        for (position, slot) in self.instances.iter().enumerate() {
            let key = self.state_key(position, slot.lock().expect("plugin lock").name());
            let Some((_, bytes)) = saved.states.iter().find(|(k, _)| *k == key) else {
                let instance = slot.lock().expect("plugin lock");
                if instance.wants(Hook::LoadState) {
                    tracing::warn!(
                        "plugin `{}`: the checkpoint holds no saved state for it; it continues from a fresh state",
                        instance.name()
                    );
                }
                continue;
            };
            let state = BytesC { data: bytes.as_ptr(), len: bytes.len() };
            // SAFETY: `state` lends `bytes`, alive for the call.
            self.one(slot, Hook::LoadState, |p| p.call(Hook::LoadState, |d, i, e| unsafe { (d.load_state)(i, &state, e) }))?;
        }
        Ok(())
    }

    /// The name a plugin's state has in a checkpoint: its position and name
    /// (`01-forgetting`), unique even when a job loads one plugin twice.
    fn state_key(&self, position: usize, name: &str) -> String {
        format!("{position:02}-{name}")
    }

    /// `on_scores`.
    pub fn scores(&self, epoch: usize, name: &str, values: &[f32]) -> Result<(), PluginError> {
        let scores = ScoresC { epoch, array: array_c(name, ArrayKind::Score, values), direction: self.direction(name).code() };
        // SAFETY: `scores` points into `name` and `values`, borrowed for this call.
        self.each(Hook::OnScores, |p| p.call(Hook::OnScores, |d, i, e| unsafe { (d.on_scores)(i, &scores, e) }))
    }

    /// `on_job_end`, with every final per-sample array.
    pub fn job_end(&self, ok: bool, arrays: &[(String, ArrayKind, Vec<f32>)]) -> Result<(), PluginError> {
        let raw: Vec<ArrayC> = arrays.iter().map(|(n, k, v)| array_c(n, *k, v)).collect();
        let directions: Vec<u32> =
            arrays.iter().map(|(n, k, _)| if *k == ArrayKind::Score { self.direction(n) } else { Direction::default() }.code()).collect();
        let end = JobEndC { ok, arrays: raw.as_ptr(), len: raw.len(), directions: directions.as_ptr() };
        // SAFETY: `end` points into `raw`, which points into `arrays`; both outlive the call.
        self.each(Hook::OnJobEnd, |p| p.call(Hook::OnJobEnd, |d, i, e| unsafe { (d.on_job_end)(i, &end, e) }))
    }

    /// Which way score `name` reads: as the plugin that declares it says; the
    /// convention (higher = more memorized) for memscope's own scores and undeclared ones.
    pub fn direction(&self, name: &str) -> Direction {
        self.instances
            .iter()
            .find_map(|i| i.lock().expect("plugin lock").info.scores.iter().find(|s| s.name == name).map(|s| s.direction))
            .unwrap_or_default()
    }

    /// A snapshot scorer for every plugin that subscribes to `score_batch`.
    pub fn scorers(self: &Arc<Self>) -> Vec<PluginScorer> {
        self.instances
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| {
                let instance = slot.lock().expect("plugin lock");
                instance.wants(Hook::ScoreBatch).then(|| PluginScorer { set: self.clone(), index, name: instance.name().to_string() })
            })
            .collect()
    }
}

/// The time one plugin took in its hooks (`summary.json`'s `timings.plugins`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PluginSeconds {
    /// The plugin.
    pub plugin: String,
    /// Seconds in all its hooks.
    pub seconds: f64,
    /// Seconds per hook, by hook name (`score_batch`, `on_train_batch_end`, ...).
    pub hooks: std::collections::BTreeMap<String, f64>,
}

/// What a checkpoint keeps of the plugins: each stateful plugin's saved bytes (by
/// the key `NN-name`: its position in the job and its name) and the optional plugins
/// dropped so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginStates {
    /// `save_state`'s bytes, by key, in plugin order.
    pub states: Vec<(String, Vec<u8>)>,
    /// Optional plugins that failed before the checkpoint.
    pub dropped: Vec<DroppedPlugin>,
}

/// The failure counter of a plugin.
fn plugin_errors(run: &str, plugin: &str) -> metrics::Counter {
    metrics::counter!(crate::metrics::Metric::PluginErrors.name(), "run" => run.to_string(), "plugin" => plugin.to_string())
}

fn array_c(name: &str, kind: ArrayKind, values: &[f32]) -> ArrayC {
    ArrayC { name: StrRef::new(name), kind: kind.code(), values: values.as_ptr(), len: values.len() }
}

/// A plugin that scores snapshots, seen by the scorer thread as any other scorer.
pub struct PluginScorer {
    set: Arc<PluginSet>,
    index: usize,
    name: String,
}

impl SnapshotScorer for PluginScorer {
    fn name(&self) -> &str {
        &self.name
    }

    fn score_batch(&mut self, network: &Network, position: BatchPosition, images: &Tensor, labels: &Tensor) -> Result<Tensor, ScoreError> {
        let mut instance = self.set.instances[self.index].lock().expect("plugin lock");
        if instance.disabled {
            // It failed in another hook: an optional plugin is never called again.
            return Err(ScoreError::Disabled { scorer: self.name.clone(), reason: "it failed earlier".into() });
        }
        let context = instance.context.clone();
        context.network.store(network as *const Network as *mut Network, Ordering::Release);
        let meta = ScoreBatchC { epoch: position.epoch, offset: position.offset };
        let mut out: *mut torch_sys::C_tensor = std::ptr::null_mut();
        let (mut images, mut labels) = (images.shallow_clone(), labels.shallow_clone());
        // SAFETY: the tensors are shallow clones alive for the call, `out` a local for one
        // write; the network pointer in the context is valid until it is cleared below.
        let result = instance
            .call(Hook::ScoreBatch, |d, i, e| unsafe { (d.score_batch)(i, &meta, images.as_mut_ptr(), labels.as_mut_ptr(), &mut out, e) });
        context.network.store(std::ptr::null_mut(), Ordering::Release);
        let checked = result.map_err(|e| e.to_string()).and_then(|()| {
            if out.is_null() {
                return Err(format!("plugin `{}` returned no tensor from score_batch", self.name));
            }
            // SAFETY: the plugin handed over ownership of a fresh handle.
            let scores = unsafe { Tensor::from_ptr(out) };
            check_scores(&self.name, position, images.size()[0] as usize, &scores).map_err(|e| e.to_string())?;
            Ok(scores)
        });
        checked.map_err(|message| {
            plugin_errors(&context.run, instance.name()).increment(1);
            if instance.optional {
                self.set.drop_plugin(&mut instance, Hook::ScoreBatch, message.clone());
                return ScoreError::Disabled { scorer: self.name.clone(), reason: message };
            }
            ScoreError::Plugin(message)
        })
    }
}
