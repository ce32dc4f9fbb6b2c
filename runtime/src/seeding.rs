//! Deterministic random streams.
//!
//! Every random decision (shuffle order of an epoch, augmentation of a batch, label
//! noise) draws from its own stream derived from the job seed and the decision's
//! coordinates. A resumed run therefore needs no saved RNG state: epoch 7's shuffle is
//! the same whether or not the process restarted after epoch 6.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Purposes of random streams, so that two purposes never share a stream.
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
pub enum Stream {
    /// Order of samples in an epoch.
    Shuffle = 1,
    /// Augmentation of one sample in one epoch.
    Augment = 2,
    /// libtorch's global generator during an epoch's training steps (dropout).
    Torch = 3,
    /// The samples a job trains on (`[train] subset`).
    Subset = 4,
    /// The seed of one model of a memorization estimate.
    EstimateModel = 5,
}

/// A generator for `stream` at `coords` (e.g. `[epoch]` or `[epoch, step]`).
pub fn rng_for(seed: u64, stream: Stream, coords: &[u64]) -> ChaCha8Rng {
    let mut state = splitmix(seed ^ splitmix(stream as u64));
    for &c in coords {
        state = splitmix(state ^ splitmix(c.wrapping_add(0x9e37_79b9)));
    }
    ChaCha8Rng::seed_from_u64(state)
}

/// The seed of libtorch's global generator for `epoch`'s training steps. The trainer
/// seeds it before each epoch, so that what draws from it while training (dropout in
/// a user's model) draws the same in a resumed run as in an uninterrupted one.
pub fn torch_seed(seed: u64, epoch: usize) -> i64 {
    use rand::RngCore;
    // libtorch takes any u64, tch an i64: keep it non-negative.
    (rng_for(seed, Stream::Torch, &[epoch as u64]).next_u64() >> 1) as i64
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libtorch's generator gets one seed per (job seed, epoch): the same in a resumed
    /// process, another for the next epoch or another job seed, and never negative
    /// (tch takes an i64).
    #[test]
    fn torch_seeds_follow_the_job_seed_and_the_epoch() {
        assert_eq!(torch_seed(7, 3), torch_seed(7, 3));
        let seeds: Vec<i64> = (0..100).map(|epoch| torch_seed(7, epoch)).collect();
        let mut distinct = seeds.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), seeds.len());
        assert_ne!(torch_seed(7, 0), torch_seed(8, 0));
        assert!(seeds.iter().all(|&s| s >= 0));
    }
}
