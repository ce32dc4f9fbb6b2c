//! Keeping every rank's copy of the network the same: rank 0's variables broadcast
//! at the start, and a check at the end that no rank drifted.

use super::{DistError, ProcessGroup, Reduce};
use tch::{Kind, Tensor};

/// The tensors in buckets of one kind each (a collective takes one kind), as
/// `(kind, indices into tensors)`, in first-seen order.
fn buckets(tensors: &[Tensor]) -> Vec<(Kind, Vec<usize>)> {
    let mut buckets: Vec<(Kind, Vec<usize>)> = Vec::new();
    for (i, t) in tensors.iter().enumerate() {
        let kind = t.kind();
        match buckets.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, members)) => members.push(i),
            None => buckets.push((kind, vec![i])),
        }
    }
    buckets
}

/// The `members` of `tensors`, flattened into one new tensor.
fn flat(tensors: &[Tensor], members: &[usize]) -> Result<Tensor, tch::TchError> {
    let parts = members.iter().map(|&i| tensors[i].f_detach()?.f_reshape([-1])).collect::<Result<Vec<_>, _>>()?;
    Tensor::f_cat(&parts, 0)
}

/// Overwrites `tensors` (a network's variables, which share storage with it) with
/// rank 0's on every rank: one broadcast per kind of tensor.
pub fn broadcast_from_rank0(group: &ProcessGroup, tensors: &[Tensor]) -> Result<(), DistError> {
    let local = |e: tch::TchError| group.local_failure("broadcast of the initial weights", e.to_string());
    for (_, members) in buckets(tensors) {
        let mut bucket = flat(tensors, &members).map_err(local)?;
        group.broadcast(&mut bucket, 0)?;
        let mut offset = 0;
        tch::no_grad(|| -> Result<(), tch::TchError> {
            for &i in &members {
                let n = tensors[i].numel() as i64;
                let values = bucket.f_narrow(0, offset, n)?.f_view(tensors[i].size().as_slice())?;
                tensors[i].shallow_clone().f_copy_(&values)?;
                offset += n;
            }
            Ok(())
        })
        .map_err(local)?;
    }
    Ok(())
}

/// The ranks whose `tensors` are not bitwise equal to rank 0's (empty when every rank
/// holds the same), known to every rank. Costs one broadcast of the tensors.
pub fn ranks_differing_from_rank0(group: &ProcessGroup, tensors: &[Tensor]) -> Result<Vec<usize>, DistError> {
    let local = |e: tch::TchError| group.local_failure("check of the final weights", e.to_string());
    let mut differs = false;
    for (_, members) in buckets(tensors) {
        let mine = flat(tensors, &members).map_err(local)?;
        let mut reference = mine.f_detach_copy().map_err(local)?;
        group.broadcast(&mut reference, 0)?;
        differs |= !mine.f_equal(&reference).map_err(local)?;
    }
    let device = tensors.first().map(|t| t.device()).unwrap_or(tch::Device::Cpu);
    let mut mine = vec![0.0f32; group.world()];
    mine[group.rank()] = if differs { 1.0 } else { 0.0 };
    let mut flags = Tensor::from_slice(&mine).f_to_device(device).map_err(local)?;
    group.all_reduce(&mut flags, Reduce::Sum)?;
    let flags = flags.f_to_device(tch::Device::Cpu).and_then(|f| Vec::<f32>::try_from(&f)).map_err(local)?;
    Ok(flags.iter().enumerate().filter(|(_, &f)| f > 0.0).map(|(r, _)| r).collect())
}
