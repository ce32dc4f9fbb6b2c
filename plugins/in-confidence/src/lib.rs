//! In-confidence: `1 - p(label)`, the probability the snapshot does not give the
//! sample's label, averaged over the scored epochs by memscope (`[score.aggregate]`;
//! see the README). High for samples the network fits late or never: mislabeled,
//! ambiguous, atypical. It takes no settings.

use memscope_sdk::settings::{self, NoSettings, SettingProblem};
use memscope_sdk::{Hook, Host, Plugin, PluginResult, ScoreBatch};
use tch::{Kind, TchError, Tensor};

/// The in-confidence scorer.
pub struct InConfidence;

impl Plugin for InConfidence {
    fn name() -> &'static str {
        "in-confidence"
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn hooks() -> &'static [Hook] {
        &[Hook::ScoreBatch]
    }

    fn check_settings(config: &str) -> Vec<SettingProblem> {
        settings::check::<NoSettings>(config, |_| Vec::new())
    }

    fn create(config: &str, _host: &Host) -> PluginResult<Self> {
        settings::parse::<NoSettings>(config)?;
        Ok(InConfidence)
    }

    fn score_batch(&mut self, host: &Host, _batch: &ScoreBatch, images: &Tensor, labels: &Tensor) -> PluginResult<Tensor> {
        let logits = tch::no_grad(|| host.forward(images))?;
        Ok(in_confidence(&logits, labels)?)
    }
}

/// `1 - softmax(logits)[label]` per row, `float32 [B]`.
pub fn in_confidence(logits: &Tensor, labels: &Tensor) -> Result<Tensor, TchError> {
    let p = logits.f_softmax(1, Kind::Float)?.f_gather(1, &labels.f_unsqueeze(1)?, false)?.f_squeeze_dim(1)?;
    p.f_neg()?.f_add_scalar(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_confidence_of_hand_computed_cases() {
        // Logits (0, ln 3): softmax (1/4, 3/4); logits (ln 1, ln 2, ln 5): (1, 2, 5) / 8.
        let logits = Tensor::from_slice(&[0.0f32, 3f32.ln(), 0.0, 3f32.ln()]).view([2, 2]);
        let two = Vec::<f32>::try_from(&in_confidence(&logits, &Tensor::from_slice(&[0i64, 1])).unwrap()).unwrap();
        assert!((two[0] - 0.75).abs() < 1e-6 && (two[1] - 0.25).abs() < 1e-6, "{two:?}");
        let logits = Tensor::from_slice(&[0.0f32, 2f32.ln(), 5f32.ln()]).view([1, 3]);
        let three = Vec::<f32>::try_from(&in_confidence(&logits, &Tensor::from_slice(&[2i64])).unwrap()).unwrap();
        assert!((three[0] - 3.0 / 8.0).abs() < 1e-6, "{three:?}");
    }
}
