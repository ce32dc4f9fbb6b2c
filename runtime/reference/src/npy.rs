//! Reading `.npy` files and `.npz` archives without trusting them. tch's readers take
//! the shape from the header and copy `shape x element size` bytes from the data
//! without checking that the file holds that many: a damaged or hostile file made
//! them read past the buffer (a segfault found by `make fuzz`), and a damaged zip entry
//! made `read_npz` panic. Here the header is parsed and checked against the data, and
//! the tensor is built from exactly the bytes the header accounts for (`memscope-npy`).

use memscope_npy::{Element, NpyArray, MAX_ARRAY_BYTES};
use std::io::Read;
use std::path::Path;
use tch::{Kind, Tensor};

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
    let array = NpyArray::parse(bytes)?;
    Tensor::f_from_data_size(array.data, &array.shape, kind(array.element)).map_err(|e| e.to_string())
}

/// The tensor kind of an element type.
fn kind(element: Element) -> Kind {
    match element {
        Element::Bool => Kind::Bool,
        Element::U8 => Kind::Uint8,
        Element::I8 => Kind::Int8,
        Element::I16 => Kind::Int16,
        Element::I32 => Kind::Int,
        Element::I64 => Kind::Int64,
        Element::F16 => Kind::Half,
        Element::F32 => Kind::Float,
        Element::F64 => Kind::Double,
    }
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

    #[test]
    fn arrays_read_without_libtorch_hold_what_libtorch_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        let values = [1.5f32, -2.0, 0.1, 65504.0, -0.0, 3.0e-5];
        Tensor::from_slice(&values).write_npy(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let array = NpyArray::parse(&bytes).unwrap();
        assert_eq!((array.element, array.shape.clone()), (Element::F32, vec![6]));
        assert_eq!(array.to_f32(), values);
        assert!(array.to_i64().unwrap_err().contains("not integers"));
        for kind in [Kind::Half, Kind::Double, Kind::Int64, Kind::Int, Kind::Int16, Kind::Int8, Kind::Uint8] {
            let t = Tensor::from_slice(&[0.0f32, 1.0, 2.5, -3.0, 65504.0, 6.1e-5]).to_kind(kind);
            t.write_npy(&path).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let ours = NpyArray::parse(&bytes).unwrap().to_f32();
            let theirs = Vec::<f32>::try_from(&t.to_kind(Kind::Float)).unwrap();
            assert_eq!(ours, theirs, "{kind:?}");
        }
        let labels = Tensor::from_slice(&[3i64, -1, 1 << 40]);
        labels.write_npy(&path).unwrap();
        assert_eq!(NpyArray::parse(&std::fs::read(&path).unwrap()).unwrap().to_i64().unwrap(), [3, -1, 1 << 40]);
        // The same checks as for libtorch's tensors.
        assert!(NpyArray::parse(&npy("<f4", "(4,)", &[0; 12])).unwrap_err().contains("says 16 bytes"));
    }
}
