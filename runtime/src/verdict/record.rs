//! The trainer's record of each sample's class probabilities, at no extra forward
//! pass: the softmax of the training step's logits goes into an `[N, C]` epoch tensor
//! on the device (`index_copy_`, no sync), as each sample's loss does. At an epoch's
//! end the record keeps what the verdict needs and nothing more: the probability of
//! each sample's label (a row of `N`, on the CPU) and, while the window is open, the
//! epoch's probabilities added to the window's sum (on the device). While the window
//! is open, an epoch's end also copies its probabilities and the window's mean to the
//! CPU, for the counts that decide whether the window goes on ([`super::window`]).

use super::confident::{count_issues, thresholds};
use super::window::Window;
use super::VerdictError;
use crate::scores::{Aggregate, ScoreTable};
use tch::{Device, Kind, Tensor};

/// Checkpoint names of the record's parts.
const LABEL_PROB: &str = "verdict.label_prob";
const WINDOW_SUM: &str = "verdict.window_sum";
const WINDOW_EPOCHS: &str = "verdict.window_epochs";

/// The probabilities recorded so far.
pub struct ProbabilityRecord {
    samples: usize,
    classes: usize,
    /// This epoch's probabilities, `[N, C]` on the device.
    epoch: Tensor,
    /// The labels as trained, `[N, 1]` int64 on the device (for the label's column).
    labels: Tensor,
    /// The same on the CPU, for the counts.
    labels_cpu: Vec<i64>,
    /// The sum of the probabilities of the window's epochs, `[N, C]` on the device.
    window_sum: Tensor,
    /// Which epochs are summed, and whether more may join.
    window: Window,
    /// The probability of each sample's label, one row per trained epoch.
    label_prob: ScoreTable,
}

/// What the record holds after training: the verdict's inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// Number of classes.
    pub classes: usize,
    /// The window's epochs (0-based).
    pub epochs: Vec<usize>,
    /// The mean probabilities over those epochs, `[N, C]` row-major.
    pub probs: Vec<f32>,
    /// The probability of each sample's label, one row per trained epoch, in order.
    pub label_prob_epochs: Vec<Vec<f32>>,
}

impl ProbabilityRecord {
    /// An empty record for `labels` (as trained) of `classes` classes.
    pub fn new(labels: &[i64], classes: usize, device: Device) -> Result<Self, VerdictError> {
        let (n, c) = (labels.len() as i64, classes as i64);
        Ok(ProbabilityRecord {
            samples: labels.len(),
            classes,
            epoch: Tensor::f_zeros([n, c], (Kind::Float, device))?,
            labels: Tensor::from_slice(labels).f_to_device(device)?.f_unsqueeze(1)?,
            labels_cpu: labels.to_vec(),
            window_sum: Tensor::f_zeros([n, c], (Kind::Float, device))?,
            window: Window::default(),
            label_prob: ScoreTable::new(LABEL_PROB, Aggregate::Mean, labels.len()),
        })
    }

    /// The epoch tensor, for a process group to sum across ranks at an epoch's end
    /// (each rank fills the rows of its shard).
    pub fn epoch_mut(&mut self) -> &mut Tensor {
        &mut self.epoch
    }

    /// Zeroes the epoch tensor (in a group, before each epoch: the rows of other
    /// ranks' shards must be zero for the sum).
    pub fn clear_epoch(&mut self) -> Result<(), VerdictError> {
        let _ = self.epoch.f_zero_()?;
        Ok(())
    }

    /// Records one training step: the softmax of its `logits` (`[B, C]`) into the
    /// rows `indices` (`[B]` on the device).
    pub fn observe(&mut self, indices: &Tensor, logits: &Tensor) -> Result<(), VerdictError> {
        let probs = logits.f_detach()?.f_softmax(-1, Kind::Float)?;
        let _ = self.epoch.f_index_copy_(0, indices, &probs)?;
        Ok(())
    }

    /// After epoch `epoch` (0-based): the label's row, and the epoch's probabilities
    /// into the window while it is open.
    pub fn end_epoch(&mut self, epoch: usize) -> Result<(), VerdictError> {
        let row = self.epoch.f_gather(1, &self.labels, false)?.f_squeeze_dim(1)?.f_to_device(Device::Cpu)?;
        self.label_prob.push(epoch, Vec::<f32>::try_from(&row)?);
        if self.window.closed() {
            return Ok(());
        }
        let count = self.issues_in(&self.epoch)?;
        if self.window.admits(epoch, count) {
            let _ = self.window_sum.f_add_(&self.epoch)?;
            let count = self.issues_in(&self.window_mean()?)?;
            self.window.set_count(count);
        }
        Ok(())
    }

    /// The mean probabilities of the window's epochs, `[N, C]` on the device.
    fn window_mean(&self) -> Result<Tensor, VerdictError> {
        Ok(self.window_sum.f_div_scalar(self.window.epochs().len().max(1) as f64)?)
    }

    /// The number of issues confident learning counts in `probs` (`[N, C]`).
    fn issues_in(&self, probs: &Tensor) -> Result<usize, VerdictError> {
        let probs = Vec::<f32>::try_from(&probs.f_to_device(Device::Cpu)?.f_contiguous()?.f_flatten(0, -1)?)?;
        let t = thresholds(&probs, self.classes, &self.labels_cpu);
        Ok(count_issues(&probs, self.classes, &self.labels_cpu, &t))
    }

    /// Named tensors for a checkpoint (with the score tables).
    pub fn to_tensors(&self) -> Result<Vec<(String, Tensor)>, VerdictError> {
        let mut tensors = self.label_prob.to_tensors();
        tensors.push((WINDOW_SUM.into(), self.window_sum.f_to_device(Device::Cpu)?));
        let epochs: Vec<i64> = self.window.epochs().iter().map(|&e| e as i64).collect();
        tensors.push((WINDOW_EPOCHS.into(), Tensor::from_slice(&epochs)));
        Ok(tensors)
    }

    /// Continues from a checkpoint's tensors. A checkpoint written before the verdict
    /// existed holds none: the record then starts at the resumed epoch.
    pub fn restore(&mut self, tensors: &[(String, Tensor)]) -> Result<(), VerdictError> {
        let find = |name: &str| tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t);
        let (Some(sum), Some(epochs)) = (find(WINDOW_SUM), find(WINDOW_EPOCHS)) else {
            return Ok(());
        };
        let bad = |tensor: &str, message: String| VerdictError::Checkpoint { tensor: tensor.into(), message };
        let shape = [self.samples as i64, self.classes as i64];
        if sum.size() != shape {
            return Err(bad(WINDOW_SUM, format!("has shape {:?}, expected {shape:?}", sum.size())));
        }
        self.label_prob.restore(tensors).map_err(|e| bad(LABEL_PROB, e.to_string()))?;
        let epochs: Vec<usize> = Vec::<i64>::try_from(epochs)?.into_iter().map(|e| e as usize).collect();
        if epochs.iter().any(|e| !self.label_prob.epochs.contains(e)) {
            return Err(bad(WINDOW_EPOCHS, format!("{epochs:?} names epochs the record has no row of ({:?})", self.label_prob.epochs)));
        }
        // An open window holds the last recorded epoch; a closed one left it out.
        let closed = epochs.last() != self.label_prob.epochs.last();
        self.window_sum = sum.f_to_kind(Kind::Float)?.f_to_device(self.window_sum.device())?;
        self.window = Window::restore(epochs, 0, closed);
        let count = self.issues_in(&self.window_mean()?)?;
        self.window.set_count(count);
        Ok(())
    }

    /// The verdict's inputs, once training is over.
    pub fn finish(self) -> Result<Recorded, VerdictError> {
        let epochs = self.window.epochs().to_vec();
        let mean = self.window_mean()?.f_to_device(Device::Cpu)?.f_contiguous()?;
        Ok(Recorded {
            classes: self.classes,
            epochs,
            probs: Vec::<f32>::try_from(&mean.f_flatten(0, -1)?)?,
            label_prob_epochs: self.label_prob.rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logits of epoch `epoch` for 12 samples of 3 classes: every sample leans to its
    /// label, except samples 0, 4 and 8, which lean to the next class until epoch 3
    /// (0-based), when the network fits their labels.
    fn logits(epoch: usize, labels: &[i64]) -> Tensor {
        let mut values = Vec::new();
        for (i, &label) in labels.iter().enumerate() {
            let lean = if i % 4 == 0 && epoch < 3 { (label as usize + 1) % 3 } else { label as usize };
            let strength = 2.0 + 0.1 * (i + epoch) as f32;
            values.extend((0..3).map(|c| if c == lean { strength } else { 0.1 * c as f32 }));
        }
        Tensor::from_slice(&values).view([labels.len() as i64, 3])
    }

    fn train(record: &mut ProbabilityRecord, labels: &[i64], epochs: std::ops::Range<usize>) {
        for epoch in epochs {
            // Two steps per epoch, in an epoch-dependent order.
            let order: Vec<i64> = (0..labels.len() as i64).map(|i| (i * 5 + epoch as i64) % labels.len() as i64).collect();
            let all = logits(epoch, labels);
            for half in order.chunks(6) {
                let indices = Tensor::from_slice(half);
                record.observe(&indices, &all.index_select(0, &indices)).unwrap();
            }
            record.end_epoch(epoch).unwrap();
        }
    }

    #[test]
    fn a_record_continued_from_its_checkpoint_ends_where_an_uninterrupted_one_ends() {
        let labels: Vec<i64> = (0..12).map(|i| i % 3).collect();
        let mut whole = ProbabilityRecord::new(&labels, 3, Device::Cpu).unwrap();
        train(&mut whole, &labels, 0..6);
        let whole = whole.finish().unwrap();
        assert_eq!(whole.label_prob_epochs.len(), 6);
        // The three leaning samples are fitted in epoch 3 (0-based): its count falls
        // from 3 to 0, and the window closes before it.
        assert_eq!(whole.epochs, vec![0, 1, 2]);

        for cut in 1..6 {
            let mut first = ProbabilityRecord::new(&labels, 3, Device::Cpu).unwrap();
            train(&mut first, &labels, 0..cut);
            let saved = first.to_tensors().unwrap();
            let mut resumed = ProbabilityRecord::new(&labels, 3, Device::Cpu).unwrap();
            resumed.restore(&saved).unwrap();
            train(&mut resumed, &labels, cut..6);
            assert_eq!(resumed.finish().unwrap(), whole, "resumed after epoch {cut}");
        }
    }

    #[test]
    fn a_checkpoint_of_another_dataset_is_refused_and_one_without_a_record_starts_afresh() {
        let labels: Vec<i64> = (0..12).map(|i| i % 3).collect();
        let mut record = ProbabilityRecord::new(&labels, 3, Device::Cpu).unwrap();
        train(&mut record, &labels, 0..2);
        let saved = record.to_tensors().unwrap();
        let mut other = ProbabilityRecord::new(&labels[..6], 3, Device::Cpu).unwrap();
        let error = other.restore(&saved).unwrap_err().to_string();
        assert_eq!(error, "checkpoint: the verdict's `verdict.window_sum` has shape [12, 3], expected [6, 3]");
        let mut fresh = ProbabilityRecord::new(&labels, 3, Device::Cpu).unwrap();
        fresh.restore(&[]).unwrap();
        assert!(fresh.finish().unwrap().label_prob_epochs.is_empty());
    }
}
