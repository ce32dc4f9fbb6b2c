//! Confident learning (Northcutt, Jiang & Chuang 2021) over averaged class
//! probabilities, with cleanlab's (2.9) arithmetic: the count of label issues is
//! `num_label_issues(estimation_method="off_diagonal_calibrated")`, and that many samples
//! with the lowest probability of their label are flagged, as
//! `find_label_issues(filter_by="low_self_confidence")` flags (which counts with the
//! uncalibrated `off_diagonal` method). This is the combination that measured best on
//! probabilities from the training passes (bench/science/verdict_windows.py,
//! REPRODUCTION.md).
//!
//! 1. Each class's threshold `t_j` is the mean probability of class `j` over the
//!    samples labelled `j`.
//! 2. A sample is *confidently* of class `j` when `p_j >= t_j`; of the most probable
//!    class when several clear their thresholds. The confident joint counts, for each
//!    given label, the samples confidently of each class (a diagonal entry is at least 1).
//! 3. Calibration scales each given label's row to the number of samples with that
//!    label, and rounds it keeping the row's total; the count of issues is the number
//!    of samples off the diagonal.
//! 4. That many samples with the lowest self-confidence (the probability of their given
//!    label) are flagged, the lowest first.
//!
//! Flagging the confidently-other samples themselves (cleanlab's `confident_learning`
//! filter, its default `prune_by_noise_rate`, or "some other class clears its
//! threshold") missed many flipped labels: the training passes fit the data, so a
//! flipped sample's true class often stays under its threshold. The self-confidence
//! order is the most precise one, and the calibrated count the closest to the number of
//! flipped labels over the cells measured.

/// cleanlab's tolerance in the threshold comparison.
const TOLERANCE: f32 = 1e-6;

/// Per-class thresholds: the mean probability of class `j` over the samples labelled
/// `j`; `None` for a class no sample is labelled with (no sample can clear it).
pub fn thresholds(probs: &[f32], classes: usize, labels: &[i64]) -> Vec<Option<f64>> {
    let mut sums = vec![0f64; classes];
    let mut counts = vec![0usize; classes];
    for (row, &label) in probs.chunks(classes).zip(labels) {
        let j = label as usize;
        sums[j] += row[j] as f64;
        counts[j] += 1;
    }
    sums.iter().zip(&counts).map(|(&s, &n)| (n > 0).then(|| s / n as f64)).collect()
}

/// The confident joint: `joint[given][class]` counts the samples labelled `given` that
/// are confidently of `class` (samples that clear no threshold are not counted); every
/// diagonal entry is at least 1.
pub fn confident_joint(probs: &[f32], classes: usize, labels: &[i64], thresholds: &[Option<f64>]) -> Vec<Vec<f64>> {
    let mut joint = vec![vec![0f64; classes]; classes];
    for (row, &label) in probs.chunks(classes).zip(labels) {
        let confident: Vec<usize> = (0..classes).filter(|&j| thresholds[j].is_some_and(|t| row[j] >= t as f32 - TOLERANCE)).collect();
        let guess = match confident.as_slice() {
            [] => continue,
            [only] => *only,
            _ => argmax(row),
        };
        joint[label as usize][guess] += 1.0;
    }
    for (j, row) in joint.iter_mut().enumerate() {
        row[j] = row[j].max(1.0);
    }
    joint
}

/// How many label issues confident learning estimates: the samples off the diagonal of
/// the confident joint calibrated to the number of samples of each given label.
pub fn count_issues(probs: &[f32], classes: usize, labels: &[i64], thresholds: &[Option<f64>]) -> usize {
    let mut per_label = vec![0f64; classes];
    for &label in labels {
        per_label[label as usize] += 1.0;
    }
    let joint = confident_joint(probs, classes, labels, thresholds);
    let scaled: Vec<Vec<f64>> = joint
        .iter()
        .zip(&per_label)
        .map(|(row, &n)| {
            let total = row.iter().sum::<f64>().max(f64::MIN_POSITIVE);
            row.iter().map(|&v| v / total * n).collect()
        })
        .collect();
    let sum: f64 = scaled.iter().flatten().sum::<f64>().max(f64::MIN_POSITIVE);
    let samples: f64 = per_label.iter().sum();
    let diagonal: i64 =
        scaled.iter().enumerate().map(|(j, row)| round_keeping_sum(&row.iter().map(|v| v / sum * samples).collect::<Vec<_>>())[j]).sum();
    (labels.len() as i64 - diagonal).max(0) as usize
}

/// `values` rounded to integers (half to even, as numpy) whose sum is the rounded sum
/// of `values`: the ones furthest from their rounding are moved, as cleanlab's
/// `round_preserving_sum` does.
fn round_keeping_sum(values: &[f64]) -> Vec<i64> {
    let mut ints: Vec<f64> = values.iter().map(|v| v.round_ties_even()).collect();
    let target = values.iter().sum::<f64>().round_ties_even();
    loop {
        let diff = target - ints.iter().sum::<f64>().round_ties_even();
        if diff.abs() < 0.5 {
            return ints.into_iter().map(|v| v as i64).collect();
        }
        let step = diff.signum();
        // Up: the largest remainders first (the last of equals first, as numpy's
        // reversed argsort); down: the smallest (the first of equals first).
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| (values[a] - ints[a]).total_cmp(&(values[b] - ints[b])));
        if step > 0.0 {
            order.reverse();
        }
        for &i in order.iter().take((diff.abs() as usize).min(values.len())) {
            ints[i] += step;
        }
    }
}

/// The `count` samples with the lowest probability of their given label, lowest first
/// (ties by index).
pub fn lowest_self_confidence(probs: &[f32], classes: usize, labels: &[i64], count: usize) -> Vec<usize> {
    let self_confidence = |i: usize| probs[i * classes + labels[i] as usize];
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| self_confidence(a).total_cmp(&self_confidence(b)).then(a.cmp(&b)));
    order.truncate(count);
    order
}

/// The class the verdict suggests for a sample: the most probable one other than its
/// given label (the first of equals).
pub fn suggestion(row: &[f32], given: usize) -> usize {
    let mut best = if given == 0 { 1 } else { 0 };
    for (j, &p) in row.iter().enumerate() {
        if j != given && p > row[best] {
            best = j;
        }
    }
    best
}

/// The first most probable class.
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &p) in row.iter().enumerate() {
        if p > row[best] {
            best = j;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Six samples of three classes, worked by hand.
    ///
    /// | sample | label | p0  | p1  | p2  |
    /// |--------|-------|-----|-----|-----|
    /// | 0      | 0     | 0.8 | 0.1 | 0.1 |
    /// | 1      | 0     | 0.6 | 0.3 | 0.1 |
    /// | 2      | 1     | 0.1 | 0.9 | 0.0 |
    /// | 3      | 1     | 0.7 | 0.2 | 0.1 |
    /// | 4      | 2     | 0.0 | 0.2 | 0.8 |
    /// | 5      | 2     | 0.2 | 0.4 | 0.4 |
    ///
    /// Thresholds: t0 = (0.8 + 0.6) / 2 = 0.7, t1 = (0.9 + 0.2) / 2 = 0.55,
    /// t2 = (0.8 + 0.4) / 2 = 0.6.
    fn table() -> (Vec<f32>, Vec<i64>) {
        let probs = vec![0.8, 0.1, 0.1, 0.6, 0.3, 0.1, 0.1, 0.9, 0.0, 0.7, 0.2, 0.1, 0.0, 0.2, 0.8, 0.2, 0.4, 0.4];
        (probs, vec![0, 0, 1, 1, 2, 2])
    }

    #[test]
    fn thresholds_are_the_mean_probability_of_each_class_over_its_samples() {
        let (probs, labels) = table();
        let t: Vec<f64> = thresholds(&probs, 3, &labels).into_iter().map(Option::unwrap).collect();
        for (got, want) in t.iter().zip([0.7, 0.55, 0.6]) {
            assert!((got - want).abs() < 1e-6, "{t:?}");
        }
        // A class nobody is labelled with has no threshold, and no sample clears it.
        let four = [0.1, 0.2, 0.3, 0.4, 0.1, 0.4, 0.3, 0.2];
        let t = thresholds(&four, 4, &[0, 1]);
        assert_eq!(t[2..], [None, None]);
        assert_eq!(confident_joint(&four, 4, &[0, 1], &t)[0], vec![1.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn the_joint_counts_confident_classes_and_the_calibrated_count_flags_by_self_confidence() {
        let (probs, labels) = table();
        let t = thresholds(&probs, 3, &labels);
        // Sample 0 is confidently 0; sample 1 clears nothing (0.6 < 0.7, 0.3 < 0.55);
        // sample 2 is confidently 1; sample 3 (label 1) confidently 0 (0.7 >= 0.7);
        // sample 4 confidently 2; sample 5 clears nothing (0.4 < 0.55, 0.4 < 0.6).
        let joint = confident_joint(&probs, 3, &labels, &t);
        assert_eq!(joint, vec![vec![1.0, 0.0, 0.0], vec![1.0, 1.0, 0.0], vec![0.0, 0.0, 1.0]]);
        // Calibrated to two samples per label: rows [2, 0, 0], [1, 1, 0], [0, 0, 2];
        // off the diagonal: 1 sample (as cleanlab 2.9).
        assert_eq!(count_issues(&probs, 3, &labels, &t), 1);
        // The one flagged is the lowest self-confidence: sample 3 (0.2), before 5 (0.4).
        assert_eq!(lowest_self_confidence(&probs, 3, &labels, 1), vec![3]);
        assert_eq!(lowest_self_confidence(&probs, 3, &labels, 3), vec![3, 5, 1]);
        assert_eq!(suggestion(&probs[9..12], 1), 0);
        // A tie among the other classes goes to the first.
        assert_eq!(suggestion(&probs[15..18], 2), 1);
        assert_eq!(suggestion(&[0.5, 0.5], 0), 1);
    }

    #[test]
    fn calibration_scales_each_row_to_its_label_count_and_rounds_keeping_the_total() {
        // Label 0 (3 samples): sample 0 clears nothing (0.3 < t0 = 0.4233, 0.7 < t1 =
        // 0.95), sample 1 is confidently 0, sample 2 confidently 1. Label 1: sample 3 is
        // confidently 1. Row 0 is [1, 1]: scaled to 3 samples [1.5, 1.5], rounded half
        // to even [2, 2] (sum 4), then the first moved down to keep 3: [1, 2]. Off the
        // diagonal: 4 - (1 + 1) = 2 (cleanlab 2.9 gives the same joint and count).
        let probs = [0.3, 0.7, 0.95, 0.05, 0.02, 0.98, 0.05, 0.95];
        let labels = [0, 0, 0, 1];
        let t = thresholds(&probs, 2, &labels);
        assert_eq!(confident_joint(&probs, 2, &labels, &t), vec![vec![1.0, 1.0], vec![0.0, 1.0]]);
        assert_eq!(count_issues(&probs, 2, &labels, &t), 2);
        // As cleanlab's round_preserving_sum: up moves the last of equal remainders.
        assert_eq!(round_keeping_sum(&[1.5, 1.5]), vec![1, 2]);
        assert_eq!(round_keeping_sum(&[2.0, 1.0]), vec![2, 1]);
        assert_eq!(round_keeping_sum(&[0.4, 0.4, 0.4, 1.8]), vec![0, 0, 1, 2]);
    }
}
