//! Semantic checks that the schema cannot express. Every problem is collected, so a
//! user fixes a config in one go rather than one error per run.

use super::{DataFormat, JobConfig, OptimizerKind, Problem, ReportConfig};

/// Names of the built-in scores.
pub const BUILTIN_SCORES: [&str; 2] = ["loss", "eval_loss"];

impl JobConfig {
    /// Lists every problem with this config; empty when it can be run.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(Problem { key: key.to_string(), message })
        };

        if self.name.is_empty()
            || self.name.starts_with('.')
            || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            problem(
                "name",
                format!("`{}` is not a usable run directory name (letters, digits, - _ . ; not starting with .)", self.name),
            );
        }
        if self.threads > 1024 {
            problem("threads", format!("{} threads is more than 1024", self.threads));
        }

        let data = &self.data;
        let format = data.format.name();
        match data.format {
            DataFormat::Digits => {
                for (key, given) in [("data.path", &data.path), ("data.labels", &data.labels), ("data.test_path", &data.test_path), ("data.test_labels", &data.test_labels)] {
                    if given.is_some() {
                        problem(key, "the digits dataset is embedded; remove this key".into());
                    }
                }
            }
            DataFormat::Idx => {
                if data.path.is_none() {
                    problem("data.path", "format `idx` needs the image file".into());
                }
                if data.labels.is_none() {
                    problem("data.labels", "format `idx` needs the label file".into());
                }
                if data.test_path.is_some() != data.test_labels.is_some() {
                    problem("data.test_labels", "give both `test_path` and `test_labels`, or neither".into());
                }
            }
            DataFormat::Cifar10 | DataFormat::Cifar100 | DataFormat::Npz => {
                if data.path.is_none() {
                    problem("data.path", format!("format `{format}` needs a path"));
                }
                for (key, given) in [("data.labels", &data.labels), ("data.test_labels", &data.test_labels)] {
                    if given.is_some() {
                        problem(key, format!("format `{format}` keeps labels with the images; remove this key"));
                    }
                }
            }
        }

        if data.classes.is_some_and(|c| c < 2) {
            problem("data.classes", "needs at least 2 classes".into());
        }

        if self.model.arch.is_some() && self.model.torchscript.is_some() {
            problem("model.torchscript", "give either `arch` (a built-in architecture) or `torchscript` (your own model), not both".into());
        }

        let train = &self.train;
        if train.epochs == 0 {
            problem("train.epochs", "must be at least 1".into());
        }
        if train.batch_size == 0 {
            problem("train.batch_size", "must be at least 1".into());
        }
        if !(train.lr.is_finite() && train.lr > 0.0) {
            problem("train.lr", format!("{} is not a positive learning rate", train.lr));
        }
        if !(0.0..1.0).contains(&train.momentum) {
            problem("train.momentum", format!("{} is not in [0, 1)", train.momentum));
        }
        if train.nesterov && (train.momentum == 0.0 || train.optimizer != OptimizerKind::Sgd) {
            problem("train.nesterov", "Nesterov needs `optimizer = \"sgd\"` and momentum > 0".into());
        }
        if !(train.weight_decay.is_finite() && train.weight_decay >= 0.0) {
            problem("train.weight_decay", format!("{} is not >= 0", train.weight_decay));
        }
        if train.step_epochs == 0 {
            problem("train.step_epochs", "must be at least 1".into());
        }
        if !(train.gamma > 0.0 && train.gamma <= 1.0) {
            problem("train.gamma", format!("{} is not in (0, 1]", train.gamma));
        }
        if train.prefetch == 0 {
            problem("train.prefetch", "must be at least 1".into());
        }

        let score = &self.score;
        if score.every == 0 {
            problem("score.every", "must be at least 1".into());
        }
        if score.batch_size == 0 {
            problem("score.batch_size", "must be at least 1".into());
        }
        for (i, name) in score.builtin.iter().enumerate() {
            if !BUILTIN_SCORES.contains(&name.as_str()) {
                problem("score.builtin", format!("unknown score `{name}`, expected one of {BUILTIN_SCORES:?}"));
            } else if score.builtin[..i].contains(name) {
                problem("score.builtin", format!("`{name}` is listed twice"));
            }
        }

        for (i, plugin) in self.plugins.iter().enumerate() {
            let key = format!("plugins[{i}].name");
            if plugin.name.is_empty() || !plugin.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                problem(&key, format!("`{}` is not a plugin name (letters, digits, _ and -)", plugin.name));
            } else if self.plugins[..i].iter().any(|p| p.name == plugin.name) {
                problem(&key, format!("`{}` is listed twice", plugin.name));
            } else if BUILTIN_SCORES.contains(&plugin.name.as_str()) {
                problem(&key, format!("`{}` is the name of a built-in score", plugin.name));
            }
        }

        if let Some(listen) = &self.metrics.listen {
            if listen.parse::<std::net::SocketAddr>().is_err() {
                problem("metrics.listen", format!("`{listen}` is not an address like 127.0.0.1:9464"));
            }
        }

        if self.checkpoint.keep == 0 {
            problem("checkpoint.keep", "must be at least 1".into());
        }

        for (key, message) in self.report.problems() {
            problem(&format!("report.{key}"), message);
        }
        problems
    }
}

/// The largest `report.top_k`: a grid of more samples is no longer readable.
pub const MAX_TOP_K: usize = 1000;

impl ReportConfig {
    /// `(key, message)` for every report setting out of range. Shared with
    /// `memscope report`, whose command-line values override the run's.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.top_k == 0 || self.top_k > MAX_TOP_K {
            problems.push(("top_k", format!("{} is not in 1..={MAX_TOP_K}", self.top_k)));
        }
        if !(self.duplicate_distance.is_finite() && (0.0..=1.0).contains(&self.duplicate_distance)) {
            problems.push(("duplicate_distance", format!("{} is not in [0, 1] (RMS pixel difference)", self.duplicate_distance)));
        }
        if self.pairs_shown == 0 {
            problems.push(("pairs_shown", "must be at least 1".into()));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse_job;
    use std::path::Path;

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"
            name = "bad/name"
            [data]
            format = "idx"
            [train]
            epochs = 0
            lr = -1.0
            [score]
            builtin = ["loss", "nope"]
        "#;
        let err = parse_job(text, "job.toml", &[], Path::new(".")).unwrap_err().to_string();
        for key in ["name", "data.path", "data.labels", "train.epochs", "train.lr", "score.builtin"] {
            assert!(err.contains(&format!("{key}: ")), "missing {key} in:\n{err}");
        }
        assert!(err.contains("6 problem(s)"), "{err}");
    }

    #[test]
    fn a_model_is_a_builtin_or_a_torchscript_file_not_both() {
        let text = "name = \"t\"\n[data]\nformat = \"digits\"\n[model]\narch = \"cnn\"\ntorchscript = \"net.pt\"\n";
        let err = parse_job(text, "job.toml", &[], Path::new(".")).unwrap_err().to_string();
        assert!(err.contains("model.torchscript: give either `arch`") && err.contains("1 problem(s)"), "{err}");
        let one = parse_job(&text.replace("arch = \"cnn\"\n", ""), "job.toml", &[], Path::new("/models")).unwrap();
        assert_eq!(one.model.torchscript.as_deref(), Some(Path::new("/models/net.pt")), "relative to the config file");
        assert_eq!(one.model.arch, None);
    }

    #[test]
    fn report_settings_out_of_range_are_problems() {
        let text = "name = \"t\"\n[data]\nformat = \"digits\"\n[report]\ntop_k = 0\nduplicate_distance = -0.1\npairs_shown = 0\n";
        let err = parse_job(text, "job.toml", &[], Path::new(".")).unwrap_err().to_string();
        for key in ["report.top_k", "report.duplicate_distance", "report.pairs_shown"] {
            assert!(err.contains(&format!("{key}: ")), "missing {key} in:\n{err}");
        }
    }

    #[test]
    fn report_is_on_by_default_and_unknown_report_keys_are_errors() {
        let job = parse_job("name = \"t\"\n[data]\nformat = \"digits\"\n", "job.toml", &[], Path::new(".")).unwrap();
        assert!(job.report.enabled);
        assert_eq!(job.report.top_k, 40);
        let err = parse_job("name = \"t\"\n[data]\nformat = \"digits\"\n[report]\ntopk = 3\n", "job.toml", &[], Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("topk") && err.contains("line 5"), "{err}");
    }
}
