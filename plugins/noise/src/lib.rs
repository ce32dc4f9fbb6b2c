//! Synthetic label noise. On `on_dataset_ready` it relabels a seeded random `fraction`
//! of the training set and publishes `noise_mask` (which samples were changed) and
//! `original_labels`; the rest of the job sees only the noisy labels. It is how the
//! curvature paper validates a memorization score: mislabeled samples must score high.

use memscope_sdk::settings::{self, SettingProblem};
use memscope_sdk::{ArrayKind, DatasetView, Hook, Host, JobInfo, Level, Plugin, PluginResult};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

/// How a noisy label is chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseKind {
    /// Uniformly one of the other classes.
    #[default]
    Symmetric,
    /// Class c becomes c + 1 (mod classes).
    Pairflip,
    /// Class c becomes `map[c]`.
    Asymmetric,
}

/// `[plugins.config]` of the noise injector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseConfig {
    /// Fraction of samples to relabel, in [0, 1].
    pub fraction: f64,
    /// `symmetric`, `pairflip` or `asymmetric`.
    #[serde(default)]
    pub kind: NoiseKind,
    /// `asymmetric` only: the new class of each class (one entry per class).
    #[serde(default)]
    pub map: Option<Vec<i64>>,
    /// Seed (default: the job seed).
    #[serde(default)]
    pub seed: Option<u64>,
}

impl NoiseConfig {
    /// What is wrong with the values (their types are right).
    pub fn problems(&self) -> Vec<SettingProblem> {
        let mut found = Vec::new();
        if !(0.0..=1.0).contains(&self.fraction) {
            found.push(SettingProblem::new("fraction", format!("{} is not in [0, 1]", self.fraction)));
        }
        if (self.kind == NoiseKind::Asymmetric) != self.map.is_some() {
            found.push(SettingProblem::new("map", "is required by, and only used by, kind = \"asymmetric\""));
        }
        found
    }
}

/// The noise injector.
pub struct Noise {
    config: NoiseConfig,
    seed: u64,
}

impl Plugin for Noise {
    fn name() -> &'static str {
        "noise"
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn hooks() -> &'static [Hook] {
        &[Hook::OnJobStart, Hook::OnDatasetReady]
    }

    fn check_settings(config: &str) -> Vec<SettingProblem> {
        settings::check(config, NoiseConfig::problems)
    }

    fn create(config: &str, _host: &Host) -> PluginResult<Self> {
        let config = settings::parse_checked(config, NoiseConfig::problems)?;
        Ok(Noise { seed: config.seed.unwrap_or(0), config })
    }

    fn on_job_start(&mut self, _host: &Host, job: &JobInfo<'_>) -> PluginResult {
        self.seed = self.config.seed.unwrap_or(job.seed);
        Ok(())
    }

    fn on_dataset_ready(&mut self, host: &Host, data: &mut DatasetView<'_>) -> PluginResult {
        let original: Vec<i64> = data.labels.to_vec();
        let mask = inject(&self.config, self.seed, data.labels, data.classes)?;
        let changed = mask.iter().filter(|&&m| m).count();
        host.publish_array("noise_mask", ArrayKind::Mask, &mask.iter().map(|&m| m as u8 as f32).collect::<Vec<_>>())?;
        host.publish_array("original_labels", ArrayKind::Labels, &original.iter().map(|&l| l as f32).collect::<Vec<_>>())?;
        host.publish_metric("noisy_samples", changed as f64);
        host.log(Level::Info, &format!("{:?} noise: relabelled {changed} of {} samples", self.config.kind, mask.len()));
        Ok(())
    }
}

/// Relabels `round(fraction * N)` samples chosen by `seed`; returns which changed.
pub fn inject(config: &NoiseConfig, seed: u64, labels: &mut [i64], classes: usize) -> PluginResult<Vec<bool>> {
    if let Some(map) = &config.map {
        if map.len() != classes || map.iter().any(|&c| c < 0 || c as usize >= classes) {
            return Err(format!("config: map needs {classes} entries in 0..{classes}, got {map:?}").into());
        }
    }
    if classes < 2 {
        return Err("needs at least 2 classes".into());
    }
    let n = labels.len();
    let count = (config.fraction * n as f64).round() as usize;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x6e6f_6973_6521);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let mut mask = vec![false; n];
    for &i in &order[..count] {
        let c = labels[i];
        let new = match config.kind {
            NoiseKind::Symmetric => {
                let other = rng.random_range(0..classes as i64 - 1);
                if other >= c {
                    other + 1
                } else {
                    other
                }
            }
            NoiseKind::Pairflip => (c + 1) % classes as i64,
            NoiseKind::Asymmetric => config.map.as_ref().expect("checked above")[c as usize],
        };
        mask[i] = new != c;
        labels[i] = new;
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> NoiseConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn symmetric_noise_changes_exactly_the_fraction_to_other_classes() {
        let mut labels: Vec<i64> = (0..1000).map(|i| i % 10).collect();
        let original = labels.clone();
        let mask = inject(&config("fraction = 0.1"), 5, &mut labels, 10).unwrap();
        assert_eq!(mask.iter().filter(|&&m| m).count(), 100);
        for i in 0..1000 {
            assert_eq!(mask[i], labels[i] != original[i]);
            assert!((0..10).contains(&labels[i]));
        }
        let mut again = original.clone();
        assert_eq!(inject(&config("fraction = 0.1"), 5, &mut again, 10).unwrap(), mask, "seeded");
    }

    #[test]
    fn pairflip_and_asymmetric_follow_their_maps() {
        let mut labels = vec![0i64, 1, 2, 2];
        inject(&config("fraction = 1.0\nkind = \"pairflip\""), 1, &mut labels, 3).unwrap();
        assert_eq!(labels, vec![1, 2, 0, 0]);
        let mut labels = vec![0i64, 1, 2];
        let mask = inject(&config("fraction = 1.0\nkind = \"asymmetric\"\nmap = [0, 2, 1]"), 1, &mut labels, 3).unwrap();
        assert_eq!(labels, vec![0, 2, 1]);
        assert_eq!(mask, vec![false, true, true], "a class mapped to itself is not noise");
        let err = inject(&config("fraction = 1.0\nkind = \"asymmetric\"\nmap = [0, 1]"), 1, &mut labels, 3).unwrap_err();
        assert!(err.0.contains("3 entries"), "{err}");
    }
}
