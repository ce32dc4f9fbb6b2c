//! A CSV manifest: a header, then one row per image with (by default) `path` and
//! `label` columns, in any order among other columns. Paths are relative to the CSV.
//! A label is a class name or an integer. With `class_names` (or, for a test
//! manifest, the training classes) a label must be one of the names or an index into
//! them; without, labels that are all integers are the classes themselves, and
//! otherwise the sorted distinct labels name the classes.

use super::dataset::numbered;
use super::files::listed_image;
use super::images::{CacheKey, FileReader, Listing};
use super::{Access, DataError};
use crate::config::DataConfig;
use std::path::Path;

/// Lists the images of the manifest `csv`. `known` gives the classes a label must
/// name (from `class_names`, or the training classes for a test manifest).
pub fn list_manifest(csv: &Path, known: Option<&[String]>, config: &DataConfig, access: &Access) -> Result<Listing, DataError> {
    let bytes = access.read(csv)?;
    let text = String::from_utf8(bytes).map_err(|e| DataError::format(csv, format!("not UTF-8 text: {e}")))?;
    let rows = parse_csv(&text).map_err(|message| DataError::format(csv, message))?;
    let Some(((_, header), rows)) = rows.split_first() else {
        return Err(DataError::format(csv, "empty: expected a header line with `path` and `label` columns"));
    };
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| DataError::format(csv, format!("no column `{name}` in the header (columns: {})", header.join(", "))))
    };
    let path_at = column(config.path_column.as_deref().unwrap_or("path"))?;
    let label_at = column(config.label_column.as_deref().unwrap_or("label"))?;
    if rows.is_empty() {
        return Err(DataError::format(csv, "lists no images (only a header)"));
    }
    let base = csv.parent().unwrap_or(Path::new("."));

    let mut texts = Vec::with_capacity(rows.len());
    let mut files = Vec::with_capacity(rows.len());
    let mut key = CacheKey::new(config.image_size().expect("validate() checked image_size"), config.resize, config.on_bad_image);
    for (line, fields) in rows {
        if fields.len() != header.len() {
            return Err(DataError::format(csv, format!("line {line}: {} fields, but the header has {}", fields.len(), header.len())));
        }
        let (path, label) = (fields[path_at].trim(), fields[label_at].trim());
        if path.is_empty() {
            return Err(DataError::format(csv, format!("line {line}: empty path")));
        }
        if label.is_empty() {
            return Err(DataError::format(csv, format!("line {line}: empty label")));
        }
        // One name per file, however the manifest reaches it (`../train/1.png`).
        let file = super::normalize_path(&base.join(path));
        let metadata = listed_image(access, csv, &format!("line {line}"), &file)?;
        key.file(&file, &metadata);
        texts.push((*line, label.to_string()));
        files.push(file);
    }
    let (labels, class_names) = resolve_labels(csv, &texts, known.or(config.class_names.as_deref()), config.classes)?;
    Ok(Listing {
        description: format!("csv {}", csv.display()),
        labels,
        sources: files.iter().map(|f| f.display().to_string()).collect(),
        class_names,
        key,
        reader: Box::new(FileReader(files)),
    })
}

/// Labels as class indices, and the class names.
fn resolve_labels(
    csv: &Path,
    texts: &[(usize, String)],
    known: Option<&[String]>,
    classes: Option<usize>,
) -> Result<(Vec<i64>, Vec<String>), DataError> {
    if let Some(names) = known {
        let labels = texts
            .iter()
            .map(|(line, text)| {
                names
                    .iter()
                    .position(|n| n == text)
                    .or_else(|| text.parse::<usize>().ok().filter(|&i| i < names.len()))
                    .map(|i| i as i64)
                    .ok_or_else(|| {
                        DataError::format(csv, format!("line {line}: label `{text}` is not a known class (classes: {})", names.join(", ")))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((labels, names.to_vec()));
    }
    let integers: Option<Vec<i64>> = texts.iter().map(|(_, t)| t.parse::<u32>().ok().map(i64::from)).collect();
    match integers {
        Some(labels) => {
            let count = classes.unwrap_or_else(|| labels.iter().max().map_or(0, |m| *m as usize + 1).max(2));
            Ok((labels, numbered(count)))
        }
        None => {
            let mut names: Vec<String> = texts.iter().map(|(_, t)| t.clone()).collect();
            names.sort();
            names.dedup();
            let labels = texts.iter().map(|(_, t)| names.binary_search(t).expect("a collected name") as i64).collect();
            Ok((labels, names))
        }
    }
}

/// RFC 4180 CSV: fields separated by commas, optionally quoted (`""` is a quote inside
/// quotes, and quoted fields may span lines). Returns `(line number, fields)` per
/// record, numbered from 1 at the record's first line; blank lines are skipped.
pub fn parse_csv(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut records = Vec::new();
    let (mut fields, mut field) = (Vec::new(), String::new());
    let (mut line, mut start_line) = (1usize, 1usize);
    let mut chars = text.trim_start_matches('\u{feff}').chars().peekable();
    let mut quoted = false;
    let mut record_has_content = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                quoted = true;
                record_has_content = true;
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                record_has_content = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if record_has_content || !field.is_empty() {
                    fields.push(std::mem::take(&mut field));
                    records.push((start_line, std::mem::take(&mut fields)));
                }
                record_has_content = false;
                line += 1;
                start_line = line;
            }
            _ => {
                field.push(c);
                record_has_content = true;
            }
        }
    }
    if quoted {
        return Err(format!("line {start_line}: a quoted field is not closed"));
    }
    if record_has_content || !field.is_empty() {
        fields.push(field);
        records.push((start_line, fields));
    }
    Ok(records)
}

/// A CSV field: quoted when it holds a comma, a quote or a line break.
pub fn csv_field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        std::borrow::Cow::Owned(format!("\"{}\"", text.replace('"', "\"\"")))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_commas_and_line_numbers() {
        let text = "path,label\na.png,cat\n\n\"b, c.png\",\"say \"\"dog\"\"\"\r\n\"multi\nline.png\",7\nlast.png,1";
        let rows = parse_csv(text).unwrap();
        assert_eq!(rows[0], (1, vec!["path".to_string(), "label".to_string()]));
        assert_eq!(rows[1], (2, vec!["a.png".to_string(), "cat".to_string()]));
        assert_eq!(rows[2], (4, vec!["b, c.png".to_string(), "say \"dog\"".to_string()]));
        assert_eq!(rows[3], (5, vec!["multi\nline.png".to_string(), "7".to_string()]));
        assert_eq!(rows[4], (7, vec!["last.png".to_string(), "1".to_string()]));
        assert!(parse_csv("a,\"b\n").unwrap_err().contains("line 1"));
        for field in ["plain", "a,b", "say \"x\""] {
            let line = format!("{},z", csv_field(field));
            assert_eq!(parse_csv(&line).unwrap()[0].1[0], field);
        }
    }

    #[test]
    fn labels_are_names_or_integers() {
        let csv = Path::new("m.csv");
        let texts: Vec<(usize, String)> = ["dog", "cat", "dog"].iter().enumerate().map(|(i, t)| (i + 2, t.to_string())).collect();
        assert_eq!(resolve_labels(csv, &texts, None, None).unwrap(), (vec![1, 0, 1], vec!["cat".into(), "dog".into()]));
        let numbers: Vec<(usize, String)> = ["0", "3"].iter().enumerate().map(|(i, t)| (i + 2, t.to_string())).collect();
        assert_eq!(resolve_labels(csv, &numbers, None, None).unwrap().1, ["0", "1", "2", "3"]);
        let names = ["zebra".to_string(), "cat".to_string(), "dog".to_string()];
        let mixed: Vec<(usize, String)> = ["dog", "0", "2"].iter().enumerate().map(|(i, t)| (i + 2, t.to_string())).collect();
        assert_eq!(resolve_labels(csv, &mixed, Some(&names), None).unwrap().0, [2, 0, 2]);
        let err = resolve_labels(csv, &texts[..1].iter().cloned().chain([(9, "cow".to_string())]).collect::<Vec<_>>(), Some(&names), None)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "dataset file m.csv: line 9: label `cow` is not a known class (classes: zebra, cat, dog)");
    }
}
