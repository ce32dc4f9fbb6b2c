//! A decision sent by the page (`POST api/decisions`): checked against the run, then
//! appended to `corrections.csv`.

use super::card::DecisionView;
use super::overview::Counts;
use super::sample::check_index;
use crate::corrections::{Action, SampleNames};
use crate::{ReviewError, ReviewRun};
use serde::{Deserialize, Serialize};

/// The body of `POST api/decisions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// The sample.
    pub index: usize,
    /// `relabel`, `exclude` or `keep`.
    pub action: Action,
    /// For `relabel`: the new class's name (or its integer).
    pub label: Option<String>,
}

/// The answer: the decision as saved, and the counts now.
#[derive(Debug, Serialize)]
pub struct DecisionAnswer {
    /// The sample.
    pub index: usize,
    /// The decision.
    pub decision: DecisionView,
    /// Decisions by action, after this one.
    pub decisions: Counts,
}

/// Checks `request` against `run` and saves it.
pub fn decide(run: &ReviewRun, request: &DecisionRequest) -> Result<DecisionAnswer, ReviewError> {
    check_index(run, request.index)?;
    let label = match (request.action, request.label.as_deref()) {
        (Action::Relabel, None) => return Err(ReviewError::BadRequest("relabel needs `label`, the new class".into())),
        (Action::Relabel, Some(text)) => {
            let names = SampleNames { sources: &[], classes: run.classes() };
            Some(names.class(text).ok_or_else(|| ReviewError::BadRequest(format!("`label`: `{text}` is not a class of this run")))?)
        }
        (_, None) => None,
        (other, Some(_)) => return Err(ReviewError::BadRequest(format!("{} takes no `label`", other.word()))),
    };
    let decision = run.decide(request.index, request.action, label)?;
    let [relabel, exclude, keep] = run.decisions().counts();
    Ok(DecisionAnswer { index: request.index, decision: DecisionView::new(run, &decision), decisions: Counts { relabel, exclude, keep } })
}
