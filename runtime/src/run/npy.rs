//! Writing `.npy` files that libtorch's writer cannot (booleans).

use std::io::Write;
use std::path::Path;

/// Writes a 1-D boolean array in NumPy's `.npy` format (version 1.0).
pub fn write_bool_npy(path: &Path, values: &[bool]) -> std::io::Result<()> {
    write_bool_npy_shaped(path, &[values.len()], values)
}

/// Writes a boolean array of `shape` (row-major `values`) in NumPy's `.npy` format.
pub fn write_bool_npy_shaped(path: &Path, shape: &[usize], values: &[bool]) -> std::io::Result<()> {
    assert_eq!(shape.iter().product::<usize>(), values.len(), "shape {shape:?} for {} values", values.len());
    let dims = match shape {
        [one] => format!("({one},)"),
        _ => format!("({})", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '|b1', 'fortran_order': False, 'shape': {dims}, }}");
    // Magic (6) + version (2) + length (2) + header must be a multiple of 64, ending in \n.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    file.write_all(b"\x93NUMPY\x01\x00")?;
    file.write_all(&(header.len() as u16).to_le_bytes())?;
    file.write_all(header.as_bytes())?;
    file.write_all(&values.iter().map(|&b| b as u8).collect::<Vec<u8>>())?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_and_data_follows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.npy");
        write_bool_npy(&path, &[true, false, true]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        assert_eq!(bytes[10 + header_len - 1], b'\n');
        assert_eq!(&bytes[10 + header_len..], &[1, 0, 1]);
        assert!(String::from_utf8_lossy(&bytes[10..10 + header_len]).contains("'shape': (3,)"));
        write_bool_npy_shaped(&path, &[2, 3], &[true, false, true, false, false, true]).unwrap();
        let back = memscope_reference::read_npy(&path).unwrap();
        assert_eq!(back.size(), [2, 3]);
        assert_eq!(Vec::<bool>::try_from(&back.flatten(0, -1)).unwrap(), [true, false, true, false, false, true]);
    }
}
