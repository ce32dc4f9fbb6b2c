//! Train-time hooks see each sample's outputs (issue 18, finding 2): a plugin that
//! subscribes to `train_batch_outputs` gets the logits of the training forward pass
//! and the labels trained on in `on_train_batch_end`; one that does not gets the
//! labels and losses only.

use memscope::config::parse_job;
use memscope::Job;
use memscope_sdk::{BatchInfo, EpochInfo, Hook, Host, Plugin, PluginResult};
use memscope_tests::memscope_bin;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

/// Per epoch: the samples the outputs say were classified correctly, and the
/// accuracy the trainer reported for that epoch.
static EPOCHS: Mutex<Vec<(usize, usize, f64)>> = Mutex::new(Vec::new());
/// The label each sample was trained on, as the batches said.
static LABELS: Mutex<BTreeMap<i64, i64>> = Mutex::new(BTreeMap::new());
/// Whether a plugin without the subscription ever got logits, and how many batches it saw.
static WITHOUT: Mutex<(bool, usize)> = Mutex::new((false, 0));

/// Counts the correctly classified samples of each epoch from the batch outputs.
struct CountsCorrect {
    correct: usize,
}

impl Plugin for CountsCorrect {
    fn name() -> &'static str {
        "counts-correct"
    }
    fn hooks() -> &'static [Hook] {
        &[Hook::TrainBatchOutputs, Hook::OnTrainEpochEnd]
    }
    fn create(_config: &str, _host: &Host) -> PluginResult<Self> {
        Ok(CountsCorrect { correct: 0 })
    }
    fn on_train_batch_end(&mut self, _host: &Host, batch: &BatchInfo<'_>) -> PluginResult {
        assert_eq!(batch.logits.len(), batch.indices.len() * batch.classes);
        assert!(batch.logits.iter().all(|v| v.is_finite()));
        let mut labels = LABELS.lock().unwrap();
        for (i, index) in batch.indices.iter().enumerate() {
            self.correct += batch.correct(i) as usize;
            labels.insert(*index, batch.labels[i]);
            // The margin is positive exactly when the sample is classified correctly
            // (ties aside, which trained logits do not have).
            assert_eq!(batch.margin(i) > 0.0, batch.correct(i), "row {i}: {:?}", batch.logits_of(i));
        }
        Ok(())
    }
    fn on_train_epoch_end(&mut self, _host: &Host, epoch: &EpochInfo) -> PluginResult {
        EPOCHS.lock().unwrap().push((epoch.epoch, self.correct, epoch.accuracy));
        self.correct = 0;
        Ok(())
    }
}

/// Subscribes to `on_train_batch_end` only.
struct LossesOnly;

impl Plugin for LossesOnly {
    fn name() -> &'static str {
        "losses-only"
    }
    fn hooks() -> &'static [Hook] {
        &[Hook::OnTrainBatchEnd]
    }
    fn create(_config: &str, _host: &Host) -> PluginResult<Self> {
        Ok(LossesOnly)
    }
    fn on_train_batch_end(&mut self, _host: &Host, batch: &BatchInfo<'_>) -> PluginResult {
        let mut seen = WITHOUT.lock().unwrap();
        seen.0 |= batch.has_outputs() || !batch.logits.is_empty();
        seen.1 += 1;
        assert_eq!(batch.labels.len(), batch.indices.len());
        Ok(())
    }
}

#[test]
fn the_outputs_of_each_training_step_give_the_epochs_reported_accuracy() {
    let plugins = memscope_bin().parent().unwrap().display().to_string();
    let text = format!(
        "name = \"outputs\"\nseed = 3\nthreads = 1\nplugin_dirs = [\"{plugins}\"]\n\
         [data]\nformat = \"digits\"\nlimit = 300\n[train]\nepochs = 3\nbatch_size = 64\n\
         [[plugins]]\nname = \"noise\"\nconfig = {{ fraction = 0.2 }}\n"
    );
    let config = parse_job(&text, "<test>", &[], Path::new("/")).unwrap();
    let outcome = Job::new(config).plugin::<CountsCorrect>(toml::Table::new()).plugin::<LossesOnly>(toml::Table::new()).run().unwrap();

    let epochs = EPOCHS.lock().unwrap().clone();
    assert_eq!(epochs.iter().map(|e| e.0).collect::<Vec<_>>(), [0, 1, 2]);
    for (epoch, correct, accuracy) in epochs {
        // The trainer's accuracy is its own count over the same logits, divided by 300.
        assert_eq!(correct, (accuracy * 300.0).round() as usize, "epoch {epoch}: accuracy {accuracy}");
    }
    // Every sample was presented, with the label it was trained on (noise included).
    let labels = LABELS.lock().unwrap();
    assert_eq!(labels.len(), 300);
    assert!(labels.iter().all(|(i, l)| outcome.labels[*i as usize] == *l));
    let original = &outcome.array("original_labels").unwrap().values;
    assert!(labels.iter().any(|(i, l)| original[*i as usize] as i64 != *l), "noisy labels are the ones trained on");

    let (got_logits, batches) = *WITHOUT.lock().unwrap();
    assert_eq!(batches, 3 * 300usize.div_ceil(64));
    assert!(!got_logits, "a plugin without the subscription gets no logits");
}
