//! GraNd (Paul, Ganguli & Dziugaite, "Deep Learning on a Data Diet", NeurIPS 2021): the
//! norm of a sample's loss gradient with respect to the parameters,
//! `|| d CE(f(x), y) / d theta ||_2`, early in training. A large norm marks a sample
//! the network still has much to learn from: hard, atypical or mislabeled. The host
//! computes it (`Host::parameter_gradient_norms`: one backward pass per sample, about
//! `B` times the cost of a batch's input gradient), so the plugin stays a few lines.
//!
//! Only early epochs matter, and later ones are the costly part of a long run: with
//! `until_epoch = N` the snapshots after epoch N (1-based) score 0 without any gradient
//! computed. Give the score the same window (`[score.aggregate.grand] to = N`) so those
//! rows are not averaged in; see the README.

use memscope_sdk::settings::{self, Deserialize, SettingProblem};
use memscope_sdk::{Hook, Host, Plugin, PluginResult, ScoreBatch};
use tch::{Kind, Tensor};

/// The settings of `[[plugins]] name = "grand"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(crate = "memscope_sdk::serde", deny_unknown_fields, default)]
pub struct Settings {
    /// Last epoch (1-based) whose snapshot is scored; later ones score 0 at no cost.
    /// None (the default): every scored snapshot.
    pub until_epoch: Option<usize>,
}

impl Settings {
    /// What is wrong with the values (their types are right).
    pub fn problems(&self) -> Vec<SettingProblem> {
        if self.until_epoch == Some(0) {
            return vec![SettingProblem::new("until_epoch", "counts epochs from 1; 0 would score nothing")];
        }
        Vec::new()
    }
}

/// The GraNd scorer.
pub struct Grand {
    settings: Settings,
}

impl Grand {
    /// Whether the snapshot of 0-based `epoch` is scored.
    pub fn scores_epoch(&self, epoch: usize) -> bool {
        self.settings.until_epoch.is_none_or(|until| epoch < until)
    }
}

impl Plugin for Grand {
    fn name() -> &'static str {
        "grand"
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn hooks() -> &'static [Hook] {
        &[Hook::ScoreBatch]
    }

    fn check_settings(config: &str) -> Vec<SettingProblem> {
        settings::check(config, Settings::problems)
    }

    fn create(config: &str, _host: &Host) -> PluginResult<Self> {
        let settings = settings::parse_checked(config, Settings::problems)?;
        Ok(Grand { settings })
    }

    fn score_batch(&mut self, host: &Host, batch: &ScoreBatch, images: &Tensor, labels: &Tensor) -> PluginResult<Tensor> {
        if !self.scores_epoch(batch.epoch) {
            return Ok(Tensor::zeros([images.size()[0]], (Kind::Float, images.device())));
        }
        host.parameter_gradient_norms(images, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_epoch_limits_the_scored_snapshots_and_is_checked() {
        let grand = |text: &str| Grand { settings: settings::parse(text).unwrap() };
        assert!(grand("").scores_epoch(99));
        let early = grand("until_epoch = 2\n");
        assert!(early.scores_epoch(0) && early.scores_epoch(1) && !early.scores_epoch(2));
        let err = settings::parse::<Settings>("until = 2\n").unwrap_err().to_string();
        assert!(err.starts_with("config: unknown key `until`"), "{err}");
    }
}
