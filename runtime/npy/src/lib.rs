//! `.npy` files read without trusting them and without libtorch: the header is parsed
//! and checked against the data (tch's own reader took the shape from the header and
//! copied that many bytes whatever the file held: a segfault found by `make fuzz`), and
//! the elements are read from exactly the bytes the header accounts for.
//!
//! A crate of its own, with no dependency, so that a program that never loads libtorch
//! (the daemon, which serves scores as JSON) reads the same files the same way as
//! `memscope-reference`, which builds tensors from [`NpyArray`].

#![warn(missing_docs)]

/// The largest array accepted, in bytes.
pub const MAX_ARRAY_BYTES: u64 = 16 << 30;

/// The element type of an `.npy` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    /// `b1`.
    Bool,
    /// `u1`.
    U8,
    /// `i1`.
    I8,
    /// `i2`.
    I16,
    /// `i4`.
    I32,
    /// `i8`.
    I64,
    /// `f2`.
    F16,
    /// `f4`.
    F32,
    /// `f8`.
    F64,
}

impl Element {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Element::Bool | Element::U8 | Element::I8 => 1,
            Element::I16 | Element::F16 => 2,
            Element::I32 | Element::F32 => 4,
            Element::I64 | Element::F64 => 8,
        }
    }
}

/// An `.npy` array as stored, checked against its header, read without libtorch:
/// what a program that must not load libtorch (the daemon) reads scores with.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray<'a> {
    /// The element type.
    pub element: Element,
    /// The dimensions.
    pub shape: Vec<i64>,
    /// Exactly `shape x element size` bytes, little-endian, C order.
    pub data: &'a [u8],
}

impl<'a> NpyArray<'a> {
    /// The array in the bytes of an `.npy` file (format versions 1 to 3,
    /// little-endian or byte-sized elements, C order).
    pub fn parse(bytes: &'a [u8]) -> Result<NpyArray<'a>, String> {
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
        let element = element(&field(header, "descr")?)?;
        if field(header, "fortran_order")? != "False" {
            return Err("Fortran order is not supported".into());
        }
        let shape = shape(&field(header, "shape")?)?;
        let count = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64)).ok_or("the shape overflows")?;
        let needed = count.checked_mul(element.size() as u64).filter(|&b| b <= MAX_ARRAY_BYTES).ok_or("the array is too large")?;
        if data.len() as u64 != needed {
            return Err(format!("the header says {needed} bytes of data (shape {shape:?}), the file has {}", data.len()));
        }
        Ok(NpyArray { element, shape, data })
    }

    /// Every element as `f32`, in C order (integers and `f8` rounded to the nearest
    /// `f32`, `true` as 1).
    pub fn to_f32(&self) -> Vec<f32> {
        let chunks = self.data.chunks_exact(self.element.size());
        match self.element {
            Element::Bool | Element::U8 => chunks.map(|c| c[0] as f32).collect(),
            Element::I8 => chunks.map(|c| c[0] as i8 as f32).collect(),
            Element::I16 => chunks.map(|c| i16::from_le_bytes([c[0], c[1]]) as f32).collect(),
            Element::I32 => chunks.map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
            Element::I64 => chunks.map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
            Element::F16 => chunks.map(|c| half_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect(),
            Element::F32 => chunks.map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
            Element::F64 => chunks.map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
        }
    }

    /// Every element as `i64`, in C order, for an array of integers or booleans.
    pub fn to_i64(&self) -> Result<Vec<i64>, String> {
        let chunks = self.data.chunks_exact(self.element.size());
        Ok(match self.element {
            Element::Bool | Element::U8 => chunks.map(|c| c[0] as i64).collect(),
            Element::I8 => chunks.map(|c| c[0] as i8 as i64).collect(),
            Element::I16 => chunks.map(|c| i16::from_le_bytes([c[0], c[1]]) as i64).collect(),
            Element::I32 => chunks.map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64).collect(),
            Element::I64 => chunks.map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect(),
            other => return Err(format!("holds {other:?} values, not integers")),
        })
    }
}

/// An IEEE half-precision value as `f32` (exact: every half is an `f32`).
fn half_to_f32(bits: u16) -> f32 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let fraction = f32::from(bits & 0x3ff);
    sign * match exponent {
        0 => fraction * 2f32.powi(-24),
        0x1f if fraction == 0.0 => f32::INFINITY,
        0x1f => f32::NAN,
        e => (1.0 + fraction / 1024.0) * 2f32.powi(e - 15),
    }
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

/// The element type of a `descr` like `<f4` or `|u1`.
fn element(descr: &str) -> Result<Element, String> {
    let (order, code) = descr.split_at(descr.len().min(1));
    if !matches!(order, "<" | "|" | "=") {
        return Err(format!("element type `{descr}`: only little-endian or byte-sized elements"));
    }
    Ok(match code {
        "b1" | "?" => Element::Bool,
        "u1" => Element::U8,
        "i1" => Element::I8,
        "i2" => Element::I16,
        "i4" => Element::I32,
        "i8" => Element::I64,
        "f2" => Element::F16,
        "f4" => Element::F32,
        "f8" => Element::F64,
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
    fn elements_read_as_numbers_in_c_order() {
        let floats: Vec<u8> = [1.5f32, -2.0, 0.25].iter().flat_map(|v| v.to_le_bytes()).collect();
        let bytes = npy("<f4", "(3,)", &floats);
        let array = NpyArray::parse(&bytes).unwrap();
        assert_eq!((array.element, array.shape.clone()), (Element::F32, vec![3]));
        assert_eq!(array.to_f32(), [1.5, -2.0, 0.25]);
        assert!(array.to_i64().unwrap_err().contains("not integers"));

        let ints: Vec<u8> = [7i64, -1, 1 << 40, 0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let bytes = npy("<i8", "(2, 2)", &ints);
        assert_eq!(NpyArray::parse(&bytes).unwrap().to_i64().unwrap(), [7, -1, 1 << 40, 0]);
        let bytes = npy("|b1", "(3,)", &[1, 0, 1]);
        assert_eq!(NpyArray::parse(&bytes).unwrap().to_f32(), [1.0, 0.0, 1.0]);
        // Half precision: 1.0, -2.0, 65504 (the largest), 2^-24 (the smallest subnormal).
        let halves: Vec<u8> = [0x3c00u16, 0xc000, 0x7bff, 0x0001].iter().flat_map(|v| v.to_le_bytes()).collect();
        let bytes = npy("<f2", "(4,)", &halves);
        assert_eq!(NpyArray::parse(&bytes).unwrap().to_f32(), [1.0, -2.0, 65504.0, 2f32.powi(-24)]);
    }

    #[test]
    fn a_header_that_does_not_match_the_data_is_an_error() {
        let err = NpyArray::parse(&npy("<f4", "(1000000, 4)", &[0; 12])).unwrap_err();
        assert!(err.contains("says 16000000 bytes") && err.contains("has 12"), "{err}");
        for (descr, shape, why) in [(">f4", "(3,)", "little-endian"), ("<c8", "(3,)", "not supported"), ("<f4", "3", "not a tuple")] {
            let err = NpyArray::parse(&npy(descr, shape, &[0; 12])).unwrap_err();
            assert!(err.contains(why), "{descr} {shape}: {err}");
        }
        assert!(NpyArray::parse(b"\x93NUMPY\x01").unwrap_err().contains("cut short"));
    }
}
