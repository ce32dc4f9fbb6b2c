//! What a resumed job continues from: the newest intact checkpoint of its run
//! directory, checked against the job (the same samples, the same number of
//! processes).
//!
//! In a process group only rank 0 has the run directory (nothing else is assumed of
//! the other machines: no shared filesystem). Every rank takes part in [`share`], the
//! same collectives in the same order whether or not the job resumes: rank 0 sends its
//! verdict (start afresh, resume, or its error), then everything the checkpoint holds
//! (weights, optimizer slots, counters, score tables, plugin states, the snapshots its
//! scorer thread had yet to score), so that every rank continues from the very same
//! state. When rank 0 cannot resume, the others end
//! with its error rather than waiting for it.

use super::JobError;
use crate::dist::{broadcast_bytes, broadcast_tensors, DistError, ProcessGroup};
use crate::model::{pending_snapshots, pending_tensors, CheckpointData, CheckpointState, Checkpoints};
use crate::plugins::{DroppedPlugin, PluginStates};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;
use tch::{Device, Tensor};

/// The newest intact checkpoint in `checkpoints`, read and checked against a job of
/// `samples` training samples run by `world` processes; `None` when there is none
/// (training starts from epoch 0, with a warning).
pub(super) fn read(checkpoints: &Checkpoints, samples: usize, world: usize) -> Result<Option<CheckpointData>, JobError> {
    let Some(latest) = checkpoints.latest()? else {
        tracing::warn!("no checkpoint in {}: starting from epoch 0", checkpoints.dir().display());
        return Ok(None);
    };
    check(&latest.dir, &latest.state, samples, world)?;
    Ok(Some(latest.read()?))
}

/// Refuses a checkpoint of other data, or of another number of processes.
fn check(dir: &std::path::Path, state: &CheckpointState, samples: usize, world: usize) -> Result<(), JobError> {
    let refuse = |message: String| Err(JobError::RunDir { path: dir.to_path_buf(), message });
    if state.samples != samples {
        return refuse(format!("checkpoint is for {} samples, the dataset has {samples}", state.samples));
    }
    if state.world != world {
        let processes = |n: usize| if n == 1 { "1 process".to_string() } else { format!("{n} processes") };
        let how = match state.world {
            1 => "as a single process (without a launcher)".to_string(),
            n => format!("with {n} processes (`memscope launch --nproc {n}`, `torchrun --nproc-per-node={n}`, ...)"),
        };
        return refuse(format!(
            "the checkpoint was written by a job of {} and this job has {}: resume it {how}, or start a new run \
             (each global batch is processes x batch_size, so another number of processes would train on other batches)",
            processes(state.world),
            processes(world),
        ));
    }
    Ok(())
}

/// Rank 0's verdict, sent first: what follows, or why nothing does.
#[derive(Debug, Serialize, Deserialize)]
enum Verdict {
    /// Training starts from epoch 0 (no resume asked, or no intact checkpoint).
    Fresh,
    /// Training continues from this checkpoint; its tensors follow.
    Resume {
        /// Its directory on rank 0's machine (for messages).
        dir: PathBuf,
        /// Its counters.
        state: CheckpointState,
        /// Optional plugins dropped before it.
        dropped: Vec<DroppedPlugin>,
        /// The epochs of the snapshots still to score (a scorer thread's), whose
        /// variables follow too.
        #[serde(default)]
        pending: Vec<usize>,
    },
    /// Rank 0 could not read or use the checkpoint: its error.
    Failed(String),
}

/// What every rank of `group` continues from: `mine` is rank 0's reading of its run
/// directory ([`read`], or `Ok(None)` when not resuming) and is ignored on the other
/// ranks, which receive it. Rank 0 returns its own error; the others an error naming
/// rank 0 and carrying its message. `samples` is checked on every rank (each loaded
/// the data itself).
pub(super) fn share(
    group: &ProcessGroup,
    device: Device,
    mine: Result<Option<CheckpointData>, JobError>,
    samples: usize,
) -> Result<Option<CheckpointData>, JobError> {
    if group.rank() == 0 {
        let verdict = match &mine {
            Ok(None) => Verdict::Fresh,
            Ok(Some(data)) => Verdict::Resume {
                dir: data.dir.clone(),
                state: data.state.clone(),
                dropped: data.plugins.dropped.clone(),
                pending: data.pending.iter().map(|s| s.epoch).collect(),
            },
            Err(e) => Verdict::Failed(e.to_string()),
        };
        broadcast_bytes(group, device, &serde_json::to_vec(&verdict).expect("a verdict serializes"))?;
        let Some(data) = mine? else { return Ok(None) };
        let started = Instant::now();
        let bytes = size(&broadcast_parts(group, device, Some(&data))?);
        tracing::info!(
            "sent the checkpoint to the other {} rank(s): {bytes} bytes in {:.3} s",
            group.world() - 1,
            started.elapsed().as_secs_f64()
        );
        return Ok(Some(data));
    }
    let local = |message: String| group.local_failure("resume from rank 0's checkpoint", message);
    let verdict = broadcast_bytes(group, device, &[])?;
    let verdict: Verdict = serde_json::from_slice(&verdict).map_err(|e| local(format!("rank 0's verdict: {e}")))?;
    let (dir, state, dropped, pending) = match verdict {
        Verdict::Fresh => return Ok(None),
        Verdict::Failed(message) => {
            return Err(DistError::Rank0Failed { rank: group.rank(), world: group.world(), what: "resume the job", message }.into())
        }
        Verdict::Resume { dir, state, dropped, pending } => (dir, state, dropped, pending),
    };
    let started = Instant::now();
    let parts = broadcast_parts(group, device, None)?;
    tracing::info!(
        "resuming at epoch {} from rank 0's checkpoint {}: {} bytes received in {:.3} s",
        state.epochs_done,
        dir.display(),
        size(&parts),
        started.elapsed().as_secs_f64()
    );
    let [model, optimizer, scores, plugin_bytes, pending_variables] = parts;
    check(&dir, &state, samples, group.world())?;
    let mut states = Vec::with_capacity(plugin_bytes.len());
    for (key, bytes) in plugin_bytes {
        states.push((key, Vec::<u8>::try_from(&bytes).map_err(|e| local(e.to_string()))?));
    }
    let pending = pending_snapshots(&pending, pending_variables);
    Ok(Some(CheckpointData { dir, state, model, optimizer, scores, plugins: PluginStates { states, dropped }, pending }))
}

/// The bytes the tensors of `parts` hold.
fn size(parts: &[Vec<(String, Tensor)>]) -> usize {
    parts.iter().flatten().map(|(_, t)| t.numel() * t.kind().elt_size_in_bytes()).sum()
}

/// Rank 0's checkpoint tensors on every rank (rank 0 passes its checkpoint): the
/// model, the optimizer, the scores, the plugin states (their bytes as `uint8`) and
/// the variables of the snapshots still to score.
fn broadcast_parts(group: &ProcessGroup, device: Device, data: Option<&CheckpointData>) -> Result<[Vec<(String, Tensor)>; 5], DistError> {
    let plugin_bytes: Option<Vec<(String, Tensor)>> =
        data.map(|d| d.plugins.states.iter().map(|(key, bytes)| (key.clone(), Tensor::from_slice(bytes))).collect());
    let pending = data.map(|d| pending_tensors(&d.pending));
    Ok([
        broadcast_tensors(group, device, data.map(|d| d.model.as_slice()))?,
        broadcast_tensors(group, device, data.map(|d| d.optimizer.as_slice()))?,
        broadcast_tensors(group, device, data.map(|d| d.scores.as_slice()))?,
        broadcast_tensors(group, device, plugin_bytes.as_deref())?,
        broadcast_tensors(group, device, pending.as_deref())?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(world: usize) -> CheckpointState {
        CheckpointState { epochs_done: 3, steps: 90, samples: 100, train_seconds: 1.0, score_seconds: 0.0, scored_samples: 0, world }
    }

    fn refusal(saved: &CheckpointState, samples: usize, world: usize) -> String {
        check(std::path::Path::new("runs/dp/checkpoints/epoch-000003"), saved, samples, world).unwrap_err().to_string()
    }

    #[test]
    fn a_checkpoint_of_another_world_size_is_refused_naming_both_and_the_launch_to_use() {
        assert!(check(std::path::Path::new("c"), &state(2), 100, 2).is_ok());
        assert_eq!(
            refusal(&state(2), 100, 1),
            "run directory runs/dp/checkpoints/epoch-000003: the checkpoint was written by a job of 2 processes and this job has 1 process: \
             resume it with 2 processes (`memscope launch --nproc 2`, `torchrun --nproc-per-node=2`, ...), or start a new run \
             (each global batch is processes x batch_size, so another number of processes would train on other batches)"
        );
        assert!(refusal(&state(1), 100, 4)
            .contains("written by a job of 1 process and this job has 4 processes: resume it as a single process (without a launcher)"));
        assert!(refusal(&state(3), 100, 2).contains("resume it with 3 processes (`memscope launch --nproc 3`"));
    }

    #[test]
    fn a_checkpoint_of_other_data_is_refused() {
        assert_eq!(
            refusal(&state(1), 90, 1),
            "run directory runs/dp/checkpoints/epoch-000003: checkpoint is for 100 samples, the dataset has 90"
        );
    }
}
