//! Checkpoints: everything needed to continue a run exactly where it stopped.
//!
//! A checkpoint is a directory `checkpoints/epoch-NNNNNN/` holding the network
//! (`model.safetensors`), the optimizer state (`optimizer.safetensors`), the
//! accumulated scores (`scores.safetensors`) and `state.json`; safetensors so that the
//! files open in Python too. It is written under a temporary name, every file is
//! fsynced, then the directory is renamed into place and its parent fsynced: a crash
//! leaves either the whole checkpoint or none. Random state needs no saving (see
//! `seeding`). Only the newest `keep` checkpoints are kept.
//!
//! Plugins that keep state (`save_state`) have a file each, `plugin-NN-NAME.state`
//! (NN its position in the job), and `state.json` lists them and the optional plugins
//! dropped before the checkpoint, so a resumed run gives them back (`load_state`) and
//! keeps the dropped ones dropped.
//!
//! `state.json` also records how many processes trained the run (`world`; a checkpoint
//! without it was written by one): a resume with another number is refused, since
//! each global batch is processes × `batch_size` and the run would train on other
//! batches than the one it continues.
//!
//! A checkpoint never waits for the scorer: the snapshots it has not scored yet are
//! written beside the rest (`pending.safetensors`, each variable as
//! `epoch-NNNNNN/NAME`, the epochs listed in `state.json`), and a resumed run scores
//! them before it trains on, so its scores are those of an uninterrupted run.
//!
//! A disk can still damage a checkpoint later (a truncated copy, a bad sector, a full
//! disk during a backup restore), so `state.json` also records the SHA-256 of every
//! other file. A resume verifies the newest checkpoint and falls back to the newest
//! intact one, saying which it skipped and why: with `keep = 2` one damaged file costs
//! a few epochs, not the run.

use super::{ModelError, Network, Optimizer, Snapshot};
use crate::plugins::{DroppedPlugin, PluginStates};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use tch::Tensor;

const MODEL_FILE: &str = "model.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const SCORES_FILE: &str = "scores.safetensors";
const STATE_FILE: &str = "state.json";
/// The snapshots the scorer had not scored when the checkpoint was written (only when
/// there are some).
const PENDING_FILE: &str = "pending.safetensors";
/// The files whose checksums `state.json` records.
const DATA_FILES: [&str; 3] = [MODEL_FILE, OPTIMIZER_FILE, SCORES_FILE];

/// The scalar state of a run at a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Epochs completed; training resumes at this 0-based epoch.
    pub epochs_done: usize,
    /// Optimizer steps taken.
    pub steps: u64,
    /// Number of training samples (guards against resuming on other data).
    pub samples: usize,
    /// Seconds spent training so far.
    pub train_seconds: f64,
    /// Seconds spent scoring so far.
    pub score_seconds: f64,
    /// Samples scored so far (summed over scorers and snapshots).
    pub scored_samples: u64,
    /// Processes that trained it (a data-parallel group's world size); 1 in
    /// checkpoints written before it was recorded.
    #[serde(default = "one_process")]
    pub world: usize,
}

fn one_process() -> usize {
    1
}

/// What `state.json` holds: the state, and the checksum of each other file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StateFile {
    #[serde(flatten)]
    state: CheckpointState,
    /// Hex SHA-256 of each data file, by file name. Empty in checkpoints written
    /// before checksums existed: those are only checked for their files' presence.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    sha256: BTreeMap<String, String>,
    /// The keys (`NN-name`) of the plugin states saved with it, each in `plugin-KEY.state`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    plugin_states: Vec<String>,
    /// Optional plugins dropped before it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    dropped_plugins: Vec<DroppedPlugin>,
    /// The epochs (0-based) of the snapshots still to score, in `pending.safetensors`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pending_snapshots: Vec<usize>,
}

/// The name of variable `name` of the snapshot after `epoch` in `pending.safetensors`.
fn pending_name(epoch: usize, name: &str) -> String {
    format!("epoch-{epoch:06}/{name}")
}

/// The snapshots still to score as one list of named tensors (each variable named by
/// its snapshot's epoch, as in `pending.safetensors`): how they are written, and how
/// rank 0 sends them to the other ranks of a group.
pub(crate) fn pending_tensors(pending: &[Snapshot]) -> Vec<(String, Tensor)> {
    pending.iter().flat_map(|s| s.variables.iter().map(|(name, t)| (pending_name(s.epoch, name), t.shallow_clone()))).collect()
}

/// The snapshots after `epochs` out of [`pending_tensors`]' list, in the order of
/// `epochs`, each one's variables sorted by name.
pub(crate) fn pending_snapshots(epochs: &[usize], mut variables: Vec<(String, Tensor)>) -> Vec<Snapshot> {
    let mut pending = Vec::with_capacity(epochs.len());
    for &epoch in epochs {
        let prefix = pending_name(epoch, "");
        let (mine, rest): (Vec<_>, Vec<_>) = variables.into_iter().partition(|(name, _)| name.starts_with(&prefix));
        variables = rest;
        let mut mine: Vec<(String, Tensor)> = mine.into_iter().map(|(name, t)| (name[prefix.len()..].to_string(), t)).collect();
        mine.sort_by(|a, b| a.0.cmp(&b.0));
        pending.push(Snapshot { epoch, variables: mine });
    }
    pending
}

/// The file of a plugin's state with key `key`.
fn plugin_state_file(key: &str) -> String {
    format!("plugin-{key}.state")
}

/// A checkpoint found on disk.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Its directory.
    pub dir: PathBuf,
    /// Its scalar state.
    pub state: CheckpointState,
    /// The keys of the plugin states saved with it.
    plugin_states: Vec<String>,
    /// Optional plugins dropped before it.
    dropped_plugins: Vec<DroppedPlugin>,
    /// The epochs of the snapshots still to score.
    pending_snapshots: Vec<usize>,
}

impl Checkpoint {
    /// Reads everything it holds into memory: the network variables, the optimizer
    /// state, the accumulated scores and the plugins' states.
    pub fn read(&self) -> Result<CheckpointData, ModelError> {
        let safetensors = |file: &str| {
            let path = self.dir.join(file);
            Tensor::read_safetensors(&path).map_err(|e| ModelError::checkpoint(&path, e))
        };
        let mut states = Vec::new();
        for key in &self.plugin_states {
            let path = self.dir.join(plugin_state_file(key));
            states.push((key.clone(), std::fs::read(&path).map_err(|e| ModelError::checkpoint(&path, e))?));
        }
        let pending = match self.pending_snapshots.is_empty() {
            true => Vec::new(),
            false => pending_snapshots(&self.pending_snapshots, safetensors(PENDING_FILE)?),
        };
        Ok(CheckpointData {
            dir: self.dir.clone(),
            state: self.state.clone(),
            model: safetensors(MODEL_FILE)?,
            optimizer: safetensors(OPTIMIZER_FILE)?,
            scores: safetensors(SCORES_FILE)?,
            plugins: PluginStates { states, dropped: self.dropped_plugins.clone() },
            pending,
        })
    }
}

/// What a checkpoint holds, in memory: what a resumed run continues from. Read from
/// its directory ([`Checkpoint::read`]), or, in a process group, received from rank 0
/// (which alone has the run directory).
#[derive(Debug)]
pub struct CheckpointData {
    /// The checkpoint's directory (on rank 0's machine, when received from it).
    pub dir: PathBuf,
    /// Its scalar state.
    pub state: CheckpointState,
    /// Every network variable (buffers too), by name.
    pub model: Vec<(String, Tensor)>,
    /// The optimizer state ([`Optimizer::state`]).
    pub optimizer: Vec<(String, Tensor)>,
    /// The accumulated score tables ([`crate::scores::ScoreTable::to_tensors`]).
    pub scores: Vec<(String, Tensor)>,
    /// The plugins' saved states and the optional plugins dropped before it.
    pub plugins: PluginStates,
    /// The snapshots the scorer had not scored when it was written, oldest first: a
    /// resumed run scores them first.
    pub pending: Vec<Snapshot>,
}

impl CheckpointData {
    /// Loads its variables into `network` and its state into `optimizer`.
    pub fn restore(&self, network: &mut Network, optimizer: &mut Optimizer) -> Result<(), ModelError> {
        network.load_variables(&self.model, &format!("checkpoint {}", self.dir.join(MODEL_FILE).display()))?;
        optimizer.restore(self.optimizer.iter().map(|(name, t)| (name.clone(), t.shallow_clone())).collect())
    }
}

/// The checkpoint directory of a run.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    dir: PathBuf,
    keep: usize,
}

impl Checkpoints {
    /// Checkpoints under `dir`, keeping the newest `keep`.
    pub fn new(dir: PathBuf, keep: usize) -> Self {
        Checkpoints { dir, keep: keep.max(1) }
    }

    /// The directory holding them.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a checkpoint atomically and prunes old ones; returns its directory.
    /// `pending`: the snapshots the scorer has yet to score.
    pub fn write(
        &self,
        state: &CheckpointState,
        model: &[(String, Tensor)],
        optimizer: &[(String, Tensor)],
        scores: &[(String, Tensor)],
        plugins: &PluginStates,
        pending: &[Snapshot],
    ) -> Result<PathBuf, ModelError> {
        let name = format!("epoch-{:06}", state.epochs_done);
        let tmp = self.dir.join(format!(".tmp-{name}"));
        let fin = self.dir.join(&name);
        let io = |path: &Path, e: std::io::Error| ModelError::checkpoint(path, e);
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;

        Tensor::write_safetensors(model, tmp.join(MODEL_FILE))?;
        Tensor::write_safetensors(optimizer, tmp.join(OPTIMIZER_FILE))?;
        Tensor::write_safetensors(scores, tmp.join(SCORES_FILE))?;
        let mut files: Vec<String> = DATA_FILES.iter().map(|f| f.to_string()).collect();
        if !pending.is_empty() {
            Tensor::write_safetensors(&pending_tensors(pending), tmp.join(PENDING_FILE))?;
            files.push(PENDING_FILE.to_string());
        }
        for (key, bytes) in &plugins.states {
            let file = plugin_state_file(key);
            std::fs::write(tmp.join(&file), bytes).map_err(|e| io(&tmp.join(&file), e))?;
            files.push(file);
        }
        let mut sha256 = BTreeMap::new();
        for file in &files {
            let path = tmp.join(file);
            sha256.insert(file.clone(), file_sha256(&path).map_err(|e| io(&path, e))?);
        }
        let file = StateFile {
            state: state.clone(),
            sha256,
            plugin_states: plugins.states.iter().map(|(key, _)| key.clone()).collect(),
            dropped_plugins: plugins.dropped.clone(),
            pending_snapshots: pending.iter().map(|s| s.epoch).collect(),
        };
        let json = serde_json::to_vec_pretty(&file).expect("checkpoint state serializes");
        std::fs::write(tmp.join(STATE_FILE), json).map_err(|e| io(&tmp, e))?;
        files.push(STATE_FILE.to_string());
        for file in &files {
            let path = tmp.join(file);
            File::open(&path).and_then(|f| f.sync_all()).map_err(|e| io(&path, e))?;
        }
        sync_dir(&tmp).map_err(|e| io(&tmp, e))?;
        if fin.exists() {
            std::fs::remove_dir_all(&fin).map_err(|e| io(&fin, e))?;
        }
        std::fs::rename(&tmp, &fin).map_err(|e| io(&fin, e))?;
        sync_dir(&self.dir).map_err(|e| io(&self.dir, e))?;
        self.prune()?;
        Ok(fin)
    }

    /// The newest intact checkpoint, if any. Leftover temporary directories from an
    /// interrupted write are ignored; a damaged checkpoint (see [`verify`]) is skipped
    /// with a warning naming it and what is wrong, and the next older one is tried.
    pub fn latest(&self) -> Result<Option<Checkpoint>, ModelError> {
        let mut skipped = Vec::new();
        for dir in self.complete()?.into_iter().rev() {
            match verify(&dir) {
                Ok(checkpoint) => {
                    if !skipped.is_empty() {
                        tracing::warn!("resuming from the older checkpoint {}, the newest intact one", dir.display());
                    }
                    return Ok(Some(checkpoint));
                }
                Err(why) => {
                    tracing::warn!("checkpoint {} is damaged, skipping it: {why}", dir.display());
                    skipped.push(dir);
                }
            }
        }
        if !skipped.is_empty() {
            tracing::warn!("no intact checkpoint in {}: training starts over from epoch 0", self.dir.display());
        }
        Ok(None)
    }

    /// Complete checkpoint directories, oldest first.
    fn complete(&self) -> Result<Vec<PathBuf>, ModelError> {
        if !self.dir.exists() {
            return Ok(Vec::new());
        }
        let entries = std::fs::read_dir(&self.dir).map_err(|e| ModelError::checkpoint(&self.dir, e))?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("epoch-")))
            .filter(|p| p.join(STATE_FILE).exists())
            .collect();
        dirs.sort();
        Ok(dirs)
    }

    fn prune(&self) -> Result<(), ModelError> {
        let dirs = self.complete()?;
        let excess = dirs.len().saturating_sub(self.keep);
        for dir in &dirs[..excess] {
            std::fs::remove_dir_all(dir).map_err(|e| ModelError::checkpoint(dir, e))?;
        }
        Ok(())
    }
}

/// Reads a checkpoint directory's state and checks every data file against the
/// checksum `state.json` records; the reason when it is damaged.
pub fn verify(dir: &Path) -> Result<Checkpoint, String> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{STATE_FILE}: {e}"))?;
    let file: StateFile = serde_json::from_str(&text).map_err(|e| format!("{STATE_FILE}: {e}"))?;
    let plugin_files = file.plugin_states.iter().map(|key| plugin_state_file(key));
    let pending_file = (!file.pending_snapshots.is_empty()).then(|| PENDING_FILE.to_string());
    for name in DATA_FILES.iter().map(|f| f.to_string()).chain(plugin_files).chain(pending_file) {
        let name = name.as_str();
        let path = dir.join(name);
        if !path.is_file() {
            return Err(format!("{name} is missing"));
        }
        match file.sha256.get(name) {
            Some(expected) => {
                let found = file_sha256(&path).map_err(|e| format!("{name}: {e}"))?;
                if &found != expected {
                    return Err(format!("{name} does not match its SHA-256 in {STATE_FILE} (damaged or changed since it was written)"));
                }
            }
            None if !file.sha256.is_empty() => return Err(format!("{STATE_FILE} records no SHA-256 of {name}")),
            None => {}
        }
    }
    Ok(Checkpoint {
        dir: dir.to_path_buf(),
        state: file.state,
        plugin_states: file.plugin_states,
        dropped_plugins: file.dropped_plugins,
        pending_snapshots: file.pending_snapshots,
    })
}

/// Hex SHA-256 of a file's bytes.
fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut File::open(path)?, &mut hasher)?;
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(epochs_done: usize) -> CheckpointState {
        CheckpointState {
            epochs_done,
            steps: 10 * epochs_done as u64,
            samples: 4,
            train_seconds: 1.0,
            score_seconds: 0.0,
            scored_samples: 0,
            world: 2,
        }
    }

    fn write(checkpoints: &Checkpoints, epochs_done: usize) -> PathBuf {
        let t = |v: f32| vec![("w".to_string(), Tensor::from_slice(&[v, v + 1.0]))];
        checkpoints.write(&state(epochs_done), &t(epochs_done as f32), &t(0.5), &t(2.0), &PluginStates::default(), &[]).unwrap()
    }

    #[test]
    fn plugin_states_and_dropped_plugins_are_kept_and_checksummed() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::new(dir.path().to_path_buf(), 2);
        let t = vec![("w".to_string(), Tensor::from_slice(&[1f32]))];
        let plugins = PluginStates {
            states: vec![("01-forgetting".into(), vec![1, 2, 3]), ("02-aum".into(), Vec::new())],
            dropped: vec![DroppedPlugin { plugin: "x".into(), hook: "score_batch".into(), message: "boom".into() }],
        };
        let written = checkpoints.write(&state(1), &t, &t, &t, &plugins, &[]).unwrap();
        let found = checkpoints.latest().unwrap().unwrap();
        assert_eq!(found.read().unwrap().plugins, plugins);

        std::fs::write(written.join("plugin-01-forgetting.state"), [1, 2, 4]).unwrap();
        assert!(verify(&written).unwrap_err().contains("plugin-01-forgetting.state does not match its SHA-256"));
        std::fs::write(written.join("plugin-01-forgetting.state"), [1, 2, 3]).unwrap();
        std::fs::remove_file(written.join("plugin-02-aum.state")).unwrap();
        assert_eq!(verify(&written).unwrap_err(), "plugin-02-aum.state is missing");
    }

    /// The snapshots the scorer had not scored come back with their epochs and weights,
    /// and are checksummed like every other file.
    #[test]
    fn pending_snapshots_are_kept_and_checksummed() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::new(dir.path().to_path_buf(), 2);
        let t = vec![("w".to_string(), Tensor::from_slice(&[1f32]))];
        let snapshot = |epoch: usize, v: f32| Snapshot {
            epoch,
            variables: vec![("a.bias".to_string(), Tensor::from_slice(&[v])), ("a.weight".to_string(), Tensor::from_slice(&[v, -v]))],
        };
        let written = checkpoints.write(&state(4), &t, &t, &t, &PluginStates::default(), &[snapshot(2, 3.0), snapshot(3, 4.0)]).unwrap();
        let pending = checkpoints.latest().unwrap().unwrap().read().unwrap().pending;
        assert_eq!(pending.iter().map(|s| s.epoch).collect::<Vec<_>>(), [2, 3]);
        for (s, v) in pending.iter().zip([3.0f32, 4.0]) {
            let names: Vec<&str> = s.variables.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["a.bias", "a.weight"]);
            assert_eq!(Vec::<f32>::try_from(&s.variables[1].1).unwrap(), [v, -v]);
        }
        // None pending: no file, nothing listed.
        let none = checkpoints.write(&state(5), &t, &t, &t, &PluginStates::default(), &[]).unwrap();
        assert!(!none.join(PENDING_FILE).exists());
        assert!(checkpoints.latest().unwrap().unwrap().read().unwrap().pending.is_empty());

        std::fs::remove_file(written.join(PENDING_FILE)).unwrap();
        assert_eq!(verify(&written).unwrap_err(), "pending.safetensors is missing");
    }

    #[test]
    fn state_json_records_each_files_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let written = write(&Checkpoints::new(dir.path().to_path_buf(), 2), 1);
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(written.join(STATE_FILE)).unwrap()).unwrap();
        assert_eq!(json["epochs_done"], 1);
        assert_eq!(json["world"], 2);
        for file in DATA_FILES {
            assert_eq!(json["sha256"][file].as_str().unwrap(), file_sha256(&written.join(file)).unwrap());
        }
    }

    #[test]
    fn a_damaged_newest_checkpoint_falls_back_to_the_newest_intact_one() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::new(dir.path().to_path_buf(), 3);
        let (_, second, third) = (write(&checkpoints, 1), write(&checkpoints, 2), write(&checkpoints, 3));
        assert_eq!(checkpoints.latest().unwrap().unwrap().state.epochs_done, 3);

        let model = third.join(MODEL_FILE);
        let length = std::fs::metadata(&model).unwrap().len();
        File::options().write(true).open(&model).unwrap().set_len(length / 2).unwrap();
        assert!(verify(&third).unwrap_err().contains("model.safetensors does not match its SHA-256"));
        assert_eq!(checkpoints.latest().unwrap().unwrap().state.epochs_done, 2);

        std::fs::remove_file(second.join(SCORES_FILE)).unwrap();
        assert_eq!(verify(&second).unwrap_err(), "scores.safetensors is missing");
        assert_eq!(checkpoints.latest().unwrap().unwrap().state.epochs_done, 1);
    }

    #[test]
    fn a_corrupt_state_json_is_skipped_and_old_checkpoints_without_checksums_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::new(dir.path().to_path_buf(), 3);
        let (first, second) = (write(&checkpoints, 1), write(&checkpoints, 2));
        std::fs::write(second.join(STATE_FILE), b"{ not json").unwrap();
        assert!(verify(&second).unwrap_err().starts_with("state.json: "));
        // A checkpoint of an older memscope: state.json without checksums, nor the
        // number of processes (there was only ever one).
        let mut old = serde_json::to_value(state(1)).unwrap();
        old.as_object_mut().unwrap().remove("world");
        std::fs::write(first.join(STATE_FILE), serde_json::to_vec(&old).unwrap()).unwrap();
        let found = checkpoints.latest().unwrap().unwrap();
        assert_eq!((found.state.epochs_done, found.state.world), (1, 1));
        std::fs::remove_dir_all(&first).unwrap();
        assert!(checkpoints.latest().unwrap().is_none());
    }
}
