//! Where a dataset's pixels live: `f32` values in memory (digits, npz), bytes in memory
//! (IDX, CIFAR: a quarter of the memory), or bytes in a memory-mapped cache file (the
//! decoded image formats: the operating system pages them in and out, so a set larger
//! than RAM trains and scores without ever being copied whole). Every reader goes
//! through `read`/`read_range`, which copy samples as `f32` in `[0, 1]`. A store may
//! show a selection of its stored samples (`select`: the samples corrections did not
//! exclude) without copying them.

use std::ops::Range;
use std::sync::Arc;

/// The pixels of `len()` samples of `dim()` values each, shared read-only by the
/// loader, the scorer and the report. Cloning is cheap (the storage is shared).
#[derive(Clone)]
pub struct PixelStore {
    data: Arc<Storage>,
    dim: usize,
    samples: usize,
    /// The stored sample behind each sample, when this is a selection of them.
    rows: Option<Arc<[usize]>>,
}

enum Storage {
    /// Values as they are.
    Floats(Vec<f32>),
    /// Bytes, divided by `divisor` when read.
    Bytes { bytes: Vec<u8>, divisor: f32 },
    /// Bytes of a cache file, divided by `divisor` when read.
    Mapped { map: memmap2::Mmap, divisor: f32 },
}

impl std::fmt::Debug for PixelStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &*self.data {
            Storage::Floats(_) => "f32 in memory",
            Storage::Bytes { .. } => "u8 in memory",
            Storage::Mapped { .. } => "u8 memory-mapped",
        };
        let selected = if self.rows.is_some() { ", selected" } else { "" };
        write!(f, "PixelStore({} x {}, {kind}{selected})", self.samples, self.dim)
    }
}

/// The divisor that maps bytes to `[0, 1]`. Dividing (rather than multiplying by its
/// inverse) gives the values the byte formats always gave, bit for bit.
pub const BYTE_DIVISOR: f32 = 255.0;

impl PixelStore {
    /// `values.len() / dim` samples of floats.
    pub fn floats(values: Vec<f32>, dim: usize) -> Self {
        let samples = values.len().checked_div(dim).unwrap_or(0);
        PixelStore { data: Arc::new(Storage::Floats(values)), dim, samples, rows: None }
    }

    /// `bytes.len() / dim` samples of bytes, read as `byte / 255`.
    pub fn bytes(bytes: Vec<u8>, dim: usize) -> Self {
        let samples = bytes.len().checked_div(dim).unwrap_or(0);
        PixelStore { data: Arc::new(Storage::Bytes { bytes, divisor: BYTE_DIVISOR }), dim, samples, rows: None }
    }

    /// The first `samples` samples of a mapped file of bytes, read as `byte / 255`.
    /// The map must hold at least `samples * dim` bytes.
    pub fn mapped(map: memmap2::Mmap, dim: usize, samples: usize) -> Self {
        assert!(map.len() >= samples * dim, "a map of {} bytes for {samples} samples of {dim}", map.len());
        PixelStore { data: Arc::new(Storage::Mapped { map, divisor: BYTE_DIVISOR }), dim, samples, rows: None }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }

    /// Values per sample.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Whether the pixels are read from a memory-mapped file.
    pub fn is_mapped(&self) -> bool {
        matches!(&*self.data, Storage::Mapped { .. })
    }

    /// Copies sample `i` into `out` (`dim()` values).
    pub fn read(&self, i: usize, out: &mut [f32]) {
        self.read_range(i..i + 1, out);
    }

    /// Copies samples `range` into `out` (`range.len() * dim()` values), in order.
    pub fn read_range(&self, range: Range<usize>, out: &mut [f32]) {
        assert!(range.end <= self.samples, "samples {range:?} of {}", self.samples);
        let values = range.start * self.dim..range.end * self.dim;
        assert_eq!(out.len(), values.len(), "an output of {} values for samples {range:?}", out.len());
        match &self.rows {
            None => self.read_stored(values, out),
            Some(rows) => {
                for (&row, out) in rows[range].iter().zip(out.chunks_exact_mut(self.dim)) {
                    self.read_stored(row * self.dim..(row + 1) * self.dim, out);
                }
            }
        }
    }

    /// Copies the stored `values` (a range of value positions) into `out`.
    fn read_stored(&self, values: Range<usize>, out: &mut [f32]) {
        match &*self.data {
            Storage::Floats(v) => out.copy_from_slice(&v[values]),
            Storage::Bytes { bytes, divisor } => scale(&bytes[values], *divisor, out),
            Storage::Mapped { map, divisor } => scale(&map[values], *divisor, out),
        }
    }

    /// Sample `i` as a new vector.
    pub fn sample(&self, i: usize) -> Vec<f32> {
        let mut out = vec![0.0; self.dim];
        self.read(i, &mut out);
        out
    }

    /// Keeps only the first `n` samples (no copy).
    pub fn truncate(&mut self, n: usize) {
        self.samples = self.samples.min(n);
    }

    /// The store of `samples` (indices into this one, in the order given), sharing
    /// the storage: a selection costs one index per sample, not a copy of the pixels
    /// (a memory-mapped set may be larger than memory).
    pub fn select(&self, samples: &[usize]) -> Self {
        let rows: Arc<[usize]> = samples
            .iter()
            .map(|&i| {
                assert!(i < self.samples, "sample {i} of {}", self.samples);
                self.rows.as_ref().map_or(i, |rows| rows[i])
            })
            .collect();
        PixelStore { data: self.data.clone(), dim: self.dim, samples: samples.len(), rows: Some(rows) }
    }
}

fn scale(bytes: &[u8], divisor: f32, out: &mut [f32]) {
    for (o, &b) in out.iter_mut().zip(bytes) {
        *o = b as f32 / divisor;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn every_storage_reads_the_same_values() {
        let bytes: Vec<u8> = (0..12).map(|v| v * 20).collect();
        let floats: Vec<f32> = bytes.iter().map(|&b| b as f32 / 255.0).collect();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&bytes).unwrap();
        // SAFETY: the temporary file is private to this test and not changed while mapped.
        let map = unsafe { memmap2::Mmap::map(file.as_file()).unwrap() };
        let stores = [PixelStore::floats(floats.clone(), 4), PixelStore::bytes(bytes.clone(), 4), PixelStore::mapped(map, 4, 3)];
        for store in &stores {
            assert_eq!(store.len(), 3);
            assert_eq!(store.sample(1), floats[4..8].to_vec(), "{store:?}");
            let mut out = vec![0.0; 8];
            store.read_range(1..3, &mut out);
            assert_eq!(out, floats[4..12].to_vec());
        }
        let mut short = stores[2].clone();
        short.truncate(2);
        assert_eq!((short.len(), stores[2].len()), (2, 3));
    }

    #[test]
    fn a_selection_reads_its_samples_in_its_order() {
        let store = PixelStore::bytes((0..10).collect(), 2);
        let picked = store.select(&[4, 1, 3]);
        assert_eq!(picked.len(), 3);
        let mut out = vec![0.0; 6];
        picked.read_range(0..3, &mut out);
        assert_eq!(out, [8.0, 9.0, 2.0, 3.0, 6.0, 7.0].map(|b: f32| b / 255.0));
        // A selection of a selection picks from the stored samples it shows.
        let again = picked.select(&[2, 0]);
        assert_eq!(again.sample(0), store.sample(3));
        assert_eq!(again.sample(1), store.sample(4));
        let mut short = picked.clone();
        short.truncate(1);
        assert_eq!((short.len(), short.sample(0)), (1, store.sample(4)));
    }
}
