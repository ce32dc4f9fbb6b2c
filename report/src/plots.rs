//! Charts of one score: its distribution (noisy vs clean samples when the noise mask
//! is known), its ROC curve against the noise mask, its value per scored epoch for
//! the top samples, and its relation to a reference score in bins (the paper's
//! memorization-vs-curvature plot).

use super::canvas::{render_chart, Picture, FONT};
use super::inputs::Score;
use super::ranking::descending;
use super::reference::Reference;
use super::ReportError;
use plotters::prelude::*;
use std::path::Path;

/// Histogram bins.
const BINS: usize = 40;
/// Samples drawn in the score-vs-epoch chart.
pub const EPOCH_CURVES: usize = 10;
/// Bins of the score-vs-reference chart (equal numbers of samples).
const REFERENCE_BINS: usize = 20;

const CLEAN: RGBColor = RGBColor(31, 119, 180);
const NOISY: RGBColor = RGBColor(214, 39, 40);
/// Colours of the top samples' curves (matplotlib's tab10).
const CURVES: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn msg(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Low and high ends of `values`, widened when they are equal.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        (0.0, 1.0)
    } else if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    }
}

/// The distribution of `score`: one histogram, or with a mask, clean and noisy
/// samples as fractions of their own group (the noisy group is small).
pub fn histogram(dir: &Path, file: &str, score: &Score, mask: Option<&[bool]>) -> Result<Picture, ReportError> {
    let (lo, hi) = range(score.values.iter().map(|&v| v as f64));
    let width = (hi - lo) / BINS as f64;
    let bin = |v: f32| (((v as f64 - lo) / width) as usize).min(BINS - 1);
    let mut groups: Vec<(String, RGBColor, Vec<f64>)> = Vec::new();
    match mask {
        Some(mask) => {
            for (name, colour, noisy) in [("clean", CLEAN, false), ("noisy", NOISY, true)] {
                let members: Vec<f32> = score.values.iter().zip(mask).filter(|(_, &m)| m == noisy).map(|(&v, _)| v).collect();
                let mut counts = vec![0.0; BINS];
                for &v in &members {
                    counts[bin(v)] += 1.0 / members.len() as f64;
                }
                groups.push((format!("{name} ({})", members.len()), colour, counts));
            }
        }
        None => {
            let mut counts = vec![0.0; BINS];
            for &v in &score.values {
                counts[bin(v)] += 1.0;
            }
            groups.push((format!("all ({})", score.values.len()), CLEAN, counts));
        }
    }
    let top = groups.iter().flat_map(|g| g.2.iter().copied()).fold(0.0, f64::max).max(1e-9) * 1.08;
    let title = format!("{}: distribution", score.name);
    let y_desc = if mask.is_some() { "fraction of the group" } else { "samples" };
    render_chart(dir, file, &title, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..hi, 0.0..top)
            .map_err(msg)?;
        chart.configure_mesh().x_desc(score.name.as_str()).y_desc(y_desc).label_style((FONT, 12)).draw().map_err(msg)?;
        for (name, colour, counts) in &groups {
            let colour = *colour;
            let bars = counts.iter().enumerate().filter(|(_, &c)| c > 0.0).map(|(b, &c)| {
                let x0 = lo + b as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, c)], colour.mix(0.55).filled())
            });
            chart
                .draw_series(bars)
                .map_err(msg)?
                .label(name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.mix(0.55).filled()));
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(msg)
    })
}

/// Points of the ROC curve of ranking by descending `values` for the positives of
/// `mask`: `(false positive rate, true positive rate)`, one point per distinct value.
pub fn roc_points(values: &[f32], mask: &[bool]) -> Vec<(f64, f64)> {
    let positives = mask.iter().filter(|&&m| m).count().max(1) as f64;
    let negatives = mask.iter().filter(|&&m| !m).count().max(1) as f64;
    let order = descending(values);
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0.0, 0.0);
    for (n, &i) in order.iter().enumerate() {
        if mask[i] {
            tp += 1.0
        } else {
            fp += 1.0
        }
        let last_of_value = order.get(n + 1).is_none_or(|&j| values[j] != values[i]);
        if last_of_value {
            points.push((fp / negatives, tp / positives));
        }
    }
    points
}

/// The ROC curve of `score` against a mask (the noise injector's `noise_mask`, or a
/// user's own reference mask, named `against`), with its AUROC.
pub fn roc(dir: &Path, file: &str, score: &Score, mask: &[bool], against: &str) -> Result<(Picture, f64), ReportError> {
    let values: Vec<f64> = score.values.iter().map(|&v| v as f64).collect();
    let auroc = memscope_stats::auroc(&values, mask).unwrap_or(f64::NAN);
    let points = roc_points(&score.values, mask);
    let title = format!("{} vs {}: AUROC {auroc:.4}", score.name, super::signal::mask_title(against));
    let noise = against == "noise_mask";
    let (x_desc, y_desc) = match noise {
        true => ("false positive rate (clean samples above the threshold)", "true positive rate (noisy samples found)"),
        false => ("false positive rate (unmarked samples above the threshold)", "true positive rate (marked samples found)"),
    };
    let picture = render_chart(dir, file, &title, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)
            .map_err(msg)?;
        chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).label_style((FONT, 12)).draw().map_err(msg)?;
        chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], RGBColor(170, 170, 170))).map_err(msg)?;
        chart.draw_series(LineSeries::new(points, CLEAN.stroke_width(2))).map_err(msg)?;
        Ok(())
    })?;
    Ok((picture, auroc))
}

/// The value of `score` at each scored epoch for its top samples, and the median of
/// all samples for comparison. `None` when the run kept no per-epoch values.
pub fn epochs(dir: &Path, file: &str, score: &Score) -> Result<Option<Picture>, ReportError> {
    let Some(epochs) = &score.epochs else { return Ok(None) };
    if epochs.rows.is_empty() {
        return Ok(None);
    }
    let top: Vec<usize> = descending(&score.values).into_iter().take(EPOCH_CURVES).collect();
    let x: Vec<f64> = epochs.epoch_numbers.iter().map(|&e| e as f64).collect();
    let curve = |i: usize| -> Vec<(f64, f64)> { x.iter().zip(&epochs.rows).map(|(&e, row)| (e, row[i] as f64)).collect() };
    let median: Vec<(f64, f64)> = x
        .iter()
        .zip(&epochs.rows)
        .map(|(&e, row)| {
            let mut sorted = row.clone();
            sorted.sort_by(f32::total_cmp);
            (e, sorted[sorted.len() / 2] as f64)
        })
        .collect();
    let (y_lo, y_hi) = range(top.iter().flat_map(|&i| curve(i)).chain(median.iter().copied()).map(|(_, y)| y));
    let (x_lo, x_hi) = range(x.iter().copied());
    let title = format!("{} per scored epoch: top {} samples", score.name, top.len());
    let picture = render_chart(dir, file, &title, |root| {
        let pad = (y_hi - y_lo) * 0.05;
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x_lo..x_hi, (y_lo - pad)..(y_hi + pad))
            .map_err(msg)?;
        let whole_epochs = |e: &f64| format!("{e:.0}");
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(score.name.as_str())
            .x_labels(x.len().clamp(2, 12))
            .x_label_formatter(&whole_epochs)
            .label_style((FONT, 12))
            .draw()
            .map_err(msg)?;
        for (n, &i) in top.iter().enumerate() {
            let colour = CURVES[n % CURVES.len()];
            let series = chart.draw_series(LineSeries::new(curve(i), colour.stroke_width(2)).point_size(2)).map_err(msg)?;
            series.label(format!("#{i}")).legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], colour.stroke_width(2)));
        }
        chart
            .draw_series(LineSeries::new(median, BLACK.stroke_width(3)).point_size(2))
            .map_err(msg)?
            .label("median, all samples")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], BLACK.stroke_width(3)));
        chart
            .configure_series_labels()
            .label_font((FONT, 11))
            .background_style(WHITE.mix(0.6))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(msg)
    })?;
    Ok(Some(picture))
}

/// Mean reference value in bins of equal size along `score` (ascending): `(score
/// percentile at the bin's centre, mean reference)`.
pub fn binned_means(score: &[f32], reference: &[f64], bins: usize) -> Vec<(f64, f64)> {
    let n = score.len();
    let bins = bins.min(n).max(1);
    let mut order = descending(score);
    order.reverse();
    (0..bins)
        .map(|b| {
            let (start, end) = (b * n / bins, (b + 1) * n / bins);
            let members = &order[start..end];
            let mean = members.iter().map(|&i| reference[i]).sum::<f64>() / members.len().max(1) as f64;
            (100.0 * (start + end) as f64 / 2.0 / n as f64, mean)
        })
        .collect()
}

/// The reference's mean in bins of `score` percentiles, with their Spearman correlation.
/// Samples whose reference is undefined (NaN in a memorization estimate) are left out.
pub fn against_reference(dir: &Path, file: &str, score: &Score, reference: &Reference) -> Result<(Picture, f64), ReportError> {
    let defined: Vec<usize> = (0..reference.values.len()).filter(|&i| !reference.values[i].is_nan()).collect();
    let scores: Vec<f32> = defined.iter().map(|&i| score.values[i]).collect();
    let references: Vec<f64> = defined.iter().map(|&i| reference.values[i]).collect();
    let values: Vec<f64> = scores.iter().map(|&v| v as f64).collect();
    let spearman = memscope_stats::spearman(&values, &references);
    let points = binned_means(&scores, &references, REFERENCE_BINS);
    let (y_lo, y_hi) = range(points.iter().map(|p| p.1));
    let pad = (y_hi - y_lo) * 0.08;
    let title = format!("{} vs {}: Spearman {spearman:.3}", score.name, reference.name);
    let picture = render_chart(dir, file, &title, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..100.0, (y_lo - pad)..(y_hi + pad))
            .map_err(msg)?;
        chart
            .configure_mesh()
            .x_desc(format!("{} percentile ({} bins of equal size)", score.name, points.len()))
            .y_desc(format!("mean {}", reference.name))
            .label_style((FONT, 12))
            .draw()
            .map_err(msg)?;
        chart.draw_series(LineSeries::new(points.clone(), CLEAN.stroke_width(2)).point_size(3)).map_err(msg)?;
        Ok(())
    })?;
    Ok((picture, spearman))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_of_a_perfect_score_goes_through_the_top_left_corner() {
        let values = [0.9, 0.8, 0.1, 0.2];
        let mask = [true, true, false, false];
        let points = roc_points(&values, &mask);
        assert!(points.contains(&(0.0, 1.0)), "{points:?}");
        assert_eq!(*points.last().unwrap(), (1.0, 1.0));
    }

    #[test]
    fn tied_values_make_one_roc_step() {
        let points = roc_points(&[0.5, 0.5, 0.5, 0.5], &[true, false, true, false]);
        assert_eq!(points, vec![(0.0, 0.0), (1.0, 1.0)]);
    }

    #[test]
    fn binned_means_follow_the_reference_along_the_score() {
        let score: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let reference: Vec<f64> = (0..100).map(|i| if i >= 50 { 1.0 } else { 0.0 }).collect();
        let bins = binned_means(&score, &reference, 4);
        assert_eq!(bins, vec![(12.5, 0.0), (37.5, 0.0), (62.5, 1.0), (87.5, 1.0)]);
    }
}
