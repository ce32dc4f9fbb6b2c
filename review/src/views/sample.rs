//! One sample (`GET api/samples/{i}`): its card with every class probability and its
//! data-map point; and its history (`GET api/samples/{i}/history`): every per-epoch
//! score and the probability of its label, each beside the median over samples.

use super::card::Card;
use crate::{ReviewError, ReviewRun};
use serde::Serialize;

/// `GET api/samples/{i}`.
#[derive(Debug, Serialize)]
pub struct SampleView {
    /// The card.
    #[serde(flatten)]
    pub card: Card,
    /// The probability of every class, when the run has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probs: Option<Vec<f32>>,
    /// Mean probability of its label over training, with a label history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// Its standard deviation over training.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variability: Option<f32>,
}

impl SampleView {
    /// Sample `i` of `run`.
    pub fn of(run: &ReviewRun, i: usize) -> Result<SampleView, ReviewError> {
        check_index(run, i)?;
        let card = Card::new(run, i, run.decisions().get(i));
        let history = run.history();
        Ok(SampleView {
            card,
            probs: run.probs().map(|p| p.of(i).to_vec()),
            confidence: history.map(|h| h.confidence[i]),
            variability: history.map(|h| h.variability[i]),
        })
    }
}

/// One line of a history chart.
#[derive(Debug, Serialize)]
pub struct Series {
    /// What it shows: a score's name, or `label_prob`.
    pub name: String,
    /// The 1-based training epoch of each point.
    pub epochs: Vec<usize>,
    /// The sample's value at each.
    pub values: Vec<f32>,
    /// The median over all samples at each.
    pub median: Vec<f32>,
}

/// `GET api/samples/{i}/history`.
#[derive(Debug, Serialize)]
pub struct History {
    /// The sample.
    pub index: usize,
    /// Every score with per-epoch values, then `label_prob` when the run has it.
    pub series: Vec<Series>,
}

impl History {
    /// The history of sample `i` of `run`.
    pub fn of(run: &ReviewRun, i: usize) -> Result<History, ReviewError> {
        check_index(run, i)?;
        let mut series: Vec<Series> = run
            .scores()
            .iter()
            .zip(&run.medians().0)
            .filter_map(|(score, median)| {
                let epochs = score.epochs.as_ref()?;
                let values = epochs.rows.iter().map(|row| row[i]).collect();
                Some(Series { name: score.name.clone(), epochs: epochs.epoch_numbers.clone(), values, median: median.clone() })
            })
            .collect();
        if let Some(history) = run.history() {
            let epochs = (1..=history.epochs()).collect();
            series.push(Series { name: "label_prob".into(), epochs, values: history.of(i), median: history.medians() });
        }
        Ok(History { index: i, series })
    }
}

/// An error for an index that is not a sample of `run`.
pub fn check_index(run: &ReviewRun, i: usize) -> Result<(), ReviewError> {
    if i < run.samples() {
        Ok(())
    } else {
        Err(ReviewError::NotFound(format!("no sample {i}: the run has {} (0..{})", run.samples(), run.samples())))
    }
}
