//! IDX files, the format of MNIST and Fashion-MNIST, raw or gzipped.
//!
//! Header: two zero bytes, a type byte (0x08 = unsigned byte), the number of
//! dimensions, then each dimension as a big-endian u32; then the data.

use super::{Access, DataError, Dataset, ImageShape, PixelStore, Sources};
use std::io::Read;
use std::path::Path;

/// A decoded IDX file of unsigned bytes.
#[derive(Debug)]
pub struct IdxArray {
    /// Dimensions from the header.
    pub dims: Vec<usize>,
    /// The data, `dims.product()` bytes.
    pub data: Vec<u8>,
}

/// Reads a whole file, un-gzipping it when it starts with the gzip magic.
pub fn read_maybe_gz(path: &Path, access: &Access) -> Result<Vec<u8>, DataError> {
    let raw = access.read(path)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::format(path, format!("corrupt gzip stream: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses an IDX file with `expected_dims` dimensions (3 for images, 1 for labels).
pub fn read_idx(path: &Path, expected_dims: usize, access: &Access) -> Result<IdxArray, DataError> {
    let bytes = read_maybe_gz(path, access)?;
    if bytes.len() < 4 {
        return Err(DataError::format(path, format!("truncated: {} bytes, shorter than the 4-byte IDX magic", bytes.len())));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let expected_magic = 0x0800 | expected_dims as u32;
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || bytes[3] as usize != expected_dims {
        return Err(DataError::format(
            path,
            format!("bad IDX magic: expected 0x{expected_magic:08x} (unsigned bytes, {expected_dims} dimension(s)), found 0x{magic:08x}"),
        ));
    }
    let header = 4 + 4 * expected_dims;
    if bytes.len() < header {
        return Err(DataError::format(path, format!("truncated header: expected {header} bytes, found {}", bytes.len())));
    }
    let dims: Vec<usize> = (0..expected_dims)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let expected = dims.iter().product::<usize>();
    let found = bytes.len() - header;
    if found != expected {
        let what = if found < expected { "truncated" } else { "trailing bytes" };
        return Err(DataError::format(path, format!("{what}: header {dims:?} needs {expected} data bytes, found {found}")));
    }
    Ok(IdxArray { dims, data: bytes[header..].to_vec() })
}

/// An IDX image file and its label file as a dataset of bytes; sample `i` is record
/// `i` of both (source `FILE#i`).
pub fn read_idx_pair(images: &Path, labels: &Path, access: &Access) -> Result<Dataset, DataError> {
    let x = read_idx(images, 3, access)?;
    let y = read_idx(labels, 1, access)?;
    if x.dims[0] != y.dims[0] {
        return Err(DataError::Mismatch {
            what: format!("{} and {}", images.display(), labels.display()),
            message: format!("{} images but {} labels", x.dims[0], y.dims[0]),
        });
    }
    let shape = ImageShape { channels: 1, height: x.dims[1], width: x.dims[2] };
    let labels: Vec<i64> = y.data.iter().map(|&b| b as i64).collect();
    let sources = Sources::records(images.display().to_string(), labels.len());
    Ok(Dataset::new(format!("idx {}", images.display()), shape, PixelStore::bytes(x.data, shape.len()), labels, 0, sources))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn reads_images_and_reports_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let mut ok = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
        ok.extend([1u8, 2, 3, 4, 5, 6, 7, 8]);
        let arr = read_idx(&write(dir.path(), "ok", &ok), 3, &Access::Anything).unwrap();
        assert_eq!(arr.dims, vec![2, 2, 2]);
        let err = read_idx(&write(dir.path(), "short", &ok[..ok.len() - 3]), 3, &Access::Anything).unwrap_err().to_string();
        assert!(err.contains("short") && err.contains("needs 8 data bytes, found 5"), "{err}");
        let err = read_idx(&write(dir.path(), "labels", &ok), 1, &Access::Anything).unwrap_err().to_string();
        assert!(err.contains("expected 0x00000801") && err.contains("found 0x00000803"), "{err}");
    }
}
