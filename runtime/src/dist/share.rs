//! Sending what rank 0 alone has (it alone reads the run directory) to every rank:
//! bytes, and named tensors of any shape and kind, which the other ranks do not know
//! in advance. No shared filesystem is assumed.

use super::{broadcast_from_rank0, DistError, ProcessGroup};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// The kinds a shared tensor may have, by the name the header gives them.
const KINDS: [Kind; 10] =
    [Kind::Uint8, Kind::Int8, Kind::Int16, Kind::Int, Kind::Int64, Kind::Half, Kind::BFloat16, Kind::Float, Kind::Double, Kind::Bool];

/// What the other ranks allocate for one tensor before its values arrive.
#[derive(Debug, Serialize, Deserialize)]
struct Layout {
    name: String,
    kind: String,
    shape: Vec<i64>,
}

/// Rank 0's `bytes` on every rank (the other ranks' `bytes` are ignored): its length,
/// then its bytes, broadcast as tensors on `device` (the group's: the CPU for Gloo, a
/// GPU for NCCL).
pub fn broadcast_bytes(group: &ProcessGroup, device: Device, bytes: &[u8]) -> Result<Vec<u8>, DistError> {
    let local = |e: tch::TchError| group.local_failure("broadcast of rank 0's bytes", e.to_string());
    let mut length = Tensor::from_slice(&[bytes.len() as i64]).f_to_device(device).map_err(local)?;
    group.broadcast(&mut length, 0)?;
    let length = length.f_int64_value(&[0]).map_err(local)?;
    if length == 0 {
        return Ok(Vec::new());
    }
    let mut values = match group.rank() {
        0 => Tensor::from_slice(bytes),
        _ => Tensor::f_zeros([length], (Kind::Uint8, Device::Cpu)).map_err(local)?,
    }
    .f_to_device(device)
    .map_err(local)?;
    group.broadcast(&mut values, 0)?;
    Vec::<u8>::try_from(&values.f_to_device(Device::Cpu).map_err(local)?).map_err(local)
}

/// Rank 0's named `tensors` on every rank, on the CPU (the other ranks pass `None`).
/// Rank 0 first sends their names, kinds and shapes; the values follow, one broadcast
/// per kind.
pub fn broadcast_tensors(
    group: &ProcessGroup,
    device: Device,
    tensors: Option<&[(String, Tensor)]>,
) -> Result<Vec<(String, Tensor)>, DistError> {
    let local = |e: String| group.local_failure("broadcast of rank 0's tensors", e);
    let layouts: Vec<Layout> = tensors
        .unwrap_or_default()
        .iter()
        .map(|(name, t)| Layout { name: name.clone(), kind: format!("{:?}", t.kind()), shape: t.size() })
        .collect();
    let header = serde_json::to_vec(&layouts).expect("tensor layouts serialize");
    let header = broadcast_bytes(group, device, &header)?;
    let layouts: Vec<Layout> = serde_json::from_slice(&header).map_err(|e| local(format!("rank 0's header: {e}")))?;
    let mut shared = Vec::with_capacity(layouts.len());
    for (i, layout) in layouts.into_iter().enumerate() {
        let tensor = match tensors {
            Some(mine) if group.rank() == 0 => mine[i].1.f_to_device(device),
            _ => {
                let kind = KINDS.into_iter().find(|k| format!("{k:?}") == layout.kind);
                let kind =
                    kind.ok_or_else(|| local(format!("rank 0 sent `{}` of kind {}, which cannot be shared", layout.name, layout.kind)))?;
                Tensor::f_zeros(layout.shape.as_slice(), (kind, device))
            }
        }
        .map_err(|e| local(e.to_string()))?;
        shared.push((layout.name, tensor));
    }
    // Empty tensors have no values to send (and a collective of none is not defined).
    let filled: Vec<Tensor> = shared.iter().filter(|(_, t)| t.numel() > 0).map(|(_, t)| t.shallow_clone()).collect();
    broadcast_from_rank0(group, &filled)?;
    shared.into_iter().map(|(name, t)| Ok((name, t.f_to_device(Device::Cpu).map_err(|e| local(e.to_string()))?))).collect()
}
