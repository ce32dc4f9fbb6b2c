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
    /// Augmentation of one batch.
    Augment = 2,
}

/// A generator for `stream` at `coords` (e.g. `[epoch]` or `[epoch, step]`).
pub fn rng_for(seed: u64, stream: Stream, coords: &[u64]) -> ChaCha8Rng {
    let mut state = splitmix(seed ^ splitmix(stream as u64));
    for &c in coords {
        state = splitmix(state ^ splitmix(c.wrapping_add(0x9e37_79b9)));
    }
    ChaCha8Rng::seed_from_u64(state)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
