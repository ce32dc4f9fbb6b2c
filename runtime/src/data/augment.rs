//! Training-time augmentation: random crop after zero padding, horizontal flip.
//! Applied on the loader thread to a batch's copy of the pixels, never to scoring.

use super::ImageShape;
use crate::config::AugmentConfig;
use rand::Rng;

/// Applies the configured augmentation to images in place.
#[derive(Debug, Clone)]
pub struct Augmenter {
    config: AugmentConfig,
    shape: ImageShape,
    scratch: Vec<f32>,
}

impl Augmenter {
    /// An augmenter for images of `shape`.
    pub fn new(config: AugmentConfig, shape: ImageShape) -> Self {
        Augmenter { config, shape, scratch: vec![0.0; shape.len()] }
    }

    /// Whether any augmentation is configured.
    pub fn is_active(&self) -> bool {
        self.config.crop_padding > 0 || self.config.hflip
    }

    /// Augments each image of `batch` (consecutive images of this shape).
    pub fn apply(&mut self, batch: &mut [f32], rng: &mut impl Rng) {
        let n = self.shape.len();
        for image in batch.chunks_exact_mut(n) {
            let pad = self.config.crop_padding as i64;
            let (dy, dx) = if pad > 0 { (rng.random_range(-pad..=pad), rng.random_range(-pad..=pad)) } else { (0, 0) };
            let flip = self.config.hflip && rng.random_bool(0.5);
            if dy == 0 && dx == 0 && !flip {
                continue;
            }
            self.transform(image, dy, dx, flip);
        }
    }

    /// Output pixel (r, c) takes input pixel (r + dy, c' + dx), where c' is c mirrored
    /// when flipping; pixels shifted in from outside are zero (the padding).
    fn transform(&mut self, image: &mut [f32], dy: i64, dx: i64, flip: bool) {
        let ImageShape { channels, height, width } = self.shape;
        let (h, w) = (height as i64, width as i64);
        for ch in 0..channels {
            let plane = &image[ch * height * width..(ch + 1) * height * width];
            let out = &mut self.scratch[ch * height * width..(ch + 1) * height * width];
            for r in 0..h {
                for c in 0..w {
                    let sc = if flip { w - 1 - c } else { c };
                    let (sr, sc) = (r + dy, sc + dx);
                    out[(r * w + c) as usize] =
                        if (0..h).contains(&sr) && (0..w).contains(&sc) { plane[(sr * w + sc) as usize] } else { 0.0 };
                }
            }
        }
        image.copy_from_slice(&self.scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn flip_mirrors_columns_and_padding_crop_keeps_pixels_or_zeros() {
        let shape = ImageShape { channels: 1, height: 2, width: 3 };
        let mut aug = Augmenter::new(AugmentConfig { crop_padding: 0, hflip: true }, shape);
        let mut img = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        aug.transform(&mut img, 0, 0, true);
        assert_eq!(img, vec![3.0, 2.0, 1.0, 6.0, 5.0, 4.0]);

        let mut img = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        aug.transform(&mut img, 1, 1, false);
        assert_eq!(img, vec![5.0, 6.0, 0.0, 0.0, 0.0, 0.0]);

        let mut aug = Augmenter::new(AugmentConfig { crop_padding: 1, hflip: true }, shape);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut batch: Vec<f32> = (1..=12).map(|v| v as f32).collect();
        aug.apply(&mut batch, &mut rng);
        assert!(batch.iter().all(|v| *v == 0.0 || (1.0..=12.0).contains(v)));
    }
}
