//! The template for a new scorer: the per-sample margin of the best other class over
//! the label, `max_{c != y} f_c(x) - f_y(x)`. High means the model disagrees with the
//! label (a candidate for a mislabeled or memorized sample). A new scorer starts from
//! `memscope plugins new NAME`, which writes a crate like this one that builds outside
//! the workspace.

use memscope_sdk::settings::{self, NoSettings, SettingProblem};
use memscope_sdk::{Hook, Host, Plugin, PluginResult, ScoreBatch};
use tch::{Kind, Tensor};

/// The margin scorer; it takes no settings.
pub struct Margin;

impl Plugin for Margin {
    fn name() -> &'static str {
        "margin"
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
        Ok(Margin)
    }

    fn score_batch(&mut self, host: &Host, _batch: &ScoreBatch, images: &Tensor, labels: &Tensor) -> PluginResult<Tensor> {
        let logits = tch::no_grad(|| host.forward(images))?;
        Ok(margin(&logits, labels)?)
    }
}

/// `max_{c != y} logits_c - logits_y` per row.
pub fn margin(logits: &Tensor, labels: &Tensor) -> Result<Tensor, tch::TchError> {
    let index = labels.f_unsqueeze(1)?;
    let true_logit = logits.f_gather(1, &index, false)?.f_squeeze_dim(1)?;
    let others = logits.f_scatter_value(1, &index, f64::NEG_INFINITY)?;
    (others.f_amax(&[1i64][..], false)? - true_logit).f_to_kind(Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_best_other_minus_true() {
        let logits = Tensor::from_slice(&[1.0f32, 3.0, 2.0, 5.0, 0.0, 1.0]).view([2, 3]);
        let labels = Tensor::from_slice(&[1i64, 2]);
        let m = Vec::<f32>::try_from(&margin(&logits, &labels).unwrap()).unwrap();
        assert_eq!(m, vec![-1.0, 4.0]);
    }
}
