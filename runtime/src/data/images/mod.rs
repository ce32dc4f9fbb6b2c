//! Encoded image datasets (image folders, CSV manifests, Parquet): the listing a format
//! makes (labels, sources, class names, the inputs of the cache key, a reader of the
//! encoded images) becomes a [`Dataset`] whose pixels are a memory-mapped uint8 cache.
//! The images are decoded once, in parallel (rayon), chunk by chunk in listing order,
//! straight into the cache file: memory holds one chunk, never the whole set. Later
//! runs with the same files and settings map the cache and start at once.

mod cache;
mod decode;

pub use cache::{cache_dir, CacheEntry, CacheKey, CacheRecord, CachedSet, Cleared, Inventory, SkippedImage, Unfinished};
pub use decode::{decode_into, encode_png};

use super::{Access, DataError, Dataset, ImageShape, PixelStore, Sources};
use crate::config::{BadImagePolicy, DataConfig, ImageSize};
use rayon::prelude::*;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Images decoded per parallel step: enough to keep every core busy, small enough that
/// the encoded and decoded chunk stay a few megabytes.
const CHUNK: usize = 256;

/// How far decoding has come, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeProgress {
    /// Images decoded so far (including skipped ones).
    pub done: usize,
    /// Images to decode.
    pub total: usize,
}

/// Called after each decoded chunk. The library draws nothing itself: the CLI turns
/// these into a progress bar, the daemon into job events.
pub type ProgressFn = Arc<dyn Fn(DecodeProgress) + Send + Sync>;

/// One encoded image to decode.
pub enum Encoded {
    /// A file, read through the job's [`Access`] when decoded.
    File(PathBuf),
    /// Bytes already read (a Parquet row), or why they could not be.
    Bytes(Result<Vec<u8>, String>),
}

/// Hands out the encoded images of a listing, in listing order, in chunks.
pub trait EncodedReader: Send {
    /// Calls `each` with consecutive chunks of at most `chunk` images until all are
    /// handed out (or `each` fails).
    fn read_chunks(
        &mut self,
        access: &Access,
        chunk: usize,
        each: &mut dyn FnMut(Vec<Encoded>) -> Result<(), DataError>,
    ) -> Result<(), DataError>;
}

/// The files of a folder or a manifest, in order.
pub struct FileReader(pub Vec<PathBuf>);

impl EncodedReader for FileReader {
    fn read_chunks(
        &mut self,
        _access: &Access,
        chunk: usize,
        each: &mut dyn FnMut(Vec<Encoded>) -> Result<(), DataError>,
    ) -> Result<(), DataError> {
        for paths in self.0.chunks(chunk) {
            each(paths.iter().cloned().map(Encoded::File).collect())?;
        }
        Ok(())
    }
}

/// What a format found: everything but the pixels.
pub struct Listing {
    /// Format and path, for summaries and errors.
    pub description: String,
    /// One label per listed image.
    pub labels: Vec<i64>,
    /// One source per listed image.
    pub sources: Vec<String>,
    /// Class names in label order.
    pub class_names: Vec<String>,
    /// The cache key with every input added (the settings are added by `CacheKey::new`).
    pub key: CacheKey,
    /// The encoded images, in listing order.
    pub reader: Box<dyn EncodedReader>,
}

/// A decoded set and the images it left out.
pub struct Decoded {
    /// The dataset, its pixels memory-mapped.
    pub dataset: Dataset,
    /// Images skipped under `on_bad_image = "skip"`.
    pub skipped: Vec<SkippedImage>,
}

/// Decodes (or finds in the cache) the images of `listing` as `config` says.
pub fn materialize(listing: Listing, config: &DataConfig, access: &Access, progress: Option<&ProgressFn>) -> Result<Decoded, DataError> {
    let size = config.image_size().expect("validate() checked image_size for image formats");
    let shape = ImageShape { channels: size.channels, height: size.height, width: size.width };
    let dim = shape.len();
    let Listing { description, labels, sources, class_names, key, mut reader } = listing;
    if labels.is_empty() {
        return Err(DataError::Mismatch { what: description, message: "no images".into() });
    }
    let entry = CacheEntry::new(&cache_dir(config.cache_dir.as_deref())?, &key.finish());
    let (record, map) = match entry.open(dim).filter(|(r, _)| r.shape == [shape.channels, shape.height, shape.width]) {
        Some(found) => {
            tracing::info!("{description}: {} decoded images from the cache {}", found.0.samples, entry.data.display());
            found
        }
        None => {
            tracing::info!(
                "{description}: decoding {} images to {:?} (cache {})",
                labels.len(),
                [shape.channels, shape.height, shape.width],
                entry.data.display()
            );
            let record = decode_all(&mut *reader, &description, &sources, config, access, &entry, progress)?;
            entry.open(dim).filter(|(r, _)| r.samples == record.samples).ok_or_else(|| DataError::Cache {
                path: entry.data.clone(),
                message: "the cache entry just written cannot be read back".into(),
            })?
        }
    };
    if record.samples + record.skipped.len() != labels.len() {
        return Err(DataError::Cache {
            path: entry.record.clone(),
            message: format!("holds {} + {} skipped images for a listing of {}", record.samples, record.skipped.len(), labels.len()),
        });
    }
    for s in &record.skipped {
        tracing::warn!("skipped bad image {}: {}", s.source, s.message);
    }
    let skipped_at: std::collections::HashSet<usize> = record.skipped.iter().map(|s| s.index).collect();
    let keep = |i: &usize| !skipped_at.contains(i);
    let labels: Vec<i64> = (0..labels.len()).filter(keep).map(|i| labels[i]).collect();
    let sources: Vec<String> = sources.into_iter().enumerate().filter(|(i, _)| keep(i)).map(|(_, s)| s).collect();
    let classes = class_names.len();
    let mut dataset =
        Dataset::new(description, shape, PixelStore::mapped(map, dim, record.samples), labels, classes, Sources::List(sources));
    dataset.class_names = class_names;
    Ok(Decoded { dataset, skipped: record.skipped })
}

/// Decodes the images `reader` hands out (one per source) into a new cache entry;
/// returns its record.
fn decode_all(
    reader: &mut dyn EncodedReader,
    description: &str,
    sources: &[String],
    config: &DataConfig,
    access: &Access,
    entry: &CacheEntry,
    progress: Option<&ProgressFn>,
) -> Result<CacheRecord, DataError> {
    let size: ImageSize = config.image_size().expect("validate() checked image_size for image formats");
    let total = sources.len();
    let dim = size.channels * size.height * size.width;
    let (file, tmp) = entry.create_temporary()?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut done = 0usize;
    let mut skipped = Vec::new();
    let result = reader.read_chunks(access, CHUNK, &mut |chunk: Vec<Encoded>| {
        let first = done;
        let count = chunk.len();
        if first + count > total {
            return Err(DataError::Mismatch { what: sources[0].clone(), message: format!("more images than the {total} listed") });
        }
        let decoded: Vec<Result<Vec<u8>, DataError>> = chunk
            .into_par_iter()
            .enumerate()
            .map(|(k, encoded)| {
                let source = &sources[first + k];
                let bytes = match encoded {
                    Encoded::File(path) => match access.read(&path) {
                        Ok(bytes) => bytes,
                        Err(e @ DataError::OutsideRoots { .. }) => return Err(e),
                        Err(DataError::Read { source: io, .. }) => {
                            return Err(DataError::Image { source_name: source.clone(), message: io.to_string() })
                        }
                        Err(e) => return Err(e),
                    },
                    Encoded::Bytes(Ok(bytes)) => bytes,
                    Encoded::Bytes(Err(message)) => return Err(DataError::Image { source_name: source.clone(), message }),
                };
                let mut pixels = vec![0u8; dim];
                decode_into(&bytes, size, config.resize, &mut pixels)
                    .map_err(|message| DataError::Image { source_name: source.clone(), message })?;
                Ok(pixels)
            })
            .collect();
        for (k, result) in decoded.into_iter().enumerate() {
            match result {
                Ok(pixels) => out.write_all(&pixels).map_err(|e| cache::cache_error(&tmp, e))?,
                Err(DataError::Image { source_name, message }) if config.on_bad_image == BadImagePolicy::Skip => {
                    skipped.push(SkippedImage { index: first + k, source: source_name, message });
                }
                Err(e) => return Err(e),
            }
        }
        done += count;
        if let Some(progress) = progress {
            progress(DecodeProgress { done, total });
        }
        Ok(())
    });
    let result = result.and_then(|()| {
        if done == total {
            Ok(())
        } else {
            Err(DataError::Mismatch { what: sources[0].clone(), message: format!("{done} images read, {total} listed") })
        }
    });
    let finished = result.and_then(|()| {
        let file = out.into_inner().map_err(|e| cache::cache_error(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| cache::cache_error(&tmp, e))
    });
    if let Err(e) = finished {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let samples = total - skipped.len();
    if samples == 0 {
        let _ = std::fs::remove_file(&tmp);
        let first = &skipped[0];
        return Err(DataError::Image {
            source_name: first.source.clone(),
            message: format!("{} (and every other image of the {total} was bad too)", first.message),
        });
    }
    let record = CacheRecord { samples, shape: [size.channels, size.height, size.width], skipped, dataset: Some(description.to_string()) };
    entry.commit(&tmp, &record)?;
    Ok(record)
}
