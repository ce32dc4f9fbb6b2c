//! Who writes each score and per-sample array of a job. Two writers of one name would
//! overwrite each other's file and stand twice in the comparisons and rankings, so a
//! name has one owner: memscope keeps its built-in scores and `labels`; a plugin claims
//! the scores it declares (and its `score_batch` score, named after it) when the job
//! loads it, and any other array when it first publishes it. A second claim is refused
//! with one error naming both owners, before training for what plugins declare.

use super::PluginError;
use memscope_base::config::BUILTIN_SCORES;
use std::collections::BTreeMap;

/// One writer of names: memscope itself, or one plugin entry of the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The plugin entry's position among the job's plugins; `None` for memscope.
    entry: Option<usize>,
    /// How errors name it.
    label: String,
}

impl Owner {
    /// memscope's own scores and arrays.
    pub fn memscope() -> Self {
        Owner { entry: None, label: "memscope (a built-in score)".into() }
    }

    /// The job's plugin entry `entry` (0-based among all its plugins): plugin `name`,
    /// from the config's `[[plugins]]` (`configured` of them come first) or added by the
    /// program (`Job::plugin`).
    pub fn plugin(name: &str, entry: usize, configured: usize) -> Self {
        let place = match entry < configured {
            true => format!("`[[plugins]]` entry {}", entry + 1),
            false => format!("`Job::plugin` entry {}", entry - configured + 1),
        };
        Owner { entry: Some(entry), label: format!("plugin `{name}` ({place})") }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

/// The names claimed so far in a job, with their owners.
#[derive(Debug)]
pub struct Owners {
    names: BTreeMap<String, Owner>,
}

impl Default for Owners {
    /// memscope's names: every built-in score (whether the job records it or not) and
    /// `labels`, the labels as trained that plugins get at the end of a job.
    fn default() -> Self {
        let mut names: BTreeMap<String, Owner> = BUILTIN_SCORES.iter().map(|s| (s.to_string(), Owner::memscope())).collect();
        names.insert("labels".into(), Owner { entry: None, label: "memscope (the labels as trained)".into() });
        Owners { names }
    }
}

impl Owners {
    /// Claims `name` for `owner`: fine when it is free or already `owner`'s; otherwise an
    /// error naming both owners.
    pub fn claim(&mut self, name: &str, owner: &Owner) -> Result<(), PluginError> {
        match self.names.get(name) {
            Some(first) if first != owner => {
                Err(PluginError::NameClash { name: name.to_string(), first: first.to_string(), second: owner.to_string() })
            }
            Some(_) => Ok(()),
            None => {
                self.names.insert(name.to_string(), owner.clone());
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_has_one_owner_and_a_second_claim_names_both() {
        let mut owners = Owners::default();
        let (first, second) = (Owner::plugin("curvature", 1, 3), Owner::plugin("curvature", 3, 3));
        owners.claim("curvature", &first).unwrap();
        owners.claim("curvature", &first).unwrap();
        let err = owners.claim("curvature", &second).unwrap_err().to_string();
        assert!(
            err.contains(
                "`curvature` is written by both plugin `curvature` (`[[plugins]]` entry 2) and plugin `curvature` (`Job::plugin` entry 1)"
            ),
            "{err}"
        );
        let err = owners.claim("loss", &Owner::plugin("fake", 0, 1)).unwrap_err().to_string();
        assert!(err.contains("`loss` is written by both memscope (a built-in score) and plugin `fake` (`[[plugins]]` entry 1)"), "{err}");
        assert!(owners.claim("labels", &first).is_err());
    }
}
