//! The dry forward that checks a network the job did not design (a TorchScript file, a
//! program's own module) against the dataset before training starts: a model whose
//! logits do not have one column per class would otherwise train (cross-entropy over
//! the wrong number of classes) or fail deep inside a step, far from the mistake.

use super::base::Model;
use super::ModelError;
use crate::data::ImageShape;
use tch::{Device, Kind, Tensor};

/// Images in the dry forward: two, so that a module that drops or mixes up the batch
/// dimension is caught.
const CHECK_BATCH: i64 = 2;

/// Why `model` cannot be trained on images of `shape` with `classes` classes: its
/// logits, in eval mode for a batch of zero images, must be floating point
/// `[B, classes]`. The message names both shapes.
pub(crate) fn check_logits(model: &dyn Model, shape: ImageShape, classes: usize, device: Device) -> Result<(), String> {
    let input = [CHECK_BATCH, shape.channels as i64, shape.height as i64, shape.width as i64];
    let expected = [CHECK_BATCH, classes as i64];
    let images = Tensor::zeros(input, (Kind::Float, device));
    let logits = tch::no_grad(|| model.forward(&images, false)).map_err(|e| {
        let cause = match e {
            ModelError::TorchExt(e) => e.message(),
            other => other.to_string(),
        };
        format!("its forward fails on a batch of the dataset's images {input:?} (it must map [B, C, H, W] to [B, classes] = {expected:?}): {cause}")
    })?;
    let found = logits.size();
    if found.len() == 2 && found[0] == CHECK_BATCH && found[1] != expected[1] {
        return Err(format!("it has {} classes (its forward maps {input:?} to {found:?}), but the dataset has {classes}", found[1]));
    }
    if found != expected {
        return Err(format!("its forward maps {input:?} to {found:?}; it must map [B, C, H, W] to [B, classes] = {expected:?}"));
    }
    if !logits.is_floating_point() {
        return Err(format!("its forward returns {:?} values; logits must be floating point", logits.kind()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::data::ImageShape;
    use crate::model::{CustomModel, ModelSource, Network};
    use tch::{nn, Device};

    const SHAPE: ImageShape = ImageShape { channels: 1, height: 4, width: 4 };

    /// A linear model of 16 pixels onto `outputs` logits.
    fn linear(name: &str, inputs: i64, outputs: i64) -> ModelSource {
        ModelSource::Custom(CustomModel::new(name, move |p: &nn::Path, _shape, _classes| {
            nn::seq_t().add_fn(|x| x.flatten(1, -1)).add(nn::linear(p / "fc", inputs, outputs, Default::default()))
        }))
    }

    #[test]
    fn a_programs_module_with_the_wrong_number_of_classes_is_refused_with_both_numbers() {
        let err = Network::build(&linear("three", 16, 3), SHAPE, 2, Device::Cpu).unwrap_err().to_string();
        assert_eq!(err, "the program's model `three`: it has 3 classes (its forward maps [2, 1, 4, 4] to [2, 3]), but the dataset has 2");
        assert!(Network::build(&linear("three", 16, 3), SHAPE, 3, Device::Cpu).is_ok());
        // A module for other images fails its dry forward: an error, not a panic.
        let err = Network::build(&linear("wide", 64, 3), SHAPE, 3, Device::Cpu).unwrap_err().to_string();
        assert!(err.starts_with("the program's model `wide`: its forward fails on a batch of the dataset's images [2, 1, 4, 4]"), "{err}");
    }
}
