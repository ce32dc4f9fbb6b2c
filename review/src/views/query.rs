//! Pages of samples: filtered by class, by given-to-suggested pair, by flagged or
//! decided; sorted by any score, the verdict's rank, the probability of the label or
//! the data map's coordinates; cut to one page. Sorting 60,000 samples from memory
//! takes milliseconds, so nothing is precomputed per sort.

use super::card::Card;
use crate::{ReviewError, ReviewRun};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Samples per page unless the request says otherwise.
pub const DEFAULT_LIMIT: usize = 48;
/// The most samples one page may hold.
pub const MAX_LIMIT: usize = 500;

/// What a page request may ask for (`GET api/samples?...`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// `index`, `rank`, `given_prob`, `confidence`, `variability` or `score:NAME`.
    pub sort: Option<String>,
    /// `asc` or `desc` (default: the one that puts suspicious samples first).
    pub order: Option<String>,
    /// Only samples given this class.
    pub class: Option<i64>,
    /// Only samples given G with suggested S: `G-S`.
    pub pair: Option<String>,
    /// Only flagged samples (`true`).
    pub flagged: Option<bool>,
    /// Only samples with a decision (`true`).
    pub decided: Option<bool>,
    /// The first sample of the page, in the sorted list.
    pub offset: Option<usize>,
    /// Samples on the page (at most 500).
    pub limit: Option<usize>,
}

/// One page of cards.
#[derive(Debug, Serialize)]
pub struct Page {
    /// Samples that pass the filters.
    pub total: usize,
    /// Position of the first card in the sorted list.
    pub offset: usize,
    /// The sort applied.
    pub sort: String,
    /// `asc` or `desc`.
    pub order: &'static str,
    /// The cards.
    pub items: Vec<Card>,
}

/// What samples can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SortKey {
    /// Sample index.
    Index,
    /// The verdict's rank (flagged samples first).
    Rank,
    /// The probability of the given label.
    GivenProb,
    /// Mean probability of the label over training.
    Confidence,
    /// Its standard deviation over training.
    Variability,
    /// The run's score at this position.
    Score(usize),
}

impl SortKey {
    /// The sorts this run offers, the most useful first.
    pub fn offered(run: &ReviewRun) -> Vec<SortKey> {
        let mut keys = Vec::new();
        if run.verdict().is_some() {
            keys.push(SortKey::Rank);
        }
        keys.extend((0..run.scores().len()).map(SortKey::Score));
        if run.probs().is_some() || run.verdict().is_some() {
            keys.push(SortKey::GivenProb);
        }
        if run.history().is_some() {
            keys.extend([SortKey::Confidence, SortKey::Variability]);
        }
        keys.push(SortKey::Index);
        keys
    }

    /// Its name in requests.
    pub fn name(self, run: &ReviewRun) -> String {
        match self {
            SortKey::Index => "index".into(),
            SortKey::Rank => "rank".into(),
            SortKey::GivenProb => "given_prob".into(),
            SortKey::Confidence => "confidence".into(),
            SortKey::Variability => "variability".into(),
            SortKey::Score(s) => format!("score:{}", run.scores()[s].name),
        }
    }

    /// Whether it sorts descending unless asked otherwise: the order that shows
    /// suspicious samples first (high scores, high variability; low rank numbers, low
    /// probability of the label, low confidence).
    pub fn descending_by_default(self) -> bool {
        matches!(self, SortKey::Score(_) | SortKey::Variability)
    }

    fn parse(text: &str, run: &ReviewRun) -> Result<SortKey, ReviewError> {
        let offered = SortKey::offered(run);
        offered.iter().copied().find(|k| k.name(run) == text).ok_or_else(|| {
            let names: Vec<String> = offered.iter().map(|k| k.name(run)).collect();
            ReviewError::BadRequest(format!("`sort`: this run cannot be sorted by `{text}` (it can by: {})", names.join(", ")))
        })
    }

    /// Sample `i`'s value; NaN when it has none (unflagged under `Rank`).
    fn value(self, run: &ReviewRun, i: usize) -> f64 {
        let value = match self {
            SortKey::Index => Some(i as f64),
            SortKey::Rank => run.flag(i).map(|f| f.rank as f64),
            SortKey::GivenProb => run.given_prob(i).map(f64::from),
            SortKey::Confidence => run.history().map(|h| h.confidence[i] as f64),
            SortKey::Variability => run.history().map(|h| h.variability[i] as f64),
            SortKey::Score(s) => Some(run.scores()[s].values[i] as f64),
        };
        value.unwrap_or(f64::NAN)
    }
}

/// The page `query` asks for.
pub fn page(run: &ReviewRun, query: &PageQuery) -> Result<Page, ReviewError> {
    let key = match &query.sort {
        Some(text) => SortKey::parse(text, run)?,
        None => SortKey::offered(run)[0],
    };
    let descending = match query.order.as_deref() {
        None => key.descending_by_default(),
        Some("desc") => true,
        Some("asc") => false,
        Some(other) => return Err(ReviewError::BadRequest(format!("`order`: `{other}`; expected asc or desc"))),
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ReviewError::BadRequest(format!("`limit`: {limit}; expected 1 to {MAX_LIMIT}")));
    }
    let selected = filter(run, query)?;
    let mut keyed: Vec<(f64, usize)> = selected.into_iter().map(|i| (key.value(run, i), i)).collect();
    keyed.sort_by(|a, b| compare(a, b, descending));
    let offset = query.offset.unwrap_or(0);
    let decisions = run.decisions();
    let items = keyed.iter().skip(offset).take(limit).map(|&(_, i)| Card::new(run, i, decisions.get(i))).collect();
    Ok(Page { total: keyed.len(), offset, sort: key.name(run), order: if descending { "desc" } else { "asc" }, items })
}

/// By value in the order asked, samples without one last, ties by index.
fn compare(a: &(f64, usize), b: &(f64, usize), descending: bool) -> Ordering {
    let by_value = match (a.0.is_nan(), b.0.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) if descending => b.0.total_cmp(&a.0),
        (false, false) => a.0.total_cmp(&b.0),
    };
    by_value.then(a.1.cmp(&b.1))
}

/// The samples that pass every filter of `query`, in index order.
fn filter(run: &ReviewRun, query: &PageQuery) -> Result<Vec<usize>, ReviewError> {
    let classes = run.classes().len() as i64;
    let class_arg = |name: &str, c: i64| {
        if (0..classes).contains(&c) {
            Ok(c)
        } else {
            Err(ReviewError::BadRequest(format!("`{name}`: class {c} does not exist (0..{classes})")))
        }
    };
    let class = query.class.map(|c| class_arg("class", c)).transpose()?;
    let pair = match &query.pair {
        None => None,
        Some(text) => {
            let parsed = text.split_once('-').and_then(|(g, s)| Some((g.parse::<i64>().ok()?, s.parse::<i64>().ok()?)));
            let (g, s) = parsed.ok_or_else(|| ReviewError::BadRequest(format!("`pair`: `{text}`; expected GIVEN-SUGGESTED, e.g. 3-5")))?;
            Some((class_arg("pair", g)?, class_arg("pair", s)?))
        }
    };
    if pair.is_some() && run.probs().is_none() && run.verdict().is_none() {
        return Err(ReviewError::BadRequest(
            "`pair`: this run has no suggested labels (no label_issues.csv nor predictions/probs.npy)".into(),
        ));
    }
    let flagged = query.flagged.unwrap_or(false);
    if flagged && run.verdict().is_none() {
        return Err(ReviewError::BadRequest("`flagged`: this run has no verdict (no label_issues.csv)".into()));
    }
    let decided = query.decided.unwrap_or(false).then(|| run.decisions().decided());
    let candidates: Box<dyn Iterator<Item = usize>> = match decided {
        Some(decided) => Box::new(decided.into_iter()),
        None => Box::new(0..run.samples()),
    };
    Ok(candidates
        .filter(|&i| class.is_none_or(|c| run.given(i) == c))
        .filter(|&i| pair.is_none_or(|(g, s)| run.given(i) == g && run.suggested(i).is_some_and(|(l, _)| l == s)))
        .filter(|&i| !flagged || run.flag(i).is_some())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_sort_in_the_order_asked_with_missing_ones_last_and_ties_by_index() {
        let mut keyed = [(2.0, 0), (f64::NAN, 1), (5.0, 2), (2.0, 3), (f64::NAN, 4)];
        keyed.sort_by(|a, b| compare(a, b, true));
        assert_eq!(keyed.iter().map(|k| k.1).collect::<Vec<_>>(), vec![2, 0, 3, 1, 4]);
        keyed.sort_by(|a, b| compare(a, b, false));
        assert_eq!(keyed.iter().map(|k| k.1).collect::<Vec<_>>(), vec![0, 3, 2, 1, 4]);
    }
}
