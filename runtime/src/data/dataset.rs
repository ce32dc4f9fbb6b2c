//! An image classification dataset: pixels (in memory or memory-mapped), labels, class
//! names, the source of every sample, and the normalization the network sees.

use super::{PixelStore, Sources};
use std::borrow::Cow;

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

/// Per-channel `(pixel - mean) / std`, applied to what the network sees.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalization {
    /// One mean per channel.
    pub mean: Vec<f32>,
    /// One standard deviation per channel.
    pub std: Vec<f32>,
}

impl Normalization {
    /// Normalizes consecutive images of `shape` in place.
    pub fn apply(&self, shape: ImageShape, images: &mut [f32]) {
        let plane = shape.height * shape.width;
        for image in images.chunks_exact_mut(shape.len()) {
            for (c, values) in image.chunks_exact_mut(plane).enumerate() {
                let (mean, std) = (self.mean[c], self.std[c]);
                values.iter_mut().for_each(|v| *v = (*v - mean) / std);
            }
        }
    }
}

/// Images (channels first) with integer labels. Sample `i` is the `i`-th record,
/// file or row of the source (of those kept, when corrections excluded some: a run's
/// `kept_indices.npy`); every per-sample output is indexed the same way.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// What the data is (format and path), for summaries and errors.
    pub description: String,
    /// Shape of each image.
    pub shape: ImageShape,
    /// The pixels, `[0, 1]`; shared read-only by the loader and scorer threads.
    pub pixels: PixelStore,
    /// One label per sample, in `0..classes`.
    pub labels: Vec<i64>,
    /// Number of classes.
    pub classes: usize,
    /// The name of each class, in label order (the integers as text when the data
    /// has no names).
    pub class_names: Vec<String>,
    /// Where each sample came from.
    pub sources: Sources,
    /// Applied to the images the network sees (batches and `tensors`), not to
    /// `image`/`read_image`, which stay in `[0, 1]` for the report.
    pub normalization: Option<Normalization>,
}

impl Dataset {
    /// A dataset with classes named by their integers and no normalization.
    pub fn new(description: String, shape: ImageShape, pixels: PixelStore, labels: Vec<i64>, classes: usize, sources: Sources) -> Self {
        assert_eq!(pixels.len(), labels.len(), "{description}: pixels and labels of different lengths");
        assert_eq!(sources.len(), labels.len(), "{description}: sources and labels of different lengths");
        Dataset { description, shape, pixels, labels, classes, class_names: numbered(classes), sources, normalization: None }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of sample `i` in `[0, 1]` (not normalized), as a new vector.
    pub fn image(&self, i: usize) -> Vec<f32> {
        self.pixels.sample(i)
    }

    /// Copies sample `i` in `[0, 1]` (not normalized) into `out`.
    pub fn read_image(&self, i: usize, out: &mut [f32]) {
        self.pixels.read(i, out)
    }

    /// The source of sample `i`.
    pub fn source(&self, i: usize) -> Cow<'_, str> {
        self.sources.get(i)
    }

    /// The name of class `label` (the integer itself when out of range).
    pub fn class_name(&self, label: i64) -> Cow<'_, str> {
        match usize::try_from(label).ok().and_then(|l| self.class_names.get(l)) {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(label.to_string()),
        }
    }

    /// Normalizes images that were read with `read_image` (no-op without normalization).
    pub fn normalize(&self, images: &mut [f32]) {
        if let Some(n) = &self.normalization {
            n.apply(self.shape, images);
        }
    }

    /// Samples `range` in order, as images `float32 [B, C, H, W]` (normalized) and
    /// labels `int64 [B]` on `device`: what the scorer and the final evaluation pass
    /// iterate over.
    pub fn tensors(&self, range: std::ops::Range<usize>, device: tch::Device) -> Result<(tch::Tensor, tch::Tensor), tch::TchError> {
        let b = range.len() as i64;
        let s = self.shape;
        let mut values = vec![0.0f32; range.len() * s.len()];
        self.pixels.read_range(range.clone(), &mut values);
        self.normalize(&mut values);
        let images =
            tch::Tensor::from_slice(&values).f_view([b, s.channels as i64, s.height as i64, s.width as i64])?.f_to_device(device)?;
        let labels = tch::Tensor::from_slice(&self.labels[range]).f_to_device(device)?;
        Ok((images, labels))
    }

    /// Keeps only the first `n` samples.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.labels.truncate(n);
            self.pixels.truncate(n);
            self.sources.truncate(n);
        }
    }

    /// Keeps only `samples` (indices into this set, in the order given): how excluded
    /// samples leave a training set. The pixels are not copied.
    pub fn select(&mut self, samples: &[usize]) {
        self.labels = samples.iter().map(|&i| self.labels[i]).collect();
        self.pixels = self.pixels.select(samples);
        self.sources = self.sources.select(samples);
    }
}

/// `["0", "1", ...]`: the names of classes that have none.
pub fn numbered(classes: usize) -> Vec<String> {
    (0..classes).map(|c| c.to_string()).collect()
}
