//! Datasets: formats, augmentation, and the loader that feeds training batches.

mod augment;
mod cifar;
mod dataset;
mod digits;
mod error;
mod idx;
mod loader;
mod npz;
mod open;

pub use augment::Augmenter;
pub use dataset::{Dataset, ImageShape};
pub use error::DataError;
pub use loader::{spawn_loader, Batch, LoaderHandle};
pub use open::{load_data, LoadedData};
