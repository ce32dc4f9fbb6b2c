//! Pictures: an RGB canvas composed pixel by pixel (image tiles, borders, captions)
//! and charts drawn by plotters, all text in the bundled DejaVu Sans (no system font
//! is ever looked up, so a report renders the same on any machine), saved as PNG.
//!
//! Captions are rasterized with ab_glyph directly rather than through plotters:
//! plotters' ab_glyph backend ignores each glyph's left bearing, which at caption
//! sizes shifts narrow digits like `1` visibly out of line.

use super::ReportError;
use ab_glyph::{Font, FontRef, ScaleFont};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::path::Path;
use std::sync::OnceLock;

/// The font family every text of the report is drawn in.
pub const FONT: &str = "sans-serif";

const DEJAVU_SANS: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// An RGB colour.
pub type Rgb = [u8; 3];

/// Registers the bundled font under [`FONT`] once per process.
fn ensure_font() -> Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        register_font(FONT, FontStyle::Normal, DEJAVU_SANS).is_ok() && register_font(FONT, FontStyle::Bold, DEJAVU_SANS).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err("the bundled DejaVuSans.ttf could not be loaded".into())
    }
}

/// A PNG of the report: its file name in `report/`, size and title, for the HTML.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    /// File name inside the report directory.
    pub file: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// What it shows.
    pub title: String,
}

/// An RGB picture built from rectangles, pixels and text.
pub struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
    font: FontRef<'static>,
}

impl Canvas {
    /// A `width x height` canvas filled with `background`.
    pub fn new(width: u32, height: u32, background: Rgb) -> Self {
        let pixels = background.iter().copied().cycle().take(width as usize * height as usize * 3).collect();
        let font = FontRef::try_from_slice(DEJAVU_SANS).expect("the bundled DejaVuSans.ttf is a valid font (tested)");
        Canvas { width, height, pixels, font }
    }

    /// Fills a rectangle, clipped to the canvas.
    pub fn fill_rect(&mut self, x: u32, y: u32, w: u32, h: u32, color: Rgb) {
        for row in y..(y + h).min(self.height) {
            for col in x..(x + w).min(self.width) {
                let at = (row as usize * self.width as usize + col as usize) * 3;
                self.pixels[at..at + 3].copy_from_slice(&color);
            }
        }
    }

    /// Draws `pixels` (`w x h`, row-major) with each pixel as a `scale x scale` block
    /// (nearest-neighbour upscaling: the pixels stay visible as pixels).
    pub fn blit_scaled(&mut self, x: u32, y: u32, pixels: &[Rgb], w: u32, h: u32, scale: u32) {
        for row in 0..h {
            for col in 0..w {
                let color = pixels[(row * w + col) as usize];
                self.fill_rect(x + col * scale, y + row * scale, scale, scale, color);
            }
        }
    }

    /// Draws a line of text of `size` pixels with its top-left corner at `(x, y)`,
    /// blending by glyph coverage (anti-aliased), clipped to the canvas.
    pub fn text(&mut self, x: u32, y: u32, text: &str, size: f32, color: Rgb) {
        let font = self.font.clone();
        let scaled = font.as_scaled(size);
        let baseline = y as f32 + scaled.ascent();
        let mut caret = x as f32;
        let mut previous = None;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(previous) = previous {
                caret += scaled.kern(previous, id);
            }
            previous = Some(id);
            let glyph = id.with_scale_and_position(size, ab_glyph::point(caret, baseline));
            caret += scaled.h_advance(id);
            if let Some(outline) = font.outline_glyph(glyph) {
                let bounds = outline.px_bounds();
                outline.draw(|gx, gy, coverage| {
                    self.blend(bounds.min.x as i64 + gx as i64, bounds.min.y as i64 + gy as i64, color, coverage);
                });
            }
        }
    }

    fn blend(&mut self, x: i64, y: i64, color: Rgb, coverage: f32) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return;
        }
        let at = (y as usize * self.width as usize + x as usize) * 3;
        let alpha = coverage.clamp(0.0, 1.0);
        for (channel, &target) in self.pixels[at..at + 3].iter_mut().zip(&color) {
            *channel = (*channel as f32 * (1.0 - alpha) + target as f32 * alpha).round() as u8;
        }
    }

    /// Writes the picture as `dir/file`.
    pub fn save(self, dir: &Path, file: &str, title: &str) -> Result<Picture, ReportError> {
        write_png(&dir.join(file), self.width, self.height, &self.pixels)?;
        Ok(Picture { file: file.to_string(), width: self.width, height: self.height, title: title.to_string() })
    }
}

/// Size of every chart.
pub const CHART_SIZE: (u32, u32) = (640, 420);

/// Draws a chart of [`CHART_SIZE`] on white with `draw`, and writes it as `dir/file`.
pub fn render_chart(
    dir: &Path,
    file: &str,
    title: &str,
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<Picture, ReportError> {
    let path = dir.join(file);
    let path = path.as_path();
    let (width, height) = CHART_SIZE;
    ensure_font().map_err(|m| ReportError::plot(path, m))?;
    let mut pixels = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| ReportError::plot(path, e))?;
        draw(&root).map_err(|m| ReportError::plot(path, m))?;
        root.present().map_err(|e| ReportError::plot(path, e))?;
    }
    write_png(path, width, height, &pixels)?;
    Ok(Picture { file: file.to_string(), width, height, title: title.to_string() })
}

fn write_png(path: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<(), ReportError> {
    image::save_buffer_with_format(path, rgb, width, height, image::ExtendedColorType::Rgb8, image::ImageFormat::Png)
        .map_err(|cause| ReportError::Image { path: path.to_path_buf(), cause })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_in_the_bundled_font_changes_pixels_and_the_png_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let mut canvas = Canvas::new(120, 40, [255, 255, 255]);
        canvas.fill_rect(0, 0, 10, 10, [200, 0, 0]);
        canvas.text(12, 10, "label 3 (was 5)", 12.0, [0, 0, 0]);
        let picture = canvas.save(dir.path(), "t.png", "test").unwrap();
        assert_eq!((picture.width, picture.height), (120, 40));
        let path = dir.path().join("t.png");
        let decoded = image::open(&path).unwrap().to_rgb8();
        assert_eq!(decoded.dimensions(), (120, 40));
        assert_eq!(decoded.get_pixel(5, 5).0, [200, 0, 0]);
        let dark = decoded.pixels().filter(|p| p.0[0] < 128 && p.0[1] < 128).count();
        assert!(dark > 30, "the text drew {dark} dark pixels");
    }

    #[test]
    fn charts_register_and_use_the_bundled_font() {
        let dir = tempfile::tempdir().unwrap();
        let picture = render_chart(dir.path(), "c.png", "chart", |root| {
            root.draw_text("Ag", &TextStyle::from((FONT, 30).into_font()), (10, 10)).map_err(|e| e.to_string())
        })
        .unwrap();
        assert_eq!((picture.width, picture.height), CHART_SIZE);
        let decoded = image::open(dir.path().join("c.png")).unwrap().to_rgb8();
        let dark = decoded.pixels().filter(|p| p.0[0] < 128).count();
        assert!(dark > 50, "the chart's text drew {dark} dark pixels");
    }
}
