//! The input-loss curvature memorization score of Garg, Ravikumar & Roy, "Memorization
//! Through the Lens of Curvature of Loss Function Around Samples" (ICML 2024).
//!
//! For a sample x with label y and loss l(x) = CE(f(x), y), with n Rademacher
//! directions v_i in {-1, +1}^d and step h:
//!
//! ```text
//! Curv(x) = (1/n) * sum_i || (grad_x l(x + h v_i) - grad_x l(x)) / h ||
//! ```
//!
//! the finite-difference estimate of the size of H v (H the input Hessian of the loss);
//! `method = "hvp"` computes H v exactly by double backward instead, and
//! `method = "jacobian"` exactly from the input Jacobian of the logits, which is valid
//! for networks piecewise linear in their input (all of memscope's models) and costs
//! one backward per class instead of a forward and backward per draw. The published
//! code omits the `1/h`: a constant factor that changes no ranking, kept here so that
//! both methods estimate the same quantity. `norm = "squared"` squares the norm (as
//! the paper's text writes it). The model is in eval mode and inputs are not
//! augmented (the host scores that way). The score of a sample is the host's mean over
//! scored epochs.
//!
//! Faster than the published procedure, with the same estimate: the loss is
//! sum-reduced (a sample's gradient does not depend on its batch), `grad_x l(x)` is
//! computed once per batch rather than once per draw, and draws are stacked into one
//! forward/backward pass (up to `batch_size` rows, [`auto_rows`] by default; a batch
//! is scored in chunks of samples when one draw of it is more). Directions are drawn per sample
//! from `(seed, epoch, sample index)`, so a score does not depend on batching and a
//! resumed run draws the same directions.

pub mod estimate;

use estimate::{curvature, curvature_jacobian, in_chunks, Method, Norm, Objective};
use memscope_sdk::settings::{self, SettingProblem};
use memscope_sdk::{Hook, Host, JobInfo, Plugin, PluginResult, ScoreBatch};
use rand::{RngCore, SeedableRng};
use serde::Deserialize;
use tch::{Reduction, Tensor};

/// `[plugins.config]` of the curvature scorer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurvatureConfig {
    /// Rademacher directions per sample (the paper: 10).
    #[serde(default = "default_draws")]
    pub draws: usize,
    /// Finite-difference step in the normalized input space (the paper: 1e-3).
    #[serde(default = "default_h")]
    pub h: f64,
    /// `l2` (the published code) or `squared` (the paper's text).
    #[serde(default)]
    pub norm: Norm,
    /// `finite-difference` (the published method, the default), `hvp` (exact Hessian,
    /// double backward) or `jacobian` (exact Hessian of a piecewise-linear network,
    /// cost per class not per draw). The exact methods see the Hessian at x only, not
    /// the ReLU kinks within h of it: see [`Method::Jacobian`].
    #[serde(default)]
    pub method: Method,
    /// Most rows (samples x stacked draws) in one forward/backward pass; a batch
    /// bigger than this is scored in chunks of samples. Default: [`auto_rows`].
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Seed of the directions (default: the job seed).
    #[serde(default)]
    pub seed: Option<u64>,
}

impl CurvatureConfig {
    /// What is wrong with the values (their types are right).
    pub fn problems(&self) -> Vec<SettingProblem> {
        let mut found = Vec::new();
        if self.draws == 0 {
            found.push(SettingProblem::new("draws", "must be at least 1"));
        }
        if !(self.h.is_finite() && self.h > 0.0) {
            found.push(SettingProblem::new("h", format!("{} is not a positive step", self.h)));
        }
        if self.batch_size == Some(0) {
            found.push(SettingProblem::new("batch_size", "must be at least 1"));
        }
        found
    }
}

fn default_draws() -> usize {
    10
}
fn default_h() -> f64 {
    1e-3
}
/// Rows per pass when the config does not say. On a CPU, passes whose activations
/// stay near the caches are fastest: about 2^18 input values per pass (1,024 rows of
/// 8x8 digits, 334 of 28x28 MNIST), at most 1,024 rows and at least 128: below that,
/// deeper models lose more to small convolutions than they gain in cache (a CIFAR
/// ResNet-18 scored 1.26x faster with passes of 128 rows than of 85, bench/torchscript.sh
/// with ROWS=128). On a GPU, one
/// pass should be as big as it takes to keep the device busy: every draw of a batch
/// at once, up to 8,192 rows.
pub fn auto_rows(device: tch::Device, values_per_sample: usize, batch: usize, draws: usize) -> usize {
    match device {
        tch::Device::Cpu => ((1usize << 18) / values_per_sample.max(1)).clamp(128, 1024),
        _ => (batch * draws).clamp(1, 8192),
    }
}

/// The curvature scorer.
pub struct Curvature {
    config: CurvatureConfig,
    seed: u64,
}

impl Plugin for Curvature {
    fn name() -> &'static str {
        "curvature"
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn hooks() -> &'static [Hook] {
        &[Hook::OnJobStart, Hook::ScoreBatch]
    }

    fn check_settings(config: &str) -> Vec<SettingProblem> {
        settings::check(config, CurvatureConfig::problems)
    }

    fn create(config: &str, _host: &Host) -> PluginResult<Self> {
        let config = settings::parse_checked(config, CurvatureConfig::problems)?;
        let seed = config.seed.unwrap_or(0);
        Ok(Curvature { config, seed })
    }

    fn on_job_start(&mut self, _host: &Host, job: &JobInfo<'_>) -> PluginResult {
        self.seed = self.config.seed.unwrap_or(job.seed);
        Ok(())
    }

    fn score_batch(&mut self, host: &Host, batch: &ScoreBatch, images: &Tensor, labels: &Tensor) -> PluginResult<Tensor> {
        let directions = self.directions(batch, images)?;
        let c = &self.config;
        let b = images.size()[0];
        let values = images.numel() / (b.max(1) as usize);
        let rows = c.batch_size.unwrap_or_else(|| auto_rows(images.device(), values, b as usize, c.draws));
        in_chunks(b, rows, |start, n| {
            let (x, y, v) = (images.f_narrow(0, start, n)?, labels.f_narrow(0, start, n)?, directions.f_narrow(1, start, n)?);
            match c.method {
                Method::Jacobian => curvature_jacobian(&|inputs| host.forward(inputs), &x, &v, c.norm),
                method => curvature(&HostLoss { host, labels: &y }, &x, &v, c.h, c.norm, method, rows),
            }
        })
    }
}

/// The summed cross-entropy of the host's model against a chunk's labels. Its input
/// gradient comes from the host, which has a faster way than autograd for some
/// models (the `cnn` on the CPU).
struct HostLoss<'a> {
    host: &'a Host,
    labels: &'a Tensor,
}

impl HostLoss<'_> {
    fn targets(&self, copies: i64) -> PluginResult<Tensor> {
        Ok(if copies == 1 { self.labels.shallow_clone() } else { self.labels.f_repeat([copies])? })
    }
}

impl Objective for HostLoss<'_> {
    fn loss(&self, inputs: &Tensor, copies: i64) -> PluginResult<Tensor> {
        let logits = self.host.forward(inputs)?;
        Ok(logits.f_cross_entropy_loss::<Tensor>(&self.targets(copies)?, None, Reduction::Sum, -100, 0.0)?)
    }

    fn input_gradient(&self, inputs: &Tensor, copies: i64) -> PluginResult<Tensor> {
        self.host.input_gradient(inputs, &self.targets(copies)?)
    }
}

impl Curvature {
    /// Rademacher directions `[draws, B, ...]`, each sample's from its own stream.
    fn directions(&self, batch: &ScoreBatch, images: &Tensor) -> PluginResult<Tensor> {
        let size = images.size();
        let b = size[0] as usize;
        let d = size[1..].iter().product::<i64>() as usize;
        let draws = self.config.draws;
        let mut signs = vec![0f32; b * draws * d];
        for (j, per_sample) in signs.chunks_mut(draws * d).enumerate() {
            let index = (batch.offset + j) as u64;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(mix(self.seed, batch.epoch as u64, index));
            for chunk in per_sample.chunks_mut(64) {
                let bits = rng.next_u64();
                for (k, s) in chunk.iter_mut().enumerate() {
                    *s = if bits >> k & 1 == 1 { 1.0 } else { -1.0 };
                }
            }
        }
        let mut shape = vec![b as i64, draws as i64];
        shape.extend_from_slice(&size[1..]);
        let t = Tensor::from_slice(&signs).f_view(shape.as_slice())?.f_transpose(0, 1)?.f_contiguous()?;
        Ok(t.f_to_kind(images.kind())?.f_to_device(images.device())?)
    }
}

/// A 64-bit mix of seed, epoch and sample index (splitmix64 steps).
fn mix(seed: u64, epoch: u64, index: u64) -> u64 {
    let step = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    step(step(step(seed) ^ epoch) ^ index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn directions_depend_on_sample_not_batch() {
        let c = Curvature { config: toml::from_str("").unwrap(), seed: 7 };
        let images = Tensor::zeros([4, 1, 3, 3], (Kind::Float, tch::Device::Cpu));
        let all = c.directions(&ScoreBatch { epoch: 2, offset: 10 }, &images).unwrap();
        let tail = c.directions(&ScoreBatch { epoch: 2, offset: 12 }, &images.narrow(0, 2, 2)).unwrap();
        assert_eq!(all.size(), vec![10, 4, 1, 3, 3]);
        assert!(all.narrow(1, 2, 2).equal(&tail), "sample 12's directions do not depend on its batch");
        assert!(all.abs().eq(1.0).all().int64_value(&[]) == 1, "Rademacher signs");
        let other_epoch = c.directions(&ScoreBatch { epoch: 3, offset: 10 }, &images).unwrap();
        assert!(!all.equal(&other_epoch));
    }

    #[test]
    fn rows_per_pass_follow_the_input_size_on_cpu_and_the_batch_on_gpu() {
        use tch::Device;
        assert_eq!(auto_rows(Device::Cpu, 8 * 8, 512, 10), 1024, "digits: capped");
        assert_eq!(auto_rows(Device::Cpu, 28 * 28, 512, 10), 334, "MNIST");
        assert_eq!(auto_rows(Device::Cpu, 3 * 32 * 32, 512, 10), 128, "CIFAR: the floor, not 85");
        assert_eq!(auto_rows(Device::Cpu, 3 * 224 * 224, 512, 10), 128, "large images: floor");
        assert_eq!(auto_rows(Device::Cuda(0), 3 * 32 * 32, 512, 10), 5120, "every draw of the batch at once");
        assert_eq!(auto_rows(Device::Cuda(0), 3 * 32 * 32, 2048, 10), 8192, "capped");
    }

    #[test]
    fn config_errors_name_the_key() {
        // SAFETY: `create` fails on the config before it calls the host, so the null
        // table is never read.
        let host = unsafe { Host::from_raw(std::ptr::null()) };
        let err = Curvature::create("drawz = 3", &host).err().unwrap().0;
        assert!(err.contains("drawz"), "{err}");
        let err = Curvature::create("h = -1.0", &host).err().unwrap().0;
        assert_eq!(err, "config: `h`: -1 is not a positive step");
        // The check (at a daemon's submission) finds every problem at once.
        let found: Vec<(String, String)> =
            Curvature::check_settings("draws = 0\nbogus = 3\n").into_iter().map(|p| (p.key, p.message)).collect();
        assert_eq!(found[0].0, "bogus");
        assert!(found[0].1.starts_with("unknown key `bogus`, expected `draws`"), "{}", found[0].1);
        assert_eq!(found[1], ("draws".to_string(), "must be at least 1".to_string()));
        assert_eq!(found.len(), 2);
        assert!(Curvature::check_settings("draws = 2\nmethod = \"hvp\"\n").is_empty());
    }
}
