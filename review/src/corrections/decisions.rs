//! Reading `corrections.csv` into the decision of each sample, and appending a row
//! per new decision. A row names its sample by `source` when the run has one for it
//! (the key that survives a reordered or grown dataset), else by `index`; a reader
//! matches by `source` when it is not empty, else by `index`.

use super::rfc3339_utc;
use crate::ReviewError;
use memscope::data::{csv_field, parse_csv};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The file's name in the run directory.
pub const CORRECTIONS: &str = "corrections.csv";
/// Its header line (the shared contract).
pub const HEADER: &str = "index,source,action,label,time";

/// What to do with a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Train it with another label.
    Relabel,
    /// Leave it out of training.
    Exclude,
    /// Its label is right: undoes an earlier decision.
    Keep,
}

impl Action {
    /// The word in the file.
    pub fn word(self) -> &'static str {
        match self {
            Action::Relabel => "relabel",
            Action::Exclude => "exclude",
            Action::Keep => "keep",
        }
    }

    fn parse(word: &str) -> Option<Action> {
        [Action::Relabel, Action::Exclude, Action::Keep].into_iter().find(|a| a.word() == word)
    }
}

/// The latest decision on one sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// The new class for `relabel`.
    pub label: Option<i64>,
    /// When it was decided (RFC 3339, UTC).
    pub time: String,
}

/// How the run names its samples and classes, to read and write rows.
#[derive(Debug)]
pub struct SampleNames<'a> {
    /// Each sample's source (`sources.json`), empty where it has none.
    pub sources: &'a [String],
    /// The class names, in label order.
    pub classes: &'a [String],
}

impl SampleNames<'_> {
    /// The class a `label` cell names: a class name, else its integer.
    pub fn class(&self, text: &str) -> Option<i64> {
        if let Some(c) = self.classes.iter().position(|n| n == text) {
            return Some(c as i64);
        }
        text.parse::<i64>().ok().filter(|c| (0..self.classes.len() as i64).contains(c))
    }

    fn known_classes(&self) -> String {
        const SHOWN: usize = 20;
        let mut names: Vec<&str> = self.classes.iter().take(SHOWN).map(String::as_str).collect();
        if self.classes.len() > SHOWN {
            names.push("...");
        }
        names.join(", ")
    }
}

/// The decisions of a run, as `corrections.csv` holds them.
#[derive(Debug)]
pub struct Decisions {
    path: PathBuf,
    latest: HashMap<usize, Decision>,
}

impl Decisions {
    /// Reads `corrections.csv` in `dir` (no decisions when it does not exist). Every
    /// row must name a sample of the run and, for `relabel`, one of its classes.
    pub fn read(dir: &Path, names: &SampleNames) -> Result<Decisions, ReviewError> {
        let path = dir.join(CORRECTIONS);
        let mut decisions = Decisions { path: path.clone(), latest: HashMap::new() };
        if !path.exists() {
            return Ok(decisions);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| ReviewError::io(&path, e))?;
        let rows = parse_csv(&text).map_err(|e| ReviewError::run_file(&path, e))?;
        let mut rows = rows.into_iter();
        let Some((line, header)) = rows.next() else {
            return Ok(decisions);
        };
        let bad = |line: usize, message: String| ReviewError::Corrections { path: path.clone(), line, message };
        if header.join(",") != HEADER {
            return Err(bad(line, format!("header `{}`; expected `{HEADER}`", header.join(","))));
        }
        let by_source: HashMap<&str, usize> =
            names.sources.iter().enumerate().filter(|(_, s)| !s.is_empty()).map(|(i, s)| (s.as_str(), i)).collect();
        for (line, fields) in rows {
            let [index, source, action, label, time] = fields.as_slice() else {
                return Err(bad(line, format!("{} fields; expected 5 ({HEADER})", fields.len())));
            };
            let sample = if source.is_empty() {
                index
                    .parse::<usize>()
                    .ok()
                    .filter(|&i| i < names.sources.len())
                    .ok_or_else(|| bad(line, format!("index `{index}` is not a sample of the run (0..{})", names.sources.len())))?
            } else {
                *by_source.get(source.as_str()).ok_or_else(|| bad(line, format!("source `{source}` is not a sample of the run")))?
            };
            let action = Action::parse(action).ok_or_else(|| bad(line, format!("action `{action}`; expected relabel, exclude or keep")))?;
            let label = match (action, label.as_str()) {
                (Action::Relabel, "") => return Err(bad(line, "relabel without a label".into())),
                (Action::Relabel, text) => Some(
                    names.class(text).ok_or_else(|| bad(line, format!("unknown class `{text}` (classes: {})", names.known_classes())))?,
                ),
                (_, "") => None,
                (other, text) => return Err(bad(line, format!("{} takes no label, found `{text}`", other.word()))),
            };
            decisions.latest.insert(sample, Decision { action, label, time: time.clone() });
        }
        Ok(decisions)
    }

    /// The latest decision on sample `i`.
    pub fn get(&self, i: usize) -> Option<&Decision> {
        self.latest.get(&i)
    }

    /// How many samples are to be relabelled, excluded and kept.
    pub fn counts(&self) -> [usize; 3] {
        let count = |a| self.latest.values().filter(|d| d.action == a).count();
        [count(Action::Relabel), count(Action::Exclude), count(Action::Keep)]
    }

    /// The samples with a decision, in index order.
    pub fn decided(&self) -> Vec<usize> {
        let mut decided: Vec<usize> = self.latest.keys().copied().collect();
        decided.sort_unstable();
        decided
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a decision on sample `i` and appends its row to the file (with the
    /// header when the file is new), synced before it returns: a decision the page
    /// showed as saved survives a crash.
    pub fn decide(&mut self, i: usize, action: Action, label: Option<i64>, names: &SampleNames) -> Result<Decision, ReviewError> {
        let time = rfc3339_utc(SystemTime::now());
        let label_text = label.map(|c| names.classes[c as usize].clone()).unwrap_or_default();
        let source = names.sources.get(i).map(String::as_str).unwrap_or("");
        let row = format!("{i},{},{},{},{time}\n", csv_field(source), action.word(), csv_field(&label_text));
        let mut file =
            std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(|e| ReviewError::io(&self.path, e))?;
        let new = file.metadata().map_err(|e| ReviewError::io(&self.path, e))?.len() == 0;
        let text = if new { format!("{HEADER}\n{row}") } else { row };
        // One write: rows appended by two servers of the same run do not interleave.
        file.write_all(text.as_bytes()).and_then(|()| file.sync_data()).map_err(|e| ReviewError::io(&self.path, e))?;
        let decision = Decision { action, label, time };
        self.latest.insert(i, decision.clone());
        Ok(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<'a>(sources: &'a [String], classes: &'a [String]) -> SampleNames<'a> {
        SampleNames { sources, classes }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn decisions_are_appended_and_read_back_with_the_last_row_winning() {
        let dir = tempfile::tempdir().unwrap();
        let (sources, classes) = (strings(&["a.png", "b,1.png", "c.png"]), strings(&["cat", "dog"]));
        let names = names(&sources, &classes);
        let mut decisions = Decisions::read(dir.path(), &names).unwrap();
        decisions.decide(1, Action::Relabel, Some(0), &names).unwrap();
        decisions.decide(2, Action::Exclude, None, &names).unwrap();
        decisions.decide(2, Action::Keep, None, &names).unwrap();
        let text = std::fs::read_to_string(dir.path().join(CORRECTIONS)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], HEADER);
        assert!(lines[1].starts_with("1,\"b,1.png\",relabel,cat,20"), "{}", lines[1]);
        assert!(lines[2].starts_with("2,c.png,exclude,,"), "{}", lines[2]);
        assert!(lines[3].starts_with("2,c.png,keep,,"), "{}", lines[3]);
        let again = Decisions::read(dir.path(), &names).unwrap();
        assert_eq!(again.get(1).map(|d| (d.action, d.label)), Some((Action::Relabel, Some(0))));
        assert_eq!(again.get(2).map(|d| d.action), Some(Action::Keep));
        assert_eq!(again.counts(), [1, 0, 1]);
        assert_eq!(again.decided(), vec![1, 2]);
    }

    #[test]
    fn rows_by_index_and_integer_labels_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CORRECTIONS), format!("{HEADER}\n1,,relabel,1,2024-01-01T00:00:00Z\n")).unwrap();
        let (sources, classes) = (strings(&["", ""]), strings(&["cat", "dog"]));
        let decisions = Decisions::read(dir.path(), &names(&sources, &classes)).unwrap();
        assert_eq!(decisions.get(1).and_then(|d| d.label), Some(1));
    }

    #[test]
    fn a_bad_row_is_named_with_its_line() {
        let (sources, classes) = (strings(&["a.png", "b.png"]), strings(&["cat", "dog"]));
        for (row, expected) in [
            ("0,x.png,exclude,,t", "line 2: source `x.png` is not a sample of the run"),
            ("7,,exclude,,t", "line 2: index `7` is not a sample of the run (0..2)"),
            ("0,a.png,relabel,cow,t", "line 2: unknown class `cow` (classes: cat, dog)"),
            ("0,a.png,relabel,,t", "line 2: relabel without a label"),
            ("0,a.png,delete,,t", "line 2: action `delete`; expected relabel, exclude or keep"),
            ("0,a.png,exclude,cat,t", "line 2: exclude takes no label, found `cat`"),
            ("0,a.png,exclude", "line 2: 3 fields; expected 5"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(CORRECTIONS), format!("{HEADER}\n{row}\n")).unwrap();
            let error = Decisions::read(dir.path(), &names(&sources, &classes)).unwrap_err().to_string();
            assert!(error.contains("corrections.csv") && error.contains(expected), "{row}: {error}");
        }
    }
}
