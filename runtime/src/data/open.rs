//! Opening the dataset a job names: training set, optional test set, label checks.

use super::cifar::{read_cifar, train_files, CifarKind};
use super::digits::load_digits;
use super::idx::read_idx;
use super::npz::read_npz;
use super::{DataError, Dataset, ImageShape};
use crate::config::{DataConfig, DataFormat};
use std::path::Path;
use std::sync::Arc;

/// The training set and, when configured, the held-out test set.
#[derive(Debug)]
pub struct LoadedData {
    /// Samples that are trained on and scored.
    pub train: Dataset,
    /// Samples used only to report test accuracy.
    pub test: Option<Dataset>,
}

/// Loads what `config` describes and checks that labels fit the class count.
pub fn load_data(config: &DataConfig) -> Result<LoadedData, DataError> {
    let (mut train, test) = match config.format {
        DataFormat::Digits => (load_digits(), None),
        DataFormat::Idx => {
            let train = read_idx_pair(req(&config.path), req(&config.labels))?;
            let test = match (&config.test_path, &config.test_labels) {
                (Some(x), Some(y)) => Some(read_idx_pair(x, y)?),
                _ => None,
            };
            (train, test)
        }
        DataFormat::Cifar10 | DataFormat::Cifar100 => {
            let kind = if config.format == DataFormat::Cifar10 { CifarKind::Ten } else { CifarKind::Hundred };
            let path = req(&config.path);
            let train = read_cifar_set(&train_files(path, kind)?, kind, path)?;
            let test = config
                .test_path
                .as_ref()
                .map(|p| read_cifar_set(std::slice::from_ref(p), kind, p))
                .transpose()?;
            (train, test)
        }
        DataFormat::Npz => {
            let train = read_npz_set(req(&config.path))?;
            let test = config.test_path.as_ref().map(|p| read_npz_set(p)).transpose()?;
            (train, test)
        }
    };
    if config.limit > 0 {
        train.truncate(config.limit);
    }
    let classes = match config.classes {
        Some(c) => c,
        None if matches!(config.format, DataFormat::Idx | DataFormat::Npz) => {
            train.labels.iter().copied().max().map_or(0, |m| m + 1).max(2) as usize
        }
        None => train.classes,
    };
    check_labels(&train, classes)?;
    train.classes = classes;
    let test = match test {
        Some(mut t) => {
            check_labels(&t, classes)?;
            if t.shape != train.shape {
                return Err(DataError::Mismatch {
                    what: t.source.clone(),
                    message: format!("test images are {:?}, training images {:?}", t.shape, train.shape),
                });
            }
            t.classes = classes;
            Some(t)
        }
        None => None,
    };
    Ok(LoadedData { train, test })
}

/// Paths that `validate()` guarantees are present for the format.
fn req(path: &Option<std::path::PathBuf>) -> &Path {
    path.as_deref().expect("validate() requires this path for the format")
}

fn check_labels(data: &Dataset, classes: usize) -> Result<(), DataError> {
    if data.is_empty() {
        return Err(DataError::Mismatch { what: data.source.clone(), message: "no samples".into() });
    }
    if let Some((i, &label)) = data.labels.iter().enumerate().find(|(_, &l)| l < 0 || l as usize >= classes) {
        return Err(DataError::Mismatch {
            what: data.source.clone(),
            message: format!("sample {i} has label {label}, outside the {classes} classes 0..{classes}"),
        });
    }
    Ok(())
}

fn read_idx_pair(images: &Path, labels: &Path) -> Result<Dataset, DataError> {
    let x = read_idx(images, 3)?;
    let y = read_idx(labels, 1)?;
    if x.dims[0] != y.dims[0] {
        return Err(DataError::Mismatch {
            what: format!("{} and {}", images.display(), labels.display()),
            message: format!("{} images but {} labels", x.dims[0], y.dims[0]),
        });
    }
    Ok(Dataset {
        source: format!("idx {}", images.display()),
        shape: ImageShape { channels: 1, height: x.dims[1], width: x.dims[2] },
        images: Arc::new(x.data.iter().map(|&b| b as f32 / 255.0).collect()),
        labels: y.data.iter().map(|&b| b as i64).collect(),
        classes: 0,
    })
}

fn read_cifar_set(files: &[std::path::PathBuf], kind: CifarKind, path: &Path) -> Result<Dataset, DataError> {
    let (images, labels) = read_cifar(files, kind)?;
    Ok(Dataset {
        source: format!("cifar{} {}", kind.classes(), path.display()),
        shape: ImageShape { channels: 3, height: 32, width: 32 },
        images: Arc::new(images),
        labels,
        classes: kind.classes(),
    })
}

fn read_npz_set(path: &Path) -> Result<Dataset, DataError> {
    let (shape, images, labels) = read_npz(path)?;
    Ok(Dataset { source: format!("npz {}", path.display()), shape, images: Arc::new(images), labels, classes: 0 })
}
