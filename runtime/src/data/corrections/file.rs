//! Reading a corrections file: a CSV with the header `index,source,action,label,time`
//! (columns in any order; `time` and any other column are not interpreted: the order
//! of the rows decides). Every problem is an error naming the file and the line.

use crate::data::{parse_csv, Access, DataError};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The header the review page writes.
pub const CORRECTIONS_HEADER: &str = "index,source,action,label,time";

/// What a row decides for its sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Train the sample with this class (a class name, or the class's integer).
    Relabel(String),
    /// Leave the sample out of the training set.
    Exclude,
    /// Keep the sample as the data gives it (undoes an earlier row's decision).
    Keep,
}

/// One row of a corrections file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrectionRow {
    /// The row's line in the file (1 is the header).
    pub line: usize,
    /// The sample's 0-based index in the dataset as read, when given.
    pub index: Option<usize>,
    /// The sample's source as the run's `sources.json` names it; empty when not given.
    pub source: String,
    /// The decision.
    pub action: Action,
}

/// A corrections file, read and checked row by row.
#[derive(Debug, Clone)]
pub struct CorrectionsFile {
    /// The file, as the job names it.
    pub path: PathBuf,
    /// SHA-256 of its bytes (hex), recorded in `summary.json`.
    pub sha256: String,
    /// Its rows in file order.
    pub rows: Vec<CorrectionRow>,
}

impl CorrectionsFile {
    /// Reads and checks `path` (opened through `access`, like the data files).
    pub fn read(path: &Path, access: &Access) -> Result<Self, DataError> {
        let bytes = access.read(path)?;
        let sha256 = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        let text = String::from_utf8(bytes).map_err(|e| DataError::corrections(path, format!("not UTF-8 text: {e}")))?;
        let rows = parse(&text).map_err(|message| DataError::corrections(path, message))?;
        Ok(CorrectionsFile { path: path.to_path_buf(), sha256, rows })
    }
}

/// The rows of a corrections file's text; an error says `line N: what is wrong`.
fn parse(text: &str) -> Result<Vec<CorrectionRow>, String> {
    let records = parse_csv(text)?;
    let Some(((_, header), records)) = records.split_first() else {
        return Err(format!("line 1: empty; expected the header `{CORRECTIONS_HEADER}`"));
    };
    let column = |name: &str| header.iter().position(|h| h.trim() == name);
    let (index_at, source_at, label_at) = (column("index"), column("source"), column("label"));
    let Some(action_at) = column("action") else {
        return Err(format!("line 1: no column `action` in the header (expected `{CORRECTIONS_HEADER}`, found `{}`)", header.join(",")));
    };
    if index_at.is_none() && source_at.is_none() {
        return Err(format!("line 1: neither an `index` nor a `source` column in the header (expected `{CORRECTIONS_HEADER}`)"));
    }
    let mut rows = Vec::with_capacity(records.len());
    for (line, fields) in records {
        let line = *line;
        if fields.len() != header.len() {
            return Err(format!("line {line}: {} fields, but the header has {}", fields.len(), header.len()));
        }
        let field = |at: Option<usize>| at.map_or("", |at| fields[at].trim());
        let index = match field(index_at) {
            "" => None,
            text => Some(text.parse::<usize>().map_err(|_| format!("line {line}: index `{text}` is not a sample index (0, 1, 2, ...)"))?),
        };
        let source = field(source_at).to_string();
        if index.is_none() && source.is_empty() {
            return Err(format!("line {line}: names no sample (give its source or its index)"));
        }
        let label = field(label_at);
        let action = match field(Some(action_at)) {
            "relabel" if label.is_empty() && label_at.is_none() => {
                return Err(format!("line {line}: `relabel` needs a `label` column with the new class"))
            }
            "relabel" if label.is_empty() => return Err(format!("line {line}: `relabel` without a label (the new class name)")),
            "relabel" => Action::Relabel(label.to_string()),
            "exclude" | "keep" if !label.is_empty() => {
                return Err(format!("line {line}: `{}` takes no label (found `{label}`)", field(Some(action_at))))
            }
            "exclude" => Action::Exclude,
            "keep" => Action::Keep,
            "" => return Err(format!("line {line}: empty action (expected relabel, exclude or keep)")),
            other => return Err(format!("line {line}: action `{other}` is not relabel, exclude or keep")),
        };
        rows.push(CorrectionRow { line, index, source, action });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_name_samples_by_source_or_index() {
        let text = "index,source,action,label,time\n\
                    3,/data/cat/1.png,relabel,dog,2025-01-01T00:00:00Z\n\
                    ,b.png,exclude,,\n\
                    7,,keep,,\n";
        let rows = parse(text).unwrap();
        assert_eq!(
            rows[0],
            CorrectionRow { line: 2, index: Some(3), source: "/data/cat/1.png".into(), action: Action::Relabel("dog".into()) }
        );
        assert_eq!(rows[1], CorrectionRow { line: 3, index: None, source: "b.png".into(), action: Action::Exclude });
        assert_eq!(rows[2], CorrectionRow { line: 4, index: Some(7), source: String::new(), action: Action::Keep });
        // Columns in another order, without `time`.
        let rows = parse("action,index,label\nrelabel,5,3\n").unwrap();
        assert_eq!(rows[0].action, Action::Relabel("3".into()));
        assert_eq!(rows[0].index, Some(5));
    }

    #[test]
    fn every_problem_names_its_line() {
        let header = "index,source,action,label,time\n";
        for (body, expected) in [
            ("1,,delete,,\n", "line 2: action `delete` is not relabel, exclude or keep"),
            ("x,,keep,,\n", "line 2: index `x` is not a sample index"),
            ("-1,,keep,,\n", "line 2: index `-1` is not a sample index"),
            ("1,,keep,,\n,,exclude,,\n", "line 3: names no sample"),
            ("1,,relabel,,\n", "line 2: `relabel` without a label"),
            ("1,,exclude,cat,\n", "line 2: `exclude` takes no label (found `cat`)"),
            ("1,,keep\n", "line 2: 3 fields, but the header has 5"),
            ("1,,,,\n", "line 2: empty action"),
        ] {
            let err = parse(&format!("{header}{body}")).unwrap_err();
            assert!(err.starts_with(expected), "{body:?}: {err}");
        }
        assert!(parse("").unwrap_err().starts_with("line 1: empty"));
        assert!(parse("index,source,label\n").unwrap_err().starts_with("line 1: no column `action`"));
        assert!(parse("action,label\n").unwrap_err().starts_with("line 1: neither an `index` nor a `source`"));
        assert!(parse("index,action\n1,relabel\n").unwrap_err().starts_with("line 2: `relabel` needs a `label` column"));
    }
}
