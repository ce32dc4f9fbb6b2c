//! The memorization signal over training: for every score with per-epoch rows, how
//! well each scored epoch alone finds the samples of a mask (AUROC and average
//! precision against e.g. the noise injector's `noise_mask`), or, without a mask,
//! the mean of its highest values per epoch. On harder data the signal peaks early
//! and fades once the network fits the noisy labels; these curves show where, and
//! tell which epochs a `[score.aggregate]` window should keep.

use super::ScoreTable;
use memscope_stats::{auroc, average_precision};
use serde::{Deserialize, Serialize};

/// One score's signal per scored epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochCurve {
    /// The score.
    pub score: String,
    /// The scored epochs (1-based, as `summary.json` and the plots count them), one
    /// per point.
    pub epochs: Vec<usize>,
    /// The mask the score is measured against, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub against: Option<String>,
    /// AUROC of each epoch's values against the mask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auroc: Option<Vec<f64>>,
    /// Average precision of each epoch's values against the mask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_precision: Option<Vec<f64>>,
    /// Without a mask: how many of the highest values `top_k_mean` averages (1 % of
    /// the samples, at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    /// Without a mask: the mean of each epoch's `top_k` highest values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k_mean: Option<Vec<f64>>,
}

/// How many of the highest values the mask-free curve averages: 1 % of `samples`.
pub fn top_k_for(samples: usize) -> usize {
    samples.div_ceil(100).max(1)
}

/// The curves of every table: one per (table, mask) when masks are given and hold
/// both classes, else one top-k curve per table. Tables without rows give none.
pub fn epoch_curves(tables: &[ScoreTable], masks: &[(String, Vec<bool>)]) -> Vec<EpochCurve> {
    let usable: Vec<&(String, Vec<bool>)> = masks.iter().filter(|(_, m)| m.iter().any(|&x| x) && m.iter().any(|&x| !x)).collect();
    let mut curves = Vec::new();
    for table in tables.iter().filter(|t| !t.rows.is_empty()) {
        let rows: Vec<Vec<f64>> = table.rows.iter().map(|r| r.iter().map(|&v| v as f64).collect()).collect();
        let blank = EpochCurve {
            score: table.name.clone(),
            epochs: table.epochs.iter().map(|e| e + 1).collect(),
            against: None,
            auroc: None,
            average_precision: None,
            top_k: None,
            top_k_mean: None,
        };
        if usable.is_empty() {
            let k = top_k_for(table.samples);
            let means = rows.iter().map(|r| top_mean(r, k)).collect();
            curves.push(EpochCurve { top_k: Some(k), top_k_mean: Some(means), ..blank });
            continue;
        }
        for (name, mask) in &usable {
            let per = |f: fn(&[f64], &[bool]) -> Option<f64>| rows.iter().map(|r| f(r, mask).unwrap_or(f64::NAN)).collect();
            curves.push(EpochCurve {
                against: Some(name.clone()),
                auroc: Some(per(auroc)),
                average_precision: Some(per(average_precision)),
                ..blank.clone()
            });
        }
    }
    curves
}

/// The mean of the `k` highest values.
fn top_mean(values: &[f64], k: usize) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let k = k.min(sorted.len()).max(1);
    sorted[..k].iter().sum::<f64>() / k as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scores::Aggregate;

    #[test]
    fn one_curve_per_mask_and_a_top_k_curve_without_one() {
        let mut t = ScoreTable::new("s", Aggregate::Mean, 4);
        t.push(0, vec![0.9, 0.1, 0.2, 0.3]); // sample 0 (noisy) ranked first: AUROC 1
        t.push(2, vec![0.1, 0.9, 0.2, 0.3]); // ranked last: AUROC 0
        let mask = vec![true, false, false, false];
        let curves = epoch_curves(std::slice::from_ref(&t), &[("noise_mask".into(), mask)]);
        assert_eq!(curves.len(), 1);
        assert_eq!(curves[0].epochs, vec![1, 3], "training epochs 1 and 3, counted from 1");
        assert_eq!(curves[0].auroc.as_deref(), Some(&[1.0, 0.0][..]));
        assert_eq!(curves[0].average_precision.as_ref().unwrap()[0], 1.0);
        let free = epoch_curves(&[t], &[]);
        assert_eq!(free[0].top_k, Some(1));
        assert_eq!(free[0].top_k_mean.as_deref(), Some(&[0.9f32 as f64, 0.9f32 as f64][..]));
        assert!(free[0].auroc.is_none());
    }
}
