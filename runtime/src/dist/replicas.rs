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

fn flat(tensors: &[Tensor], members: &[usize]) -> Tensor {
    let parts: Vec<Tensor> = members.iter().map(|&i| tensors[i].detach().reshape([-1])).collect();
    Tensor::cat(&parts, 0)
}

/// Overwrites `tensors` (a network's variables, which share storage with it) with
/// rank 0's on every rank: one broadcast per kind of tensor.
pub fn broadcast_from_rank0(group: &ProcessGroup, tensors: &[Tensor]) -> Result<(), DistError> {
    for (_, members) in buckets(tensors) {
        let mut bucket = flat(tensors, &members);
        group.broadcast(&mut bucket, 0)?;
        let mut offset = 0;
        tch::no_grad(|| {
            for &i in &members {
                let n = tensors[i].numel() as i64;
                tensors[i].shallow_clone().copy_(&bucket.narrow(0, offset, n).view(tensors[i].size().as_slice()));
                offset += n;
            }
        });
    }
    Ok(())
}

/// The ranks whose `tensors` are not bitwise equal to rank 0's (empty when every rank
/// holds the same), known to every rank. Costs one broadcast of the tensors.
pub fn ranks_differing_from_rank0(group: &ProcessGroup, tensors: &[Tensor]) -> Result<Vec<usize>, DistError> {
    let mut differs = false;
    for (_, members) in buckets(tensors) {
        let mine = flat(tensors, &members);
        let mut reference = mine.copy();
        group.broadcast(&mut reference, 0)?;
        differs |= !mine.equal(&reference);
    }
    let device = tensors.first().map(|t| t.device()).unwrap_or(tch::Device::Cpu);
    let mut flags = Tensor::zeros([group.world() as i64], (Kind::Float, device));
    if differs {
        let _ = flags.get(group.rank() as i64).fill_(1.0);
    }
    group.all_reduce(&mut flags, Reduce::Sum)?;
    let flags = Vec::<f32>::try_from(&flags.to_device(tch::Device::Cpu)).unwrap_or_default();
    Ok(flags.iter().enumerate().filter(|(_, &f)| f > 0.0).map(|(r, _)| r).collect())
}
