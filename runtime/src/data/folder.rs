//! torchvision's ImageFolder layout: `root/<class>/**/*.{png,jpg,jpeg,bmp,webp}`
//! (extensions in any case). Classes are the sub-folders sorted by name; samples are
//! ordered by class, then by path. Other files are ignored, as torchvision does; a
//! class folder without any image is an error.

use super::images::{CacheKey, FileReader, Listing};
use super::{Access, DataError};
use crate::config::DataConfig;
use std::path::{Path, PathBuf};

/// File extensions read as images (compared without case).
pub const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "bmp", "webp"];

/// Folders below a class folder deeper than this are refused: a symlink loop would
/// otherwise be walked forever.
const MAX_DEPTH: usize = 32;

/// Whether `path` has an image extension.
pub fn is_image(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Lists the images under `root`. For a test folder, `known` gives the training
/// classes: its class folders must be among them (some may be missing), and labels
/// follow the training order.
pub fn list_folder(root: &Path, known: Option<&[String]>, config: &DataConfig, access: &Access) -> Result<Listing, DataError> {
    access.check(root)?;
    let entries = sorted_entries(root)?;
    let mut class_dirs = Vec::new();
    for path in entries {
        let hidden = path.file_name().and_then(|n| n.to_str()).is_none_or(|n| n.starts_with('.'));
        if !hidden && std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            class_dirs.push(path);
        }
    }
    if class_dirs.is_empty() {
        return Err(DataError::format(root, "no class folders: expected ROOT/<class>/<image files> (ImageFolder layout)"));
    }
    let names: Vec<String> = class_dirs.iter().map(|d| d.file_name().expect("a listed entry").to_string_lossy().into_owned()).collect();
    let class_names = match known {
        Some(known) => {
            if let Some(name) = names.iter().find(|n| !known.contains(n)) {
                return Err(DataError::format(
                    root,
                    format!("class folder `{name}` is not a class of the training folder ({})", known.join(", ")),
                ));
            }
            known.to_vec()
        }
        None => names.clone(),
    };

    let mut key = CacheKey::new(config.image_size().expect("validate() checked image_size"), config.resize, config.on_bad_image);
    let (mut files, mut labels, mut sources) = (Vec::new(), Vec::new(), Vec::new());
    for (dir, name) in class_dirs.iter().zip(&names) {
        let label = class_names.iter().position(|n| n == name).expect("a known class") as i64;
        let mut images = Vec::new();
        walk(dir, access, 0, &mut images)?;
        if images.is_empty() {
            let wanted: Vec<String> = IMAGE_EXTENSIONS.iter().map(|e| format!(".{e}")).collect();
            return Err(DataError::format(dir, format!("class folder `{name}` holds no images ({})", wanted.join(", "))));
        }
        images.sort();
        for path in images {
            let metadata = access.metadata(&path)?;
            key.file(&path, &metadata);
            sources.push(path.display().to_string());
            labels.push(label);
            files.push(path);
        }
    }
    Ok(Listing {
        description: format!("folder {}", root.display()),
        labels,
        sources,
        class_names,
        key,
        reader: Box::new(FileReader(files)),
    })
}

/// The entries of `dir`, sorted.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::read(dir, e))? {
        entries.push(entry.map_err(|e| DataError::read(dir, e))?.path());
    }
    entries.sort();
    Ok(entries)
}

/// Every image file under `dir`, following symlinked folders (as torchvision does),
/// each folder checked against the access policy before it is listed.
fn walk(dir: &Path, access: &Access, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    access.check(dir)?;
    if depth > MAX_DEPTH {
        return Err(DataError::format(dir, format!("folders nested more than {MAX_DEPTH} deep (a symlink loop?)")));
    }
    for path in sorted_entries(dir)? {
        let hidden = path.file_name().and_then(|n| n.to_str()).is_none_or(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => walk(&path, access, depth + 1, out)?,
            _ if is_image(&path) => out.push(path),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_are_compared_without_case() {
        for name in ["a.png", "b.JPG", "c.Jpeg", "d.bmp", "e.WebP"] {
            assert!(is_image(Path::new(name)), "{name}");
        }
        for name in ["a.txt", "png", "b.gif", "c"] {
            assert!(!is_image(Path::new(name)), "{name}");
        }
    }
}
