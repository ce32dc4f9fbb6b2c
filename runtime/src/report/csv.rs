//! The report's tables as CSV: `scores.csv` (one row per sample) and
//! `conflicting_duplicates.csv` (one row per pair, ranked).

use super::duplicates::ConflictingPair;
use super::inputs::RunInputs;
use super::ranking::{descending, ranks};
use super::ReportError;
use std::fmt::Write as _;
use std::path::Path;

/// Writes `scores.csv`: `index, label, original_label, [noisy,] <score>..., rank_<score>...`.
/// `label` is the label as trained, `original_label` the one before any plugin
/// rewrote it (equal when none did), `noisy` (0/1) is present when the noise mask is
/// known, and rank 1 is the highest value of a score.
pub fn write_scores_csv(path: &Path, inputs: &RunInputs) -> Result<(), ReportError> {
    let ranks: Vec<Vec<usize>> = inputs.scores.iter().map(|s| ranks(&descending(&s.values))).collect();
    let mut text = String::from("index,label,original_label");
    if inputs.noise_mask.is_some() {
        text.push_str(",noisy");
    }
    for score in &inputs.scores {
        write!(text, ",{}", score.name).expect("writing to a String");
    }
    for score in &inputs.scores {
        write!(text, ",rank_{}", score.name).expect("writing to a String");
    }
    text.push('\n');
    for i in 0..inputs.samples() {
        write!(text, "{i},{},{}", inputs.labels[i], inputs.original_label(i)).expect("writing to a String");
        if inputs.noise_mask.is_some() {
            write!(text, ",{}", inputs.is_noisy(i) as u8).expect("writing to a String");
        }
        for score in &inputs.scores {
            write!(text, ",{}", score.values[i]).expect("writing to a String");
        }
        for rank in &ranks {
            write!(text, ",{}", rank[i]).expect("writing to a String");
        }
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| ReportError::io(path, e))
}

/// Writes `conflicting_duplicates.csv`, one row per pair in the given (ranked)
/// order: `rank, index_a, index_b, label_a, label_b, original_label_a,
/// original_label_b, distance, exact, <score>_a, <score>_b`.
pub fn write_pairs_csv(path: &Path, pairs: &[ConflictingPair], inputs: &RunInputs) -> Result<(), ReportError> {
    let score = inputs.main_score();
    let name = &score.name;
    let mut text = format!(
        "rank,index_a,index_b,label_a,label_b,original_label_a,original_label_b,distance,exact,{name}_a,{name}_b\n"
    );
    for (n, p) in pairs.iter().enumerate() {
        writeln!(
            text,
            "{},{},{},{},{},{},{},{},{},{},{}",
            n + 1,
            p.a,
            p.b,
            inputs.labels[p.a],
            inputs.labels[p.b],
            inputs.original_label(p.a),
            inputs.original_label(p.b),
            p.distance,
            p.exact,
            score.values[p.a],
            score.values[p.b]
        )
        .expect("writing to a String");
    }
    std::fs::write(path, text).map_err(|e| ReportError::io(path, e))
}
