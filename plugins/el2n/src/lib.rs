//! EL2N (Paul, Ganguli & Dziugaite, "Deep Learning on a Data Diet", NeurIPS 2021): the
//! error L2-norm `|| softmax(f(x)) - onehot(y) ||_2` of a sample. The paper scores
//! early in training (epoch 20 of 200 on CIFAR-10), where a high norm marks samples the
//! network finds hard or that contradict their label; see the README for the window.
//! It takes no settings.

use memscope_sdk::settings::{self, NoSettings, SettingProblem};
use memscope_sdk::{Hook, Host, Plugin, PluginResult, ScoreBatch};
use tch::{Kind, TchError, Tensor};

/// The EL2N scorer.
pub struct El2n;

impl Plugin for El2n {
    fn name() -> &'static str {
        "el2n"
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
        Ok(El2n)
    }

    fn score_batch(&mut self, host: &Host, _batch: &ScoreBatch, images: &Tensor, labels: &Tensor) -> PluginResult<Tensor> {
        let logits = tch::no_grad(|| host.forward(images))?;
        Ok(el2n(&logits, labels)?)
    }
}

/// `|| softmax(logits) - onehot(labels) ||_2` per row, `float32 [B]`.
pub fn el2n(logits: &Tensor, labels: &Tensor) -> Result<Tensor, TchError> {
    let p = logits.f_softmax(1, Kind::Float)?;
    let onehot = p.f_zeros_like()?.f_scatter_value(1, &labels.f_unsqueeze(1)?, 1.0)?;
    (p - onehot).f_linalg_norm(2.0, &[1i64][..], false, Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(logits: &[f32], classes: i64, labels: &[i64]) -> Vec<f32> {
        let logits = Tensor::from_slice(logits).view([-1, classes]);
        Vec::<f32>::try_from(&el2n(&logits, &Tensor::from_slice(labels)).unwrap()).unwrap()
    }

    #[test]
    fn el2n_of_hand_computed_cases() {
        // Logits (0, ln 3): softmax (1/4, 3/4). Label 0: (-3/4, 3/4), norm 3/4 * sqrt 2;
        // label 1: (1/4, -1/4), norm 1/4 * sqrt 2.
        let two = scores(&[0.0, 3f32.ln(), 0.0, 3f32.ln()], 2, &[0, 1]);
        assert!((two[0] - 0.75 * 2f32.sqrt()).abs() < 1e-6, "{two:?}");
        assert!((two[1] - 0.25 * 2f32.sqrt()).abs() < 1e-6, "{two:?}");
        // Logits (ln 1, ln 2, ln 5): softmax (1, 2, 5) / 8; label 2: (1, 2, -3) / 8,
        // norm sqrt(14) / 8.
        let three = scores(&[0.0, 2f32.ln(), 5f32.ln()], 3, &[2]);
        assert!((three[0] - 14f32.sqrt() / 8.0).abs() < 1e-6, "{three:?}");
    }

    #[test]
    fn any_setting_is_refused_by_name() {
        let err = settings::parse::<NoSettings>("epochs = 3\n").unwrap_err().to_string();
        assert!(err.starts_with("config: unknown key `epochs`"), "{err}");
    }
}
