//! An in-memory image classification dataset.

use std::sync::Arc;

/// Shape of one image, channels first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageShape {
    /// Colour channels (1 or 3).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl ImageShape {
    /// Values per image.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether an image has no pixels (never true for a loaded dataset).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Images as `f32` in `[0, 1]`, channels first, with integer labels. Sample `i` is the
/// `i`-th record of the source file; every per-sample output is indexed the same way.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Where the data came from (format and file), for summaries and errors.
    pub source: String,
    /// Shape of each image.
    pub shape: ImageShape,
    /// `len() * shape.len()` values; shared read-only by the loader and scorer threads.
    pub images: Arc<Vec<f32>>,
    /// One label per sample, in `0..classes`.
    pub labels: Vec<i64>,
    /// Number of classes.
    pub classes: usize,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of sample `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.shape.len();
        &self.images[i * n..(i + 1) * n]
    }

    /// Samples `range` in order, as images `float32 [B, C, H, W]` and labels `int64 [B]`
    /// on `device`: what the scorer and the final evaluation pass iterate over.
    pub fn tensors(&self, range: std::ops::Range<usize>, device: tch::Device) -> Result<(tch::Tensor, tch::Tensor), tch::TchError> {
        let d = self.shape.len();
        let b = range.len() as i64;
        let s = self.shape;
        let images = tch::Tensor::from_slice(&self.images[range.start * d..range.end * d])
            .f_view([b, s.channels as i64, s.height as i64, s.width as i64])?
            .f_to_device(device)?;
        let labels = tch::Tensor::from_slice(&self.labels[range]).f_to_device(device)?;
        Ok((images, labels))
    }

    /// Keeps only the first `n` samples.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.labels.truncate(n);
            let mut images = (*self.images).clone();
            images.truncate(n * self.shape.len());
            self.images = Arc::new(images);
        }
    }
}
