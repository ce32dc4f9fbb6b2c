//! Datasets: formats, the pixel store, where samples came from, how files are opened,
//! augmentation, and the loader that feeds training batches.
//!
//! Built-in formats each have a file (`digits.rs`, `idx.rs`, `cifar.rs`, `npz.rs`); the
//! encoded image formats list their images (`folder.rs`, `manifest.rs`, `parquet.rs`)
//! and `images/` decodes them once into a memory-mapped cache. Every data file is
//! opened through `files::Access`. A dataset of the embedding program implements
//! `ImageDataset` (`in_memory.rs`) and is read into a `Dataset` when its job starts.
//! `corrections/` applies a person's label decisions (`[data] corrections`) to the
//! training set as it is loaded.

mod augment;
mod cifar;
pub mod corrections;
mod dataset;
mod digits;
mod error;
mod files;
mod folder;
mod idx;
pub mod images;
mod in_memory;
mod loader;
mod manifest;
mod npz;
mod open;
mod parquet;
mod pixels;
mod sources;
mod subset;

pub use augment::Augmenter;
pub use dataset::{Dataset, ImageShape, Normalization};
pub use error::DataError;
pub use files::{normalize_path, Access};
pub use folder::IMAGE_EXTENSIONS;
pub use images::{DecodeProgress, ProgressFn, SkippedImage};
pub use in_memory::{ImageDataset, InMemoryDataset, Sample};
pub use loader::{spawn_loader, Batch, Feed, LoaderHandle, Shard};
pub use manifest::{csv_field, parse_csv};
pub(crate) use open::locate_corrections;
pub use open::{load_data, LoadOptions, LoadedData};
pub use parquet::shard_files;
pub use pixels::PixelStore;
pub use sources::Sources;
pub use subset::TrainingSamples;
