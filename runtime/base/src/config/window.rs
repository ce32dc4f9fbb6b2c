//! Which scored epochs a snapshot score combines (`[score] window`), and what the
//! scores are for (`[score] purpose`), which picks the default window and how its epochs
//! weigh.
//!
//! The two purposes pull opposite ways. Wrong labels stand out while the network has
//! not fitted them yet: in the early and middle epochs. What the network memorized
//! stands out once it has fitted the training set: in the late epochs. But a short run
//! has no late phase, and a long one still holds the early signal: measured over run
//! lengths of 5 to 30 epochs, every scored epoch was the best window for both purposes
//! by its worst case, and for memorization weighing the later epochs more (rising with
//! the square root) raised that worst case further (README, "Which epochs a score
//! combines"; `bench/science/windows.py`).

use super::{EpochBound, Weighting};
use serde::{Deserialize, Serialize};

/// What a job's scores are for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// Finding mislabeled samples (the default).
    #[default]
    LabelNoise,
    /// Finding what the network memorized (agreement with Feldman & Zhang's estimate,
    /// `memscope estimate memorization`).
    Memorization,
}

impl Purpose {
    /// The window a snapshot score of this purpose combines unless the job says.
    pub fn default_window(self) -> ScoreWindow {
        match self {
            Purpose::LabelNoise => LABEL_NOISE_WINDOW,
            Purpose::Memorization => MEMORIZATION_WINDOW,
        }
    }

    /// How the epochs of the window weigh: alike for `label-noise`; for
    /// `memorization` rising (with the default exponent, the square root of the epoch's
    /// place in the window), so that the late epochs, where the network has fitted its
    /// training set, count most, and the early ones still count (a short run has no
    /// late phase).
    pub fn weighting(self) -> Weighting {
        match self {
            Purpose::LabelNoise => Weighting::Uniform,
            Purpose::Memorization => Weighting::Rising,
        }
    }

    /// The name a job uses.
    pub fn name(self) -> &'static str {
        match self {
            Purpose::LabelNoise => "label-noise",
            Purpose::Memorization => "memorization",
        }
    }
}

/// The default window of `purpose = "label-noise"`: every scored epoch.
pub const LABEL_NOISE_WINDOW: ScoreWindow = ScoreWindow::First(EpochBound::Percent(100.0));
/// The default window of `purpose = "memorization"`: every scored epoch (weighed by
/// [`Purpose::weights`]).
pub const MEMORIZATION_WINDOW: ScoreWindow = ScoreWindow::First(EpochBound::Percent(100.0));

/// The epochs a snapshot score combines: the first ones of the run (`window = "40%"`,
/// `window = 6`) or the last ones (`window = { last = "60%" }`, `{ last = 10 }`). A
/// share is of `train.epochs`, rounded up, at least one epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScoreWindow {
    /// Epochs 1 up to this one.
    First(EpochBound),
    /// This many of the last epochs (an epoch count, or a share of the run).
    Last(EpochBound),
}

impl ScoreWindow {
    /// The first and last epoch (1-based, inclusive) of the window in a run of `epochs`.
    pub fn epochs(self, epochs: usize) -> (usize, usize) {
        match self {
            ScoreWindow::First(to) => (1, to.resolve(epochs).min(epochs)),
            ScoreWindow::Last(count) => (epochs + 1 - count.resolve(epochs).clamp(1, epochs.max(1)), epochs),
        }
    }

    /// The bound's epoch when it names one (not a share), for validation.
    pub fn bound(self) -> EpochBound {
        match self {
            ScoreWindow::First(b) | ScoreWindow::Last(b) => b,
        }
    }
}

impl std::fmt::Display for ScoreWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScoreWindow::First(b) => write!(f, "the first {b}"),
            ScoreWindow::Last(b) => write!(f, "the last {b}"),
        }
    }
}

impl Serialize for ScoreWindow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            ScoreWindow::First(b) => b.serialize(s),
            ScoreWindow::Last(b) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("last", b)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for ScoreWindow {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// `{ last = ... }` or `{ first = ... }`.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            first: Option<EpochBound>,
            last: Option<EpochBound>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Bound(EpochBound),
            Table(Table),
        }
        let form = Form::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected the first epochs (an epoch like 6 or a share like \"40%\") or the last ones ({ last = \"60%\" })",
            )
        })?;
        match form {
            Form::Bound(b) => Ok(ScoreWindow::First(b)),
            Form::Table(Table { first: Some(b), last: None }) => Ok(ScoreWindow::First(b)),
            Form::Table(Table { first: None, last: Some(b) }) => Ok(ScoreWindow::Last(b)),
            Form::Table(_) => Err(serde::de::Error::custom("give one of `first` and `last`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ScoreWindow, String> {
        #[derive(Deserialize)]
        struct Holder {
            window: ScoreWindow,
        }
        toml::from_str::<Holder>(&format!("window = {text}")).map(|h| h.window).map_err(|e| e.message().to_string())
    }

    #[test]
    fn windows_read_as_first_or_last_epochs_and_resolve_in_a_run() {
        assert_eq!(parse("\"40%\"").unwrap(), ScoreWindow::First(EpochBound::Percent(40.0)));
        assert_eq!(parse("6").unwrap(), ScoreWindow::First(EpochBound::Epoch(6)));
        assert_eq!(parse("{ first = \"40%\" }").unwrap(), ScoreWindow::First(EpochBound::Percent(40.0)));
        assert_eq!(parse("{ last = \"60%\" }").unwrap(), ScoreWindow::Last(EpochBound::Percent(60.0)));
        assert_eq!(parse("{ last = 10 }").unwrap(), ScoreWindow::Last(EpochBound::Epoch(10)));
        // First 40 % of 5 epochs: 2 (rounded up); the last 60 % of 30: epochs 13-30;
        // of 5: 3 epochs, 3-5; the last 10 of 30: 21-30.
        assert_eq!(ScoreWindow::First(EpochBound::Percent(40.0)).epochs(5), (1, 2));
        assert_eq!(ScoreWindow::Last(EpochBound::Percent(60.0)).epochs(30), (13, 30));
        assert_eq!(ScoreWindow::Last(EpochBound::Percent(60.0)).epochs(5), (3, 5));
        assert_eq!(ScoreWindow::Last(EpochBound::Epoch(10)).epochs(30), (21, 30));
        assert_eq!(ScoreWindow::Last(EpochBound::Percent(1.0)).epochs(1), (1, 1));
        // What a run's config.toml holds reads back the same.
        for window in [ScoreWindow::First(EpochBound::Percent(40.0)), ScoreWindow::Last(EpochBound::Epoch(3))] {
            let text = toml::to_string(&std::collections::BTreeMap::from([("window", window)])).unwrap();
            let back: std::collections::BTreeMap<String, ScoreWindow> = toml::from_str(&text).unwrap();
            assert_eq!(back["window"], window, "{text}");
        }
    }

    #[test]
    fn a_window_that_is_neither_is_refused_with_the_forms_it_can_take() {
        for bad in ["{ last = \"60%\", first = 2 }", "{ middle = 3 }", "\"sixty\"", "true"] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("expected the first epochs") || err.contains("give one of"), "{bad}: {err}");
        }
    }
}
