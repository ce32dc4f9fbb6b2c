//! An estimate's plan: which models, each an ordinary job of its own, and where their
//! files go. Everything about model k follows from the job, k and the subset share, so
//! any engine (this machine, the daemon, a Slurm array task, a Kubernetes Indexed Job
//! pod) that is given the same job and k trains the same model.
//!
//! ```text
//! <estimate>/models/model-0007.toml   model 7's job: the estimate's job on a seeded 70 %
//! <estimate>/models/model-0007/       its run directory (resumable, as any run)
//! <estimate>/daemon_jobs.json         models submitted to a daemon: id and run directory
//! <estimate>/mem.npy ...              the aggregate (see `files.rs`)
//! ```

use super::EstimateError;
use crate::config::{JobConfig, MetricsConfig, SubsetConfig};
use crate::seeding::{rng_for, Stream};
use rand::RngCore;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The most models one estimate may ask for.
pub const MAX_MODELS: usize = 100_000;

/// Where model `k` stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelStatus {
    /// Its run finished (`summary.json`) in this directory.
    Finished(PathBuf),
    /// Its run started here and did not finish: resume it.
    Unfinished(PathBuf),
    /// Submitted to a daemon, which has not finished it (or its run is elsewhere).
    Submitted(PathBuf),
    /// Nothing of it yet.
    NotStarted,
}

/// A model submitted to the daemon: its job id and run directory there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubmittedModel {
    /// The daemon's job id.
    pub id: String,
    /// Its run directory (under the daemon's `runs_dir`).
    pub run_dir: PathBuf,
}

/// K models of one job, each trained on its own seeded subset of the training set.
#[derive(Debug, Clone)]
pub struct EstimatePlan {
    job: JobConfig,
    models: usize,
    fraction: f64,
    dir: PathBuf,
}

impl EstimatePlan {
    /// `models` trainings of `job`, each on `fraction` of its training set, written
    /// under `dir`. Refuses settings that cannot give an estimate, and a job whose
    /// models would not be valid jobs (a name too long for the model suffix, say).
    pub fn new(job: JobConfig, models: usize, fraction: f64, dir: PathBuf) -> Result<Self, EstimateError> {
        let setting = |key: &str, message: String| Err(EstimateError::Setting { key: key.into(), message });
        if !(2..=MAX_MODELS).contains(&models) {
            return setting(
                "--models",
                format!("{models} is not in 2..={MAX_MODELS} (each sample needs models that trained on it and models that did not)"),
            );
        }
        if !(fraction > 0.0 && fraction < 1.0) {
            return setting("--subset", format!("{fraction} is not a share in (0, 1) (each model must leave some samples out)"));
        }
        let plan = EstimatePlan { job, models, fraction, dir };
        let problems = plan.model_config(models - 1).validate();
        if let Some(p) = problems.first() {
            return setting("job", format!("its models would not be valid jobs: {}: {}", p.key, p.message));
        }
        Ok(plan)
    }

    /// Models asked for.
    pub fn models(&self) -> usize {
        self.models
    }

    /// The share of the training set each model trains on.
    pub fn fraction(&self) -> f64 {
        self.fraction
    }

    /// The estimate directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The job the models come from.
    pub fn job(&self) -> &JobConfig {
        &self.job
    }

    /// Model `k`'s seed: its initialization, data order and subset. Derived from the
    /// job's seed and `k` alone (31 bits, so that TOML, whose integers are signed,
    /// holds it and a person can read it).
    pub fn model_seed(&self, k: usize) -> u64 {
        rng_for(self.job.seed, Stream::EstimateModel, &[k as u64]).next_u64() >> 33
    }

    /// Model `k`'s job name.
    pub fn model_name(&self, k: usize) -> String {
        format!("{}-model-{k:04}", self.job.name)
    }

    /// Model `k`'s job: the estimate's job and recipe with the model's seed, trained on
    /// its seeded subset (`[train] subset`), and nothing else: no plugins (a plugin
    /// that rewrites labels would give each model other labels; scorers cost time the
    /// estimate does not need), no built-in scores, no report, no metrics listener.
    pub fn model_config(&self, k: usize) -> JobConfig {
        let seed = self.model_seed(k);
        let mut config = self.job.clone();
        config.name = self.model_name(k);
        config.seed = seed;
        config.train.subset = Some(SubsetConfig { fraction: self.fraction, seed: Some(seed) });
        config.score.builtin.clear();
        config.score.aggregate.clear();
        config.plugins.clear();
        config.plugin_dirs.clear();
        config.metrics = MetricsConfig::default();
        config.report.enabled = false;
        config
    }

    /// Where model `k`'s job file is written.
    pub fn model_config_path(&self, k: usize) -> PathBuf {
        self.dir.join("models").join(format!("model-{k:04}.toml"))
    }

    /// Model `k`'s run directory when it runs on this machine (or a shared filesystem).
    pub fn model_run_dir(&self, k: usize) -> PathBuf {
        self.dir.join("models").join(format!("model-{k:04}"))
    }

    /// Writes every model's job file, or checks the ones there: a file that differs
    /// belongs to another estimate (another job, `--subset` or `--set`), which is
    /// refused rather than mixed in. More models than before only add files.
    pub fn write_model_configs(&self) -> Result<(), EstimateError> {
        let models = self.dir.join("models");
        std::fs::create_dir_all(&models).map_err(|e| EstimateError::io(&models, e))?;
        for k in 0..self.models {
            let path = self.model_config_path(k);
            let text = model_file_text(&self.model_config(k));
            match std::fs::read_to_string(&path) {
                Ok(old) if old == text => {}
                Ok(_) => return Err(EstimateError::OtherEstimate {
                    path,
                    message:
                        "was written for another estimate (another job, --subset or --set); give this one another --dir, or remove that one"
                            .into(),
                }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_atomically(&path, text.as_bytes())?,
                Err(e) => return Err(EstimateError::io(&path, e)),
            }
        }
        Ok(())
    }

    /// The models submitted to a daemon so far (`daemon_jobs.json`), by index.
    pub fn submitted(&self) -> Result<BTreeMap<usize, SubmittedModel>, EstimateError> {
        let path = self.submitted_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                serde_json::from_str(&text).map_err(|e| EstimateError::OtherEstimate { path, message: format!("cannot be read: {e}") })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(EstimateError::io(&path, e)),
        }
    }

    /// Records that model `k` went to a daemon as `submitted`.
    pub fn record_submitted(&self, k: usize, submitted: SubmittedModel) -> Result<(), EstimateError> {
        let mut all = self.submitted()?;
        all.insert(k, submitted);
        let text = serde_json::to_string_pretty(&all).expect("submitted models serialize");
        write_atomically(&self.submitted_path(), text.as_bytes())
    }

    fn submitted_path(&self) -> PathBuf {
        self.dir.join("daemon_jobs.json")
    }

    /// Where each model stands, in model order.
    pub fn statuses(&self) -> Result<Vec<ModelStatus>, EstimateError> {
        let submitted = self.submitted()?;
        Ok((0..self.models)
            .map(|k| {
                let local = self.model_run_dir(k);
                let remote = submitted.get(&k).map(|s| s.run_dir.clone());
                if let Some(done) = std::iter::once(&local).chain(&remote).find(|d| d.join("summary.json").exists()) {
                    ModelStatus::Finished(done.clone())
                } else if local.join("config.toml").exists() {
                    ModelStatus::Unfinished(local)
                } else if let Some(remote) = remote {
                    ModelStatus::Submitted(remote)
                } else {
                    ModelStatus::NotStarted
                }
            })
            .collect())
    }
}

/// A model's job file: the resolved config, with a first line that says what it is.
fn model_file_text(config: &JobConfig) -> String {
    let body = toml::to_string_pretty(config).expect("a job config serializes to TOML");
    format!("# A model of `memscope estimate memorization`: an ordinary job (`memscope run` it, or submit it).\n{body}")
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a reader
/// (another task of the same array, a comparer) never sees half a file.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), EstimateError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| EstimateError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| EstimateError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_job;

    fn job() -> JobConfig {
        let text = "name = \"d\"\nseed = 5\n[data]\nformat = \"digits\"\n[train]\nepochs = 3\n[[plugins]]\nname = \"noise\"\nconfig = { fraction = 0.1 }\n";
        parse_job(text, "job.toml", &[], Path::new("/")).unwrap()
    }

    #[test]
    fn each_model_is_the_job_on_its_own_seeded_subset_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let plan = EstimatePlan::new(job(), 4, 0.7, dir.path().to_path_buf()).unwrap();
        let seeds: Vec<u64> = (0..4).map(|k| plan.model_seed(k)).collect();
        assert!(seeds.iter().all(|&s| s < 1 << 31));
        let mut distinct = seeds.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 4, "{seeds:?}");
        let m = plan.model_config(2);
        assert_eq!(m.name, "d-model-0002");
        assert_eq!((m.seed, m.train.subset), (seeds[2], Some(SubsetConfig { fraction: 0.7, seed: Some(seeds[2]) })));
        assert!(m.plugins.is_empty() && m.score.builtin.is_empty() && !m.report.enabled);
        assert_eq!((m.train.epochs, m.data.format), (3, Some(crate::config::DataFormat::Digits)));
        // Another job seed gives other models.
        let mut other = job();
        other.seed = 6;
        assert_ne!(EstimatePlan::new(other, 4, 0.7, dir.path().into()).unwrap().model_seed(2), seeds[2]);
    }

    #[test]
    fn settings_that_give_no_estimate_are_refused_by_name() {
        let dir = PathBuf::from("/tmp/x");
        let err = |models, fraction| EstimatePlan::new(job(), models, fraction, dir.clone()).unwrap_err().to_string();
        assert!(err(1, 0.7).starts_with("--models: 1 is not in 2..="), "{}", err(1, 0.7));
        assert!(err(4, 1.0).starts_with("--subset: 1 is not a share in (0, 1)"), "{}", err(4, 1.0));
        assert!(err(4, 0.0).starts_with("--subset: 0 is not"), "{}", err(4, 0.0));
        let mut long = job();
        long.name = "n".repeat(95);
        let e = EstimatePlan::new(long, 4, 0.7, dir).unwrap_err().to_string();
        assert!(e.starts_with("job: its models would not be valid jobs: name: 106 is more than 100"), "{e}");
    }

    /// Job files are written once; the same estimate finds them equal, another (here:
    /// another subset share) is refused, naming the file.
    #[test]
    fn model_files_belong_to_one_estimate() {
        let dir = tempfile::tempdir().unwrap();
        let plan = EstimatePlan::new(job(), 3, 0.7, dir.path().to_path_buf()).unwrap();
        plan.write_model_configs().unwrap();
        plan.write_model_configs().unwrap();
        let written = std::fs::read_to_string(plan.model_config_path(1)).unwrap();
        let back = parse_job(&written, "m.toml", &[], Path::new("/")).unwrap();
        assert_eq!(back, plan.model_config(1));
        // More models later: the first ones are unchanged, one more file.
        EstimatePlan::new(job(), 4, 0.7, dir.path().to_path_buf()).unwrap().write_model_configs().unwrap();
        assert!(plan.model_config_path(3).exists());
        let err = EstimatePlan::new(job(), 3, 0.5, dir.path().to_path_buf()).unwrap().write_model_configs().unwrap_err().to_string();
        assert!(err.contains("model-0000.toml: was written for another estimate"), "{err}");
    }

    #[test]
    fn statuses_follow_the_run_directories_and_the_daemon_record() {
        let dir = tempfile::tempdir().unwrap();
        let plan = EstimatePlan::new(job(), 4, 0.7, dir.path().to_path_buf()).unwrap();
        std::fs::create_dir_all(plan.model_run_dir(0)).unwrap();
        std::fs::write(plan.model_run_dir(0).join("config.toml"), "").unwrap();
        std::fs::write(plan.model_run_dir(0).join("summary.json"), "{}").unwrap();
        std::fs::create_dir_all(plan.model_run_dir(1)).unwrap();
        std::fs::write(plan.model_run_dir(1).join("config.toml"), "").unwrap();
        let remote = dir.path().join("daemon-runs/000003-d-model-0002");
        plan.record_submitted(2, SubmittedModel { id: "000003".into(), run_dir: remote.clone() }).unwrap();
        let statuses = plan.statuses().unwrap();
        assert_eq!(
            statuses,
            [
                ModelStatus::Finished(plan.model_run_dir(0)),
                ModelStatus::Unfinished(plan.model_run_dir(1)),
                ModelStatus::Submitted(remote.clone()),
                ModelStatus::NotStarted
            ]
        );
        std::fs::create_dir_all(&remote).unwrap();
        std::fs::write(remote.join("summary.json"), "{}").unwrap();
        assert_eq!(plan.statuses().unwrap()[2], ModelStatus::Finished(remote));
    }
}
