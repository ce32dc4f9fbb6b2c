//! The ranking of every score on a run: for each comparison target (a mask such as
//! `noise_mask`, or a reference score), the scores compared with it, best first.
//!
//! The comparer publishes one [`Comparison`] per (score, target); a person auditing data
//! wants the answer to "which score finds the problems here best?", so the run's summary,
//! the `memscope run` output and the report all show these tables.

use super::Comparison;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// What a ranking's target is, which decides the measures it ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// A 0/1 mask: ranked by AUROC, then average precision, then precision at the number
    /// of positives.
    Mask,
    /// A reference score: ranked by Spearman, then cosine, then the top-k overlap at the
    /// smallest k.
    Reference,
}

/// Every score compared with one target, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRanking {
    /// The target (`noise_mask`, a reference's name, ...).
    pub against: String,
    /// A mask or a reference score.
    pub kind: TargetKind,
    /// The measures shown, in ranking order: the first decides, the next break ties.
    pub measures: Vec<String>,
    /// One row per score, rank 1 first.
    pub rows: Vec<RankedScore>,
}

/// One score's place in a [`ScoreRanking`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedScore {
    /// 1 = best. Scores with equal measures share a rank.
    pub rank: usize,
    /// The score.
    pub score: String,
    /// The ranking's measures for this score (a measure the comparer could not compute,
    /// e.g. a Spearman of a constant score, is absent).
    pub values: BTreeMap<String, f64>,
}

/// The rankings of `comparisons`, one per target, in the order targets first appear.
/// A target whose comparisons carry neither `auroc` nor `spearman` is not ranked.
pub fn rank_scores(comparisons: &[Comparison]) -> Vec<ScoreRanking> {
    let mut targets: Vec<&str> = Vec::new();
    for c in comparisons {
        if !targets.contains(&c.against.as_str()) {
            targets.push(&c.against);
        }
    }
    targets.into_iter().filter_map(|target| rank_target(target, comparisons)).collect()
}

fn rank_target(target: &str, comparisons: &[Comparison]) -> Option<ScoreRanking> {
    let compared: Vec<&Comparison> = comparisons.iter().filter(|c| c.against == target).collect();
    let kind = if compared.iter().any(|c| c.metrics.contains_key("auroc")) {
        TargetKind::Mask
    } else if compared.iter().any(|c| c.metrics.contains_key("spearman")) {
        TargetKind::Reference
    } else {
        return None;
    };
    let measures = measures(kind, &compared);
    let mut rows: Vec<RankedScore> = compared
        .iter()
        .map(|c| RankedScore {
            rank: 0,
            score: c.score.clone(),
            values: measures.iter().filter_map(|m| c.metrics.get(m).filter(|v| v.is_finite()).map(|v| (m.clone(), *v))).collect(),
        })
        .collect();
    let order = |a: &RankedScore, b: &RankedScore| -> Ordering {
        measures.iter().map(|m| descending(a.values.get(m), b.values.get(m))).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
    };
    rows.sort_by(|a, b| order(a, b).then_with(|| a.score.cmp(&b.score)));
    for i in 0..rows.len() {
        rows[i].rank = if i > 0 && order(&rows[i - 1], &rows[i]).is_eq() { rows[i - 1].rank } else { i + 1 };
    }
    Some(ScoreRanking { against: target.to_string(), kind, measures, rows })
}

/// The measures a ranking of `kind` shows, in the order they decide.
fn measures(kind: TargetKind, compared: &[&Comparison]) -> Vec<String> {
    match kind {
        TargetKind::Mask => ["auroc", "average_precision", "precision_at_positives"].map(String::from).to_vec(),
        TargetKind::Reference => {
            // The comparer names top-k overlaps `top_k_overlap_<k>`; the smallest k is the
            // sharpest question (are the most memorized samples the same?).
            let smallest_k = compared
                .iter()
                .flat_map(|c| c.metrics.keys())
                .filter_map(|k| k.strip_prefix("top_k_overlap_").and_then(|k| k.parse::<usize>().ok()))
                .min();
            let mut m: Vec<String> = ["spearman", "cosine"].map(String::from).to_vec();
            m.extend(smallest_k.map(|k| format!("top_k_overlap_{k}")));
            m
        }
    }
}

/// Higher first; a missing value after every present one.
fn descending(a: Option<&f64>, b: Option<&f64>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => b.partial_cmp(a).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// An AUROC below this, against a mask, is taken for a score that reads the other way
/// round: by chance a score sits near 0.5, and a score that finds the marked samples
/// read the wrong way sits near 1 minus its real AUROC.
pub const INVERTED_AUROC: f64 = 0.3;

/// A warning for every comparison with a mask whose AUROC is far below 0.5
/// ([`INVERTED_AUROC`]): the score looks inverted, lower meaning more memorized.
pub fn inverted_warnings(comparisons: &[Comparison]) -> Vec<String> {
    comparisons
        .iter()
        .filter_map(|c| {
            let auroc = c.metrics.get("auroc").copied().filter(|a| *a < INVERTED_AUROC)?;
            Some(format!(
                "score `{}` against `{}`: AUROC {auroc:.4}, far below 0.5: the score looks inverted (its lower values mark \
                 the `{}` samples). If lower means more memorized, its plugin should declare it \
                 (`Plugin::scores` with `ScoreSpec::lower`), and it is then compared and ranked that way",
                c.score, c.against, c.against
            ))
        })
        .collect()
}

/// Short column labels for a measure, for tables meant to be read.
pub fn measure_label(measure: &str) -> String {
    match measure {
        "auroc" => "AUROC".into(),
        "average_precision" => "AP".into(),
        "precision_at_positives" => "P@noisy".into(),
        "spearman" => "Spearman".into(),
        "pearson" => "Pearson".into(),
        "cosine" => "cosine".into(),
        other => match other.strip_prefix("top_k_overlap_") {
            Some(k) => format!("top-{k} overlap"),
            None => other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comparison(score: &str, against: &str, metrics: &[(&str, f64)]) -> Comparison {
        Comparison {
            score: score.into(),
            against: against.into(),
            plugin: "baseline".into(),
            metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn a_comparison_far_below_chance_warns_that_the_score_looks_inverted() {
        let comparisons = vec![
            comparison("confidence", "noise_mask", &[("auroc", 0.0001)]),
            comparison("loss", "noise_mask", &[("auroc", 0.97)]),
            comparison("random", "noise_mask", &[("auroc", 0.45)]),
            comparison("loss", "fz", &[("spearman", -0.9)]),
        ];
        let warnings = inverted_warnings(&comparisons);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("score `confidence` against `noise_mask`: AUROC 0.0001, far below 0.5: the score looks inverted"),
            "{warnings:?}"
        );
    }

    #[test]
    fn each_target_ranks_its_scores_best_first_with_ties_sharing_a_rank() {
        let comparisons = vec![
            comparison("loss", "noise_mask", &[("auroc", 0.95), ("average_precision", 0.7), ("precision_at_positives", 0.6)]),
            comparison("curvature", "noise_mask", &[("auroc", 0.99), ("average_precision", 0.9), ("precision_at_positives", 0.8)]),
            comparison("margin", "noise_mask", &[("auroc", 0.95), ("average_precision", 0.8), ("precision_at_positives", 0.6)]),
            comparison("el2n", "noise_mask", &[("auroc", 0.95), ("average_precision", 0.7), ("precision_at_positives", 0.6)]),
            comparison("curvature", "fz", &[("spearman", 0.5), ("cosine", 0.9), ("top_k_overlap_1000", 0.2), ("top_k_overlap_100", 0.1)]),
            comparison("loss", "fz", &[("spearman", 0.7), ("cosine", 0.3), ("top_k_overlap_100", 0.3)]),
        ];
        let rankings = rank_scores(&comparisons);
        assert_eq!(rankings.len(), 2);

        let mask = &rankings[0];
        assert_eq!((mask.against.as_str(), mask.kind), ("noise_mask", TargetKind::Mask));
        let order: Vec<(usize, &str)> = mask.rows.iter().map(|r| (r.rank, r.score.as_str())).collect();
        // AUROC decides; AP breaks margin's tie with loss and el2n; those two tie on all three.
        assert_eq!(order, vec![(1, "curvature"), (2, "margin"), (3, "el2n"), (3, "loss")]);
        assert_eq!(mask.rows[0].values["average_precision"], 0.9);

        let reference = &rankings[1];
        assert_eq!(reference.kind, TargetKind::Reference);
        assert_eq!(reference.measures, vec!["spearman", "cosine", "top_k_overlap_100"]);
        let order: Vec<&str> = reference.rows.iter().map(|r| r.score.as_str()).collect();
        assert_eq!(order, vec!["loss", "curvature"]);
    }

    #[test]
    fn a_missing_or_non_finite_measure_ranks_last_and_is_left_out() {
        let comparisons = vec![
            comparison("constant", "fz", &[("spearman", f64::NAN), ("cosine", 0.9)]),
            comparison("loss", "fz", &[("spearman", -0.1), ("cosine", 0.1)]),
            comparison("odd", "labels", &[("pearson", 0.3)]),
        ];
        let rankings = rank_scores(&comparisons);
        assert_eq!(rankings.len(), 1, "a target without auroc or spearman is not ranked");
        let rows = &rankings[0].rows;
        assert_eq!((rows[0].score.as_str(), rows[1].score.as_str()), ("loss", "constant"));
        assert!(!rows[1].values.contains_key("spearman"));
        assert_eq!(rows[1].values["cosine"], 0.9);
    }
}
