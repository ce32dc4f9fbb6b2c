//! Confident learning (Northcutt, Jiang & Chuang 2021) over averaged class
//! probabilities, as cleanlab's `find_label_issues(filter_by="low_self_confidence")`
//! does it (cleanlab 2.9): the rule that measured best on probabilities from the
//! training passes (bench/science/verdict_windows.py, REPRODUCTION.md).
//!
//! 1. Each class's threshold `t_j` is the mean probability of class `j` over the
//!    samples labelled `j`.
//! 2. A sample is *confidently* of class `j` when `p_j >= t_j`; with several such
//!    classes it is of the most probable class. The number of label issues is the
//!    number of samples confidently of another class than their label, leaving out
//!    those whose most probable class is still their label (cleanlab's
//!    `num_label_issues`).
//! 3. That many samples are flagged: those with the lowest probability of their given
//!    label (self-confidence), ranked from the lowest.
//!
//! Flagging the confidently-other samples themselves (cleanlab's `confident_learning`
//! filter, and the looser "any other class clears its threshold") missed a third or
//! more of the flipped labels: probabilities from training are confident, so a
//! flipped sample's true class often stays under its threshold while its given label
//! keeps some probability. The count they give is close to the number of flipped
//! labels, and the self-confidence ranking is the most precise order.

/// cleanlab's tolerance in threshold and argmax comparisons.
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

/// How many label issues confident learning counts: samples confidently of a class
/// other than their label whose most probable class is not their label either.
pub fn count_issues(probs: &[f32], classes: usize, labels: &[i64], thresholds: &[Option<f64>]) -> usize {
    probs
        .chunks(classes)
        .zip(labels)
        .filter(|(row, &label)| {
            let given = label as usize;
            let confident: Vec<usize> = (0..classes).filter(|&j| thresholds[j].is_some_and(|t| row[j] >= t as f32 - TOLERANCE)).collect();
            let guess = match confident.as_slice() {
                [] => return false,
                [only] => *only,
                _ => argmax(row),
            };
            // cleanlab leaves out a sample whose given label wins the argmax (with the
            // tolerance added to it).
            guess != given && !given_wins(row, given)
        })
        .count()
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
/// given label.
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

/// Whether `given` is the most probable class once the tolerance is added to it.
fn given_wins(row: &[f32], given: usize) -> bool {
    let boosted = row[given] + TOLERANCE;
    row.iter().enumerate().all(|(j, &p)| j == given || p < boosted || (p == boosted && given < j))
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
        assert_eq!(count_issues(&four, 4, &[0, 1], &t), 0);
    }

    #[test]
    fn issues_are_counted_from_the_confident_class_and_flagged_by_self_confidence() {
        let (probs, labels) = table();
        let t = thresholds(&probs, 3, &labels);
        // Sample 3 (label 1) is confidently 0 (0.7 >= 0.7) and nothing else: an issue.
        // Sample 5 (label 2) clears no threshold (0.4 < 0.55, 0.4 < 0.6): not counted.
        // Samples 0, 2, 4 are confidently their own class; sample 1 clears none.
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
    fn a_sample_whose_label_stays_the_most_probable_is_not_counted() {
        // Label 0 with p0 = 0.5 >= t0 and p1 = 0.45 >= t1: two confident classes, the
        // argmax is the label itself, so no issue.
        let probs = vec![0.5, 0.45, 0.9, 0.1, 0.1, 0.9, 0.5, 0.45];
        let labels = vec![0, 0, 1, 0];
        let t = thresholds(&probs, 2, &labels);
        assert_eq!(count_issues(&probs, 2, &labels, &t), 0);
        assert!(given_wins(&[0.5, 0.5], 0) && !given_wins(&[0.5, 0.500002], 0));
    }
}
