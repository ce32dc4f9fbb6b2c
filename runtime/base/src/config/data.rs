//! The `[data]` table: which dataset, in which format, decoded how. Field doc comments
//! are the user documentation; `problems()` lists everything wrong with the table.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Dataset formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataFormat {
    /// scikit-learn's 8x8 digits, embedded in the binary (1797 samples).
    Digits,
    /// IDX files as MNIST and Fashion-MNIST ship them, raw or gzipped.
    Idx,
    /// CIFAR-10 binary version (`data_batch_*.bin`).
    Cifar10,
    /// CIFAR-100 binary version (`train.bin`), fine labels.
    Cifar100,
    /// A NumPy `.npz` with arrays `x` (images) and `y` (integer labels).
    Npz,
    /// torchvision's ImageFolder layout: `path/<class>/*.{png,jpg,jpeg,bmp,webp}`.
    Folder,
    /// A CSV manifest with a header and `path,label` columns.
    Csv,
    /// Parquet in the Hugging Face layout: an `image` struct column (`bytes`, `path`)
    /// and an integer `label` column.
    Parquet,
}

impl DataFormat {
    /// The name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            DataFormat::Digits => "digits",
            DataFormat::Idx => "idx",
            DataFormat::Cifar10 => "cifar10",
            DataFormat::Cifar100 => "cifar100",
            DataFormat::Npz => "npz",
            DataFormat::Folder => "folder",
            DataFormat::Csv => "csv",
            DataFormat::Parquet => "parquet",
        }
    }

    /// Whether samples are encoded image files, decoded to `image_size` and cached.
    pub fn is_encoded_images(self) -> bool {
        matches!(self, DataFormat::Folder | DataFormat::Csv | DataFormat::Parquet)
    }
}

/// How a decoded image is brought to `image_size`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResizeMode {
    /// Scale so that the image covers `H x W` (its shorter side fits), then cut the
    /// centre: the aspect ratio is kept (torchvision's `Resize` + `CenterCrop`).
    #[default]
    ShorterSide,
    /// Scale to exactly `H x W`, distorting the aspect ratio when it differs.
    Exact,
}

/// What to do with an image file that cannot be read or decoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BadImagePolicy {
    /// Fail the job, naming the file and the decoder's message.
    #[default]
    Fail,
    /// Leave the sample out with a warning; `summary.json` lists every skipped file
    /// under `skipped_images`.
    Skip,
}

/// Per-channel normalization applied to the pixels the network sees (training
/// batches, scoring, evaluation): `(pixel - mean) / std`, with pixels in `[0, 1]`.
/// The report and the duplicates finder keep showing `[0, 1]` pixels.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Normalize {
    /// One mean per channel, e.g. `[0.485, 0.456, 0.406]`.
    pub mean: Vec<f64>,
    /// One standard deviation per channel, e.g. `[0.229, 0.224, 0.225]`; each > 0.
    pub std: Vec<f64>,
}

/// Where the data comes from. Every key has a default (`DataConfig::default()` is an
/// absent `[data]`), so a program that gives its own dataset (`memscope::Job::dataset`)
/// needs no `[data]` at all, or only the keys that still apply to its data (`limit`,
/// `augment`, `corrections`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `digits`, `idx`, `cifar10`, `cifar100`, `npz`, `folder`, `csv` or `parquet`.
    /// Required unless a program gives the job its own dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<DataFormat>,
    /// Training data: the IDX image file, the `.npz` file, for CIFAR a `.bin` file or
    /// the directory holding `data_batch_*.bin` / `train.bin`, for `folder` the root
    /// whose sub-folders are the classes, for `csv` the manifest, for `parquet` a file
    /// or a glob naming several shards (`data/train-*.parquet`, read in sorted order).
    /// Relative paths are relative to the config file. Not used by `digits`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// IDX only: the training label file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<PathBuf>,
    /// Held-out test data, same format as `path` (CIFAR: `test_batch.bin` / `test.bin`;
    /// `folder`: a root with the same class folders, or some of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_path: Option<PathBuf>,
    /// IDX only: the test label file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_labels: Option<PathBuf>,
    /// Label corrections to apply to the training set: a `corrections.csv` as the
    /// review page writes it into a run (`index,source,action,label,time`; `action`
    /// is `relabel` to the class in `label`, `exclude` or `keep`; for one sample the
    /// last row wins). A row names its sample by `source` (as in a run's
    /// `sources.json`; a relative path is also looked up against the file's own
    /// directory and the dataset's), or by 0-based `index` in the dataset as read
    /// when `source` is empty. Applied after `limit`, before plugins see the labels;
    /// excluded samples leave the training set, and the run's `kept_indices.npy`
    /// gives each remaining sample's index in the dataset as read. The test set is
    /// never corrected. Relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrections: Option<PathBuf>,
    /// Number of classes; by default the format's (10 for digits and CIFAR-10, 100 for
    /// CIFAR-100, the class folders, the names of `class_names` or of a CSV) or the
    /// largest training label + 1. A label outside is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
    /// `csv` and `parquet`: the class names in label order. A CSV label is then one of
    /// these names or its index; a label that is neither is an error. Without it, CSV
    /// labels that are all integers are class indices, and otherwise the sorted
    /// distinct labels are the classes; Parquet classes are named by their integers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_names: Option<Vec<String>>,
    /// Use only the first `limit` training samples (0 = all); handy for quick runs.
    #[serde(default)]
    pub limit: usize,
    /// `folder`, `csv`, `parquet` (required there): every image is decoded to
    /// `[channels, height, width]`, channels 1 (grayscale) or 3 (RGB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<Vec<usize>>,
    /// `folder`, `csv`, `parquet`: `shorter-side` (default: scale the shorter side to
    /// fit, then cut the centre) or `exact` (scale to the size, ignoring aspect).
    #[serde(default, skip_serializing_if = "is_default")]
    pub resize: ResizeMode,
    /// `folder`, `csv`, `parquet`: `fail` (default) or `skip` an image that cannot be
    /// read or decoded.
    #[serde(default, skip_serializing_if = "is_default")]
    pub on_bad_image: BadImagePolicy,
    /// `folder`, `csv`, `parquet`: where decoded images are cached (one uint8 file per
    /// dataset and settings, memory-mapped); by default `$XDG_CACHE_HOME/memscope` or
    /// `~/.cache/memscope`. Relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
    /// `csv`: the column holding image paths (relative to the CSV); default `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_column: Option<String>,
    /// `parquet`: the struct column holding `bytes` and `path`; default `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_column: Option<String>,
    /// `csv` and `parquet`: the label column; default `label`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_column: Option<String>,
    /// Per-channel mean/std normalization of what the network sees; none by default
    /// (pixels in `[0, 1]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<Normalize>,
    /// Training-time augmentation; scoring never augments.
    #[serde(default)]
    pub augment: AugmentConfig,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Augmentation applied on the loader threads, to training batches only.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// Random crop after zero-padding each side by this many pixels (0 = off).
    #[serde(default)]
    pub crop_padding: usize,
    /// Flip images left-right with probability 1/2.
    #[serde(default)]
    pub hflip: bool,
}

/// The largest side of `image_size`: a decoded dataset of larger images belongs to
/// another tool (and the cache grows with the square of the side).
pub const MAX_IMAGE_SIDE: usize = 4096;

/// A shape `[C, H, W]` taken from `image_size` (checked by `problems`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSize {
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl DataConfig {
    /// `image_size` as a shape, when it is given and valid.
    pub fn image_size(&self) -> Option<ImageSize> {
        match self.image_size.as_deref() {
            Some(&[c, h, w]) if (c == 1 || c == 3) && (1..=MAX_IMAGE_SIDE).contains(&h) && (1..=MAX_IMAGE_SIDE).contains(&w) => {
                Some(ImageSize { channels: c, height: h, width: w })
            }
            _ => None,
        }
    }

    /// `(key, message)` for every problem of this table, keys relative to `data.`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let Some(format) = self.format else { return self.formatless_problems() };
        let mut problems: Vec<(&'static str, String)> = Vec::new();
        self.format_problems(format, &mut problems);
        self.image_problems(format, &mut problems);
        self.column_problems(format, &mut problems);
        self.class_problems(format, &mut problems);
        self.normalize_problems(&mut problems);
        problems
    }

    /// Without a format the data is a program's: only `limit`, `augment` and
    /// `corrections` apply to it; any key that describes files or decoding is a
    /// mistake (a forgotten `format`), not silently ignored.
    fn formatless_problems(&self) -> Vec<(&'static str, String)> {
        let DataConfig {
            format: _,
            path,
            labels,
            test_path,
            test_labels,
            corrections: _,
            classes,
            class_names,
            limit: _,
            image_size,
            resize,
            on_bad_image,
            cache_dir,
            path_column,
            image_column,
            label_column,
            normalize,
            augment: _,
        } = self;
        let given = [
            ("path", path.is_some()),
            ("labels", labels.is_some()),
            ("test_path", test_path.is_some()),
            ("test_labels", test_labels.is_some()),
            ("classes", classes.is_some()),
            ("class_names", class_names.is_some()),
            ("image_size", image_size.is_some()),
            ("resize", *resize != ResizeMode::default()),
            ("on_bad_image", *on_bad_image != BadImagePolicy::default()),
            ("cache_dir", cache_dir.is_some()),
            ("path_column", path_column.is_some()),
            ("image_column", image_column.is_some()),
            ("label_column", label_column.is_some()),
            ("normalize", normalize.is_some()),
        ];
        given
            .into_iter()
            .filter(|(_, set)| *set)
            .map(|(key, _)| (key, "describes data files, but `[data] format` is missing; give the format".to_string()))
            .collect()
    }

    fn format_problems(&self, format: DataFormat, problems: &mut Vec<(&'static str, String)>) {
        let name = format.name();
        match format {
            DataFormat::Digits => {
                for (key, given) in
                    [("path", &self.path), ("labels", &self.labels), ("test_path", &self.test_path), ("test_labels", &self.test_labels)]
                {
                    if given.is_some() {
                        problems.push((key, "the digits dataset is embedded; remove this key".into()));
                    }
                }
            }
            DataFormat::Idx => {
                if self.path.is_none() {
                    problems.push(("path", "format `idx` needs the image file".into()));
                }
                if self.labels.is_none() {
                    problems.push(("labels", "format `idx` needs the label file".into()));
                }
                if self.test_path.is_some() != self.test_labels.is_some() {
                    problems.push(("test_labels", "give both `test_path` and `test_labels`, or neither".into()));
                }
            }
            DataFormat::Cifar10 | DataFormat::Cifar100 | DataFormat::Npz | DataFormat::Folder | DataFormat::Csv | DataFormat::Parquet => {
                if self.path.is_none() {
                    problems.push(("path", format!("format `{name}` needs a path")));
                }
                for (key, given) in [("labels", &self.labels), ("test_labels", &self.test_labels)] {
                    if given.is_some() {
                        problems.push((key, format!("format `{name}` keeps labels with the images; remove this key")));
                    }
                }
            }
        }
    }

    fn class_problems(&self, format: DataFormat, problems: &mut Vec<(&'static str, String)>) {
        if self.classes.is_some_and(|c| c < 2) {
            problems.push(("classes", "needs at least 2 classes".into()));
        }
        if let Some(names) = &self.class_names {
            if !matches!(format, DataFormat::Csv | DataFormat::Parquet) {
                problems.push(("class_names", format!("only for formats `csv` and `parquet`, not `{}`", format.name())));
            } else if names.len() < 2 {
                problems.push(("class_names", "needs at least 2 names".into()));
            } else if let Some(i) = names.iter().position(|n| n.trim().is_empty()) {
                problems.push(("class_names", format!("name {i} is empty")));
            } else if let Some((i, name)) = names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)) {
                problems.push(("class_names", format!("`{name}` is listed twice (again at {i})")));
            } else if self.classes.is_some_and(|c| c != names.len()) {
                problems.push(("classes", format!("{} classes, but `class_names` has {} names", self.classes.unwrap_or(0), names.len())));
            }
        }
    }

    fn normalize_problems(&self, problems: &mut Vec<(&'static str, String)>) {
        if let Some(n) = &self.normalize {
            if n.mean.is_empty() || n.mean.len() != n.std.len() {
                problems.push(("normalize", format!("give one mean and one std per channel (found {} and {})", n.mean.len(), n.std.len())));
            } else if let Some(size) = self.image_size().filter(|s| s.channels != n.mean.len()) {
                problems
                    .push(("normalize", format!("{} values per list, but `image_size` has {} channel(s)", n.mean.len(), size.channels)));
            }
            if let Some(m) = n.mean.iter().find(|m| !m.is_finite()) {
                problems.push(("normalize.mean", format!("{m} is not a number")));
            }
            if let Some(s) = n.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
                problems.push(("normalize.std", format!("{s} is not a positive number")));
            }
        }
    }

    fn image_problems(&self, format: DataFormat, problems: &mut Vec<(&'static str, String)>) {
        let encoded = format.is_encoded_images();
        let format = format.name();
        if encoded {
            match self.image_size.as_deref() {
                None => problems.push((
                    "image_size",
                    format!(
                        "format `{format}` needs the size images are decoded to, e.g. `image_size = [3, 32, 32]` (channels, height, width)"
                    ),
                )),
                Some(size) if self.image_size().is_none() => problems.push((
                    "image_size",
                    format!("{size:?} is not [channels, height, width] with channels 1 or 3 and sides in 1..={MAX_IMAGE_SIDE}"),
                )),
                Some(_) => {}
            }
            return;
        }
        let only = |key: &'static str| (key, format!("only for formats `folder`, `csv` and `parquet`, not `{format}`"));
        if self.image_size.is_some() {
            problems.push(only("image_size"));
        }
        if self.resize != ResizeMode::default() {
            problems.push(only("resize"));
        }
        if self.on_bad_image != BadImagePolicy::default() {
            problems.push(only("on_bad_image"));
        }
        if self.cache_dir.is_some() {
            problems.push(only("cache_dir"));
        }
    }

    fn column_problems(&self, format: DataFormat, problems: &mut Vec<(&'static str, String)>) {
        for (key, given, formats) in [
            ("path_column", &self.path_column, &[DataFormat::Csv][..]),
            ("image_column", &self.image_column, &[DataFormat::Parquet][..]),
            ("label_column", &self.label_column, &[DataFormat::Csv, DataFormat::Parquet][..]),
        ] {
            match given {
                Some(_) if !formats.contains(&format) => {
                    let names: Vec<String> = formats.iter().map(|f| format!("`{}`", f.name())).collect();
                    problems.push((key, format!("only for format {}, not `{}`", names.join(" and "), format.name())));
                }
                Some(name) if name.trim().is_empty() => problems.push((key, "is empty".into())),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse_job;
    use std::path::Path;

    fn problems(data: &str) -> String {
        let text = format!("name = \"t\"\n[data]\n{data}\n");
        match parse_job(&text, "job.toml", &[], Path::new("/data")) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn without_a_format_only_the_keys_of_a_programs_data_are_accepted() {
        assert_eq!(problems("limit = 100\naugment = { hflip = true }\ncorrections = \"c.csv\""), "");
        let err = problems("path = \"train.npz\"\nimage_size = [1, 8, 8]");
        for key in ["data.path", "data.image_size"] {
            assert!(err.contains(&format!("{key}: describes data files, but `[data] format` is missing")), "missing {key}: {err}");
        }
    }

    #[test]
    fn image_formats_need_a_valid_image_size() {
        let err = problems("format = \"folder\"\npath = \"images\"");
        assert!(err.contains("data.image_size: format `folder` needs the size images are decoded to"), "{err}");
        for bad in ["[3, 32]", "[2, 32, 32]", "[3, 0, 32]", "[1, 32, 5000]"] {
            let err = problems(&format!("format = \"csv\"\npath = \"m.csv\"\nimage_size = {bad}"));
            assert!(err.contains("data.image_size: ") && err.contains("is not [channels, height, width]"), "{bad}: {err}");
        }
        assert_eq!(problems("format = \"parquet\"\npath = \"train-*.parquet\"\nimage_size = [3, 32, 32]"), "");
    }

    #[test]
    fn image_settings_of_another_format_are_problems() {
        let err = problems("format = \"digits\"\nimage_size = [1, 8, 8]\nresize = \"exact\"\ncache_dir = \"c\"\nclass_names = [\"a\", \"b\"]\nlabel_column = \"y\"");
        for key in ["data.image_size", "data.resize", "data.cache_dir", "data.class_names", "data.label_column"] {
            assert!(err.contains(&format!("{key}: only for")), "missing {key}: {err}");
        }
        let err = problems("format = \"csv\"\npath = \"m.csv\"\nimage_size = [1, 8, 8]\nimage_column = \"img\"");
        assert!(err.contains("data.image_column: only for format `parquet`, not `csv`"), "{err}");
    }

    #[test]
    fn class_names_and_normalization_are_checked() {
        let base = "format = \"csv\"\npath = \"m.csv\"\nimage_size = [3, 8, 8]";
        let err = problems(&format!("{base}\nclass_names = [\"cat\", \"dog\", \"cat\"]"));
        assert!(err.contains("data.class_names: `cat` is listed twice"), "{err}");
        let err = problems(&format!("{base}\nclass_names = [\"cat\", \"dog\"]\nclasses = 3"));
        assert!(err.contains("data.classes: 3 classes, but `class_names` has 2 names"), "{err}");
        let err = problems(&format!("{base}\nnormalize = {{ mean = [0.5], std = [0.5] }}"));
        assert!(err.contains("data.normalize: 1 values per list, but `image_size` has 3 channel(s)"), "{err}");
        let err = problems(&format!("{base}\nnormalize = {{ mean = [0.5, 0.5, 0.5], std = [0.2, 0.0, 0.2] }}"));
        assert!(err.contains("data.normalize.std: 0 is not a positive number"), "{err}");
        assert_eq!(problems(&format!("{base}\nnormalize = {{ mean = [0.5, 0.4, 0.3], std = [0.2, 0.2, 0.2] }}")), "");
    }
}
