//! [`PartialScores`]: what a cancelled job had scored, handed back with
//! [`super::JobError::Cancelled`] so that a program keeps the completed epochs' work
//! without collecting events.

use crate::scores::{top_k, ScoreTable};
use memscope_sdk::Direction;

/// Every score table of a cancelled job with the rows of the epochs it completed
/// (the per-batch loss of each trained epoch, each snapshot score of each scored
/// one), combined over those epochs by the job's window rule, as if the job had been
/// that many epochs long.
#[derive(Clone, Default)]
pub struct PartialScores {
    /// The tables, `loss` first when recorded.
    pub scores: Vec<ScoreTable>,
    /// Which values of each score mean more memorized, as its plugin declared.
    pub directions: Vec<(String, Direction)>,
}

impl PartialScores {
    /// Score `name` combined over the completed epochs, one value per training sample.
    pub fn score(&self, name: &str) -> Option<Vec<f32>> {
        self.score_table(name).map(ScoreTable::combined)
    }

    /// The table of score `name`: one row per epoch scored before the cancel.
    pub fn score_table(&self, name: &str) -> Option<&ScoreTable> {
        self.scores.iter().find(|t| t.name == name)
    }

    /// Which values of score `name` mean more memorized.
    pub fn direction(&self, name: &str) -> Option<Direction> {
        self.directions.iter().find(|(n, _)| n == name).map(|(_, d)| *d)
    }

    /// The `k` samples score `name` finds most memorized so far, the most first.
    pub fn top_k(&self, name: &str, k: usize) -> Option<Vec<usize>> {
        Some(top_k(&self.score(name)?, self.direction(name)?, k))
    }
}

impl std::fmt::Debug for PartialScores {
    /// Names and scored epochs, not every value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.scores.iter().map(|t| (&t.name, &t.epochs))).finish()
    }
}
