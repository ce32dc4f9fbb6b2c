//! A sample as a card on the page: its index and source, given and suggested label
//! with their probabilities, why it was flagged, every score, and its decision.

use crate::corrections::Decision;
use crate::ReviewRun;
use serde::Serialize;

/// A label with its class name and, when the run has probabilities, its probability.
#[derive(Debug, Clone, Serialize)]
pub struct LabelView {
    /// The class.
    pub label: i64,
    /// Its name.
    pub name: String,
    /// Its probability, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prob: Option<f32>,
}

impl LabelView {
    fn new(run: &ReviewRun, label: i64, prob: Option<f32>) -> Self {
        let name = run.classes().get(label as usize).cloned().unwrap_or_else(|| label.to_string());
        LabelView { label, name, prob }
    }
}

/// Why a sample was flagged.
#[derive(Debug, Clone, Serialize)]
pub struct FlagView {
    /// 1-based rank, most likely wrong first.
    pub rank: usize,
    /// The signal that flagged it.
    pub by: String,
}

/// A score's value for one sample.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreValue {
    /// The score.
    pub name: String,
    /// Its value (mean over scored epochs).
    pub value: f32,
}

/// A decision as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionView {
    /// `relabel`, `exclude` or `keep`.
    pub action: &'static str,
    /// The new class, for `relabel`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<LabelView>,
    /// When (RFC 3339, UTC).
    pub time: String,
}

impl DecisionView {
    /// The view of `decision` in `run`.
    pub fn new(run: &ReviewRun, decision: &Decision) -> Self {
        DecisionView {
            action: decision.action.word(),
            label: decision.label.map(|l| LabelView::new(run, l, None)),
            time: decision.time.clone(),
        }
    }
}

/// One sample's card.
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    /// 0-based sample index in the run's training set.
    pub index: usize,
    /// Where it came from (file, or file and record).
    pub source: String,
    /// The label it was trained with.
    pub given: LabelView,
    /// The verdict's suggestion, or the most likely class (absent without probabilities).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested: Option<LabelView>,
    /// Why it was flagged, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flagged: Option<FlagView>,
    /// The label before the noise injector changed it, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<LabelView>,
    /// Every score, the main one first.
    pub scores: Vec<ScoreValue>,
    /// The latest decision on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionView>,
}

impl Card {
    /// The card of sample `i`, with `decision` (read under the decisions' lock by the caller).
    pub fn new(run: &ReviewRun, i: usize, decision: Option<&Decision>) -> Card {
        Card {
            index: i,
            source: run.source(i).to_string(),
            given: LabelView::new(run, run.given(i), run.given_prob(i)),
            suggested: run.suggested(i).map(|(label, prob)| LabelView::new(run, label, Some(prob))),
            flagged: run.flag(i).map(|f| FlagView { rank: f.rank, by: f.by.clone() }),
            original: run.original(i).map(|o| LabelView::new(run, o, None)),
            scores: run.scores().iter().map(|s| ScoreValue { name: s.name.clone(), value: s.values[i] }).collect(),
            decision: decision.map(|d| DecisionView::new(run, d)),
        }
    }
}
