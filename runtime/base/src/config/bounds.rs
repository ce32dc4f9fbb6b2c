//! Upper bounds on names and resource settings. A value past them is not a bigger
//! job but a mistake or an attack: a 250-character name fails when its run directory
//! is made ("File name too long"), `train.prefetch = 1000000000` asks for a 56 GB
//! queue and aborts the job process. Refused by `validate()`, so the CLI and the
//! daemon say so before anything runs.

use super::{JobConfig, Problem};

/// The longest job `name` (it names the run directory, with the daemon's id before it).
pub const MAX_NAME_LENGTH: usize = 100;
/// The most batches the loader may queue ahead of the trainer.
pub const MAX_PREFETCH: usize = 1024;
/// The largest training or scoring batch.
pub const MAX_BATCH_SIZE: usize = 65_536;
/// The most epochs a job may train.
pub const MAX_EPOCHS: usize = 100_000;
/// The most classes a dataset may declare.
pub const MAX_CLASSES: usize = 100_000;
/// The widest crop padding, in pixels per side.
pub const MAX_CROP_PADDING: usize = 64;
/// The most checkpoints kept.
pub const MAX_KEEP: usize = 1000;
/// The longest time a finished job keeps serving its metrics.
pub const MAX_LINGER_SECONDS: u64 = 3600;

impl JobConfig {
    /// Every name or resource setting past its bound.
    pub fn bound_problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut over = |key: &str, value: u64, max: u64, what: &str| {
            if value > max {
                problems.push(Problem { key: key.into(), message: format!("{value} is more than {max} {what}") });
            }
        };
        over("name", self.name.chars().count() as u64, MAX_NAME_LENGTH as u64, "characters");
        over("train.prefetch", self.train.prefetch as u64, MAX_PREFETCH as u64, "queued batches");
        over("train.batch_size", self.train.batch_size as u64, MAX_BATCH_SIZE as u64, "samples");
        over("train.epochs", self.train.epochs as u64, MAX_EPOCHS as u64, "epochs");
        over("score.batch_size", self.score.batch_size as u64, MAX_BATCH_SIZE as u64, "samples");
        over("data.classes", self.data.classes.unwrap_or(0) as u64, MAX_CLASSES as u64, "classes");
        over("data.augment.crop_padding", self.data.augment.crop_padding as u64, MAX_CROP_PADDING as u64, "pixels");
        over("checkpoint.keep", self.checkpoint.keep as u64, MAX_KEEP as u64, "checkpoints");
        over("metrics.linger_seconds", self.metrics.linger_seconds, MAX_LINGER_SECONDS, "seconds");
        problems
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse_job;
    use std::path::Path;

    #[test]
    fn names_and_resource_settings_past_their_bounds_are_listed_together() {
        let text = format!(
            "name = \"{}\"\n[data]\nformat = \"digits\"\nclasses = 1000000\naugment = {{ crop_padding = 1000 }}\n\
             [train]\nprefetch = 1000000000\nbatch_size = 100000\nepochs = 1000000\n[score]\nbatch_size = 1000000\n\
             [checkpoint]\nkeep = 5000\n[metrics]\nlinger_seconds = 86400\n",
            "n".repeat(250)
        );
        let err = parse_job(&text, "job.toml", &[], Path::new(".")).unwrap_err().to_string();
        for (key, says) in [
            ("name", "250 is more than 100 characters"),
            ("train.prefetch", "1000000000 is more than 1024 queued batches"),
            ("train.batch_size", "100000 is more than 65536 samples"),
            ("train.epochs", "1000000 is more than 100000 epochs"),
            ("score.batch_size", "1000000 is more than 65536 samples"),
            ("data.classes", "1000000 is more than 100000 classes"),
            ("data.augment.crop_padding", "1000 is more than 64 pixels"),
            ("checkpoint.keep", "5000 is more than 1000 checkpoints"),
            ("metrics.linger_seconds", "86400 is more than 3600 seconds"),
        ] {
            assert!(err.contains(&format!("{key}: {says}")), "missing `{key}: {says}` in:\n{err}");
        }
        let at_bounds = format!("name = \"{}\"\n[data]\nformat = \"digits\"\n[train]\nprefetch = 1024\n", "n".repeat(100));
        parse_job(&at_bounds, "job.toml", &[], Path::new(".")).unwrap();
    }
}
