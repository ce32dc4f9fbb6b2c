//! Which samples a job trains on: the whole training set, or a seeded random part of it
//! (`[train] subset`), the way each model of a memorization estimate holds samples out.

use crate::config::SubsetConfig;
use crate::seeding::{rng_for, Stream};
use rand::seq::SliceRandom;
use std::sync::Arc;

/// The samples trained on, sorted, and the size of the set they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingSamples {
    indices: Arc<[usize]>,
    of: usize,
}

impl TrainingSamples {
    /// Every sample of a set of `n`.
    pub fn whole(n: usize) -> Self {
        TrainingSamples { indices: (0..n).collect(), of: n }
    }

    /// The samples `subset` chooses from a set of `n` (with `job_seed` when it names no
    /// seed of its own), or all of them without one.
    pub fn for_job(subset: Option<&SubsetConfig>, job_seed: u64, n: usize) -> Self {
        match subset {
            None => Self::whole(n),
            Some(s) => Self::seeded(n, s.fraction, s.seed.unwrap_or(job_seed)),
        }
    }

    /// `round(fraction * n)` samples (at least one, at most `n`) drawn without
    /// replacement by `seed`: a shuffle of `0..n` from its own random stream, cut, then
    /// sorted. The same `(n, fraction, seed)` always gives the same samples, in any
    /// process.
    pub fn seeded(n: usize, fraction: f64, seed: u64) -> Self {
        let size = ((fraction * n as f64).round() as usize).clamp(1.min(n), n);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng_for(seed, Stream::Subset, &[n as u64]));
        order.truncate(size);
        order.sort_unstable();
        TrainingSamples { indices: order.into(), of: n }
    }

    /// The samples trained on, in ascending order.
    pub fn indices(&self) -> &Arc<[usize]> {
        &self.indices
    }

    /// How many samples are trained on.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether no sample is trained on (only for an empty set).
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Whether these are all the samples of the set.
    pub fn is_whole(&self) -> bool {
        self.indices.len() == self.of
    }

    /// One flag per sample of the set: trained on or not.
    pub fn mask(&self) -> Vec<bool> {
        let mut mask = vec![false; self.of];
        for &i in self.indices.iter() {
            mask[i] = true;
        }
        mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_subset_has_the_rounded_size_and_depends_only_on_its_seed() {
        let a = TrainingSamples::seeded(10, 0.7, 3);
        assert_eq!(a.len(), 7);
        assert!(a.indices().windows(2).all(|w| w[0] < w[1]), "sorted, no repeats: {:?}", a.indices());
        assert_eq!(a, TrainingSamples::seeded(10, 0.7, 3));
        assert_ne!(a, TrainingSamples::seeded(10, 0.7, 4));
        assert_eq!(a.mask().iter().filter(|&&m| m).count(), 7);
        assert!(a.indices().iter().all(|&i| a.mask()[i]));
        // 0.25 of 10 is 2.5: rounded to 3 (away from zero); a tiny share keeps one sample.
        assert_eq!(TrainingSamples::seeded(10, 0.25, 0).len(), 3);
        assert_eq!(TrainingSamples::seeded(10, 0.01, 0).len(), 1);
        assert!(TrainingSamples::seeded(10, 1.0, 0).is_whole());
        assert_eq!(TrainingSamples::for_job(None, 0, 4), TrainingSamples::whole(4));
        let config = SubsetConfig { fraction: 0.5, seed: None };
        assert_eq!(TrainingSamples::for_job(Some(&config), 9, 8), TrainingSamples::seeded(8, 0.5, 9));
    }

    /// Over many seeds each sample is in about `fraction` of the subsets: the draws do
    /// not favour any part of the set (each of 20 samples in 700 +- 90 of 1,000, about
    /// 6 standard deviations).
    #[test]
    fn every_sample_is_drawn_about_as_often() {
        let mut counts = [0usize; 20];
        for seed in 0..1000 {
            for &i in TrainingSamples::seeded(20, 0.7, seed).indices().iter() {
                counts[i] += 1;
            }
        }
        assert!(counts.iter().all(|&c| (610..=790).contains(&c)), "{counts:?}");
    }
}
