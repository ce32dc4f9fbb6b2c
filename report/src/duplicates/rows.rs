//! How the finder reads images: one row at a time through [`ImageRows`], so that a
//! dataset whose pixels are memory-mapped bytes is never copied whole as floats.

use memscope::data::Dataset;

/// Images of `dim()` values each, read one at a time as `f32` in `[0, 1]`.
pub trait ImageRows {
    /// Number of images.
    fn rows(&self) -> usize;
    /// Values per image.
    fn dim(&self) -> usize;
    /// Copies image `i` into `out` (`dim()` values).
    fn read_row(&self, i: usize, out: &mut [f32]);
    /// Image `i` as a new vector.
    fn row(&self, i: usize) -> Vec<f32> {
        let mut out = vec![0.0; self.dim()];
        self.read_row(i, &mut out);
        out
    }
}

/// Consecutive images in one slice (tests, benchmarks).
pub struct FlatRows<'a> {
    values: &'a [f32],
    dim: usize,
}

impl<'a> FlatRows<'a> {
    /// `values.len() / dim` images of `dim` values.
    pub fn new(values: &'a [f32], dim: usize) -> Self {
        FlatRows { values, dim }
    }
}

impl ImageRows for FlatRows<'_> {
    fn rows(&self) -> usize {
        self.values.len().checked_div(self.dim).unwrap_or(0)
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn read_row(&self, i: usize, out: &mut [f32]) {
        out.copy_from_slice(&self.values[i * self.dim..(i + 1) * self.dim]);
    }
}

/// The dataset's pixels in `[0, 1]`, not normalized: the distance threshold is in
/// those units.
impl ImageRows for Dataset {
    fn rows(&self) -> usize {
        self.len()
    }
    fn dim(&self) -> usize {
        self.shape.len()
    }
    fn read_row(&self, i: usize, out: &mut [f32]) {
        self.read_image(i, out);
    }
}
