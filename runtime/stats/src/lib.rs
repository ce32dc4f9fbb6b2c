//! The measures of agreement between a per-sample score and a target: pure functions
//! over slices, shared by the baseline comparer plugin and the runtime's metrics.

#![warn(missing_docs)]

/// Ranks (1-based) with ties given their average rank.
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// Area under the ROC curve of `score` for the positives of `mask` (Mann-Whitney U,
/// ties counted half). `None` when either class is empty.
pub fn auroc(score: &[f64], mask: &[bool]) -> Option<f64> {
    let positives = mask.iter().filter(|&&m| m).count();
    let negatives = mask.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let ranks = average_ranks(score);
    let rank_sum: f64 = ranks.iter().zip(mask).filter(|(_, &m)| m).map(|(r, _)| r).sum();
    let u = rank_sum - (positives * (positives + 1)) as f64 / 2.0;
    Some(u / (positives as f64 * negatives as f64))
}

/// Indices sorted by descending score (ties by index, for determinism).
fn descending(score: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(a.cmp(&b)));
    order
}

/// Average precision of ranking by `score` for the positives of `mask`.
pub fn average_precision(score: &[f64], mask: &[bool]) -> Option<f64> {
    let positives = mask.iter().filter(|&&m| m).count();
    if positives == 0 {
        return None;
    }
    let mut hits = 0usize;
    let mut sum = 0.0;
    for (k, &i) in descending(score).iter().enumerate() {
        if mask[i] {
            hits += 1;
            sum += hits as f64 / (k + 1) as f64;
        }
    }
    Some(sum / positives as f64)
}

/// Fraction of positives among the `k` highest scores.
pub fn precision_at(score: &[f64], mask: &[bool], k: usize) -> f64 {
    let k = k.min(score.len()).max(1);
    descending(score).iter().take(k).filter(|&&i| mask[i]).count() as f64 / k as f64
}

/// Pearson correlation.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa.sqrt() * sbb.sqrt())
}

/// Spearman rank correlation (Pearson of average ranks).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&average_ranks(a), &average_ranks(b))
}

/// Cosine similarity.
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Fraction of the `k` highest of `a` that are among the `k` highest of `b`.
pub fn top_k_overlap(a: &[f64], b: &[f64], k: usize) -> f64 {
    let k = k.min(a.len()).max(1);
    let top_b: std::collections::HashSet<usize> = descending(b).into_iter().take(k).collect();
    descending(a).iter().take(k).filter(|i| top_b.contains(i)).count() as f64 / k as f64
}

/// Mean of `reference` over the `k` samples with the highest (`top`) or lowest `score`.
pub fn mean_reference(score: &[f64], reference: &[f64], k: usize, top: bool) -> f64 {
    let order = descending(score);
    let k = k.min(order.len()).max(1);
    let chosen: Box<dyn Iterator<Item = &usize>> = if top { Box::new(order.iter().take(k)) } else { Box::new(order.iter().rev().take(k)) };
    chosen.map(|&i| reference[i]).sum::<f64>() / k as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_and_ap_on_small_cases() {
        let mask = [false, false, true, true];
        assert_eq!(auroc(&[0.1, 0.2, 0.3, 0.4], &mask), Some(1.0));
        assert_eq!(auroc(&[0.4, 0.3, 0.2, 0.1], &mask), Some(0.0));
        assert_eq!(auroc(&[1.0, 1.0, 1.0, 1.0], &mask), Some(0.5));
        assert_eq!(auroc(&[0.1, 0.2], &[true, true]), None);
        // Ranking: positive, negative, positive: AP = (1/1 + 2/3) / 2.
        let ap = average_precision(&[0.9, 0.8, 0.7, 0.1], &[true, false, true, false]).unwrap();
        assert!((ap - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(precision_at(&[0.9, 0.8, 0.7, 0.1], &[true, false, true, false], 2), 0.5);
    }

    #[test]
    fn correlations_and_overlaps() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [10.0, 20.0, 30.0, 45.0];
        assert!((spearman(&a, &b) - 1.0).abs() < 1e-12);
        assert!(pearson(&a, &b) > 0.99);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-12);
        assert_eq!(top_k_overlap(&a, &b, 2), 1.0);
        assert_eq!(top_k_overlap(&a, &[4.0, 3.0, 2.0, 1.0], 2), 0.0);
        assert_eq!(mean_reference(&a, &b, 2, true), 37.5);
        assert_eq!(mean_reference(&a, &b, 2, false), 15.0);
        assert_eq!(average_ranks(&[5.0, 1.0, 5.0]), vec![2.5, 1.0, 2.5]);
    }
}
