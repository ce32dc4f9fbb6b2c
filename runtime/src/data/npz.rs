//! A NumPy `.npz` archive with `x` (images) and `y` (integer labels).
//!
//! `x` may be `(N, H, W)` (one channel), `(N, C, H, W)` or `(N, H, W, C)` with C in
//! {1, 3}; `uint8` pixels are scaled by 1/255, floating-point pixels are taken as they are.

use super::files::fd_path;
use super::{Access, DataError, Dataset, ImageShape, PixelStore, Sources};
use std::path::Path;
use tch::Kind;

/// Reads images (channels first, `f32`) and labels from an `.npz` file.
pub fn read_npz(path: &Path, access: &Access) -> Result<(ImageShape, Vec<f32>, Vec<i64>), DataError> {
    // Read through the descriptor that was checked against the data roots.
    let file = access.open(path)?;
    let arrays = memscope_reference::read_npz(&fd_path(&file)).map_err(|e| DataError::format(path, format!("not a readable .npz: {e}")))?;
    drop(file);
    let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
    let find = |key: &str| {
        arrays
            .iter()
            .find(|(n, _)| n == key || n == &format!("{key}.npy"))
            .map(|(_, t)| t)
            .ok_or_else(|| DataError::format(path, format!("missing array `{key}` (found {names:?})")))
    };
    let (x, y) = (find("x")?, find("y")?);

    let dims = x.size();
    let (n, shape, channels_last) = match dims[..] {
        [n, h, w] => (n, ImageShape { channels: 1, height: h as usize, width: w as usize }, false),
        [n, c, h, w] if c == 1 || c == 3 => (n, ImageShape { channels: c as usize, height: h as usize, width: w as usize }, false),
        [n, h, w, c] if c == 1 || c == 3 => (n, ImageShape { channels: c as usize, height: h as usize, width: w as usize }, true),
        _ => {
            return Err(DataError::format(path, format!("`x` has shape {dims:?}; expected (N,H,W), (N,C,H,W) or (N,H,W,C) with C 1 or 3")))
        }
    };
    let x = if channels_last { x.permute([0, 3, 1, 2]).contiguous() } else { x.shallow_clone() };
    let x = match x.kind() {
        Kind::Uint8 => x.to_kind(Kind::Float) / 255.0,
        Kind::Float | Kind::Double | Kind::Half => x.to_kind(Kind::Float),
        other => return Err(DataError::format(path, format!("`x` has dtype {other:?}; expected uint8 or floating point"))),
    };
    let images = Vec::<f32>::try_from(&x.flatten(0, -1)).map_err(|e| DataError::format(path, e.to_string()))?;
    if images.iter().any(|v| !v.is_finite()) {
        return Err(DataError::format(path, "`x` holds NaN or infinite values"));
    }

    let y_dims = y.size();
    if y_dims != [n] {
        return Err(DataError::format(path, format!("`y` has shape {y_dims:?}; expected ({n},) to match `x`")));
    }
    let labels = match y.kind() {
        Kind::Uint8 | Kind::Int8 | Kind::Int16 | Kind::Int | Kind::Int64 => {
            Vec::<i64>::try_from(&y.to_kind(Kind::Int64)).map_err(|e| DataError::format(path, e.to_string()))?
        }
        other => return Err(DataError::format(path, format!("`y` has dtype {other:?}; expected integers"))),
    };
    Ok((shape, images, labels))
}

/// An `.npz` file as a dataset of floats (source `FILE#i`: row `i` of `x` and `y`).
pub fn read_npz_set(path: &Path, access: &Access) -> Result<Dataset, DataError> {
    let (shape, images, labels) = read_npz(path, access)?;
    let sources = Sources::records(path.display().to_string(), labels.len());
    Ok(Dataset::new(format!("npz {}", path.display()), shape, PixelStore::floats(images, shape.len()), labels, 0, sources))
}
