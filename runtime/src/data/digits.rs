//! scikit-learn's 8x8 handwritten digits, embedded in the binary so that the default
//! job needs no download. Sample `i` is row `i` of sklearn's `digits.csv.gz`.

use super::{Dataset, ImageShape, PixelStore, Sources};
use std::io::Read;

const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../assets/digits.csv.gz");

/// Number of samples in the embedded dataset.
pub const DIGITS_SAMPLES: usize = 1797;

/// Decodes the embedded CSV: 64 pixel values in 0..=16, then the label.
pub fn load_digits() -> Dataset {
    let mut text = String::new();
    flate2::read::GzDecoder::new(DIGITS_CSV_GZ).read_to_string(&mut text).expect("the embedded digits.csv.gz is valid gzip");
    let mut images = Vec::with_capacity(DIGITS_SAMPLES * 64);
    let mut labels = Vec::with_capacity(DIGITS_SAMPLES);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let values: Vec<f32> = line.split(',').map(|v| v.trim().parse::<f32>().expect("the embedded digits CSV holds numbers")).collect();
        assert_eq!(values.len(), 65, "each digits row has 64 pixels and a label");
        images.extend(values[..64].iter().map(|v| v / 16.0));
        labels.push(values[64] as i64);
    }
    let sources = Sources::records("digits.csv", labels.len());
    Dataset::new(
        "digits (embedded sklearn digits.csv.gz)".to_string(),
        ImageShape { channels: 1, height: 8, width: 8 },
        PixelStore::floats(images, 64),
        labels,
        10,
        sources,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_has_1797_samples_in_unit_range_with_ten_classes() {
        let d = load_digits();
        assert_eq!(d.len(), DIGITS_SAMPLES);
        assert_eq!(d.pixels.len(), DIGITS_SAMPLES);
        assert!((0..d.len()).all(|i| d.image(i).iter().all(|v| (0.0..=1.0).contains(v))));
        assert_eq!(d.source(123), "digits.csv#123");
        // First row of sklearn's file is a 0, second a 1.
        assert_eq!(&d.labels[..3], &[0, 1, 2]);
        assert_eq!(*d.labels.iter().max().unwrap(), 9);
    }
}
