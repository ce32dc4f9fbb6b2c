//! A plugin's state as named arrays, for [`Plugin::save_state`](crate::Plugin::save_state)
//! and [`Plugin::load_state`](crate::Plugin::load_state): put the arrays in, save the
//! bytes, read them back by name after a resume.
//!
//! ```no_run
//! use memscope_sdk::state::State;
//! let mut state = State::new();
//! state.put_i64("events", &[0, 2, 1]);
//! state.put_f64("margin_sum", &[0.5, -1.25, 3.0]);
//! let back = State::from_bytes(&state.to_bytes()).unwrap();
//! assert_eq!(back.i64("events").unwrap(), &[0, 2, 1]);
//! assert!(back.f32("events").unwrap_err().to_string().contains("`events` is i64"));
//! ```
//!
//! The bytes: `MSSTATE1`, the number of arrays (u32), then for each its name length
//! (u32), name (UTF-8), kind (u8: 0 f32, 1 f64, 2 i64), length (u64) and values, all
//! little-endian.

use crate::{PluginError, PluginResult};
use std::collections::BTreeMap;

const MAGIC: &[u8; 8] = b"MSSTATE1";

/// One named array.
#[derive(Debug, Clone, PartialEq)]
enum Array {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
}

impl Array {
    fn kind(&self) -> &'static str {
        match self {
            Array::F32(_) => "f32",
            Array::F64(_) => "f64",
            Array::I64(_) => "i64",
        }
    }
}

/// Named arrays of `f32`, `f64` or `i64`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    arrays: BTreeMap<String, Array>,
}

impl State {
    /// No arrays.
    pub fn new() -> Self {
        State::default()
    }

    /// Stores `values` as `name` (replacing an array of that name).
    pub fn put_f32(&mut self, name: &str, values: &[f32]) {
        self.arrays.insert(name.to_string(), Array::F32(values.to_vec()));
    }

    /// Stores `values` as `name`.
    pub fn put_f64(&mut self, name: &str, values: &[f64]) {
        self.arrays.insert(name.to_string(), Array::F64(values.to_vec()));
    }

    /// Stores `values` as `name`.
    pub fn put_i64(&mut self, name: &str, values: &[i64]) {
        self.arrays.insert(name.to_string(), Array::I64(values.to_vec()));
    }

    /// The `f32` array `name`; an error naming what is there otherwise.
    pub fn f32(&self, name: &str) -> PluginResult<&[f32]> {
        match self.get(name)? {
            Array::F32(v) => Ok(v),
            other => Err(self.wrong(name, other, "f32")),
        }
    }

    /// The `f64` array `name`.
    pub fn f64(&self, name: &str) -> PluginResult<&[f64]> {
        match self.get(name)? {
            Array::F64(v) => Ok(v),
            other => Err(self.wrong(name, other, "f64")),
        }
    }

    /// The `i64` array `name`.
    pub fn i64(&self, name: &str) -> PluginResult<&[i64]> {
        match self.get(name)? {
            Array::I64(v) => Ok(v),
            other => Err(self.wrong(name, other, "i64")),
        }
    }

    fn get(&self, name: &str) -> PluginResult<&Array> {
        self.arrays.get(name).ok_or_else(|| {
            let names: Vec<&str> = self.arrays.keys().map(String::as_str).collect();
            PluginError(format!("state: no array `{name}` (it holds: {})", names.join(", ")))
        })
    }

    fn wrong(&self, name: &str, found: &Array, wanted: &str) -> PluginError {
        PluginError(format!("state: `{name}` is {}, not {wanted}", found.kind()))
    }

    /// The bytes to return from `save_state`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend((self.arrays.len() as u32).to_le_bytes());
        for (name, array) in &self.arrays {
            out.extend((name.len() as u32).to_le_bytes());
            out.extend(name.as_bytes());
            let (kind, len) = match array {
                Array::F32(v) => (0u8, v.len()),
                Array::F64(v) => (1, v.len()),
                Array::I64(v) => (2, v.len()),
            };
            out.push(kind);
            out.extend((len as u64).to_le_bytes());
            match array {
                Array::F32(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
                Array::F64(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
                Array::I64(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            }
        }
        out
    }

    /// Reads what [`State::to_bytes`] wrote; an error saying where it is broken.
    pub fn from_bytes(bytes: &[u8]) -> PluginResult<State> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(8, "the header")? != MAGIC {
            return Err(PluginError("state: not a memscope_sdk::state::State (no MSSTATE1 header)".into()));
        }
        let count = u32::from_le_bytes(r.array("the array count")?);
        let mut arrays = BTreeMap::new();
        for _ in 0..count {
            let name_len = u32::from_le_bytes(r.array("a name length")?) as usize;
            let name = std::str::from_utf8(r.take(name_len, "a name")?)
                .map_err(|_| PluginError("state: an array name is not UTF-8".into()))?
                .to_string();
            let what = format!("array `{name}`");
            let kind = r.take(1, &what)?[0];
            let len = u64::from_le_bytes(r.array(&what)?) as usize;
            let width = if kind == 0 { 4 } else { 8 };
            let data = r.take(len.checked_mul(width).ok_or_else(|| PluginError(format!("state: {what} is too long")))?, &what)?;
            let array = match kind {
                0 => Array::F32(data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect()),
                1 => Array::F64(data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()),
                2 => Array::I64(data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()),
                k => return Err(PluginError(format!("state: {what} has unknown kind {k}"))),
            };
            arrays.insert(name, array);
        }
        if r.at != bytes.len() {
            return Err(PluginError(format!("state: {} bytes after the last array", bytes.len() - r.at)));
        }
        Ok(State { arrays })
    }
}

/// Reads `bytes` front to back.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> PluginResult<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| PluginError(format!("state: truncated in {what} (at byte {} of {})", self.at, self.bytes.len())))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> PluginResult<[u8; N]> {
        Ok(self.take(N, what)?.try_into().expect("N bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_come_back_as_they_went_in() {
        let mut state = State::new();
        state.put_f32("a", &[1.5, -0.0, f32::MAX]);
        state.put_f64("b", &[]);
        state.put_i64("c", &[i64::MIN, 7]);
        let back = State::from_bytes(&state.to_bytes()).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.f32("a").unwrap(), &[1.5, -0.0, f32::MAX]);
        assert_eq!(back.i64("c").unwrap(), &[i64::MIN, 7]);
    }

    #[test]
    fn broken_bytes_and_wrong_names_are_errors_saying_what_is_wrong() {
        let mut state = State::new();
        state.put_i64("events", &[1, 2, 3]);
        let bytes = state.to_bytes();
        let cut = State::from_bytes(&bytes[..bytes.len() - 3]).unwrap_err().to_string();
        assert!(cut.starts_with("state: truncated in array `events`"), "{cut}");
        assert!(State::from_bytes(b"hello").unwrap_err().to_string().contains("truncated in the header"));
        assert!(State::from_bytes(b"NOTSTATE\0\0\0\0").unwrap_err().to_string().contains("no MSSTATE1 header"));
        assert_eq!(state.i64("counts").unwrap_err().to_string(), "state: no array `counts` (it holds: events)");
        assert_eq!(state.f64("events").unwrap_err().to_string(), "state: `events` is i64, not f64");
    }
}
