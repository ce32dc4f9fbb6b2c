//! Optional plugins that failed during a job. A failed optional plugin is never called
//! again, and whatever scores it produced are left out of the run's outputs: a score
//! from a plugin that broke halfway cannot be trusted.

use super::host_api::PluginOutputs;
use crate::scores::ScoreTable;
use memscope_sdk::Hook;

/// An optional plugin dropped from the job, for the warning and `summary.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DroppedPlugin {
    /// The plugin.
    pub plugin: String,
    /// The hook that failed (`score_batch`, `on_train_batch_end`, ...).
    pub hook: String,
    /// The error, as the log gave it.
    pub message: String,
}

impl DroppedPlugin {
    /// The record of `plugin` failing in `hook` with `message`.
    pub fn new(plugin: &str, hook: Hook, message: String) -> Self {
        DroppedPlugin { plugin: plugin.to_string(), hook: hook.name().to_string(), message }
    }
}

/// Leaves out of `tables` and `outputs` everything a dropped plugin scored: its own
/// score table (named after it), the scores it published, the comparisons it
/// published, and any comparison of one of those scores. Masks and labels stay: the
/// labels were trained with, and a mask says what was done to them.
pub fn drop_partial_scores(dropped: &[DroppedPlugin], tables: &mut Vec<ScoreTable>, outputs: &mut PluginOutputs) {
    if dropped.is_empty() {
        return;
    }
    let is_dropped = |plugin: &str| dropped.iter().any(|d| d.plugin == plugin);
    let mut gone: Vec<String> = tables.iter().filter(|t| is_dropped(&t.name)).map(|t| t.name.clone()).collect();
    tables.retain(|t| !is_dropped(&t.name));
    gone.extend(
        outputs.arrays.iter().filter(|a| a.kind == memscope_sdk::ArrayKind::Score && is_dropped(&a.plugin)).map(|a| a.name.clone()),
    );
    outputs.arrays.retain(|a| !(a.kind == memscope_sdk::ArrayKind::Score && is_dropped(&a.plugin)));
    outputs.comparisons.retain(|c| !is_dropped(&c.plugin) && !gone.contains(&c.score) && !gone.contains(&c.against));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::PublishedArray;
    use crate::run::Comparison;
    use crate::scores::Aggregate;
    use memscope_sdk::ArrayKind;

    fn array(plugin: &str, name: &str, kind: ArrayKind) -> PublishedArray {
        PublishedArray { plugin: plugin.into(), name: name.into(), kind, values: vec![1.0] }
    }

    fn comparison(score: &str, against: &str, plugin: &str) -> Comparison {
        Comparison { score: score.into(), against: against.into(), plugin: plugin.into(), metrics: Default::default() }
    }

    #[test]
    fn a_dropped_plugin_loses_its_table_its_published_scores_and_their_comparisons() {
        let dropped = [DroppedPlugin { plugin: "bad".into(), hook: "on_train_batch_end".into(), message: "boom".into() }];
        let mut tables = vec![ScoreTable::new("loss", Aggregate::Sum, 1), ScoreTable::new("bad", Aggregate::Mean, 1)];
        let mut outputs = PluginOutputs {
            arrays: vec![
                array("bad", "bad_extra", ArrayKind::Score),
                array("bad", "bad_mask", ArrayKind::Mask),
                array("noise", "noise_mask", ArrayKind::Mask),
            ],
            comparisons: vec![
                comparison("loss", "noise_mask", "baseline"),
                comparison("bad", "noise_mask", "baseline"),
                comparison("bad_extra", "noise_mask", "baseline"),
                comparison("loss", "bad_extra", "baseline"),
                comparison("loss", "noise_mask", "bad"),
            ],
            metrics: Vec::new(),
        };
        drop_partial_scores(&dropped, &mut tables, &mut outputs);
        assert_eq!(tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["loss"]);
        let arrays: Vec<&str> = outputs.arrays.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(arrays, ["bad_mask", "noise_mask"], "masks stay, scores go");
        assert_eq!(outputs.comparisons, vec![comparison("loss", "noise_mask", "baseline")]);
    }
}
