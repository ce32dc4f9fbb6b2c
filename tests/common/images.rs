//! Image datasets written by the tests: the embedded digits as a PNG folder, as a CSV
//! manifest over JPEG files (the Parquet writer is in `e2e/test_images.rs`, where the
//! `parquet` crate is a dev-dependency).
//!
//! A digits pixel is an integer v in 0..=16 that the embedded loader scales to v / 16.
//! An 8-bit image cannot hold v / 16 (it holds b / 255), so the files store b = 15 v
//! and the jobs normalize with mean 0 and std 240 / 255 ([`DIGITS_NORMALIZE`]): in
//! f32, (15 v / 255) / (240 / 255) equals v / 16 exactly for every v in 0..=16 (a unit
//! test of the tests checks all 17). A PNG dataset therefore feeds the network exactly
//! the embedded digits' values.

use std::path::{Path, PathBuf};

/// The `[data]` lines that give 8-bit digits (b = 15 v) the embedded values v / 16.
pub const DIGITS_NORMALIZE: &str = "normalize = { mean = [0.0], std = [0.9411764705882353] }";

/// The embedded digits as bytes b = 15 v (64 per image, row-major) and their labels.
pub fn digits_bytes() -> (Vec<u8>, Vec<i64>) {
    let config = memscope::config::parse_job("name = \"d\"\n[data]\nformat = \"digits\"\n", "<digits>", &[], Path::new(".")).unwrap();
    let data = memscope::data::load_data(&config.data, &Default::default()).unwrap().train;
    let bytes = (0..data.len()).flat_map(|i| data.image(i)).map(|v| (v * 16.0).round() as u8 * 15).collect();
    (bytes, data.labels)
}

/// A PNG of one 8x8 digit.
pub fn png(pixels: &[u8]) -> Vec<u8> {
    memscope::data::images::encode_png(pixels, 1, 8, 8)
}

/// A JPEG (quality 100, grayscale) of one 8x8 digit.
pub fn jpeg(pixels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 100);
    encoder.encode(pixels, 8, 8, image::ExtendedColorType::L8).unwrap();
    bytes
}

/// Writes digit `i` of `bytes` as `root/<label>/<i:04>.png` for every sample; returns
/// the files in the folder's order (class, then path).
pub fn write_png_folder(root: &Path, bytes: &[u8], labels: &[i64]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let dir = root.join(label.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{i:04}.png"));
        std::fs::write(&file, png(&bytes[i * 64..(i + 1) * 64])).unwrap();
        files.push(file);
    }
    files.sort_by_key(|f| (f.parent().unwrap().file_name().unwrap().to_str().unwrap().parse::<i64>().unwrap(), f.clone()));
    files
}

/// Writes every digit as `dir/images/<i:04>.jpg` and `dir/manifest.csv` listing them
/// in the embedded order, with integer labels; returns the manifest.
pub fn write_jpeg_manifest(dir: &Path, bytes: &[u8], labels: &[i64]) -> PathBuf {
    std::fs::create_dir_all(dir.join("images")).unwrap();
    let mut csv = String::from("path,label\n");
    for (i, label) in labels.iter().enumerate() {
        let name = format!("images/{i:04}.jpg");
        std::fs::write(dir.join(&name), jpeg(&bytes[i * 64..(i + 1) * 64])).unwrap();
        csv.push_str(&format!("{name},{label}\n"));
    }
    let manifest = dir.join("manifest.csv");
    std::fs::write(&manifest, csv).unwrap();
    manifest
}

#[cfg(test)]
mod tests {
    #[test]
    fn fifteen_v_over_255_normalized_by_240_over_255_is_v_over_16() {
        let std = 0.9411764705882353f64 as f32;
        for v in 0..=16u8 {
            let b = 15 * v;
            assert_eq!(((b as f32 / 255.0) - 0.0) / std, v as f32 / 16.0, "v = {v}");
        }
    }
}
