//! `signal_<score>.png`: the memorization signal of one score per scored epoch (AUROC
//! and average precision against the noise mask, or without one the mean of the
//! highest values), computed by the same `scores::epoch_curves` that fills the
//! `curves` of `summary.json`, so the picture and the summary always agree.

use super::canvas::{render_chart, Picture, FONT};
use super::inputs::Score;
use super::ReportError;
use memscope::scores::{epoch_curves, Aggregate, EpochCurve, ScoreTable};
use plotters::prelude::*;
use std::path::Path;

const AUROC: RGBColor = RGBColor(31, 119, 180);
const AP: RGBColor = RGBColor(255, 127, 14);

/// One line of the chart: its legend, colour and values per epoch.
type Line<'a> = (&'static str, RGBColor, &'a Vec<f64>);

/// The curve of `score` per scored epoch, against `mask` (its name, its samples)
/// when given. `None` when the run kept no per-epoch values.
pub fn curve(score: &Score, mask: Option<(&str, &[bool])>) -> Option<EpochCurve> {
    let epochs = score.epochs.as_ref().filter(|e| !e.rows.is_empty())?;
    let mut table = ScoreTable::new(&score.name, Aggregate::Mean, score.values.len());
    for (&number, row) in epochs.epoch_numbers.iter().zip(&epochs.rows) {
        table.push(number.saturating_sub(1), row.clone());
    }
    let masks: Vec<(String, Vec<bool>)> = mask.map(|(name, m)| (name.to_string(), m.to_vec())).into_iter().collect();
    epoch_curves(&[table], &masks).into_iter().next()
}

/// How a mask is named in titles: the noise injector's as words, others as named.
pub fn mask_title(name: &str) -> String {
    match name {
        "noise_mask" => "noise mask".to_string(),
        other => other.to_string(),
    }
}

/// Draws the curve; the best epoch is named in the title.
pub fn plot(dir: &Path, file: &str, curve: &EpochCurve) -> Result<Picture, ReportError> {
    let x: Vec<f64> = curve.epochs.iter().map(|&e| e as f64).collect();
    let (lines, y_desc, title): (Vec<Line<'_>>, String, String) = match (&curve.auroc, &curve.average_precision, &curve.top_k_mean) {
        (Some(auroc), Some(ap), _) => {
            let best = best(&x, auroc);
            let against = mask_title(curve.against.as_deref().unwrap_or("noise_mask"));
            let title = format!("{} per epoch vs {against}: best AUROC {:.4} at epoch {:.0}", curve.score, best.1, best.0);
            (vec![("AUROC", AUROC, auroc), ("average precision", AP, ap)], format!("against the {against}"), title)
        }
        (_, _, Some(means)) => {
            let k = curve.top_k.unwrap_or(1);
            let best = best(&x, means);
            let title = format!("{} per epoch: mean of the top {k}, highest at epoch {:.0}", curve.score, best.0);
            (vec![("mean of the top values", AUROC, means)], format!("mean of the top {k}"), title)
        }
        _ => return Err(ReportError::plot(&dir.join(file), "a curve without values")),
    };
    let values = || lines.iter().flat_map(|(_, _, v)| v.iter().copied()).filter(|v| v.is_finite());
    let (mut y_lo, mut y_hi) = (values().fold(f64::INFINITY, f64::min), values().fold(f64::NEG_INFINITY, f64::max));
    if y_lo.partial_cmp(&y_hi) != Some(std::cmp::Ordering::Less) {
        (y_lo, y_hi) = (y_lo.min(0.0) - 0.5, y_hi.max(0.0) + 0.5);
    }
    let pad = (y_hi - y_lo) * 0.08;
    let (x_lo, x_hi) = (x[0] - 0.5, x[x.len() - 1] + 0.5);
    render_chart(dir, file, &title, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FONT, 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x_lo..x_hi, (y_lo - pad)..(y_hi + pad))
            .map_err(|e| e.to_string())?;
        let whole_epochs = |e: &f64| format!("{e:.0}");
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(y_desc.as_str())
            .x_labels(x.len().clamp(2, 12))
            .x_label_formatter(&whole_epochs)
            .label_style((FONT, 12))
            .draw()
            .map_err(|e| e.to_string())?;
        for (label, colour, values) in &lines {
            let points: Vec<(f64, f64)> = x.iter().copied().zip(values.iter().copied()).filter(|(_, v)| v.is_finite()).collect();
            let colour = *colour;
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)).point_size(3))
                .map_err(|e| e.to_string())?
                .label(*label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], colour.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 11))
            .background_style(WHITE.mix(0.6))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerLeft)
            .draw()
            .map_err(|e| e.to_string())
    })
}

/// The epoch with the highest finite value, and that value.
fn best(x: &[f64], values: &[f64]) -> (f64, f64) {
    x.iter()
        .zip(values)
        .filter(|(_, v)| v.is_finite())
        .fold((x[0], f64::NEG_INFINITY), |acc, (&e, &v)| if v > acc.1 { (e, v) } else { acc })
}
