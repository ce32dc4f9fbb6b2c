//! A measurement tool for the label-issue verdict (`bench/science/verdict_windows.py`):
//! runs a job and keeps every epoch's class probabilities of every training sample,
//! from two sources, so that which source and which window of epochs make the better
//! verdict can be measured after the fact from one training:
//!
//! - `train_probs.npy`, float32 `[epochs, N, C]`: the softmax of the training forward
//!   pass (train mode, as the optimizer saw each sample; what memscope records for free);
//! - `eval_probs.npy`, float32 `[scored epochs, N, C]`: the softmax of an eval-mode pass
//!   over each scored snapshot (what the built-in `eval_loss` scorer's forward pass gives);
//! - `eval_epochs.npy`, int64: the 0-based epoch of each row of `eval_probs.npy`;
//! - `train_accuracy.npy`, float64 `[epochs]`: each epoch's training accuracy.
//!
//! The job writes its run directory as `memscope run` does (labels, noise mask, summary).
//!
//!     MEMSCOPE_PLUGIN_PATH=target/release cargo run --release --example verdict_probs -- JOB.toml RUN_DIR

use memscope::config::load_job_file;
use memscope::Job;
use memscope_sdk::{BatchInfo, EpochInfo, Hook, Host, JobInfo, NamedArray, Plugin, PluginResult, ScoreBatch};
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// The in-process plugin that keeps the probabilities.
struct Keep {
    out: PathBuf,
    samples: usize,
    classes: usize,
    /// One `[N * C]` block per training epoch.
    train: Vec<Vec<f32>>,
    /// One `[N * C]` block per scored epoch, with its epoch.
    eval: Vec<(usize, Vec<f32>)>,
    accuracy: Vec<f64>,
}

impl Keep {
    fn block(&self) -> Vec<f32> {
        vec![0.0; self.samples * self.classes]
    }
}

impl Plugin for Keep {
    fn name() -> &'static str {
        "keep-probs"
    }

    fn hooks() -> &'static [Hook] {
        &[Hook::OnJobStart, Hook::TrainBatchOutputs, Hook::OnTrainEpochEnd, Hook::ScoreBatch, Hook::OnJobEnd]
    }

    fn create(config: &str, _host: &Host) -> PluginResult<Self> {
        let table: toml::Table = toml::from_str(config).map_err(|e| e.to_string())?;
        let out = table.get("out").and_then(|v| v.as_str()).ok_or("config: `out` (a directory) is required")?;
        Ok(Keep { out: out.into(), samples: 0, classes: 0, train: Vec::new(), eval: Vec::new(), accuracy: Vec::new() })
    }

    fn on_job_start(&mut self, _host: &Host, job: &JobInfo<'_>) -> PluginResult {
        (self.samples, self.classes) = (job.samples, job.classes);
        Ok(())
    }

    fn on_train_batch_end(&mut self, _host: &Host, batch: &BatchInfo<'_>) -> PluginResult {
        while self.train.len() <= batch.epoch {
            let block = self.block();
            self.train.push(block);
        }
        let c = self.classes;
        let block = &mut self.train[batch.epoch];
        for (row, &index) in batch.indices.iter().enumerate() {
            let logits = batch.logits_of(row);
            let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exp: Vec<f64> = logits.iter().map(|&l| ((l - top) as f64).exp()).collect();
            let sum: f64 = exp.iter().sum();
            let at = index as usize * c;
            for (k, e) in exp.iter().enumerate() {
                block[at + k] = (e / sum) as f32;
            }
        }
        Ok(())
    }

    fn on_train_epoch_end(&mut self, _host: &Host, epoch: &EpochInfo) -> PluginResult {
        self.accuracy.push(epoch.accuracy);
        Ok(())
    }

    fn score_batch(&mut self, host: &Host, batch: &ScoreBatch, images: &Tensor, labels: &Tensor) -> PluginResult<Tensor> {
        if self.eval.last().is_none_or(|(e, _)| *e != batch.epoch) {
            let block = self.block();
            self.eval.push((batch.epoch, block));
        }
        let probs = tch::no_grad(|| host.forward(images))?.f_softmax(-1, Kind::Float)?;
        let values = Vec::<f32>::try_from(&probs.f_to_device(tch::Device::Cpu)?.f_contiguous()?.f_flatten(0, -1)?)?;
        let at = batch.offset * self.classes;
        let block = &mut self.eval.last_mut().expect("pushed above").1;
        block[at..at + values.len()].copy_from_slice(&values);
        let p_label = probs.f_gather(1, &labels.f_unsqueeze(1)?, false)?.f_squeeze_dim(1)?;
        Ok(p_label)
    }

    fn on_job_end(&mut self, _host: &Host, ok: bool, _arrays: &[NamedArray<'_>]) -> PluginResult {
        if !ok {
            return Ok(());
        }
        let (n, c) = (self.samples as i64, self.classes as i64);
        let write = |name: &str, t: Tensor| t.write_npy(self.out.join(name)).map_err(|e| format!("{name}: {e}"));
        write("train_probs.npy", Tensor::from_slice(&self.train.concat()).view([self.train.len() as i64, n, c]))?;
        let eval: Vec<f32> = self.eval.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        write("eval_probs.npy", Tensor::from_slice(&eval).view([self.eval.len() as i64, n, c]))?;
        let epochs: Vec<i64> = self.eval.iter().map(|(e, _)| *e as i64).collect();
        write("eval_epochs.npy", Tensor::from_slice(&epochs))?;
        write("train_accuracy.npy", Tensor::from_slice(&self.accuracy))?;
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [job, run_dir] = args.as_slice() else {
        return Err("usage: verdict_probs JOB.toml RUN_DIR".into());
    };
    let config = load_job_file(Path::new(job), &[])?;
    let run_dir = PathBuf::from(run_dir);
    let mut keep = toml::Table::new();
    keep.insert("out".into(), toml::Value::String(run_dir.display().to_string()));
    let outcome = Job::new(config).plugin::<Keep>(keep).run_dir(Some(run_dir)).overwrite(true).run()?;
    eprintln!("train accuracy {:.4}", outcome.summary.train_accuracy);
    Ok(())
}
