//! Opening the dataset a job names: training set, optional test set, label checks,
//! normalization, and the corrections the job names. Every file is opened through
//! the job's [`Access`].

use super::cifar::{read_cifar_set, train_files, CifarKind};
use super::corrections::{AppliedCorrections, CorrectionsFile, Located};
use super::dataset::numbered;
use super::digits::load_digits;
use super::folder::list_folder;
use super::idx::read_idx_pair;
use super::images::{materialize, Decoded, Listing, ProgressFn, SkippedImage};
use super::manifest::list_manifest;
use super::npz::read_npz_set;
use super::parquet::list_parquet;
use super::{Access, DataError, Dataset, Normalization};
use crate::config::{DataConfig, DataFormat};
use std::path::Path;

/// The training set and, when configured, the held-out test set.
#[derive(Debug)]
pub struct LoadedData {
    /// Samples that are trained on and scored.
    pub train: Dataset,
    /// Samples used only to report test accuracy.
    pub test: Option<Dataset>,
    /// Images left out under `on_bad_image = "skip"` (training set, then test set).
    pub skipped: Vec<SkippedImage>,
    /// What `[data] corrections` did to the training set, when the job names a file.
    pub corrections: Option<AppliedCorrections>,
}

/// How to open data: which files may be read, and who hears about decoding progress.
#[derive(Clone, Default)]
pub struct LoadOptions {
    /// Which files may be opened.
    pub access: Access,
    /// Called as images are decoded (image formats, on a cache miss).
    pub progress: Option<ProgressFn>,
    /// Leave `[data] corrections` out: the training set as the files give it (the
    /// report re-opens a run's data so and selects the run's `kept_indices.npy`, since
    /// the corrections file may have grown since the run).
    pub skip_corrections: bool,
}

impl std::fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("access", &self.access)
            .field("progress", &self.progress.is_some())
            .field("skip_corrections", &self.skip_corrections)
            .finish()
    }
}

/// Loads what `config` describes, checks that labels fit the class count, and applies
/// the corrections it names (unless `options.skip_corrections`).
pub fn load_data(config: &DataConfig, options: &LoadOptions) -> Result<LoadedData, DataError> {
    let access = &options.access;
    let mut skipped = Vec::new();
    let format = config.format.ok_or(DataError::NoFormat)?;
    let (mut train, test) = match format {
        DataFormat::Digits => (load_digits(), None),
        DataFormat::Idx => {
            let train = read_idx_pair(req(&config.path), req(&config.labels), access)?;
            let test = match (&config.test_path, &config.test_labels) {
                (Some(x), Some(y)) => Some(read_idx_pair(x, y, access)?),
                _ => None,
            };
            (train, test)
        }
        DataFormat::Cifar10 | DataFormat::Cifar100 => {
            let kind = if format == DataFormat::Cifar10 { CifarKind::Ten } else { CifarKind::Hundred };
            let path = req(&config.path);
            access.check(path)?;
            let train = read_cifar_set(&train_files(path, kind)?, kind, path, access)?;
            let test = config.test_path.as_ref().map(|p| read_cifar_set(std::slice::from_ref(p), kind, p, access)).transpose()?;
            (train, test)
        }
        DataFormat::Npz => {
            let train = read_npz_set(req(&config.path), access)?;
            let test = config.test_path.as_ref().map(|p| read_npz_set(p, access)).transpose()?;
            (train, test)
        }
        DataFormat::Folder | DataFormat::Csv | DataFormat::Parquet => {
            let listing = list(config, req(&config.path), None, access)?;
            let Decoded { dataset: train, skipped: train_skipped } = materialize(listing, config, access, options.progress.as_ref())?;
            skipped.extend(train_skipped);
            let test = match &config.test_path {
                Some(path) => {
                    let listing = list(config, path, Some(&train.class_names), access)?;
                    let Decoded { dataset, skipped: test_skipped } = materialize(listing, config, access, options.progress.as_ref())?;
                    skipped.extend(test_skipped);
                    Some(dataset)
                }
                None => None,
            };
            (train, test)
        }
    };
    let corrections = match options.skip_corrections {
        false => locate_corrections(config, access, &train, test.as_ref())?,
        true => None,
    };
    if config.limit > 0 {
        train.truncate(config.limit);
    }
    let classes = match config.classes {
        Some(c) => c,
        None if matches!(format, DataFormat::Idx | DataFormat::Npz) => {
            train.labels.iter().copied().max().map_or(0, |m| m + 1).max(2) as usize
        }
        None => train.classes,
    };
    let normalization = normalization(config, &train)?;
    let finish = |data: &mut Dataset| -> Result<(), DataError> {
        check_labels(data, classes)?;
        if data.class_names.len() < classes {
            let mut names = numbered(classes);
            names[..data.class_names.len()].clone_from_slice(&data.class_names);
            data.class_names = names;
        }
        data.class_names.truncate(classes);
        data.classes = classes;
        data.normalization = normalization.clone();
        Ok(())
    };
    finish(&mut train)?;
    let test = match test {
        Some(mut t) => {
            if t.shape != train.shape {
                return Err(DataError::Mismatch {
                    what: t.description.clone(),
                    message: format!("test images are {:?}, training images {:?}", t.shape, train.shape),
                });
            }
            finish(&mut t)?;
            Some(t)
        }
        None => None,
    };
    let corrections = corrections.map(|c| c.apply(&mut train)).transpose()?;
    Ok(LoadedData { train, test, skipped, corrections })
}

/// The corrections `config` names, located in `train` (the training set as read,
/// before `limit`); a relative source is also looked up under the dataset's
/// directory (the folder root, the manifest's or the data file's directory).
pub(crate) fn locate_corrections(
    config: &DataConfig,
    access: &Access,
    train: &Dataset,
    test: Option<&Dataset>,
) -> Result<Option<Located>, DataError> {
    let Some(path) = &config.corrections else { return Ok(None) };
    let file = CorrectionsFile::read(path, access)?;
    let base = config.path.as_ref().and_then(|p| if p.is_dir() { Some(p.as_path()) } else { p.parent() });
    let bases: Vec<std::path::PathBuf> = base.into_iter().map(Path::to_path_buf).collect();
    Ok(Some(file.locate(train, test, &bases)?))
}

/// The listing of an image format at `path`; `known` are the training classes when
/// listing a test set.
fn list(config: &DataConfig, path: &Path, known: Option<&[String]>, access: &Access) -> Result<Listing, DataError> {
    match config.format {
        Some(DataFormat::Folder) => list_folder(path, known, config, access),
        Some(DataFormat::Csv) => list_manifest(path, known, config, access),
        Some(DataFormat::Parquet) => list_parquet(path, config, access),
        other => unreachable!("{other:?} is not an image format"),
    }
}

/// Paths that `validate()` guarantees are present for the format.
fn req(path: &Option<std::path::PathBuf>) -> &Path {
    path.as_deref().expect("validate() requires this path for the format")
}

/// The configured normalization, with one value per channel of the images.
fn normalization(config: &DataConfig, data: &Dataset) -> Result<Option<Normalization>, DataError> {
    let Some(n) = &config.normalize else { return Ok(None) };
    if n.mean.len() != data.shape.channels || n.std.len() != data.shape.channels {
        return Err(DataError::Mismatch {
            what: data.description.clone(),
            message: format!(
                "`normalize` gives {} mean(s) and {} std(s), but the images have {} channel(s)",
                n.mean.len(),
                n.std.len(),
                data.shape.channels
            ),
        });
    }
    Ok(Some(Normalization { mean: n.mean.iter().map(|&v| v as f32).collect(), std: n.std.iter().map(|&v| v as f32).collect() }))
}

fn check_labels(data: &Dataset, classes: usize) -> Result<(), DataError> {
    if data.is_empty() {
        return Err(DataError::Mismatch { what: data.description.clone(), message: "no samples".into() });
    }
    if let Some((i, &label)) = data.labels.iter().enumerate().find(|(_, &l)| l < 0 || l as usize >= classes) {
        return Err(DataError::Mismatch {
            what: data.description.clone(),
            message: format!("sample {i} has label {label}, outside the {classes} classes 0..{classes} (source {})", data.source(i)),
        });
    }
    Ok(())
}
