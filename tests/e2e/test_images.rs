//! A user's own images: the embedded digits written as a PNG folder, as a CSV manifest
//! over JPEG files and as a Parquet file in the Hugging Face layout are the same
//! dataset and train to the same scores; decoded images are cached; class names and
//! sources reach every output; bad input gets one clear error.

use memscope::config::parse_job;
use memscope::data::{load_data, Dataset, LoadOptions, ProgressFn};
use memscope_tests::images::{digits_bytes, jpeg, png, write_jpeg_manifest, write_png_folder, DIGITS_NORMALIZE};
use memscope_tests::{memscope, read_npy_f32, read_summary, synthetic_images, write_job};
use parquet::basic::{ConvertedType, Repetition, Type as PhysicalType};
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The job every equivalence test runs: the reference cnn, a few epochs, the free
/// `loss` score (cumulative training loss), no report.
fn job(data: &str) -> String {
    format!("name = \"job\"\nseed = 0\n[data]\n{data}\n[train]\nepochs = 3\n[score]\nbuiltin = [\"loss\"]\n[report]\nenabled = false\n")
}

/// Runs `text` as `dir/job.toml` into `dir/runs/job`; returns the run directory.
fn run(dir: &Path, text: &str) -> PathBuf {
    let path = write_job(dir, text);
    memscope(dir, &["run", path.to_str().unwrap(), "--out", "runs", "--quiet", "--force"]).success();
    dir.join("runs/job")
}

/// Runs `text` expecting a clean failure; returns the error line.
fn fails(dir: &Path, text: &str) -> String {
    let path = write_job(dir, text);
    memscope(dir, &["run", path.to_str().unwrap(), "--out", "runs", "--quiet", "--force"]).clean_failure()
}

/// Loads the `[data]` of `text` (paths relative to `dir`) through the library.
fn load(dir: &Path, text: &str) -> Dataset {
    let config = parse_job(&job(text), "job.toml", &[], dir).unwrap();
    load_data(&config.data, &LoadOptions::default()).unwrap().train
}

fn embedded_digits() -> Dataset {
    load(Path::new("."), "format = \"digits\"")
}

/// Sample `i` as the network sees it (normalized), via the batch path.
fn network_input(data: &Dataset, i: usize) -> Vec<f32> {
    let (images, _) = data.tensors(i..i + 1, tch::Device::Cpu).unwrap();
    Vec::<f32>::try_from(&images.flatten(0, -1)).unwrap()
}

/// Pearson's correlation of two equally long series.
fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().map(|&v| v as f64).sum::<f64>() / n, b.iter().map(|&v| v as f64).sum::<f64>() / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64 - ma, y as f64 - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt()
}

fn loss_scores(run_dir: &Path) -> Vec<f32> {
    read_npy_f32(&run_dir.join("scores/loss.npy")).0
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
fn digits_as_a_png_folder_are_the_same_images_and_train_like_them() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, labels) = digits_bytes();
    let files = write_png_folder(&dir.path().join("digits"), &bytes, &labels);
    let data_lines = format!("format = \"folder\"\npath = \"digits\"\nimage_size = [1, 8, 8]\ncache_dir = \"cache\"\n{DIGITS_NORMALIZE}");
    let folder = load(dir.path(), &data_lines);
    let digits = embedded_digits();

    // ImageFolder order: class, then path. Every sample is its file, pixel for pixel,
    // and the network sees exactly the embedded digit's values.
    assert_eq!(folder.len(), digits.len());
    assert_eq!(folder.class_names, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    for (k, file) in files.iter().enumerate() {
        let i: usize = file.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        assert_eq!(folder.source(k), file.display().to_string());
        assert_eq!(folder.labels[k], labels[i]);
        let written: Vec<f32> = bytes[i * 64..(i + 1) * 64].iter().map(|&b| b as f32 / 255.0).collect();
        assert_eq!(folder.image(k), written, "sample {k} ({})", file.display());
        assert_eq!(network_input(&folder, k), network_input(&digits, i), "sample {k} ({})", file.display());
    }

    // A folder trains in its own order, so its job is compared with a job on the same
    // pixels in the same order from an .npz: the same loss scores, bit for bit.
    let n = files.len();
    let order: Vec<usize> = files.iter().map(|f| f.file_stem().unwrap().to_str().unwrap().parse().unwrap()).collect();
    let x: Vec<f32> = order.iter().flat_map(|&i| bytes[i * 64..(i + 1) * 64].iter().map(|&b| b as f32 / 255.0)).collect();
    let y: Vec<i64> = order.iter().map(|&i| labels[i]).collect();
    tch::Tensor::write_npz(
        &[("x", tch::Tensor::from_slice(&x).view([n as i64, 8, 8])), ("y", tch::Tensor::from_slice(&y))],
        dir.path().join("same.npz"),
    )
    .unwrap();
    let from_folder = loss_scores(&run(dir.path(), &job(&data_lines)));
    let from_npz = loss_scores(&run(dir.path(), &job(&format!("format = \"npz\"\npath = \"same.npz\"\n{DIGITS_NORMALIZE}"))));
    assert_eq!(from_folder, from_npz);
}

#[test]
fn digits_as_parquet_in_the_hugging_face_layout_give_the_embedded_scores_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, labels) = digits_bytes();
    let images: Vec<Vec<u8>> = labels.iter().enumerate().map(|(i, _)| png(&bytes[i * 64..(i + 1) * 64])).collect();
    let names: Vec<String> = (0..labels.len()).map(|i| format!("{i:04}.png")).collect();
    // Two shards named by a glob, read in sorted order.
    let half = labels.len() / 2;
    write_hf_parquet(&dir.path().join("train-00001.parquet"), &images[half..], &names[half..], &labels[half..]);
    write_hf_parquet(&dir.path().join("train-00000.parquet"), &images[..half], &names[..half], &labels[..half]);
    let data_lines =
        format!("format = \"parquet\"\npath = \"train-*.parquet\"\nimage_size = [1, 8, 8]\ncache_dir = \"cache\"\n{DIGITS_NORMALIZE}");
    let parquet = load(dir.path(), &data_lines);
    let digits = embedded_digits();
    assert_eq!((parquet.len(), parquet.labels.clone()), (digits.len(), digits.labels.clone()));
    assert_eq!(parquet.source(0), format!("{}#0", dir.path().join("train-00000.parquet").display()));
    assert_eq!(parquet.source(half + 2), format!("{}#2", dir.path().join("train-00001.parquet").display()));
    for i in 0..digits.len() {
        assert_eq!(network_input(&parquet, i), network_input(&digits, i), "row {i}");
    }

    // The same inputs in the same order: the embedded digits job's loss scores, exactly.
    let from_parquet = loss_scores(&run(dir.path(), &job(&data_lines)));
    let from_digits = loss_scores(&run(dir.path(), &job("format = \"digits\"")));
    assert_eq!(from_parquet, from_digits);
}

/// A Parquet file whose images are stored by path only (`bytes` null), as `datasets`
/// writes a dataset loaded from local files with `to_parquet`: the files (relative to
/// the Parquet file, or absolute) are read as the images, the embedded digits exactly;
/// a changed file is decoded again; a missing one is named with its row.
#[test]
fn parquet_rows_holding_their_image_by_path_read_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, labels) = digits_bytes();
    write_png_folder(&dir.path().join("digits"), &bytes, &labels);
    // Image i is digits/<label>/<i>.png.
    let files: Vec<PathBuf> = labels.iter().enumerate().map(|(i, l)| dir.path().join(format!("digits/{l}/{i:04}.png"))).collect();
    // Half relative to the Parquet file's folder, half absolute.
    let names: Vec<String> = files
        .iter()
        .enumerate()
        .map(|(i, f)| if i % 2 == 0 { f.strip_prefix(dir.path()).unwrap().display().to_string() } else { f.display().to_string() })
        .collect();
    write_hf_parquet_by_path(&dir.path().join("train.parquet"), &names, &labels);
    let data_lines =
        format!("format = \"parquet\"\npath = \"train.parquet\"\nimage_size = [1, 8, 8]\ncache_dir = \"cache\"\n{DIGITS_NORMALIZE}");
    let parquet = load(dir.path(), &data_lines);
    let digits = embedded_digits();
    assert_eq!((parquet.len(), parquet.labels.clone()), (digits.len(), digits.labels.clone()));
    for i in [0, 1, 2, 777, digits.len() - 1] {
        assert_eq!(network_input(&parquet, i), network_input(&digits, i), "row {i}");
    }

    // A changed image file misses the cache: its new pixels are read.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&files[3], png(&[255; 64])).unwrap();
    assert_eq!(load(dir.path(), &data_lines).image(3), vec![1.0; 64]);

    std::fs::remove_file(&files[5]).unwrap();
    let error = fails(dir.path(), &job(&data_lines));
    let expected = format!("row 5 (`image` stored by path): image file {} does not exist", files[5].display());
    assert!(error.contains("train.parquet") && error.ends_with(&expected), "{error}");
}

/// The JPEG tolerance. Quality-100 grayscale JPEG moves a pixel of these digits by at
/// most 3 levels of 255 (measured); allowed: 4.
const JPEG_PIXEL_TOLERANCE: f32 = 4.0 / 255.0;
/// Training on those pixels moves the 3-epoch loss scores by 6.9 % of the mean score in
/// mean absolute difference (measured); allowed: 10 %.
const JPEG_LOSS_TOLERANCE: f32 = 0.10;
/// ... and keeps their Pearson correlation with the embedded scores at 0.991
/// (measured); required: 0.98.
const JPEG_LOSS_CORRELATION: f64 = 0.98;

#[test]
fn digits_as_a_csv_manifest_over_jpeg_files_are_the_embedded_digits_within_the_jpeg_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, labels) = digits_bytes();
    write_jpeg_manifest(dir.path(), &bytes, &labels);
    let data_lines =
        format!("format = \"csv\"\npath = \"manifest.csv\"\nimage_size = [1, 8, 8]\ncache_dir = \"cache\"\n{DIGITS_NORMALIZE}");
    let csv = load(dir.path(), &data_lines);
    assert_eq!(csv.labels, labels, "manifest order, integer labels");
    assert_eq!(csv.source(5), dir.path().join("images/0005.jpg").display().to_string());
    let mut worst = 0.0f32;
    for i in 0..csv.len() {
        let written = bytes[i * 64..(i + 1) * 64].iter().map(|&b| b as f32 / 255.0);
        worst = csv.image(i).iter().zip(written).map(|(a, b)| (a - b).abs()).fold(worst, f32::max);
    }
    assert!(worst <= JPEG_PIXEL_TOLERANCE, "JPEG moved a pixel by {worst} ({} levels)", worst * 255.0);

    let from_csv = loss_scores(&run(dir.path(), &job(&data_lines)));
    let from_digits = loss_scores(&run(dir.path(), &job("format = \"digits\"")));
    let mean = from_digits.iter().sum::<f32>() / from_digits.len() as f32;
    let difference = from_csv.iter().zip(&from_digits).map(|(a, b)| (a - b).abs()).sum::<f32>() / from_digits.len() as f32;
    let pearson = pearson(&from_csv, &from_digits);
    assert!(difference <= JPEG_LOSS_TOLERANCE * mean, "mean |difference| {difference} against a mean loss score of {mean}");
    assert!(pearson >= JPEG_LOSS_CORRELATION, "Pearson correlation {pearson}");
}

#[test]
fn decoded_images_are_cached_and_a_changed_image_is_decoded_again() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, labels) = digits_bytes();
    let files = write_png_folder(&dir.path().join("digits"), &bytes[..200 * 64], &labels[..200]);
    let config = parse_job(
        &job("format = \"folder\"\npath = \"digits\"\nimage_size = [1, 8, 8]\ncache_dir = \"cache\""),
        "job.toml",
        &[],
        dir.path(),
    )
    .unwrap();
    let decoded = Arc::new(AtomicUsize::new(0));
    let counter = decoded.clone();
    let progress: ProgressFn = Arc::new(move |p| counter.store(p.done, Ordering::Relaxed));
    let options = LoadOptions { progress: Some(progress), ..LoadOptions::default() };
    let cache_files = || {
        let mut names: Vec<String> =
            std::fs::read_dir(dir.path().join("cache")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    };

    let first = load_data(&config.data, &options).unwrap().train;
    assert_eq!(decoded.swap(0, Ordering::Relaxed), 200, "the first load decodes every image");
    let entries = cache_files();
    assert_eq!(entries.len(), 2, "one cache file and its record: {entries:?}");
    assert!(entries.iter().any(|n| n.ends_with(".u8")) && entries.iter().any(|n| n.ends_with(".json")));
    let data_file = dir.path().join("cache").join(entries.iter().find(|n| n.ends_with(".u8")).unwrap());
    assert_eq!(std::fs::metadata(&data_file).unwrap().len(), 200 * 64, "N x C x H x W bytes");

    let second = load_data(&config.data, &options).unwrap().train;
    assert_eq!(decoded.load(Ordering::Relaxed), 0, "the second load reads the cache");
    assert!(second.pixels.is_mapped());
    assert_eq!((0..200).map(|i| second.image(i)).collect::<Vec<_>>(), (0..200).map(|i| first.image(i)).collect::<Vec<_>>());

    // A changed image (new size and mtime) misses the cache: decoded again, new values.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&files[7], png(&[255; 64])).unwrap();
    let third = load_data(&config.data, &options).unwrap().train;
    assert_eq!(decoded.load(Ordering::Relaxed), 200, "a changed file invalidates the cache");
    assert_eq!(third.image(7), vec![1.0; 64]);
    assert_eq!(cache_files().len(), 4, "a second entry beside the first");
}

/// The cache as its user sees it: `memscope cache list` shows each decoded dataset
/// (where from, images, shape, size, when last used); `memscope cache clear
/// --unused-for-days 7` removes only what no run used for a week, `clear` the rest,
/// and a run after that decodes its images again.
#[test]
fn the_cache_is_listed_and_cleared_by_age_of_last_use() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, labels) = digits_bytes();
    write_png_folder(&dir.path().join("digits"), &bytes[..200 * 64], &labels[..200]);
    let data =
        |side: usize| job(&format!("format = \"folder\"\npath = \"digits\"\nimage_size = [1, {side}, {side}]\ncache_dir = \"cache\""));
    let cache = |args: &[&str]| memscope(dir.path(), &[&["cache"], args, &["--dir", "cache"]].concat()).success().stdout();
    run(dir.path(), &data(8));
    run(dir.path(), &data(12));

    let listed = cache(&["list"]);
    assert!(listed.starts_with("cache: 2 dataset(s), "), "{listed}");
    let rows: Vec<&str> = listed.lines().filter(|l| l.contains("folder ")).collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(rows[0].contains(" 200 ") && rows[0].contains("1x12x12") && rows[0].contains(" s ago"), "the newest first: {listed}");
    assert!(rows[1].contains("1x8x8") && rows[1].contains("digits"), "{listed}");

    // The 8x8 set was last used ten days ago.
    let record = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json") && std::fs::read_to_string(p).unwrap().contains("\n    8,\n    8\n"))
        .expect("the 8x8 record");
    let ten_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(10 * 86_400);
    std::fs::File::options().append(true).open(&record).unwrap().set_modified(ten_days_ago).unwrap();
    let cleared = cache(&["clear", "--unused-for-days", "7"]);
    assert!(
        cleared.starts_with("cache: removed 1 dataset(s), ") && cleared.trim_end().ends_with("kept 1 used in the last 7 days"),
        "{cleared}"
    );
    let listed = cache(&["list"]);
    assert!(listed.starts_with("cache: 1 dataset(s), ") && listed.contains("1x12x12") && !listed.contains("1x8x8"), "{listed}");

    assert!(cache(&["clear"]).starts_with("cache: removed 1 dataset(s), "));
    assert!(cache(&["list"]).starts_with("cache: 0 dataset(s), 0 B"));
    run(dir.path(), &data(8));
    assert!(cache(&["list"]).starts_with("cache: 1 dataset(s), "), "a run after clearing decodes again");

    let error = memscope(dir.path(), &["cache", "clear", "--unused-for-days", "soon"]).clean_failure();
    assert!(error.contains("\"soon\" is not a number of days"), "{error}");
}

/// Two classes of synthetic 8x8 images (a bright row or column), `n` each, as PNGs in
/// `root/<name>/`; returns every file.
fn write_two_classes(root: &Path, names: [&str; 2], n: usize) -> Vec<PathBuf> {
    let (pixels, labels) = synthetic_images(2 * n, 1, 8, 8, 2);
    let mut files = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let dir = root.join(names[*label as usize]);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("img{i:03}.png"));
        std::fs::write(&file, png(&pixels[i * 64..(i + 1) * 64])).unwrap();
        files.push(file);
    }
    files
}

#[test]
fn class_names_and_sources_reach_scores_csv_the_report_and_the_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pets");
    let files = write_two_classes(&root, ["cat", "dog"], 30);
    // An exact copy of a cat filed as a dog: a conflicting duplicate.
    std::fs::copy(&files[0], root.join("dog/copy-of-img000.png")).unwrap();
    let text = "name = \"job\"\nseed = 0\n[data]\nformat = \"folder\"\npath = \"pets\"\nimage_size = [1, 8, 8]\ncache_dir = \"cache\"\n\
                [train]\nepochs = 2\n[score]\nbuiltin = [\"loss\"]\n\
                [[plugins]]\nname = \"noise\"\nconfig = { fraction = 0.2, kind = \"symmetric\" }\n";
    let run_dir = run(dir.path(), text);

    assert_eq!(read_json(&run_dir.join("classes.json")), serde_json::json!(["cat", "dog"]));
    let sources = read_json(&run_dir.join("sources.json"));
    let sources: Vec<&str> = sources.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(sources.len(), 61);
    assert_eq!(sources[0], root.join("cat/img000.png").display().to_string());
    assert_eq!(sources[30], root.join("dog/copy-of-img000.png").display().to_string());

    let text = std::fs::read_to_string(run_dir.join("report/scores.csv")).unwrap();
    let rows = memscope::data::parse_csv(&text).unwrap();
    let header = &rows[0].1;
    let at = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no {name} in {header:?}"));
    let (source, label, name, original, original_name) =
        (at("source"), at("label"), at("label_name"), at("original_label"), at("original_label_name"));
    let mut changed = 0;
    for (k, (_, row)) in rows[1..].iter().enumerate() {
        assert_eq!(row[source], sources[k]);
        let class = |column: usize| ["cat", "dog"][row[column].parse::<usize>().unwrap()];
        assert_eq!(row[name], class(label));
        assert_eq!(row[original_name], class(original));
        assert_eq!(row[original_name], if sources[k].contains("/cat/") { "cat" } else { "dog" }, "the folder names the original class");
        changed += (row[label] != row[original]) as usize;
    }
    assert!(changed > 0, "the noise injector changed some labels");
    let html = std::fs::read_to_string(run_dir.join("report/index.html")).unwrap();
    assert!(html.contains("copy-of-img000.png"), "the duplicates table names the files");

    let text = std::fs::read_to_string(run_dir.join("report/conflicting_duplicates.csv")).unwrap();
    let rows = memscope::data::parse_csv(&text).unwrap();
    let header = &rows[0].1;
    let pair = rows[1..]
        .iter()
        .map(|(_, r)| r)
        .find(|r| r.iter().any(|c| c.ends_with("copy-of-img000.png")))
        .unwrap_or_else(|| panic!("the planted copy is a conflicting pair:\n{text}"));
    let field = |name: &str| pair[header.iter().position(|h| h == name).unwrap()].as_str();
    assert_eq!(field("source_a"), sources[0]);
    assert_eq!(field("source_b"), sources[30]);
    assert_eq!((field("original_label_name_a"), field("original_label_name_b")), ("cat", "dog"));
}

#[test]
fn a_corrupt_image_fails_the_job_naming_it_or_is_skipped_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pets");
    write_two_classes(&root, ["cat", "dog"], 10);
    let bad = root.join("dog/broken.jpg");
    std::fs::write(&bad, &jpeg(&[9; 64])[..40]).unwrap();
    let data = "format = \"folder\"\npath = \"pets\"\nimage_size = [1, 8, 8]\ncache_dir = \"cache\"";
    let line = fails(dir.path(), &job(data));
    assert!(line.contains(&format!("cannot decode image {}: ", bad.display())), "{line}");

    let run_dir = run(dir.path(), &job(&format!("{data}\non_bad_image = \"skip\"")));
    let summary = read_summary(&run_dir);
    assert_eq!(summary["samples"], 20);
    let skipped = summary["skipped_images"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{summary}");
    assert_eq!(skipped[0]["source"], bad.display().to_string());
    assert!(!skipped[0]["message"].as_str().unwrap().is_empty());
    assert!(!std::fs::read_to_string(run_dir.join("sources.json")).unwrap().contains("broken.jpg"));
}

#[test]
fn bad_image_datasets_each_get_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let size = "image_size = [1, 8, 8]\ncache_dir = \"cache\"";

    // A class folder without images.
    write_two_classes(&d.join("pets"), ["cat", "dog"], 3);
    std::fs::create_dir(d.join("pets/emu")).unwrap();
    std::fs::write(d.join("pets/emu/notes.txt"), "no images here").unwrap();
    let line = fails(d, &job(&format!("format = \"folder\"\npath = \"pets\"\n{size}")));
    assert!(line.contains(&d.join("pets/emu").display().to_string()) && line.contains("class folder `emu` holds no images"), "{line}");

    // No images at all: a folder without class folders, a manifest with only a header.
    std::fs::create_dir(d.join("empty")).unwrap();
    let line = fails(d, &job(&format!("format = \"folder\"\npath = \"empty\"\n{size}")));
    assert!(line.contains("empty") && line.contains("no class folders"), "{line}");
    std::fs::write(d.join("header.csv"), "path,label\n").unwrap();
    let line = fails(d, &job(&format!("format = \"csv\"\npath = \"header.csv\"\n{size}")));
    assert!(line.contains("header.csv") && line.contains("lists no images"), "{line}");

    // A manifest row whose file is missing; a label that is not a known class.
    std::fs::write(d.join("a.png"), png(&[0; 64])).unwrap();
    std::fs::write(d.join("missing.csv"), "path,label\na.png,cat\nnot-there.png,dog\n").unwrap();
    let line = fails(d, &job(&format!("format = \"csv\"\npath = \"missing.csv\"\n{size}")));
    assert!(line.contains("missing.csv: line 3: image file") && line.contains("not-there.png does not exist"), "{line}");
    std::fs::write(d.join("labels.csv"), "label,path\ncat,a.png\ncow,a.png\n").unwrap();
    let line = fails(d, &job(&format!("format = \"csv\"\npath = \"labels.csv\"\nclass_names = [\"cat\", \"dog\"]\n{size}")));
    assert!(line.contains("labels.csv: line 3: label `cow` is not a known class (classes: cat, dog)"), "{line}");
    let line = fails(d, &job(&format!("format = \"csv\"\npath = \"labels.csv\"\nlabel_column = \"class\"\n{size}")));
    assert!(line.contains("labels.csv: no column `class` in the header (columns: label, path)"), "{line}");

    // A Parquet file without the named columns.
    write_parquet_columns(&d.join("other.parquet"), "picture", "label", &[png(&[0; 64])], &["a.png".into()], &[0]);
    let line = fails(d, &job(&format!("format = \"parquet\"\npath = \"other.parquet\"\n{size}")));
    assert!(line.contains("other.parquet: no column `image` (columns: picture, label)"), "{line}");
    let line = fails(
        d,
        &job(&format!("format = \"parquet\"\npath = \"other.parquet\"\nimage_column = \"picture\"\nlabel_column = \"y\"\n{size}")),
    );
    assert!(line.contains("other.parquet: no column `y` (columns: picture, label)"), "{line}");

    // Normalization with another number of channels than the images have.
    let line = fails(d, &job("format = \"digits\"\nnormalize = { mean = [0.5, 0.5, 0.5], std = [0.2, 0.2, 0.2] }"));
    assert!(line.contains("`normalize` gives 3 mean(s) and 3 std(s), but the images have 1 channel(s)"), "{line}");

    // image_size missing or invalid.
    let line = fails(d, &job("format = \"folder\"\npath = \"pets\""));
    assert!(line.contains("data.image_size: format `folder` needs the size images are decoded to"), "{line}");
    let line = fails(d, &job("format = \"folder\"\npath = \"pets\"\nimage_size = [2, 8, 8]"));
    assert!(line.contains("data.image_size: [2, 8, 8] is not [channels, height, width]"), "{line}");
}
/// Writes a Parquet file in the Hugging Face `datasets` layout: an optional struct
/// column `image` with `bytes` (binary) and `path` (string), and an int64 `label`.
pub fn write_hf_parquet(path: &Path, images: &[Vec<u8>], names: &[String], labels: &[i64]) {
    write_parquet_columns(path, "image", "label", images, names, labels);
}

/// Like [`write_hf_parquet`] with other column names.
pub fn write_parquet_columns(path: &Path, image: &str, label: &str, images: &[Vec<u8>], names: &[String], labels: &[i64]) {
    let images: Vec<Option<&[u8]>> = images.iter().map(|b| Some(b.as_slice())).collect();
    write_image_rows(path, image, label, &images, names, labels);
}

/// The layout as `datasets` writes an image column loaded from local files: `bytes`
/// null, `path` naming the file.
pub fn write_hf_parquet_by_path(path: &Path, names: &[String], labels: &[i64]) {
    write_image_rows(path, "image", "label", &vec![None; names.len()], names, labels);
}

/// Rows of `image` (struct of optional `bytes` and `path`) and `label`.
fn write_image_rows(path: &Path, image: &str, label: &str, images: &[Option<&[u8]>], names: &[String], labels: &[i64]) {
    let bytes_field =
        Type::primitive_type_builder("bytes", PhysicalType::BYTE_ARRAY).with_repetition(Repetition::OPTIONAL).build().unwrap();
    let path_field = Type::primitive_type_builder("path", PhysicalType::BYTE_ARRAY)
        .with_repetition(Repetition::OPTIONAL)
        .with_converted_type(ConvertedType::UTF8)
        .build()
        .unwrap();
    let image_group = Type::group_type_builder(image)
        .with_repetition(Repetition::OPTIONAL)
        .with_fields(vec![Arc::new(bytes_field), Arc::new(path_field)])
        .build()
        .unwrap();
    let label_field = Type::primitive_type_builder(label, PhysicalType::INT64).with_repetition(Repetition::OPTIONAL).build().unwrap();
    let schema = Type::group_type_builder("schema").with_fields(vec![Arc::new(image_group), Arc::new(label_field)]).build().unwrap();
    let props = WriterProperties::builder().set_compression(parquet::basic::Compression::SNAPPY).build();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props)).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let present = vec![2i16; images.len()];
    let mut column = group.next_column().unwrap().unwrap();
    // Definition level 2: the bytes are there; 1: the struct is, its bytes are null.
    let levels: Vec<i16> = images.iter().map(|b| if b.is_some() { 2 } else { 1 }).collect();
    let values: Vec<ByteArray> = images.iter().flatten().map(|b| ByteArray::from(b.to_vec())).collect();
    column.typed::<ByteArrayType>().write_batch(&values, Some(&levels), None).unwrap();
    column.close().unwrap();
    let mut column = group.next_column().unwrap().unwrap();
    let values: Vec<ByteArray> = names.iter().map(|n| ByteArray::from(n.as_str())).collect();
    column.typed::<ByteArrayType>().write_batch(&values, Some(&present), None).unwrap();
    column.close().unwrap();
    let mut column = group.next_column().unwrap().unwrap();
    column.typed::<Int64Type>().write_batch(labels, Some(&vec![1i16; labels.len()]), None).unwrap();
    column.close().unwrap();
    group.close().unwrap();
    writer.close().unwrap();
}
