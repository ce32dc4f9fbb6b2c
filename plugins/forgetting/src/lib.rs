//! Forgetting events (Toneva et al., "An Empirical Study of Example Forgetting during
//! Deep Neural Network Learning", ICLR 2019). Each time a sample is presented in a
//! training minibatch, it is classified correctly or not (the training forward pass's
//! logits, `Hook::TrainBatchOutputs`). A **forgetting event** is a presentation that
//! is wrong right after one that was right. A sample's score is its number of
//! forgetting events; a sample never classified correctly at any presentation
//! ("never learned") scores `train.epochs`, more than any sample can be forgotten (at
//! most once every two presentations), so never-learned samples rank highest, as in
//! the paper. The score is published (`scores/forgetting.npy`) at the end of the last
//! epoch, before `on_job_end`, so the comparer ranks it. The counts are saved with
//! every checkpoint (`save_state`) and given back on `--resume` (`load_state`), so a
//! resumed run counts what an uninterrupted one does. It takes no settings.

use memscope_sdk::settings::{self, NoSettings, SettingProblem};
use memscope_sdk::state::State;
use memscope_sdk::{ArrayKind, BatchInfo, EpochInfo, Hook, Host, JobInfo, Plugin, PluginError, PluginResult};

/// Per-sample counts of the presentations so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// Whether the sample's latest presentation was classified correctly.
    last_correct: Vec<bool>,
    /// Whether any presentation was.
    learned: Vec<bool>,
    /// Forgetting events.
    events: Vec<u32>,
}

impl Counts {
    /// Counts for `samples` samples, none presented yet.
    pub fn new(samples: usize) -> Self {
        Counts { last_correct: vec![false; samples], learned: vec![false; samples], events: vec![0; samples] }
    }

    /// Sample `index` was presented and classified correctly or not.
    pub fn present(&mut self, index: usize, correct: bool) {
        if self.last_correct[index] && !correct {
            self.events[index] += 1;
        }
        self.last_correct[index] = correct;
        self.learned[index] |= correct;
    }

    /// The counts as named arrays (0/1 for the flags).
    pub fn to_state(&self) -> State {
        let flags = |v: &[bool]| v.iter().map(|b| *b as i64).collect::<Vec<_>>();
        let mut state = State::new();
        state.put_i64("last_correct", &flags(&self.last_correct));
        state.put_i64("learned", &flags(&self.learned));
        state.put_i64("events", &self.events.iter().map(|e| *e as i64).collect::<Vec<_>>());
        state
    }

    /// The counts [`Counts::to_state`] saved, for `samples` samples.
    pub fn from_state(state: &State, samples: usize) -> PluginResult<Self> {
        let column = |name: &str| -> PluginResult<Vec<i64>> {
            let values = state.i64(name)?;
            match values.len() == samples {
                true => Ok(values.to_vec()),
                false => Err(PluginError(format!("saved `{name}` holds {} samples, the job has {samples}", values.len()))),
            }
        };
        Ok(Counts {
            last_correct: column("last_correct")?.iter().map(|v| *v != 0).collect(),
            learned: column("learned")?.iter().map(|v| *v != 0).collect(),
            events: column("events")?.iter().map(|v| *v as u32).collect(),
        })
    }

    /// The scores: forgetting events, or `never_learned` for a sample never classified
    /// correctly.
    pub fn scores(&self, never_learned: f32) -> Vec<f32> {
        self.events.iter().zip(&self.learned).map(|(e, l)| if *l { *e as f32 } else { never_learned }).collect()
    }
}

/// The forgetting-events scorer.
pub struct Forgetting {
    counts: Counts,
    epochs: usize,
}

impl Plugin for Forgetting {
    fn name() -> &'static str {
        "forgetting"
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
        Ok(Forgetting { counts: Counts::default(), epochs: 0 })
    }

    fn on_job_start(&mut self, _host: &Host, job: &JobInfo<'_>) -> PluginResult {
        self.counts = Counts::new(job.samples);
        self.epochs = job.epochs;
        Ok(())
    }

    fn on_train_batch_end(&mut self, _host: &Host, batch: &BatchInfo<'_>) -> PluginResult {
        for (row, index) in batch.indices.iter().enumerate() {
            self.counts.present(*index as usize, batch.correct(row));
        }
        Ok(())
    }

    fn on_train_epoch_end(&mut self, host: &Host, epoch: &EpochInfo) -> PluginResult {
        if epoch.epoch + 1 == self.epochs {
            host.publish_array(Self::name(), ArrayKind::Score, &self.counts.scores(self.epochs as f32))?;
        }
        Ok(())
    }

    fn save_state(&mut self, _host: &Host) -> PluginResult<Vec<u8>> {
        Ok(self.counts.to_state().to_bytes())
    }

    fn load_state(&mut self, _host: &Host, state: &[u8]) -> PluginResult {
        self.counts = Counts::from_state(&State::from_bytes(state)?, self.counts.events.len())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_events_of_hand_computed_presentations() {
        let mut counts = Counts::new(4);
        // Sample 0: right, wrong, right, wrong: forgotten twice.
        // Sample 1: wrong, right, right, right: learned, never forgotten.
        // Sample 2: wrong at every presentation: never learned.
        // Sample 3: right, wrong, wrong, right: forgotten once (two wrongs in a row
        // after a right are one event).
        let presentations =
            [[true, false, false, true], [false, true, false, false], [true, true, false, false], [false, true, false, true]];
        for epoch in presentations {
            for (index, correct) in epoch.into_iter().enumerate() {
                counts.present(index, correct);
            }
        }
        assert_eq!(counts.scores(4.0), vec![2.0, 0.0, 4.0, 1.0]);
        // Saved and given back, the counts continue as if never interrupted.
        let back = Counts::from_state(&counts.to_state(), 4).unwrap();
        assert_eq!(back, counts);
        let wrong = Counts::from_state(&counts.to_state(), 5).unwrap_err().to_string();
        assert_eq!(wrong, "saved `last_correct` holds 4 samples, the job has 5");
    }

    #[test]
    fn any_setting_is_refused_by_name() {
        let err = settings::parse::<NoSettings>("window = 3\n").unwrap_err().to_string();
        assert!(err.starts_with("config: unknown key `window`"), "{err}");
    }
}
