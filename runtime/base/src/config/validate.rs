//! Semantic checks that the schema cannot express. Every problem is collected, so a
//! user fixes a config in one go rather than one error per run.

use super::{AggregateConfig, EpochBound, JobConfig, OptimizerKind, Problem, ReportConfig, Weighting};
use crate::CUMULATIVE_LOSS;

/// Names of the built-in scores.
pub const BUILTIN_SCORES: [&str; 2] = ["loss", "eval_loss"];

impl JobConfig {
    /// Lists every problem with this config; empty when it can be run.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| problems.push(Problem { key: key.to_string(), message });

        if self.name.is_empty() || self.name.starts_with('.') || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            problem("name", format!("`{}` is not a usable run directory name (letters, digits, - _ . ; not starting with .)", self.name));
        }
        if self.threads > 1024 {
            problem("threads", format!("{} threads is more than 1024", self.threads));
        }

        for (key, message) in self.data.problems() {
            problem(&format!("data.{key}"), message);
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
        if let Some(subset) = &train.subset {
            if !(subset.fraction > 0.0 && subset.fraction <= 1.0) {
                problem("train.subset.fraction", format!("{} is not a share of the training set in (0, 1]", subset.fraction));
            }
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

        if let Some(EpochBound::Epoch(e)) = score.window.map(|w| w.bound()) {
            if e == 0 || e > self.train.epochs {
                problem("score.window", format!("epoch {e} is not in 1..={}", self.train.epochs));
            }
        }
        for (name, aggregate) in &score.aggregate {
            for (key, message) in aggregate.problems(name, self.train.epochs, score.every) {
                problem(&format!("score.aggregate.{name}.{key}"), message);
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
        problems.extend(self.bound_problems());
        problems
    }
}

impl AggregateConfig {
    /// `(key, message)` for every setting of score `name` that cannot be applied to a
    /// run of `epochs` epochs scored every `every` epochs.
    pub fn problems(&self, name: &str, epochs: usize, every: usize) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        let from = self.from.unwrap_or(1);
        let to = self.to.map_or(epochs, |t| t.resolve(epochs));
        if from == 0 {
            problems.push(("from", "epochs count from 1".to_string()));
        }
        if self.to == Some(EpochBound::Epoch(0)) {
            problems.push(("to", "epochs count from 1".to_string()));
        } else if to > epochs {
            problems.push(("to", format!("{to} is past the last epoch ({epochs})")));
        }
        if from > to {
            problems.push(("from", format!("{from} is after `to` ({to})")));
        }
        match (self.weighting, self.half_life) {
            (Weighting::Decay, None) => problems.push(("half_life", "`weighting = \"decay\"` needs `half_life` (epochs)".into())),
            (Weighting::Decay, Some(h)) if !(h.is_finite() && h > 0.0) => {
                problems.push(("half_life", format!("{h} is not a positive number of epochs")))
            }
            (Weighting::Uniform | Weighting::Rising, Some(_)) => {
                problems.push(("half_life", "only used with `weighting = \"decay\"`".into()))
            }
            _ => {}
        }
        match (self.weighting, self.power) {
            (Weighting::Rising, Some(p)) if !(p.is_finite() && p > 0.0) => {
                problems.push(("power", format!("{p} is not a positive exponent")))
            }
            (Weighting::Uniform | Weighting::Decay, Some(_)) => problems.push(("power", "only used with `weighting = \"rising\"`".into())),
            _ => {}
        }
        // The training loss is recorded every epoch; snapshot scores on the schedule.
        if problems.is_empty() && name != CUMULATIVE_LOSS && every > 0 {
            let scored = (from..=to).any(|e| e % every == 0 || e == epochs);
            if !scored {
                problems.push(("to", format!("no epoch in {from}..={to} is scored (`score.every = {every}`)")));
            }
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
    fn aggregation_windows_outside_the_run_are_problems() {
        let text = r#"
            name = "t"
            [data]
            format = "digits"
            [train]
            epochs = 10
            [score]
            every = 4
            builtin = ["loss", "eval_loss"]
            [score.aggregate.eval_loss]
            from = 1
            to = 3
            [score.aggregate.curvature]
            to = 12
            weighting = "decay"
            [score.aggregate.margin]
            from = 5
            to = 2
            half_life = 2.0
            [score.aggregate.el2n]
            weighting = "rising"
            power = -1.0
            [score.aggregate.aum]
            power = 2.0
        "#;
        let err = parse_job(text, "job.toml", &[], Path::new(".")).unwrap_err().to_string();
        for wanted in [
            "score.aggregate.eval_loss.to: no epoch in 1..=3 is scored",
            "score.aggregate.curvature.to: 12 is past the last epoch (10)",
            "score.aggregate.curvature.half_life: `weighting = \"decay\"` needs `half_life`",
            "score.aggregate.margin.from: 5 is after `to` (2)",
            "score.aggregate.margin.half_life: only used with",
            "score.aggregate.el2n.power: -1 is not a positive exponent",
            "score.aggregate.aum.power: only used with `weighting = \"rising\"`",
        ] {
            assert!(err.contains(wanted), "missing `{wanted}` in:\n{err}");
        }
        // A share of the epochs is resolved against train.epochs (40 % of 10 = 4:
        // not scored with every = 4... until epoch 4 is: 4 % 4 == 0).
        let shares = text.replace("to = 3\n", "to = \"40%\"\n");
        let err = parse_job(&shares, "job.toml", &[], Path::new(".")).unwrap_err().to_string();
        assert!(!err.contains("eval_loss"), "{err}");
        let bad = text.replace("to = 3\n", "to = \"140%\"\n");
        let err = parse_job(&bad, "job.toml", &[], Path::new(".")).unwrap_err().to_string();
        assert!(err.contains("`140%` is not a percentage"), "{err}");
        // The training loss is recorded every epoch: any window holds one.
        let ok = "name = \"t\"\n[data]\nformat = \"digits\"\n[score]\nevery = 4\n[score.aggregate.loss]\nfrom = 2\nto = 3\n";
        parse_job(ok, "job.toml", &[], Path::new(".")).unwrap();
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
