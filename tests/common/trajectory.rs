//! Comparing two trainings that are the same in exact arithmetic but not in floats.
//!
//! Two ranks with 32 samples each and one process with 64 compute the same step, but
//! their kernels sum in another order (and which order depends on the CPU: AVX-512,
//! AVX2, or a CPU without AVX2). Training amplifies that rounding from epoch to epoch,
//! so no fixed tolerance on a trajectory holds on every CPU: measured on this project's
//! machines, per-sample losses of the third epoch differ by 4e-6 on one CPU and 3e-2 on
//! another. What holds everywhere is that the difference stays the size of rounding
//! amplified by training, which a **yardstick** shows on the CPU at hand: two
//! one-process runs that differ only in their thread count (another summation order,
//! nothing else). A real difference of training (a gradient summed instead of averaged,
//! a rank training on its own half, twice the learning rate) moves epoch losses by
//! 7-34 % and leaves per-sample rankings at Spearman 0.80-0.90 against 0.9993 or more
//! for rounding alone (digits `cnn`, 3 epochs, measured under every
//! `ATEN_CPU_CAPABILITY`): the bounds below sit between the two with a wide margin on
//! either side. The step itself, where the equivalence is exact, is compared to float
//! tolerance elsewhere (`test_distributed`'s one-step tests).

use crate::read_npy_f32;
use std::path::Path;

/// How far rounding alone may take two trainings apart, at least: a relative
/// difference of an epoch's mean loss (measured up to 1.2e-2 by the third epoch).
const EPOCH_LOSS_FLOOR: f64 = 0.03;
/// ... and `1 - Spearman` of a per-sample score (measured up to 7.2e-4).
const RANK_FLOOR: f64 = 0.01;
/// How many times the yardstick's own difference a candidate may differ by.
const YARDSTICK_FACTOR: f64 = 10.0;

/// One training to compare: its epoch losses and its run directory.
#[derive(Debug, Clone, Copy)]
pub struct Training<'a> {
    /// What it is, for messages (`"two ranks"`).
    pub name: &'a str,
    /// The mean training loss of each epoch, in order.
    pub epoch_losses: &'a [f32],
    /// Its run directory (the one holding `summary.json`).
    pub run: &'a Path,
}

/// Asserts that `candidate` trains as `reference` does, as closely as `yardstick` (the
/// reference's job with another thread count) does on this CPU, or within the floors
/// above: every epoch's mean loss, and the ranking of the samples by each of `scores`
/// (files under the run directory; an `_epochs` file is compared row by row).
pub fn assert_trains_alike(candidate: Training, reference: Training, yardstick: Training, scores: &[&str]) {
    assert_eq!(candidate.epoch_losses.len(), reference.epoch_losses.len(), "{}: epochs", candidate.name);
    assert_eq!(yardstick.epoch_losses.len(), reference.epoch_losses.len(), "{}: epochs", yardstick.name);
    for (epoch, ((c, r), y)) in candidate.epoch_losses.iter().zip(reference.epoch_losses).zip(yardstick.epoch_losses).enumerate() {
        let (apart, rounding) = (relative(*c, *r), relative(*y, *r));
        let bound = (YARDSTICK_FACTOR * rounding).max(EPOCH_LOSS_FLOOR);
        assert!(
            apart <= bound,
            "epoch {}: the mean loss of {} ({c}) is {apart:.1e} from {}'s ({r}), past {bound:.1e} \
             ({} differs by {rounding:.1e})",
            epoch + 1,
            candidate.name,
            reference.name,
            yardstick.name
        );
    }
    for file in scores {
        let rows = |t: Training| {
            let (values, shape) = read_npy_f32(&t.run.join(file));
            let width = *shape.last().expect("a score array has a shape") as usize;
            values.chunks(width).map(|row| row.iter().map(|v| f64::from(*v)).collect::<Vec<f64>>()).collect::<Vec<_>>()
        };
        let (c, r, y) = (rows(candidate), rows(reference), rows(yardstick));
        assert_eq!((c.len(), c[0].len()), (r.len(), r[0].len()), "{file}: shapes of {} and {}", candidate.name, reference.name);
        for (row, ((c, r), y)) in c.iter().zip(&r).zip(&y).enumerate() {
            let apart = 1.0 - memscope_stats::spearman(c, r);
            let rounding = 1.0 - memscope_stats::spearman(y, r);
            let bound = (YARDSTICK_FACTOR * rounding).max(RANK_FLOOR);
            assert!(
                apart <= bound,
                "{file} row {row}: {} ranks the samples at Spearman {:.6} with {}, past 1 - {bound:.1e} \
                 ({} is at {:.6})",
                candidate.name,
                1.0 - apart,
                reference.name,
                yardstick.name,
                1.0 - rounding
            );
        }
    }
}

fn relative(a: f32, b: f32) -> f64 {
    f64::from((a - b).abs()) / f64::from(b.abs()).max(1e-12)
}
