//! Sample images as captioned tiles: pixel values mapped to colours with one scale for
//! the whole dataset (so a faint image looks faint next to a bright one), upscaled by
//! an integer factor so that 8x8 digits and 28x28 MNIST are readable, a border that
//! is red for samples whose label the noise injector changed.

use super::canvas::{Canvas, Rgb};
use memscope::data::Dataset;

/// Smallest side of an upscaled image, in pixels.
const TARGET_SIDE: usize = 64;
/// Width of a tile's border.
pub const BORDER: u32 = 3;
/// Height of a caption line, and its font size.
pub const LINE: u32 = 14;
const FONT_SIZE: f32 = 12.0;
/// A tile is at least this wide, so that its caption fits.
const MIN_TILE_WIDTH: u32 = 112;

/// Black.
pub const INK: Rgb = [20, 20, 20];
/// Red: noisy samples, conflicting labels.
pub const RED: Rgb = [214, 39, 40];
/// Blue: the verdict's suggested label.
pub const BLUE: Rgb = [31, 100, 180];
/// Border of a clean sample.
pub const GREY: Rgb = [190, 190, 190];
/// Page background.
pub const WHITE: Rgb = [255, 255, 255];

/// How the images of one dataset are drawn.
pub struct TileStyle {
    low: f32,
    span: f32,
    channels: usize,
    width: u32,
    height: u32,
    /// Upscaling factor.
    pub scale: u32,
}

/// One caption line and its colour.
pub type Caption = (String, Rgb);

impl TileStyle {
    /// The style for `dataset`: its value range (read one image at a time), shape and
    /// upscaling.
    pub fn for_dataset(dataset: &Dataset) -> Self {
        let mut image = vec![0.0f32; dataset.shape.len()];
        let (mut low, mut high) = (f32::INFINITY, f32::NEG_INFINITY);
        for i in 0..dataset.len() {
            dataset.read_image(i, &mut image);
            (low, high) = image.iter().fold((low, high), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        }
        let (low, high) = if low.is_finite() && high > low { (low, high) } else { (0.0, 1.0) };
        let shape = dataset.shape;
        let side = shape.height.max(shape.width).max(1);
        TileStyle {
            low,
            span: high - low,
            channels: shape.channels,
            width: shape.width as u32,
            height: shape.height as u32,
            scale: TARGET_SIDE.div_ceil(side).max(1) as u32,
        }
    }

    /// Width of a tile (image, border and caption column).
    pub fn tile_width(&self) -> u32 {
        (self.width * self.scale + 2 * BORDER).max(MIN_TILE_WIDTH)
    }

    /// Height of a tile with `lines` caption lines.
    pub fn tile_height(&self, lines: u32) -> u32 {
        self.height * self.scale + 2 * BORDER + 4 + lines * LINE
    }

    /// The image's colours, row-major: grey for one channel, RGB for three.
    pub fn colours(&self, image: &[f32]) -> Vec<Rgb> {
        let plane = (self.width * self.height) as usize;
        let byte = |v: f32| (((v - self.low) / self.span).clamp(0.0, 1.0) * 255.0).round() as u8;
        (0..plane)
            .map(|p| {
                if self.channels >= 3 {
                    [byte(image[p]), byte(image[plane + p]), byte(image[2 * plane + p])]
                } else {
                    let g = byte(image[p]);
                    [g, g, g]
                }
            })
            .collect()
    }

    /// Draws a tile at `(x, y)`: the image in a `border`-coloured frame, centred in
    /// the tile width, with the caption lines under it.
    pub fn draw(&self, canvas: &mut Canvas, x: u32, y: u32, image: &[f32], border: Rgb, captions: &[Caption]) {
        let side_w = self.width * self.scale + 2 * BORDER;
        let side_h = self.height * self.scale + 2 * BORDER;
        let left = x + (self.tile_width() - side_w) / 2;
        canvas.fill_rect(left, y, side_w, side_h, border);
        canvas.blit_scaled(left + BORDER, y + BORDER, &self.colours(image), self.width, self.height, self.scale);
        for (n, (text, colour)) in captions.iter().enumerate() {
            canvas.text(x + 2, y + side_h + 3 + n as u32 * LINE, text, FONT_SIZE, *colour);
        }
    }
}

/// A short form of a score value for captions.
pub fn short(value: f32) -> String {
    let magnitude = value.abs();
    if magnitude >= 1000.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 0.01 || value == 0.0 {
        format!("{value:.3}")
    } else {
        format!("{value:.1e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memscope::data::{ImageShape, PixelStore, Sources};

    fn dataset(channels: usize, side: usize, values: Vec<f32>) -> Dataset {
        let shape = ImageShape { channels, height: side, width: side };
        let n = values.len() / shape.len();
        Dataset::new("test".into(), shape, PixelStore::floats(values, shape.len()), vec![0; n], 2, Sources::records("test", n))
    }

    #[test]
    fn small_images_are_upscaled_to_a_readable_size() {
        assert_eq!(TileStyle::for_dataset(&dataset(1, 8, vec![0.0; 64])).scale, 8);
        assert_eq!(TileStyle::for_dataset(&dataset(1, 28, vec![0.0; 784])).scale, 3);
        assert_eq!(TileStyle::for_dataset(&dataset(3, 32, vec![0.0; 3072])).scale, 2);
    }

    #[test]
    fn values_map_to_bytes_over_the_dataset_range_and_channels_to_colours() {
        let grey = TileStyle::for_dataset(&dataset(1, 1, vec![0.5, 1.0]));
        assert_eq!(grey.colours(&[0.75]), vec![[128, 128, 128]]);
        let colour = TileStyle::for_dataset(&dataset(3, 1, vec![0.0, 0.5, 1.0]));
        assert_eq!(colour.colours(&[1.0, 0.0, 0.5]), vec![[255, 0, 128]]);
    }

    #[test]
    fn short_values_stay_short() {
        assert_eq!(short(1234.56), "1235");
        assert_eq!(short(12.345), "12.3");
        assert_eq!(short(0.12345), "0.123");
        assert_eq!(short(0.00012), "1.2e-4");
    }
}
