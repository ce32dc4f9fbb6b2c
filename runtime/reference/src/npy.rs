//! Reading `.npy` files and `.npz` archives without trusting them. tch's readers take
//! the shape from the header and copy `shape x element size` bytes from the data
//! without checking that the file holds that many: a damaged or hostile file made
//! them read past the buffer (a segfault found by `make fuzz`), and a damaged zip entry
//! made `read_npz` panic. Here the header is parsed and checked against the data, and
//! the tensor is built from exactly the bytes the header accounts for.

use std::io::Read;
use std::path::Path;
use tch::{Kind, Tensor};

/// The largest array accepted, in bytes (an `.npz` member is decompressed into memory).
const MAX_ARRAY_BYTES: u64 = 16 << 30;

/// Reads one array from an `.npy` file.
pub fn read_npy(path: &Path) -> Result<Tensor, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    parse_npy(&bytes)
}

/// Reads every array of an `.npz` archive, named as stored (without `.npy`).
pub fn read_npz(path: &Path) -> Result<Vec<(String, Tensor)>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| format!("not a zip archive: {e}"))?;
    let mut arrays = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| format!("zip entry {i}: {e}"))?;
        let name = entry.name().strip_suffix(".npy").unwrap_or(entry.name()).to_string();
        if entry.size() > MAX_ARRAY_BYTES {
            return Err(format!("`{name}`: {} bytes is more than {MAX_ARRAY_BYTES}", entry.size()));
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        (&mut entry).take(MAX_ARRAY_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("`{name}`: {e}"))?;
        let tensor = parse_npy(&bytes).map_err(|e| format!("`{name}`: {e}"))?;
        arrays.push((name, tensor));
    }
    Ok(arrays)
}

/// An array from the bytes of an `.npy` file (format versions 1 to 3, little-endian or
/// byte-sized elements, C order).
pub fn parse_npy(bytes: &[u8]) -> Result<Tensor, String> {
    let rest = bytes.strip_prefix(b"\x93NUMPY").ok_or("no .npy magic")?;
    let (&major, rest) = rest.split_first().ok_or("cut short in the header")?;
    let rest = rest.get(1..).ok_or("cut short in the header")?;
    let (header_len, rest) = match major {
        1 => (u16::from_le_bytes(rest.get(..2).ok_or("cut short in the header")?.try_into().unwrap()) as usize, &rest[2..]),
        2 | 3 => (u32::from_le_bytes(rest.get(..4).ok_or("cut short in the header")?.try_into().unwrap()) as usize, &rest[4..]),
        v => return Err(format!("unknown .npy format version {v}")),
    };
    let header = rest.get(..header_len).ok_or("cut short in the header")?;
    let data = &rest[header_len..];
    let header = std::str::from_utf8(header).map_err(|_| "the header is not text")?;
    let (kind, size) = element(&field(header, "descr")?)?;
    if field(header, "fortran_order")? != "False" {
        return Err("Fortran order is not supported".into());
    }
    let shape = shape(&field(header, "shape")?)?;
    let count = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64)).ok_or("the shape overflows")?;
    let needed = count.checked_mul(size).filter(|&b| b <= MAX_ARRAY_BYTES).ok_or("the array is too large")?;
    if data.len() as u64 != needed {
        return Err(format!("the header says {needed} bytes of data (shape {shape:?}), the file has {}", data.len()));
    }
    Tensor::f_from_data_size(data, &shape, kind).map_err(|e| e.to_string())
}

/// The text of `'key': value` in the header dictionary, up to the next `,` outside
/// parentheses (or the closing brace).
fn field(header: &str, key: &str) -> Result<String, String> {
    let start = header.find(&format!("'{key}'")).ok_or_else(|| format!("no `{key}` in the header"))?;
    let after = header[start + key.len() + 2..].trim_start().strip_prefix(':').ok_or_else(|| format!("no value for `{key}`"))?;
    let mut depth = 0i32;
    let end = after
        .char_indices()
        .find(|&(_, c)| {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            depth <= 0 && (c == ',' && depth == 0 || c == '}')
        })
        .map(|(i, c)| if c == ')' { i + 1 } else { i })
        .unwrap_or(after.len());
    Ok(after[..end].trim().trim_matches('\'').to_string())
}

/// The tensor kind and element size of a `descr` like `<f4` or `|u1`.
fn element(descr: &str) -> Result<(Kind, u64), String> {
    let (order, code) = descr.split_at(descr.len().min(1));
    if !matches!(order, "<" | "|" | "=") {
        return Err(format!("element type `{descr}`: only little-endian or byte-sized elements"));
    }
    Ok(match code {
        "b1" | "?" => (Kind::Bool, 1),
        "u1" => (Kind::Uint8, 1),
        "i1" => (Kind::Int8, 1),
        "i2" => (Kind::Int16, 2),
        "i4" => (Kind::Int, 4),
        "i8" => (Kind::Int64, 8),
        "f2" => (Kind::Half, 2),
        "f4" => (Kind::Float, 4),
        "f8" => (Kind::Double, 8),
        _ => return Err(format!("element type `{descr}` is not supported")),
    })
}

/// The dimensions of a shape like `(3, 4)`, `(5,)` or `()`.
fn shape(text: &str) -> Result<Vec<i64>, String> {
    let inner = text.trim().strip_prefix('(').and_then(|t| t.strip_suffix(')')).ok_or_else(|| format!("shape `{text}` is not a tuple"))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse::<u32>().map(i64::from).map_err(|_| format!("shape `{text}` has a dimension that is not a size")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        bytes.extend(data);
        bytes
    }

    #[test]
    fn what_tch_writes_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        let t = Tensor::from_slice(&[1.5f32, -2.0, 3.25, 4.0, 5.0, 6.0]).reshape([2, 3]);
        t.write_npy(&path).unwrap();
        let back = read_npy(&path).unwrap();
        assert_eq!(back.size(), [2, 3]);
        assert!(back.equal(&t));
        let npz = dir.path().join("a.npz");
        Tensor::write_npz(&[("x", &t), ("y", &Tensor::from_slice(&[1i64, 2]))], &npz).unwrap();
        let arrays = read_npz(&npz).unwrap();
        assert_eq!(arrays.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["x", "y"]);
        assert!(arrays[1].1.equal(&Tensor::from_slice(&[1i64, 2])));
    }

    #[test]
    fn a_header_that_promises_more_data_than_the_file_has_is_an_error() {
        // tch's reader copied 4 million floats out of a 12-byte buffer here.
        let err = parse_npy(&npy("<f4", "(1000000, 4)", &[0; 12])).unwrap_err();
        assert!(err.contains("says 16000000 bytes") && err.contains("has 12"), "{err}");
        assert!(parse_npy(&npy("<f4", "(3,)", &[0; 12])).is_ok());
        for (descr, shape, why) in [
            (">f4", "(3,)", "little-endian"),
            ("<c8", "(3,)", "not supported"),
            ("<f4", "(-1,)", "not a size"),
            ("<f4", "3", "not a tuple"),
            ("<f4", "(4294967295, 4294967295, 4294967295)", "overflows"),
        ] {
            let err = parse_npy(&npy(descr, shape, &[0; 12])).unwrap_err();
            assert!(err.contains(why), "{descr} {shape}: {err}");
        }
        assert!(parse_npy(b"\x93NUMPY\x01").unwrap_err().contains("cut short"));
    }
}
