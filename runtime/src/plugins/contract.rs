//! The score contract of `score_batch`, checked on every batch a plugin returns:
//! `float32 [B]` (B = the batch's samples), every value finite. A breach fails right
//! there, naming the plugin, the batch and the first bad sample, instead of being
//! cast, reshaped or found later in another plugin.

use crate::scores::BatchPosition;
use tch::{Device, Kind, Tensor};

/// How a plugin's scores for one batch break the contract.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("plugin `{plugin}` score_batch (epoch {}, samples {}..{}): {problem}", epoch + 1, offset, offset + samples)]
pub struct ContractError {
    /// The plugin.
    pub plugin: String,
    /// 0-based epoch of the snapshot (shown 1-based, as the config counts epochs).
    pub epoch: usize,
    /// Index of the batch's first sample.
    pub offset: usize,
    /// Samples in the batch.
    pub samples: usize,
    /// What is wrong, with what a score must be.
    pub problem: String,
}

/// Checks `scores`, returned by `plugin` for the batch at `position` of `samples`
/// samples. Copies the values to the CPU for the finiteness check (one float per
/// sample: little next to the scoring itself).
pub fn check_scores(plugin: &str, position: BatchPosition, samples: usize, scores: &Tensor) -> Result<(), ContractError> {
    let fail =
        |problem: String| ContractError { plugin: plugin.to_string(), epoch: position.epoch, offset: position.offset, samples, problem };
    let (kind, shape) = (scores.kind(), scores.size());
    if kind != Kind::Float || shape != [samples as i64] {
        return Err(fail(format!("returned {} {shape:?}; scores must be float32 [{samples}]", kind_name(kind))));
    }
    let values = Vec::<f32>::try_from(&scores.to_device(Device::Cpu)).map_err(|e| fail(format!("unreadable scores: {e}")))?;
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(fail(format!("returned {} for sample {} (row {i}); scores must be finite", values[i], position.offset + i))),
        None => Ok(()),
    }
}

/// The dtype as a user would write it.
fn kind_name(kind: Kind) -> String {
    match kind {
        Kind::Float => "float32".into(),
        Kind::Double => "float64".into(),
        Kind::Half => "float16".into(),
        Kind::BFloat16 => "bfloat16".into(),
        Kind::Int64 => "int64".into(),
        Kind::Int => "int32".into(),
        Kind::Int16 => "int16".into(),
        Kind::Int8 => "int8".into(),
        Kind::Uint8 => "uint8".into(),
        Kind::Bool => "bool".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: BatchPosition = BatchPosition { epoch: 2, offset: 512 };

    fn check(scores: &Tensor) -> String {
        check_scores("x", AT, 4, scores).unwrap_err().to_string()
    }

    #[test]
    fn float32_with_one_finite_value_per_sample_passes() {
        assert_eq!(check_scores("x", AT, 4, &Tensor::from_slice(&[0f32, -1.0, 2.5, 1e30])), Ok(()));
    }

    #[test]
    fn another_dtype_is_refused_naming_plugin_batch_and_shape() {
        assert_eq!(
            check(&Tensor::from_slice(&[1i64, 2, 3, 4])),
            "plugin `x` score_batch (epoch 3, samples 512..516): returned int64 [4]; scores must be float32 [4]"
        );
        assert_eq!(
            check(&Tensor::from_slice(&[1f64, 2.0, 3.0, 4.0])),
            "plugin `x` score_batch (epoch 3, samples 512..516): returned float64 [4]; scores must be float32 [4]"
        );
    }

    #[test]
    fn a_column_or_a_wrong_length_is_refused() {
        assert_eq!(
            check(&Tensor::from_slice(&[1f32, 2.0, 3.0, 4.0]).view([4, 1])),
            "plugin `x` score_batch (epoch 3, samples 512..516): returned float32 [4, 1]; scores must be float32 [4]"
        );
        assert_eq!(
            check(&Tensor::from_slice(&[1f32, 2.0, 3.0])),
            "plugin `x` score_batch (epoch 3, samples 512..516): returned float32 [3]; scores must be float32 [4]"
        );
    }

    #[test]
    fn the_first_non_finite_value_is_named_with_its_sample() {
        assert_eq!(
            check(&Tensor::from_slice(&[1f32, f32::NAN, f32::INFINITY, 4.0])),
            "plugin `x` score_batch (epoch 3, samples 512..516): returned NaN for sample 513 (row 1); scores must be finite"
        );
        assert_eq!(
            check(&Tensor::from_slice(&[1f32, 2.0, 3.0, f32::NEG_INFINITY])),
            "plugin `x` score_batch (epoch 3, samples 512..516): returned -inf for sample 515 (row 3); scores must be finite"
        );
    }
}
