//! One encoded image (PNG, JPEG, BMP, WebP) to `C x H x W` bytes, channel-planar:
//! grayscale or RGB conversion first, then the resize (`shorter-side`: scale so the
//! image covers the target, then cut the centre; `exact`), as torchvision's
//! `convert` + `Resize` + `CenterCrop` do. An image already of the target size is
//! copied as it is, so pixels round-trip exactly.

use crate::config::{ImageSize, ResizeMode};
use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, ImageBuffer, Pixel, RgbImage};

/// Decodes `bytes` into `out` (`size.channels * size.height * size.width` bytes).
/// The error is the decoder's message.
pub fn decode_into(bytes: &[u8], size: ImageSize, resize: ResizeMode, out: &mut [u8]) -> Result<(), String> {
    let image = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    if image.width() == 0 || image.height() == 0 {
        return Err("the image has no pixels".into());
    }
    match size.channels {
        1 => planar(&fit(&grayscale(image), size, resize), out),
        _ => planar(&fit(&image.into_rgb8(), size, resize), out),
    }
    Ok(())
}

/// Grayscale as PIL's `convert("L")` computes it (ITU-R 601-2 luma, rounded), so that
/// a colour dataset converted here matches one converted in a PyTorch pipeline.
fn grayscale(image: DynamicImage) -> GrayImage {
    match image {
        DynamicImage::ImageLuma8(gray) => gray,
        DynamicImage::ImageLumaA8(gray) => ImageBuffer::from_fn(gray.width(), gray.height(), |x, y| image::Luma([gray.get_pixel(x, y)[0]])),
        other => {
            let rgb = other.into_rgb8();
            ImageBuffer::from_fn(rgb.width(), rgb.height(), |x, y| {
                let [r, g, b] = rgb.get_pixel(x, y).0;
                image::Luma([((r as u32 * 19595 + g as u32 * 38470 + b as u32 * 7471 + 0x8000) >> 16) as u8])
            })
        }
    }
}

/// The image brought to `size` (height and width).
fn fit<P>(image: &ImageBuffer<P, Vec<u8>>, size: ImageSize, resize: ResizeMode) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8> + 'static,
{
    let (w, h) = (size.width as u32, size.height as u32);
    if image.width() == w && image.height() == h {
        return image.clone();
    }
    match resize {
        ResizeMode::Exact => image::imageops::resize(image, w, h, FilterType::Triangle),
        ResizeMode::ShorterSide => {
            // The smallest scale at which the image covers the target on both sides.
            let scale = (w as f64 / image.width() as f64).max(h as f64 / image.height() as f64);
            let sw = ((image.width() as f64 * scale).round() as u32).max(w);
            let sh = ((image.height() as f64 * scale).round() as u32).max(h);
            let scaled = if (sw, sh) == (image.width(), image.height()) {
                image.clone()
            } else {
                image::imageops::resize(image, sw, sh, FilterType::Triangle)
            };
            let (left, top) = ((sw - w) / 2, (sh - h) / 2);
            image::imageops::crop_imm(&scaled, left, top, w, h).to_image()
        }
    }
}

/// Interleaved pixels to channel-planar bytes.
fn planar<P>(image: &ImageBuffer<P, Vec<u8>>, out: &mut [u8])
where
    P: Pixel<Subpixel = u8>,
{
    let channels = P::CHANNEL_COUNT as usize;
    let plane = (image.width() * image.height()) as usize;
    for (p, pixel) in image.pixels().enumerate() {
        for (c, &v) in pixel.channels().iter().enumerate() {
            out[c * plane + p] = v;
        }
    }
    debug_assert_eq!(out.len(), channels * plane);
}

/// A PNG of `width x height` from channel-planar bytes (1 or 3 channels): for tests and
/// benchmarks that write image datasets.
pub fn encode_png(planar: &[u8], channels: usize, height: usize, width: usize) -> Vec<u8> {
    let plane = height * width;
    let mut bytes = Vec::new();
    let cursor = std::io::Cursor::new(&mut bytes);
    if channels == 1 {
        let image = GrayImage::from_raw(width as u32, height as u32, planar[..plane].to_vec()).expect("a full plane");
        image.write_to(&mut std::io::BufWriter::new(cursor), image::ImageFormat::Png).expect("PNG encoding to memory");
    } else {
        let interleaved: Vec<u8> = (0..plane).flat_map(|p| (0..3).map(move |c| planar[c * plane + p])).collect();
        let image = RgbImage::from_raw(width as u32, height as u32, interleaved).expect("three full planes");
        image.write_to(&mut std::io::BufWriter::new(cursor), image::ImageFormat::Png).expect("PNG encoding to memory");
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(channels: usize, height: usize, width: usize) -> ImageSize {
        ImageSize { channels, height, width }
    }

    #[test]
    fn an_image_of_the_target_size_round_trips_exactly() {
        let planar: Vec<u8> = (0..3 * 4 * 5).map(|v| (v * 4) as u8).collect();
        let png = encode_png(&planar, 3, 4, 5);
        let mut out = vec![0u8; planar.len()];
        decode_into(&png, size(3, 4, 5), ResizeMode::ShorterSide, &mut out).unwrap();
        assert_eq!(out, planar);
        let gray: Vec<u8> = (0..20).map(|v| (v * 12) as u8).collect();
        let mut out = vec![0u8; 20];
        decode_into(&encode_png(&gray, 1, 4, 5), size(1, 4, 5), ResizeMode::Exact, &mut out).unwrap();
        assert_eq!(out, gray);
    }

    #[test]
    fn shorter_side_keeps_the_centre_and_colour_becomes_pil_grayscale() {
        // 2 rows x 6 columns: columns 0,1 red, 2,3 green, 4,5 blue. Shorter side 2 -> 2:
        // no scaling, the centre 2 x 2 is the green block.
        let mut planar = vec![0u8; 3 * 12];
        for r in 0..2 {
            for c in 0..6 {
                planar[(c / 2) * 12 + r * 6 + c] = 255;
            }
        }
        let png = encode_png(&planar, 3, 2, 6);
        let mut out = vec![0u8; 12];
        decode_into(&png, size(3, 2, 2), ResizeMode::ShorterSide, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0]);
        let mut out = vec![0u8; 4];
        decode_into(&png, size(1, 2, 2), ResizeMode::ShorterSide, &mut out).unwrap();
        assert_eq!(out, [150; 4], "PIL: 255 * 38470 / 65536 rounds to 150");
        // exact: the whole width squeezed into 2 columns: red on the left, blue on the
        // right, the green middle mixed into both.
        let mut out = vec![0u8; 12];
        decode_into(&png, size(3, 2, 2), ResizeMode::Exact, &mut out).unwrap();
        let (red, green, blue) = (&out[..4], &out[4..8], &out[8..]);
        assert!(red[0] > 0 && red[1] == 0 && blue[0] == 0 && blue[1] > 0, "{out:?}");
        assert!(green.iter().all(|&v| v > 0 && v < 255), "{out:?}");
    }

    #[test]
    fn garbage_is_a_decoder_message() {
        let mut out = vec![0u8; 4];
        let err = decode_into(b"not an image at all", size(1, 2, 2), ResizeMode::Exact, &mut out).unwrap_err();
        assert!(!err.is_empty());
        let png = encode_png(&[7u8; 16], 1, 4, 4);
        let err = decode_into(&png[..png.len() / 2], size(1, 4, 4), ResizeMode::Exact, &mut out).unwrap_err();
        assert!(!err.is_empty());
    }
}
