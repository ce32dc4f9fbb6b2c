//! The report's tables as CSV: `scores.csv` (one row per sample) and
//! `conflicting_duplicates.csv` (one row per pair, ranked).

use super::duplicates::ConflictingPair;
use super::inputs::RunInputs;
use super::ranking::{descending, ranks};
use super::ReportError;
use memscope::data::csv_field;
use std::fmt::Write as _;
use std::path::Path;

/// Writes `scores.csv`: `index, source, label, label_name, original_label,
/// original_label_name, [noisy,] <score>..., rank_<score>...`. `source` is the file
/// (or file and record/row) the sample came from, `label` the label as trained,
/// `original_label` the one before any plugin rewrote it (equal when none did), each
/// with its class name; `noisy` (0/1) is present when the noise mask is known, and
/// rank 1 is the highest value of a score. Fields with commas or quotes are quoted.
pub fn write_scores_csv(path: &Path, inputs: &RunInputs) -> Result<(), ReportError> {
    let ranks: Vec<Vec<usize>> = inputs.scores.iter().map(|s| ranks(&descending(&s.values))).collect();
    let data = &inputs.dataset;
    let mut text = String::from("index,source,label,label_name,original_label,original_label_name");
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
        let (label, original) = (inputs.labels[i], inputs.original_label(i));
        write!(
            text,
            "{i},{},{label},{},{original},{}",
            csv_field(&data.source(i)),
            csv_field(&data.class_name(label)),
            csv_field(&data.class_name(original))
        )
        .expect("writing to a String");
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
/// order: `rank, index_a, index_b, source_a, source_b, label_a, label_b,
/// label_name_a, label_name_b, original_label_a, original_label_b,
/// original_label_name_a, original_label_name_b, distance, exact, <score>_a, <score>_b`.
pub fn write_pairs_csv(path: &Path, pairs: &[ConflictingPair], inputs: &RunInputs) -> Result<(), ReportError> {
    let score = inputs.main_score();
    let name = &score.name;
    let data = &inputs.dataset;
    let mut text = format!(
        "rank,index_a,index_b,source_a,source_b,label_a,label_b,label_name_a,label_name_b,original_label_a,original_label_b,\
         original_label_name_a,original_label_name_b,distance,exact,{name}_a,{name}_b\n"
    );
    for (n, p) in pairs.iter().enumerate() {
        let (la, lb) = (inputs.labels[p.a], inputs.labels[p.b]);
        let (oa, ob) = (inputs.original_label(p.a), inputs.original_label(p.b));
        writeln!(
            text,
            "{},{},{},{},{},{la},{lb},{},{},{oa},{ob},{},{},{},{},{},{}",
            n + 1,
            p.a,
            p.b,
            csv_field(&data.source(p.a)),
            csv_field(&data.source(p.b)),
            csv_field(&data.class_name(la)),
            csv_field(&data.class_name(lb)),
            csv_field(&data.class_name(oa)),
            csv_field(&data.class_name(ob)),
            p.distance,
            p.exact,
            score.values[p.a],
            score.values[p.b]
        )
        .expect("writing to a String");
    }
    std::fs::write(path, text).map_err(|e| ReportError::io(path, e))
}
