//! A sample's image as a PNG at its own size (the page scales it up with
//! `image-rendering: pixelated`, so an 8x8 digit costs 100 bytes, not a kilobyte).
//! Values in [0, 1] map to bytes as the report's tiles do; three channels are RGB,
//! any other count shows its first channel in grey.

use crate::views::check_index;
use crate::{ReviewError, ReviewRun};
use image::{ImageBuffer, ImageFormat, Luma, Rgb};
use std::io::Cursor;

/// The PNG of sample `i`.
pub fn png(run: &ReviewRun, i: usize) -> Result<Vec<u8>, ReviewError> {
    check_index(run, i)?;
    let (image, shape) = run.image(i);
    let (w, h) = (shape.width as u32, shape.height as u32);
    let plane = shape.width * shape.height;
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let mut bytes = Cursor::new(Vec::new());
    let written = if shape.channels == 3 {
        let pixels = (0..plane).flat_map(|p| [byte(image[p]), byte(image[plane + p]), byte(image[2 * plane + p])]).collect();
        ImageBuffer::<Rgb<u8>, Vec<u8>>::from_raw(w, h, pixels).expect("3 bytes per pixel").write_to(&mut bytes, ImageFormat::Png)
    } else {
        let pixels = image[..plane].iter().map(|&v| byte(v)).collect();
        ImageBuffer::<Luma<u8>, Vec<u8>>::from_raw(w, h, pixels).expect("a byte per pixel").write_to(&mut bytes, ImageFormat::Png)
    };
    written.map_err(|e| ReviewError::Internal(format!("encoding sample {i} as PNG: {e}")))?;
    Ok(bytes.into_inner())
}
