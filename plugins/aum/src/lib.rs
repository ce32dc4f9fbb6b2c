//! AUM, the Area Under the Margin (Pleiss et al., "Identifying Mislabeled Data using
//! the Area Under the Margin Ranking", NeurIPS 2020). At each presentation of a sample
//! in a training minibatch, its **margin** is the logit of its assigned label minus
//! the largest other logit (from the training forward pass, `Hook::TrainBatchOutputs`);
//! its AUM is the mean margin over all its presentations. A mislabeled sample is pulled
//! towards another class, so its AUM is low or negative. The score is **-AUM**: higher
//! = more likely mislabeled, as the other scores. Published (`scores/aum.npy`) at the
//! end of the last epoch, before `on_job_end`, so the comparer ranks it. The sums are
//! saved with every checkpoint, so a resumed run gives what an uninterrupted one does.
//! It takes no settings.

use memscope_sdk::settings::{self, NoSettings, SettingProblem};
use memscope_sdk::state::State;
use memscope_sdk::{ArrayKind, BatchInfo, EpochInfo, Hook, Host, JobInfo, Plugin, PluginError, PluginResult};

/// Per-sample sums of the margins so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Margins {
    /// Sum of the margins of each sample's presentations.
    sum: Vec<f64>,
    /// Number of presentations.
    count: Vec<i64>,
}

impl Margins {
    /// Sums for `samples` samples, none presented yet.
    pub fn new(samples: usize) -> Self {
        Margins { sum: vec![0.0; samples], count: vec![0; samples] }
    }

    /// Sample `index` was presented with this margin.
    pub fn present(&mut self, index: usize, margin: f32) {
        self.sum[index] += margin as f64;
        self.count[index] += 1;
    }

    /// `-AUM` per sample (0 for a sample never presented).
    pub fn scores(&self) -> Vec<f32> {
        self.sum.iter().zip(&self.count).map(|(s, c)| if *c == 0 { 0.0 } else { (-s / *c as f64) as f32 }).collect()
    }

    /// The sums as named arrays.
    pub fn to_state(&self) -> State {
        let mut state = State::new();
        state.put_f64("sum", &self.sum);
        state.put_i64("count", &self.count);
        state
    }

    /// The sums [`Margins::to_state`] saved, for `samples` samples.
    pub fn from_state(state: &State, samples: usize) -> PluginResult<Self> {
        let (sum, count) = (state.f64("sum")?, state.i64("count")?);
        if sum.len() != samples || count.len() != samples {
            return Err(PluginError(format!("the saved sums hold {} samples, the job has {samples}", sum.len())));
        }
        Ok(Margins { sum: sum.to_vec(), count: count.to_vec() })
    }
}

/// The AUM scorer.
pub struct Aum {
    margins: Margins,
    epochs: usize,
}

impl Plugin for Aum {
    fn name() -> &'static str {
        "aum"
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn hooks() -> &'static [Hook] {
        &[Hook::OnJobStart, Hook::TrainBatchOutputs, Hook::OnTrainEpochEnd, Hook::SaveState, Hook::LoadState]
    }

    fn check_settings(config: &str) -> Vec<SettingProblem> {
        settings::check::<NoSettings>(config, |_| Vec::new())
    }

    fn create(config: &str, _host: &Host) -> PluginResult<Self> {
        settings::parse::<NoSettings>(config)?;
        Ok(Aum { margins: Margins::default(), epochs: 0 })
    }

    fn on_job_start(&mut self, _host: &Host, job: &JobInfo<'_>) -> PluginResult {
        self.margins = Margins::new(job.samples);
        self.epochs = job.epochs;
        Ok(())
    }

    fn on_train_batch_end(&mut self, _host: &Host, batch: &BatchInfo<'_>) -> PluginResult {
        for (row, index) in batch.indices.iter().enumerate() {
            self.margins.present(*index as usize, batch.margin(row));
        }
        Ok(())
    }

    fn on_train_epoch_end(&mut self, host: &Host, epoch: &EpochInfo) -> PluginResult {
        if epoch.epoch + 1 == self.epochs {
            host.publish_array(Self::name(), ArrayKind::Score, &self.margins.scores())?;
        }
        Ok(())
    }

    fn save_state(&mut self, _host: &Host) -> PluginResult<Vec<u8>> {
        Ok(self.margins.to_state().to_bytes())
    }

    fn load_state(&mut self, _host: &Host, state: &[u8]) -> PluginResult {
        self.margins = Margins::from_state(&State::from_bytes(state)?, self.margins.sum.len())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aum_of_hand_computed_presentations() {
        let mut margins = Margins::new(2);
        // Two presentations of samples 0 and 1, 3 classes, labels 0 and 2.
        // Sample 0: logits (3, 1, 2) then (1, 2, 0): margins 3 - 2 = 1, 1 - 2 = -1;
        // AUM 0, score 0. Sample 1: logits (4, 0, 1) then (2, 0, 2): margins 1 - 4 = -3,
        // 2 - 2 = 0; AUM -1.5, score 1.5 (the likely mislabeled one ranks higher).
        let epochs: [[f32; 6]; 2] = [[3.0, 1.0, 2.0, 4.0, 0.0, 1.0], [1.0, 2.0, 0.0, 2.0, 0.0, 2.0]];
        for logits in &epochs {
            let batch = BatchInfo { epoch: 0, step: 0, indices: &[0, 1], losses: &[0.0; 2], labels: &[0, 2], logits, classes: 3 };
            for row in 0..2 {
                margins.present(batch.indices[row] as usize, batch.margin(row));
            }
        }
        assert_eq!(margins.scores(), vec![0.0, 1.5]);
        assert_eq!(Margins::from_state(&margins.to_state(), 2).unwrap(), margins);
        assert!(Margins::from_state(&margins.to_state(), 3).is_err());
    }
}
