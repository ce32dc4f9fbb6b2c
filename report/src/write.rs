//! Writing the whole report of a run: read the run, draw every picture, find the
//! conflicting duplicates, write the CSVs and `index.html`.

use super::canvas::Picture;
use super::csv::{write_pairs_csv, write_scores_csv};
use super::duplicates::{find_conflicting_pairs, ConflictingPair, DuplicateFindings};
use super::grid::{write_flagged_grid, write_pairs, write_sample_grid};
use super::html::write_index;
use super::inputs::{RunInputs, Score};
use super::ranking::descending;
use super::reference::{Reference, ReferenceSpec};
use super::tiles::TileStyle;
use super::ReportError;
use super::{plots, signal};
use memscope::config::ReportConfig;
use memscope::data::Access;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The name of the report directory inside a run directory.
pub const REPORT_DIR: &str = "report";

/// A report to write: the run, and what `memscope report` changes from the run's
/// `[report]` settings.
#[derive(Debug, Clone, Default)]
pub struct ReportRequest {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Samples per top/bottom grid, instead of the run's `report.top_k`.
    pub top_k: Option<usize>,
    /// Near-duplicate threshold, instead of the run's `report.duplicate_distance`.
    pub duplicate_distance: Option<f64>,
    /// References in addition to those of the run's baseline comparer.
    pub references: Vec<ReferenceSpec>,
    /// Which data files the report may open when it re-opens the run's dataset (a
    /// daemon job's data roots; anything for `memscope report`).
    pub data_access: Access,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct ReportOutcome {
    /// `index.html`.
    pub index: PathBuf,
    /// Number of conflicting duplicate pairs found.
    pub conflicting_pairs: usize,
    /// Seconds the duplicates search took.
    pub duplicates_seconds: f64,
    /// How each score compares with each reference: `curvature vs flipped: AUROC
    /// 0.9731, AP 0.8812` (a mask) or `curvature vs fz: Spearman 0.812`.
    pub reference_lines: Vec<String>,
}

/// The samples the verdict flagged, first on the page.
#[derive(Debug, Clone)]
pub struct FlaggedSection {
    /// The grid of the first flagged samples.
    pub picture: Picture,
    /// How many of them the grid and the table show.
    pub shown: usize,
}

/// The pictures and figures of one score.
#[derive(Debug, Clone)]
pub struct ScoreSection {
    /// The score's name.
    pub name: String,
    /// Top grid, histogram, ROC curve, epochs, reference plots.
    pub pictures: Vec<Picture>,
    /// The grid of the lowest values, folded away on the page (of no use for fixing
    /// labels).
    pub folded: Vec<Picture>,
    /// AUROC against the noise mask, when the mask is known.
    pub auroc: Option<f64>,
    /// Spearman correlation with each reference score, by reference name.
    pub spearman: Vec<(String, f64)>,
    /// AUROC and average precision against each reference mask, by reference name.
    pub masks: Vec<(String, f64, f64)>,
}

/// The conflicting duplicates, ranked.
#[derive(Debug, Clone)]
pub struct DuplicatesSection {
    /// Every pair, ranked by the main score (highest of the two samples first).
    pub pairs: Vec<ConflictingPair>,
    /// How many are shown in the picture and the table.
    pub shown: usize,
    /// The picture of the shown pairs.
    pub picture: Picture,
    /// The RMS threshold used.
    pub max_distance: f64,
    /// The search's statistics.
    pub findings: DuplicateFindings,
}

/// Writes `<run>/report/`: `index.html`, the PNGs, `scores.csv` and
/// `conflicting_duplicates.csv`. The directory is replaced as a whole, so no stale
/// picture of an earlier report remains.
pub fn write_report(request: &ReportRequest) -> Result<ReportOutcome, ReportError> {
    let inputs = RunInputs::read(&request.run_dir, &request.data_access)?;
    let settings = settings(&inputs.config.report, request)?;
    let references = read_references(&inputs, request)?;
    let out = inputs.dir.join(REPORT_DIR);
    if out.exists() {
        std::fs::remove_dir_all(&out).map_err(|e| ReportError::io(&out, e))?;
    }
    std::fs::create_dir_all(&out).map_err(|e| ReportError::io(&out, e))?;

    let style = TileStyle::for_dataset(&inputs.dataset);
    let flagged = match &inputs.flagged {
        Some(f) if !f.issues.is_empty() => {
            let shown = settings.top_k.min(f.issues.len());
            let title = format!("Likely wrong labels: the first {shown} of {} flagged", f.issues.len());
            let picture = write_flagged_grid(&out, "flagged.png", &title, &f.issues[..shown], &inputs, &style)?;
            Some(FlaggedSection { picture, shown })
        }
        _ => None,
    };
    let sections = inputs
        .scores
        .iter()
        .map(|score| score_section(&out, score, &inputs, &style, settings.top_k, &references))
        .collect::<Result<Vec<_>, _>>()?;

    let started = Instant::now();
    let findings = find_conflicting_pairs(&inputs.dataset, &inputs.labels, settings.duplicate_distance as f32)?;
    let duplicates_seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        "duplicates: {} images, {} conflicting pairs ({} exact groups, {} candidates) in {duplicates_seconds:.2} s",
        inputs.samples(),
        findings.pairs.len(),
        findings.exact_groups,
        findings.candidates
    );
    let pairs = rank_pairs(findings.pairs.clone(), inputs.main_score());
    let shown = pairs.len().min(settings.pairs_shown);
    let main = inputs.main_score();
    let title = format!("Duplicates with conflicting labels, by {} (top {shown} of {})", main.name, pairs.len());
    let picture = write_pairs(&out, "conflicting_duplicates.png", &title, &pairs[..shown], main, &inputs, &style)?;
    write_pairs_csv(&out.join("conflicting_duplicates.csv"), &pairs, &inputs)?;
    write_scores_csv(&out.join("scores.csv"), &inputs)?;
    let duplicates = DuplicatesSection { pairs, shown, picture, max_distance: settings.duplicate_distance, findings };

    let index = out.join("index.html");
    write_index(&index, &inputs, flagged.as_ref(), &sections, &duplicates)?;
    let mut reference_lines = Vec::new();
    for section in &sections {
        let name = &section.name;
        reference_lines.extend(section.masks.iter().map(|(r, auroc, ap)| format!("{name} vs {r}: AUROC {auroc:.4}, AP {ap:.4}")));
        reference_lines.extend(section.spearman.iter().map(|(r, rho)| format!("{name} vs {r}: Spearman {rho:.3}")));
    }
    Ok(ReportOutcome { index, conflicting_pairs: duplicates.pairs.len(), duplicates_seconds, reference_lines })
}

/// The run's `[report]` settings with the request's overrides, checked.
fn settings(config: &ReportConfig, request: &ReportRequest) -> Result<ReportConfig, ReportError> {
    let mut settings = config.clone();
    if let Some(k) = request.top_k {
        settings.top_k = k;
    }
    if let Some(d) = request.duplicate_distance {
        settings.duplicate_distance = d;
    }
    match settings.problems().into_iter().next() {
        Some((key, message)) => Err(ReportError::Setting { key: key.to_string(), message }),
        None => Ok(settings),
    }
}

/// The references of the run's baseline comparer and of the request, each read once.
fn read_references(inputs: &RunInputs, request: &ReportRequest) -> Result<Vec<Reference>, ReportError> {
    let mut specs = ReferenceSpec::from_baseline(&inputs.config);
    for spec in &request.references {
        if !specs.iter().any(|s| s.path == spec.path && s.key == spec.key) {
            specs.push(spec.clone());
        }
    }
    specs.iter().map(|s| s.read(inputs.samples())).collect()
}

/// Pairs ordered by the higher `score` of their two samples (the likely mislabeled
/// copy), then by distance and index.
fn rank_pairs(mut pairs: Vec<ConflictingPair>, score: &Score) -> Vec<ConflictingPair> {
    let key = |p: &ConflictingPair| score.values[p.a].max(score.values[p.b]);
    pairs.sort_by(|p, q| key(q).total_cmp(&key(p)).then(p.distance.total_cmp(&q.distance)).then((p.a, p.b).cmp(&(q.a, q.b))));
    pairs
}

/// A name usable in a file name: letters, digits, `-` and `_`.
fn file_part(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

fn score_section(
    out: &Path,
    score: &Score,
    inputs: &RunInputs,
    style: &TileStyle,
    top_k: usize,
    references: &[Reference],
) -> Result<ScoreSection, ReportError> {
    let name = file_part(&score.name);
    let order = descending(&score.values);
    let k = top_k.min(order.len());
    let top = &order[..k];
    let bottom: Vec<usize> = order[order.len() - k..].iter().rev().copied().collect();
    let mut pictures =
        vec![write_sample_grid(out, &format!("top_{name}.png"), &format!("Highest {k} by {}", score.name), top, score, inputs, style)?];
    let folded = vec![write_sample_grid(
        out,
        &format!("bottom_{name}.png"),
        &format!("Lowest {k} by {}", score.name),
        &bottom,
        score,
        inputs,
        style,
    )?];
    let mask = inputs.noise_mask.as_deref();
    pictures.push(plots::histogram(out, &format!("hist_{name}.png"), score, mask)?);
    let mut auroc = None;
    if let Some(mask) = mask.filter(|m| m.iter().any(|&x| x) && m.iter().any(|&x| !x)) {
        let (picture, value) = plots::roc(out, &format!("roc_{name}.png"), score, mask, "noise_mask")?;
        pictures.push(picture);
        auroc = Some(value);
    }
    pictures.extend(plots::epochs(out, &format!("epochs_{name}.png"), score)?);
    if let Some(curve) = signal::curve(score, mask.map(|m| ("noise_mask", m))) {
        pictures.push(signal::plot(out, &format!("signal_{name}.png"), &curve)?);
    }
    let (mut spearman, mut masks) = (Vec::new(), Vec::new());
    for reference in references {
        let against = file_part(&reference.name);
        match &reference.mask {
            // A mask of known samples: how well the score finds them, overall and per epoch.
            Some(mask) => {
                let (picture, auroc) = plots::roc(out, &format!("roc_{name}_vs_{against}.png"), score, mask, &reference.name)?;
                pictures.push(picture);
                let values: Vec<f64> = score.values.iter().map(|&v| v as f64).collect();
                let ap = memscope_stats::average_precision(&values, mask).unwrap_or(f64::NAN);
                if let Some(curve) = signal::curve(score, Some((reference.name.as_str(), mask.as_slice()))) {
                    pictures.push(signal::plot(out, &format!("signal_{name}_vs_{against}.png"), &curve)?);
                }
                masks.push((reference.name.clone(), auroc, ap));
            }
            None => {
                let (picture, rho) = plots::against_reference(out, &format!("vs_{against}_{name}.png"), score, reference)?;
                pictures.push(picture);
                spearman.push((reference.name.clone(), rho));
            }
        }
    }
    Ok(ScoreSection { name: score.name.clone(), pictures, folded, auroc, spearman, masks })
}
