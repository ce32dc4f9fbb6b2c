//! CIFAR-10 and CIFAR-100, binary version: fixed-size records of label byte(s) then a
//! 32x32x3 image stored channel-planar (all red, all green, all blue).

use super::{idx::read_maybe_gz, Access, DataError, Dataset, ImageShape, PixelStore, Sources};
use std::path::{Path, PathBuf};

const PIXELS: usize = 3 * 32 * 32;

/// Which CIFAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarKind {
    /// 10 classes, records of 1 label byte + 3072 pixels.
    Ten,
    /// 100 fine classes (20 coarse), records of coarse byte, fine byte + 3072 pixels.
    Hundred,
}

impl CifarKind {
    fn label_bytes(self) -> usize {
        match self {
            CifarKind::Ten => 1,
            CifarKind::Hundred => 2,
        }
    }

    /// Number of (fine) classes.
    pub fn classes(self) -> usize {
        match self {
            CifarKind::Ten => 10,
            CifarKind::Hundred => 100,
        }
    }
}

/// The training files for a path: the file itself, or in a directory
/// `data_batch_*.bin` (CIFAR-10) / `train.bin` (CIFAR-100).
pub fn train_files(path: &Path, kind: CifarKind) -> Result<Vec<PathBuf>, DataError> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = match kind {
        CifarKind::Ten => std::fs::read_dir(path)
            .map_err(|source| DataError::read(path, source))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("data_batch_") && n.ends_with(".bin")))
            .collect(),
        CifarKind::Hundred => vec![path.join("train.bin")],
    };
    files.sort();
    if files.is_empty() {
        return Err(DataError::format(path, "directory holds no data_batch_*.bin files"));
    }
    Ok(files)
}

/// The records of some CIFAR files.
struct Records {
    /// Pixels as bytes, channel-planar, record after record.
    images: Vec<u8>,
    /// (Fine) labels.
    labels: Vec<i64>,
    /// Records of each file.
    counts: Vec<usize>,
}

/// Reads CIFAR records from `files` in order.
fn read_cifar(files: &[PathBuf], kind: CifarKind, access: &Access) -> Result<Records, DataError> {
    let record = kind.label_bytes() + PIXELS;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    let mut counts = Vec::new();
    for path in files {
        let bytes = read_maybe_gz(path, access)?;
        if bytes.is_empty() || bytes.len() % record != 0 {
            return Err(DataError::format(
                path,
                format!(
                    "size {} bytes is not a positive multiple of the {record}-byte record (truncated? {} whole records and {} extra bytes)",
                    bytes.len(),
                    bytes.len() / record,
                    bytes.len() % record
                ),
            ));
        }
        for (i, rec) in bytes.chunks_exact(record).enumerate() {
            let label = rec[kind.label_bytes() - 1] as usize;
            if label >= kind.classes() {
                return Err(DataError::format(path, format!("record {i}: label {label} is out of range 0..{}", kind.classes())));
            }
            if kind == CifarKind::Hundred && rec[0] >= 20 {
                return Err(DataError::format(path, format!("record {i}: coarse label {} is out of range 0..20", rec[0])));
            }
            labels.push(label as i64);
            images.extend_from_slice(&rec[kind.label_bytes()..]);
        }
        counts.push(bytes.len() / record);
    }
    Ok(Records { images, labels, counts })
}

/// The CIFAR records of `files` as a dataset of bytes (source `FILE#record`).
pub fn read_cifar_set(files: &[PathBuf], kind: CifarKind, path: &Path, access: &Access) -> Result<Dataset, DataError> {
    let Records { images, labels, counts } = read_cifar(files, kind, access)?;
    let sources = Sources::Records(files.iter().map(|f| f.display().to_string()).zip(counts).collect());
    Ok(Dataset::new(
        format!("cifar{} {}", kind.classes(), path.display()),
        ImageShape { channels: 3, height: 32, width: 32 },
        PixelStore::bytes(images, PIXELS),
        labels,
        kind.classes(),
        sources,
    ))
}
