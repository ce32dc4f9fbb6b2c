//! Parquet in the Hugging Face `datasets` layout: an `image` struct column with
//! `bytes` (the encoded file) and `path`, and an integer `label` column (names
//! configurable; a plain binary image column is read too). `path` may be a glob naming
//! several shards, read in sorted order. Read with the `parquet` crate's row API
//! (no Arrow), one projected column at a time: labels at listing, image bytes only
//! when the cache misses.
//!
//! A row may hold its image by path only (`bytes` null), as `datasets` writes an image
//! column loaded from local files (`load_dataset("imagefolder")` then `to_parquet`):
//! the file is then read like a CSV manifest's, relative paths from the Parquet file's
//! folder, and enters the cache key like one.

use super::dataset::numbered;
use super::files::listed_image;
use super::images::{CacheKey, Encoded, EncodedReader, Listing};
use super::{Access, DataError};
use crate::config::DataConfig;
use parquet::basic::Type as PhysicalType;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::schema::types::{Type, TypePtr};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The shard files `pattern` names: the file itself, or the sorted matches of a glob.
pub fn shard_files(pattern: &Path) -> Result<Vec<PathBuf>, DataError> {
    memscope_base::shards::shard_files(pattern).map_err(|message| DataError::format(pattern, message))
}

/// Lists the rows of the shards `pattern` names.
pub fn list_parquet(pattern: &Path, config: &DataConfig, access: &Access) -> Result<Listing, DataError> {
    let image_column = config.image_column.as_deref().unwrap_or("image");
    let label_column = config.label_column.as_deref().unwrap_or("label");
    let mut key = CacheKey::new(config.image_size().expect("validate() checked image_size"), config.resize, config.on_bad_image);
    key.text(image_column);
    let (mut labels, mut sources, mut shards) = (Vec::new(), Vec::new(), Vec::new());
    for path in shard_files(pattern)? {
        let file = access.open(&path)?;
        let metadata = file.metadata().map_err(|e| DataError::read(&path, e))?;
        let reader = SerializedFileReader::new(file).map_err(|e| DataError::format(&path, format!("not a readable Parquet file: {e}")))?;
        let schema = reader.metadata().file_metadata().schema();
        let image = image_field(&path, schema, image_column)?;
        let label = column(&path, schema, label_column)?;
        if !label.is_primitive() || !matches!(label.get_physical_type(), PhysicalType::INT32 | PhysicalType::INT64) {
            return Err(DataError::format(&path, format!("column `{label_column}` does not hold integers")));
        }
        let rows = reader.metadata().file_metadata().num_rows() as usize;
        key.file(&path, &metadata);
        key.number(rows as u64);
        let before = labels.len();
        for (row, value) in rows_of(&path, &reader, &label)?.enumerate() {
            let value = value?;
            let label = match value.get_column_iter().next().map(|(_, f)| f) {
                Some(Field::Int(v)) => *v as i64,
                Some(Field::Long(v)) => *v,
                Some(Field::Null) | None => return Err(DataError::format(&path, format!("row {row}: `{label_column}` is null"))),
                Some(other) => return Err(DataError::format(&path, format!("row {row}: `{label_column}` is {other}, not an integer"))),
            };
            labels.push(label);
            sources.push(format!("{}#{row}", path.display()));
        }
        if labels.len() - before != rows {
            return Err(DataError::format(&path, format!("{} label rows, but the file says {rows} rows", labels.len() - before)));
        }
        let by_path = images_stored_by_path(&path, &reader, &image, access, &mut key)?;
        shards.push(Shard { path, image, by_path });
    }
    if labels.is_empty() {
        return Err(DataError::format(pattern, "the Parquet files hold no rows"));
    }
    let class_names = match &config.class_names {
        Some(names) => names.clone(),
        None => numbered(config.classes.unwrap_or_else(|| labels.iter().max().map_or(0, |m| (*m + 1).max(2) as usize))),
    };
    Ok(Listing {
        description: format!("parquet {}", pattern.display()),
        labels,
        sources,
        class_names,
        key,
        reader: Box::new(ParquetImages { shards, column: image_column.to_string() }),
    })
}

/// The top-level column `name`.
fn column(path: &Path, schema: &Type, name: &str) -> Result<TypePtr, DataError> {
    schema.get_fields().iter().find(|f| f.name() == name).cloned().ok_or_else(|| {
        let names: Vec<&str> = schema.get_fields().iter().map(|f| f.name()).collect();
        DataError::format(path, format!("no column `{name}` (columns: {})", names.join(", ")))
    })
}

/// The image column: a struct with a binary `bytes` field, or a binary column.
fn image_field(path: &Path, schema: &Type, name: &str) -> Result<TypePtr, DataError> {
    let field = column(path, schema, name)?;
    let binary = |t: &Type| t.is_primitive() && t.get_physical_type() == PhysicalType::BYTE_ARRAY;
    let ok = if field.is_group() { field.get_fields().iter().any(|f| f.name() == "bytes" && binary(f)) } else { binary(&field) };
    if !ok {
        return Err(DataError::format(
            path,
            format!("column `{name}` is neither a struct with a binary `bytes` field (the Hugging Face image layout) nor binary"),
        ));
    }
    Ok(field)
}

/// The rows of `image` (a Hugging Face image struct) that hold their image by path
/// only, and the file each names; every file enters `key` (path, size, modification
/// time). The column is read only when its statistics say some `bytes` may be null: a
/// shard of embedded images costs nothing more here.
fn images_stored_by_path(
    path: &Path,
    reader: &SerializedFileReader<std::fs::File>,
    image: &TypePtr,
    access: &Access,
    key: &mut CacheKey,
) -> Result<HashMap<usize, PathBuf>, DataError> {
    let column = image.name();
    let has_path = image.is_group() && image.get_fields().iter().any(|f| f.name() == "path");
    let bytes_may_be_null =
        reader.metadata().row_groups().iter().flat_map(|group| group.columns()).any(|chunk| {
            chunk.column_path().parts() == [column, "bytes"] && chunk.statistics().and_then(|s| s.null_count_opt()) != Some(0)
        });
    let mut files = HashMap::new();
    if !has_path || !bytes_may_be_null {
        return Ok(files);
    }
    let base = path.parent().unwrap_or(Path::new("."));
    for (row, value) in rows_of(path, reader, image)?.enumerate() {
        let value = value?;
        let Some(Field::Group(cell)) = value.get_column_iter().next().map(|(_, f)| f) else { continue };
        let stored = match (part(cell, "bytes"), part(cell, "path")) {
            (Some(Field::Null) | None, Some(Field::Str(stored))) if !stored.is_empty() => stored,
            _ => continue,
        };
        let file = base.join(stored);
        let metadata = listed_image(access, path, &format!("row {row} (`{column}` stored by path)"), &file)?;
        key.file(&file, &metadata);
        files.insert(row, file);
    }
    Ok(files)
}

/// The rows of one projected column.
fn rows_of<'a>(
    path: &Path,
    reader: &'a SerializedFileReader<std::fs::File>,
    field: &TypePtr,
) -> Result<impl Iterator<Item = Result<parquet::record::Row, DataError>> + 'a, DataError> {
    let projection = Type::group_type_builder("schema")
        .with_fields(vec![Arc::clone(field)])
        .build()
        .map_err(|e| DataError::format(path, e.to_string()))?;
    let rows = reader
        .get_row_iter(Some(projection))
        .map_err(|e| DataError::format(path, format!("cannot read column `{}`: {e}", field.name())))?;
    let path = path.to_path_buf();
    Ok(rows.map(move |row| row.map_err(|e| DataError::format(&path, e.to_string()))))
}

/// One Parquet file of the dataset.
struct Shard {
    path: PathBuf,
    /// The image column.
    image: TypePtr,
    /// Rows whose image is a file named by path, and that file.
    by_path: HashMap<usize, PathBuf>,
}

/// The image bytes (or file) of every row, shard after shard.
struct ParquetImages {
    shards: Vec<Shard>,
    column: String,
}

impl EncodedReader for ParquetImages {
    fn read_chunks(
        &mut self,
        access: &Access,
        chunk: usize,
        each: &mut dyn FnMut(Vec<Encoded>) -> Result<(), DataError>,
    ) -> Result<(), DataError> {
        let mut pending = Vec::with_capacity(chunk);
        for Shard { path, image, by_path } in &self.shards {
            let file = access.open(path)?;
            let reader =
                SerializedFileReader::new(file).map_err(|e| DataError::format(path, format!("not a readable Parquet file: {e}")))?;
            for (r, row) in rows_of(path, &reader, image)?.enumerate() {
                let row = row?;
                let value = row.get_column_iter().next().map(|(_, f)| f);
                pending.push(match by_path.get(&r) {
                    Some(file) => Encoded::File(file.clone()),
                    None => Encoded::Bytes(image_bytes(value, &self.column)),
                });
                if pending.len() == chunk {
                    each(std::mem::replace(&mut pending, Vec::with_capacity(chunk)))?;
                }
            }
        }
        if !pending.is_empty() {
            each(pending)?;
        }
        Ok(())
    }
}

/// The field `name` of an image struct cell (`bytes`, `path`).
fn part<'a>(cell: &'a parquet::record::Row, name: &str) -> Option<&'a Field> {
    cell.get_column_iter().find(|(n, _)| n.as_str() == name).map(|(_, f)| f)
}

/// The encoded bytes of one image cell, or why there are none.
fn image_bytes(value: Option<&Field>, column: &str) -> Result<Vec<u8>, String> {
    match value {
        Some(Field::Bytes(b)) => Ok(b.data().to_vec()),
        Some(Field::Group(group)) => match part(group, "bytes") {
            Some(Field::Bytes(b)) => Ok(b.data().to_vec()),
            _ => Err(format!("`{column}` has neither bytes nor a path")),
        },
        _ => Err(format!("`{column}` is null")),
    }
}
