//! The run as the page's controls need it (`GET api/run`): its classes with counts,
//! the sorts it offers, its scores, its verdict, the given-to-suggested pairs and the
//! decisions so far.

use super::query::SortKey;
use crate::ReviewRun;
use serde::Serialize;
use std::collections::HashMap;

/// `GET api/run`.
#[derive(Debug, Serialize)]
pub struct Overview {
    /// The run's name.
    pub name: String,
    /// The run directory.
    pub dir: String,
    /// Training samples.
    pub samples: usize,
    /// Every class with how many samples were given it.
    pub classes: Vec<ClassView>,
    /// The sorts offered, the default first.
    pub sorts: Vec<SortView>,
    /// The scores, with the 1-based epochs of their history (empty without one).
    pub scores: Vec<ScoreView>,
    /// The verdict, when the run has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<VerdictView>,
    /// Given-to-suggested pairs where they differ, the most frequent first.
    pub pairs: Vec<PairView>,
    /// Whether the run has class probabilities (`predictions/probs.npy`).
    pub probs: bool,
    /// Epochs of the label's probability (`predictions/label_prob_epochs.npy`), 0
    /// without it (and then no data map).
    pub history_epochs: usize,
    /// Decisions so far.
    pub decisions: Counts,
    /// Where they are saved.
    pub corrections: String,
}

/// A class.
#[derive(Debug, Serialize)]
pub struct ClassView {
    /// Its label.
    pub label: i64,
    /// Its name.
    pub name: String,
    /// Samples given it.
    pub count: usize,
}

/// A sort.
#[derive(Debug, Serialize)]
pub struct SortView {
    /// As requested (`sort=`).
    pub key: String,
    /// Whether it is descending unless asked otherwise.
    pub descending: bool,
}

/// A score.
#[derive(Debug, Serialize)]
pub struct ScoreView {
    /// Its name.
    pub name: String,
    /// The 1-based epochs it was scored at, when its per-epoch values were kept.
    pub epochs: Vec<usize>,
}

/// The verdict's rule.
#[derive(Debug, Serialize)]
pub struct VerdictView {
    /// The stated rule.
    pub rule: Option<String>,
    /// The 1-based epochs whose probabilities were averaged.
    pub epochs: Vec<usize>,
    /// How many samples it flagged.
    pub flagged: usize,
}

/// Samples given one class with another suggested.
#[derive(Debug, Serialize)]
pub struct PairView {
    /// The given class.
    pub given: i64,
    /// The suggested class.
    pub suggested: i64,
    /// How many samples.
    pub count: usize,
}

/// Decisions by action.
#[derive(Debug, Serialize)]
pub struct Counts {
    /// To relabel.
    pub relabel: usize,
    /// To exclude.
    pub exclude: usize,
    /// Kept as they are.
    pub keep: usize,
}

impl Overview {
    /// The overview of `run` now.
    pub fn of(run: &ReviewRun) -> Overview {
        let mut counts = vec![0usize; run.classes().len()];
        let mut pairs: HashMap<(i64, i64), usize> = HashMap::new();
        for i in 0..run.samples() {
            let given = run.given(i);
            counts[given as usize] += 1;
            match run.suggested(i) {
                Some((suggested, _)) if suggested != given => *pairs.entry((given, suggested)).or_default() += 1,
                _ => {}
            }
        }
        let mut pairs: Vec<PairView> = pairs.into_iter().map(|((given, suggested), count)| PairView { given, suggested, count }).collect();
        pairs.sort_by(|a, b| b.count.cmp(&a.count).then((a.given, a.suggested).cmp(&(b.given, b.suggested))));
        let [relabel, exclude, keep] = run.decisions().counts();
        Overview {
            name: run.name().to_string(),
            dir: run.dir().display().to_string(),
            samples: run.samples(),
            classes: run
                .classes()
                .iter()
                .zip(counts)
                .enumerate()
                .map(|(c, (name, count))| ClassView { label: c as i64, name: name.clone(), count })
                .collect(),
            sorts: SortKey::offered(run)
                .into_iter()
                .map(|k| SortView { key: k.name(run), descending: k.descending_by_default() })
                .collect(),
            scores: run
                .scores()
                .iter()
                .map(|s| ScoreView { name: s.name.clone(), epochs: s.epochs.as_ref().map(|e| e.epoch_numbers.clone()).unwrap_or_default() })
                .collect(),
            verdict: run.verdict().map(|v| VerdictView { rule: v.rule.clone(), epochs: v.epochs.clone(), flagged: v.flagged() }),
            pairs,
            probs: run.probs().is_some(),
            history_epochs: run.history().map_or(0, |h| h.epochs()),
            decisions: Counts { relabel, exclude, keep },
            corrections: run.corrections_path().display().to_string(),
        }
    }
}
