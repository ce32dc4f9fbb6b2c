//! From the recorded probabilities to the verdict: confident learning's count and
//! ranking, each flagged sample's suggested label, and the rule in words.

use super::confident::{count_issues, lowest_self_confidence, suggestion, thresholds};
use super::output::{span, LabelIssue, Verdict};
use super::record::Recorded;
use crate::data::Sources;

/// What flagged the samples (`label_issues.csv`'s `flagged_by`).
pub const FLAGGED_BY: &str = "confident_learning";

/// The verdict on `labels` (as trained) from what the trainer recorded; `names` are
/// the class names, `sources` where each sample came from.
pub fn decide(recorded: &Recorded, labels: &[i64], names: &[String], sources: &Sources) -> Verdict {
    let classes = recorded.classes;
    let probs = &recorded.probs;
    let thresholds = thresholds(probs, classes, labels);
    let count = count_issues(probs, classes, labels, &thresholds);
    let name = |label: usize| names.get(label).cloned().unwrap_or_else(|| label.to_string());
    let issues = lowest_self_confidence(probs, classes, labels, count)
        .into_iter()
        .enumerate()
        .map(|(rank, index)| {
            let row = &probs[index * classes..(index + 1) * classes];
            let given = labels[index] as usize;
            let suggested = suggestion(row, given);
            LabelIssue {
                rank: rank + 1,
                index,
                source: sources.get(index).into_owned(),
                given_label: given as i64,
                given_name: name(given),
                given_prob: row[given],
                suggested_label: suggested as i64,
                suggested_name: name(suggested),
                suggested_prob: row[suggested],
                flagged_by: FLAGGED_BY.into(),
            }
        })
        .collect();
    let epochs: Vec<usize> = recorded.epochs.iter().map(|e| e + 1).collect();
    Verdict {
        rule: rule_text(&epochs),
        epochs,
        thresholds,
        issues,
        classes,
        probs: probs.clone(),
        label_prob_epochs: recorded.label_prob_epochs.clone(),
    }
}

/// The rule in words, with the epochs it averaged.
fn rule_text(epochs: &[usize]) -> String {
    let span = span(epochs);
    format!(
        "confident learning (cleanlab 2.9's arithmetic) on the class probabilities of the training passes averaged over \
         {span} ({}): each class's threshold is its mean probability over the samples labelled with it; a sample is \
         confidently of a class whose probability reaches its threshold (the most probable of several); the number of \
         issues is the number of samples confidently of another class than their label, once each label's count is \
         calibrated to the samples with that label (num_label_issues, off_diagonal_calibrated); that many samples with \
         the lowest probability of their label are flagged, lowest first (find_label_issues, low_self_confidence); the \
         suggested label is the most probable other class",
        super::window::RULE
    )
}
