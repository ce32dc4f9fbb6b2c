//! Datasets held by the embedding program: the [`ImageDataset`] trait (torch's
//! map-style dataset: a length and sample `i`), [`InMemoryDataset`] over images and
//! labels already in memory (or in tensors), and their adaptation into the job's
//! [`Dataset`], which the loader, the scorer and the report read.

use super::{DataError, Dataset, ImageShape, Normalization, PixelStore, Sources};
use tch::{Kind, Tensor};

/// One labelled image.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// `shape().len()` values, channels first, in `[0, 1]` (augmentation pads with 0
    /// and the report draws 0 as black and 1 as white; normalization comes after).
    pub image: Vec<f32>,
    /// Its class, in `0..classes()`.
    pub label: i64,
}

/// A labelled image dataset of the embedding program. Object safe: a job holds it as
/// `Arc<dyn ImageDataset>` and reads every sample once, when the job starts (into the
/// pixel store its threads share), so `get` need not be fast.
pub trait ImageDataset: Send + Sync {
    /// Number of samples.
    fn len(&self) -> usize;

    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shape of every image.
    fn shape(&self) -> ImageShape;

    /// Number of classes.
    fn classes(&self) -> usize;

    /// Sample `i`, for `i` in `0..len()`; its index is the sample's index in every output.
    fn get(&self, i: usize) -> Sample;

    /// What the data is, for `summary.json` and errors.
    fn description(&self) -> String {
        format!("in-memory dataset of {} images", self.len())
    }

    /// The class names in label order; the integers as text by default.
    fn class_names(&self) -> Option<Vec<String>> {
        None
    }

    /// Where sample `i` came from (a file, a database key); `<description>#i` by default.
    fn source(&self, _i: usize) -> Option<String> {
        None
    }

    /// Per-channel normalization applied to what the network sees.
    fn normalization(&self) -> Option<Normalization> {
        None
    }
}

/// Images and labels in memory.
#[derive(Debug, Clone)]
pub struct InMemoryDataset {
    shape: ImageShape,
    classes: usize,
    images: Vec<f32>,
    labels: Vec<i64>,
    class_names: Option<Vec<String>>,
    normalization: Option<Normalization>,
}

impl InMemoryDataset {
    /// `labels.len()` images of `shape` laid end to end in `images` (channels first,
    /// in `[0, 1]`), labels in `0..classes`.
    pub fn new(shape: ImageShape, classes: usize, images: Vec<f32>, labels: Vec<i64>) -> Result<Self, DataError> {
        let mismatch = |message: String| DataError::Mismatch { what: "in-memory dataset".into(), message };
        if images.len() != labels.len() * shape.len() {
            return Err(mismatch(format!(
                "{} values for {} images of {}x{}x{} ({} expected)",
                images.len(),
                labels.len(),
                shape.channels,
                shape.height,
                shape.width,
                labels.len() * shape.len()
            )));
        }
        Ok(InMemoryDataset { shape, classes, images, labels, class_names: None, normalization: None })
    }

    /// Images `[N, C, H, W]` (any floating kind, values in `[0, 1]`) and labels `[N]`
    /// (any integer kind) from tensors, copied to the CPU.
    pub fn from_tensors(images: &Tensor, labels: &Tensor, classes: usize) -> Result<Self, DataError> {
        let mismatch = |message: String| DataError::Mismatch { what: "in-memory dataset".into(), message };
        let size = images.size();
        let [n, c, h, w] = size[..] else {
            return Err(mismatch(format!("images must be [N, C, H, W], not {size:?}")));
        };
        if labels.size() != [n] {
            return Err(mismatch(format!("{n} images but labels of shape {:?}", labels.size())));
        }
        let torch = |e: tch::TchError| mismatch(e.to_string());
        let flat = images.f_to_kind(Kind::Float).and_then(|t| t.f_contiguous()).and_then(|t| t.f_flatten(0, -1)).map_err(torch)?;
        let values = Vec::<f32>::try_from(&flat.f_to_device(tch::Device::Cpu).map_err(torch)?).map_err(torch)?;
        let labels = Vec::<i64>::try_from(&labels.f_to_kind(Kind::Int64).map_err(torch)?.f_to_device(tch::Device::Cpu).map_err(torch)?)
            .map_err(torch)?;
        let shape = ImageShape { channels: c as usize, height: h as usize, width: w as usize };
        InMemoryDataset::new(shape, classes, values, labels)
    }

    /// Names the classes, in label order.
    pub fn with_class_names(mut self, names: Vec<String>) -> Self {
        self.class_names = Some(names);
        self
    }

    /// Normalizes what the network sees.
    pub fn with_normalization(mut self, normalization: Normalization) -> Self {
        self.normalization = Some(normalization);
        self
    }
}

impl ImageDataset for InMemoryDataset {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn shape(&self) -> ImageShape {
        self.shape
    }

    fn classes(&self) -> usize {
        self.classes
    }

    fn get(&self, i: usize) -> Sample {
        let d = self.shape.len();
        Sample { image: self.images[i * d..(i + 1) * d].to_vec(), label: self.labels[i] }
    }

    fn class_names(&self) -> Option<Vec<String>> {
        self.class_names.clone()
    }

    fn normalization(&self) -> Option<Normalization> {
        self.normalization.clone()
    }
}

impl Dataset {
    /// Reads every sample of `data` into a dataset the job's threads share, checking
    /// each image's length, each label and the class names.
    pub fn from_images(data: &dyn ImageDataset) -> Result<Dataset, DataError> {
        let description = data.description();
        let mismatch = |message: String| DataError::Mismatch { what: description.clone(), message };
        let (n, shape, classes) = (data.len(), data.shape(), data.classes());
        if n == 0 || shape.is_empty() || classes < 2 {
            return Err(mismatch(format!(
                "{n} samples of {}x{}x{} in {classes} classes: a job needs samples, pixels and at least 2 classes",
                shape.channels, shape.height, shape.width
            )));
        }
        let mut pixels = Vec::with_capacity(n * shape.len());
        let mut labels = Vec::with_capacity(n);
        let mut sources = Vec::new();
        for i in 0..n {
            let Sample { image, label } = data.get(i);
            if image.len() != shape.len() {
                return Err(mismatch(format!("sample {i} has {} values, images of {shape:?} have {}", image.len(), shape.len())));
            }
            if label < 0 || label as usize >= classes {
                return Err(mismatch(format!("sample {i} has label {label}, outside 0..{classes}")));
            }
            pixels.extend_from_slice(&image);
            labels.push(label);
            if let Some(source) = data.source(i) {
                sources.push(source);
            } else if !sources.is_empty() {
                return Err(mismatch(format!("sample {i} has no source, but sample 0 has one")));
            }
        }
        let sources = if sources.is_empty() { Sources::records(description.clone(), n) } else { Sources::List(sources) };
        let mut dataset = Dataset::new(description.clone(), shape, PixelStore::floats(pixels, shape.len()), labels, classes, sources);
        if let Some(names) = data.class_names() {
            if names.len() != classes {
                return Err(mismatch(format!("{} class names for {classes} classes", names.len())));
            }
            dataset.class_names = names;
        }
        if let Some(normalization) = data.normalization() {
            if normalization.mean.len() != shape.channels || normalization.std.len() != shape.channels {
                return Err(mismatch(format!(
                    "normalization gives {} mean(s) and {} std(s) for {} channel(s)",
                    normalization.mean.len(),
                    normalization.std.len(),
                    shape.channels
                )));
            }
            dataset.normalization = Some(normalization);
        }
        Ok(dataset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> ImageShape {
        ImageShape { channels: 1, height: 2, width: 2 }
    }

    #[test]
    fn an_in_memory_dataset_becomes_a_job_dataset_with_the_same_values() {
        let images: Vec<f32> = (0..12).map(|v| v as f32 / 12.0).collect();
        let data = InMemoryDataset::new(shape(), 3, images.clone(), vec![0, 2, 1]).unwrap().with_class_names(vec![
            "a".into(),
            "b".into(),
            "c".into(),
        ]);
        let dataset = Dataset::from_images(&data).unwrap();
        assert_eq!(dataset.len(), 3);
        assert_eq!(dataset.image(1), images[4..8].to_vec());
        assert_eq!(dataset.labels, vec![0, 2, 1]);
        assert_eq!(dataset.class_name(2), "c");
        assert_eq!(dataset.source(2), "in-memory dataset of 3 images#2");
    }

    #[test]
    fn tensors_give_the_same_dataset_as_vectors() {
        let images = Tensor::arange(12, (Kind::Float, tch::Device::Cpu)).view([3, 1, 2, 2]) / 12.0;
        let labels = Tensor::from_slice(&[0i32, 2, 1]);
        let data = InMemoryDataset::from_tensors(&images, &labels, 3).unwrap();
        assert_eq!(data.get(1), Sample { image: (4..8).map(|v| v as f32 / 12.0).collect(), label: 2 });
        let err = InMemoryDataset::from_tensors(&images.view([3, 4]), &labels, 3).unwrap_err().to_string();
        assert!(err.contains("images must be [N, C, H, W], not [3, 4]"), "{err}");
    }

    #[test]
    fn bad_samples_are_named() {
        let err = InMemoryDataset::new(shape(), 3, vec![0.0; 11], vec![0, 1, 2]).unwrap_err().to_string();
        assert!(err.contains("11 values for 3 images of 1x2x2 (12 expected)"), "{err}");
        let data = InMemoryDataset::new(shape(), 3, vec![0.0; 12], vec![0, 3, 1]).unwrap();
        let err = Dataset::from_images(&data).unwrap_err().to_string();
        assert!(err.contains("sample 1 has label 3, outside 0..3"), "{err}");
        let named = data.with_class_names(vec!["a".into()]);
        let err = Dataset::from_images(&named).unwrap_err().to_string();
        assert!(err.contains("sample 1 has label 3"), "{err}");
    }
}
