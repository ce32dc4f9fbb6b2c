//! The cnn's memory-bound layers, each one pass over its data, for the fused input
//! gradient. libtorch runs these as several passes with layout conversions between
//! them (conv1's single input channel makes its output NCHW while the rest of the
//! network is channels-last; max-pool's backward zero-fills its output, then scatters
//! into it with int64 indices; ReLU's backward is a pass of its own). Here each is
//! one loop over the rows, split across the job's threads.
//!
//! Layouts: `x` and `dx` are NCHW (one channel on digits and MNIST, where NCHW and
//! NHWC are the same bytes); activations and the pooled features are NHWC (the
//! caller permutes fc1's columns to match).
//!
//! The loops are written for the compiler to vectorize: fixed-size arrays (no
//! bounds checks in the inner loops), several pixels per step (independent
//! multiply-add chains), padded images (no edge tests), and an AVX2/FMA build of
//! each loop chosen at run time.

use super::parallel::{in_parallel, row_ranges};

/// Channels of the cnn's first convolution.
pub const CONV1: usize = 32;
/// Channels of the cnn's second convolution.
pub const CONV2: usize = 64;
/// The pooled position that won no window, or lost to the ReLU: no gradient.
const DEAD: u8 = 4;

/// An image size: channels, height, width.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    /// Input channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

impl Dims {
    fn pixels(self) -> usize {
        self.h * self.w
    }

    fn pooled(self) -> usize {
        (self.h / 2) * (self.w / 2)
    }
}

/// Multiply-add, with or without a fused instruction: `mul_add` is one instruction
/// where FMA is enabled, and a slow library call where it is not.
trait Mac {
    fn mac(acc: f32, a: f32, b: f32) -> f32;
}
struct Fused;
struct Plain;
impl Mac for Fused {
    #[inline(always)]
    fn mac(acc: f32, a: f32, b: f32) -> f32 {
        a.mul_add(b, acc)
    }
}
impl Mac for Plain {
    #[inline(always)]
    fn mac(acc: f32, a: f32, b: f32) -> f32 {
        acc + a * b
    }
}

std::thread_local! {
    /// Set by tests on the calling thread to run the portable build of the loops on a
    /// CPU that has AVX2.
    static PORTABLE_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the kernels it calls (from this thread) on their portable build.
#[cfg(test)]
pub fn portable_only<R>(f: impl FnOnce() -> R) -> R {
    PORTABLE_ONLY.with(|p| p.set(true));
    let result = f();
    PORTABLE_ONLY.with(|p| p.set(false));
    result
}

/// Whether to run the AVX2/FMA build of the loops: where the CPU has both.
fn has_avx2_fma() -> bool {
    if PORTABLE_ONLY.with(|p| p.get()) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The `N` values of `s` from `at`, as an array (checked once, not per element).
#[inline(always)]
fn block<T, const N: usize>(s: &[T], at: usize) -> &[T; N] {
    s[at..at + N].try_into().expect("in bounds")
}

#[inline(always)]
fn block_mut<T, const N: usize>(s: &mut [T], at: usize) -> &mut [T; N] {
    (&mut s[at..at + N]).try_into().expect("in bounds")
}

/// Copies each channel of a `[C, H, W]` image into the middle of a zeroed
/// `[C, H + 2, W + 2]` buffer (the border stays zero: conv1's padding).
#[inline(always)]
fn pad_image(image: &[f32], dims: Dims, padded: &mut [f32]) {
    let Dims { c, h, w } = dims;
    for ci in 0..c {
        for i in 0..h {
            let src = &image[(ci * h + i) * w..][..w];
            padded[(ci * (h + 2) + i + 1) * (w + 2) + 1..][..w].copy_from_slice(src);
        }
    }
}

/// `r1 = relu(conv1(x))`, 3x3, padding 1, NCHW `x` to NHWC `r1`.
///
/// `weight` is conv1's `[CONV1, C, 3, 3]`, `bias` its `[CONV1]`.
pub fn conv1_relu(x: &[f32], dims: Dims, weight: &[f32], bias: &[f32], r1: &mut [f32], threads: usize) {
    let (in_row, out_row, taps_n) = (dims.c * dims.pixels(), dims.pixels() * CONV1, dims.c * 9);
    let rows = x.len() / in_row;
    assert!(weight.len() == CONV1 * taps_n && bias.len() == CONV1 && r1.len() == rows * out_row);
    assert!(dims.pixels().is_multiple_of(2), "conv1_relu: an even number of pixels");
    // Tap major, output channel minor: one tap is a vector over the output channels.
    let mut taps = vec![[0f32; CONV1]; taps_n];
    for (k, tap) in taps.iter_mut().enumerate() {
        for (o, t) in tap.iter_mut().enumerate() {
            *t = weight[o * taps_n + k];
        }
    }
    let bias: [f32; CONV1] = bias.try_into().expect("checked above");
    let (per, ranges) = row_ranges(rows, threads);
    let jobs: Vec<_> = ranges.into_iter().zip(r1.chunks_mut(per * out_row)).collect();
    let fast = has_avx2_fma();
    in_parallel(jobs, |(range, out)| {
        let x = &x[range.start * in_row..range.end * in_row];
        #[cfg(target_arch = "x86_64")]
        if fast {
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            return unsafe { conv1_relu_avx2(x, dims, &taps, &bias, out) };
        }
        let _ = fast;
        conv1_relu_rows::<Plain>(x, dims, &taps, &bias, out)
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn conv1_relu_avx2(x: &[f32], dims: Dims, taps: &[[f32; CONV1]], bias: &[f32; CONV1], out: &mut [f32]) {
    conv1_relu_rows::<Fused>(x, dims, taps, bias, out)
}

#[inline(always)]
fn conv1_relu_rows<M: Mac>(x: &[f32], dims: Dims, taps: &[[f32; CONV1]], bias: &[f32; CONV1], out: &mut [f32]) {
    let Dims { c, h, w } = dims;
    let (pw, plane) = (w + 2, (h + 2) * (w + 2));
    let mut padded = vec![0f32; c * plane];
    for (image, out) in x.chunks_exact(c * h * w).zip(out.chunks_exact_mut(h * w * CONV1)) {
        pad_image(image, dims, &mut padded);
        // Two neighbouring pixels per step: two independent chains of multiply-adds.
        for first in (0..h * w).step_by(2) {
            let mut acc = [*bias; 2];
            for ci in 0..c {
                for di in 0..3 {
                    for dj in 0..3 {
                        let tap = &taps[(ci * 3 + di) * 3 + dj];
                        for (p, acc) in acc.iter_mut().enumerate() {
                            let (i, j) = ((first + p) / w, (first + p) % w);
                            let v = padded[ci * plane + (i + di) * pw + j + dj];
                            for o in 0..CONV1 {
                                acc[o] = M::mac(acc[o], v, tap[o]);
                            }
                        }
                    }
                }
            }
            for (p, acc) in acc.iter().enumerate() {
                let dst = block_mut::<f32, CONV1>(out, (first + p) * CONV1);
                for o in 0..CONV1 {
                    dst[o] = acc[o].max(0.0);
                }
            }
        }
    }
}

/// 2x2 max-pool, then ReLU, of NHWC `a2` (`CONV2` channels) into NHWC `features`.
/// `winner` records, per pooled value, which of the window's four inputs it came
/// from (the first maximum, as libtorch's max-pool), or `DEAD` where the ReLU
/// zeroed it.
pub fn pool_relu(a2: &[f32], dims: Dims, features: &mut [f32], winner: &mut [u8], threads: usize) {
    let (in_row, out_row) = (dims.pixels() * CONV2, dims.pooled() * CONV2);
    let rows = a2.len() / in_row;
    assert!(features.len() == rows * out_row && winner.len() == rows * out_row);
    let (per, ranges) = row_ranges(rows, threads);
    let jobs: Vec<_> = ranges
        .into_iter()
        .zip(features.chunks_mut(per * out_row))
        .zip(winner.chunks_mut(per * out_row))
        .collect();
    let fast = has_avx2_fma();
    in_parallel(jobs, |((range, features), winner)| {
        let a2 = &a2[range.start * in_row..range.end * in_row];
        #[cfg(target_arch = "x86_64")]
        if fast {
            // SAFETY: the CPU has AVX2 (checked above).
            return unsafe { pool_relu_avx2(a2, dims, features, winner) };
        }
        let _ = fast;
        pool_relu_rows(a2, dims, features, winner)
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pool_relu_avx2(a2: &[f32], dims: Dims, features: &mut [f32], winner: &mut [u8]) {
    pool_relu_rows(a2, dims, features, winner)
}

#[inline(always)]
fn pool_relu_rows(a2: &[f32], dims: Dims, features: &mut [f32], winner: &mut [u8]) {
    let (w, w2, in_row, out_row) = (dims.w, dims.w / 2, dims.pixels() * CONV2, dims.pooled() * CONV2);
    for ((a, f), win) in a2.chunks_exact(in_row).zip(features.chunks_exact_mut(out_row)).zip(winner.chunks_exact_mut(out_row)) {
        for p in 0..dims.pooled() {
            let corner = (2 * (p / w2)) * w + 2 * (p % w2);
            let [x0, x1, x2, x3] = [corner, corner + 1, corner + w, corner + w + 1].map(|q| block::<f32, CONV2>(a, q * CONV2));
            let (f, win) = (block_mut::<f32, CONV2>(f, p * CONV2), block_mut::<u8, CONV2>(win, p * CONV2));
            for ch in 0..CONV2 {
                let (mut best, mut at) = (x0[ch], 0u8);
                for (k, v) in [(1u8, x1[ch]), (2, x2[ch]), (3, x3[ch])] {
                    let take = v > best || v.is_nan();
                    best = if take { v } else { best };
                    at = if take { k } else { at };
                }
                let alive = best > 0.0 || best.is_nan();
                f[ch] = if alive { best } else { 0.0 };
                win[ch] = if alive { at } else { DEAD };
            }
        }
    }
}

/// The backward of [`pool_relu`]: NHWC feature gradients to the NHWC gradient of
/// `a2`, every value written once (the window's winner gets the gradient, the other
/// three zero).
pub fn pool_relu_backward(d_features: &[f32], winner: &[u8], dims: Dims, d_a2: &mut [f32], threads: usize) {
    let (in_row, out_row) = (dims.pooled() * CONV2, dims.pixels() * CONV2);
    let rows = d_features.len() / in_row;
    assert!(winner.len() == rows * in_row && d_a2.len() == rows * out_row);
    let (per, ranges) = row_ranges(rows, threads);
    let jobs: Vec<_> = ranges.into_iter().zip(d_a2.chunks_mut(per * out_row)).collect();
    let fast = has_avx2_fma();
    in_parallel(jobs, |(range, d_a2)| {
        let df = &d_features[range.start * in_row..range.end * in_row];
        let winner = &winner[range.start * in_row..range.end * in_row];
        #[cfg(target_arch = "x86_64")]
        if fast {
            // SAFETY: the CPU has AVX2 (checked above).
            return unsafe { pool_relu_backward_avx2(df, winner, dims, d_a2) };
        }
        let _ = fast;
        pool_relu_backward_rows(df, winner, dims, d_a2)
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pool_relu_backward_avx2(df: &[f32], winner: &[u8], dims: Dims, d_a2: &mut [f32]) {
    pool_relu_backward_rows(df, winner, dims, d_a2)
}

#[inline(always)]
fn pool_relu_backward_rows(df: &[f32], winner: &[u8], dims: Dims, d_a2: &mut [f32]) {
    let (w, w2, in_row, out_row) = (dims.w, dims.w / 2, dims.pooled() * CONV2, dims.pixels() * CONV2);
    for ((df, win), out) in df.chunks_exact(in_row).zip(winner.chunks_exact(in_row)).zip(d_a2.chunks_exact_mut(out_row)) {
        for p in 0..dims.pooled() {
            let corner = (2 * (p / w2)) * w + 2 * (p % w2);
            let (g, win) = (block::<f32, CONV2>(df, p * CONV2), block::<u8, CONV2>(win, p * CONV2));
            for (k, q) in [corner, corner + 1, corner + w, corner + w + 1].into_iter().enumerate() {
                let dst = block_mut::<f32, CONV2>(out, q * CONV2);
                for ch in 0..CONV2 {
                    dst[ch] = if win[ch] == k as u8 { g[ch] } else { 0.0 };
                }
            }
        }
    }
}

/// The input gradient of [`conv1_relu`]: `dx = conv1^T(dr1 * (r1 > 0))`, NHWC
/// `dr1` and `r1` to NCHW `dx` (overwritten).
pub fn conv1_relu_backward(dr1: &[f32], r1: &[f32], dims: Dims, weight: &[f32], dx: &mut [f32], threads: usize) {
    match dims.c {
        1 => conv1_backward_with::<16, 4>(dr1, r1, dims, weight, dx, threads),
        2 | 3 => conv1_backward_with::<32, 2>(dr1, r1, dims, weight, dx, threads),
        c => panic!("conv1_relu_backward: {c} input channels (1 to 3 are supported)"),
    }
}

/// `T` is the number of taps (9 per input channel) rounded up to whole vectors;
/// `P` pixels go through each step.
fn conv1_backward_with<const T: usize, const P: usize>(dr1: &[f32], r1: &[f32], dims: Dims, weight: &[f32], dx: &mut [f32], threads: usize) {
    let (in_row, out_row, taps_n) = (dims.pixels() * CONV1, dims.c * dims.pixels(), dims.c * 9);
    let rows = dr1.len() / in_row;
    assert!(r1.len() == dr1.len() && dx.len() == rows * out_row && weight.len() == CONV1 * taps_n);
    assert!(dims.pixels().is_multiple_of(P), "conv1_relu_backward: pixels in whole steps");
    // Output channel major, taps minor, padded to T: one output channel's taps are a
    // vector, multiplied by that channel's gradient at a pixel.
    let mut taps = [[0f32; T]; CONV1];
    for (o, tap) in taps.iter_mut().enumerate() {
        tap[..taps_n].copy_from_slice(&weight[o * taps_n..][..taps_n]);
    }
    let (per, ranges) = row_ranges(rows, threads);
    let jobs: Vec<_> = ranges.into_iter().zip(dx.chunks_mut(per * out_row)).collect();
    let fast = has_avx2_fma();
    in_parallel(jobs, |(range, dx)| {
        let (dr1, r1) = (&dr1[range.start * in_row..range.end * in_row], &r1[range.start * in_row..range.end * in_row]);
        #[cfg(target_arch = "x86_64")]
        if fast {
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            return unsafe { conv1_backward_avx2::<T, P>(dr1, r1, dims, &taps, dx) };
        }
        let _ = fast;
        conv1_backward_rows::<Plain, T, P>(dr1, r1, dims, &taps, dx)
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn conv1_backward_avx2<const T: usize, const P: usize>(dr1: &[f32], r1: &[f32], dims: Dims, taps: &[[f32; T]; CONV1], dx: &mut [f32]) {
    conv1_backward_rows::<Fused, T, P>(dr1, r1, dims, taps, dx)
}

#[inline(always)]
fn conv1_backward_rows<M: Mac, const T: usize, const P: usize>(dr1: &[f32], r1: &[f32], dims: Dims, taps: &[[f32; T]; CONV1], dx: &mut [f32]) {
    let Dims { c, h, w } = dims;
    let in_row = h * w * CONV1;
    // Per pixel of conv1's output, what each of its taps sends back to the input.
    let mut sent = vec![[0f32; T]; h * w];
    for ((dr1, r1), dx) in dr1.chunks_exact(in_row).zip(r1.chunks_exact(in_row)).zip(dx.chunks_exact_mut(c * h * w)) {
        for first in (0..h * w).step_by(P) {
            // dr1 where conv1's ReLU let it through.
            let mut d = [[0f32; CONV1]; P];
            for (p, d) in d.iter_mut().enumerate() {
                let (g, r) = (block::<f32, CONV1>(dr1, (first + p) * CONV1), block::<f32, CONV1>(r1, (first + p) * CONV1));
                for o in 0..CONV1 {
                    // Branch-free (a bit mask), so that it vectorizes.
                    d[o] = f32::from_bits(g[o].to_bits() & (-((r[o] > 0.0) as i32)) as u32);
                }
            }
            let mut acc = [[0f32; T]; P];
            for (o, tap) in taps.iter().enumerate() {
                for p in 0..P {
                    for k in 0..T {
                        acc[p][k] = M::mac(acc[p][k], d[p][o], tap[k]);
                    }
                }
            }
            sent[first..first + P].copy_from_slice(&acc);
        }
        // Output pixel (i, j) saw input (ci, i + di - 1, j + dj - 1) through tap (ci, di, dj):
        // gather, per input pixel, from the output pixels that saw it.
        dx.fill(0.0);
        for ci in 0..c {
            let plane = &mut dx[ci * h * w..][..h * w];
            for di in 0..3 {
                for dj in 0..3 {
                    let k = (ci * 3 + di) * 3 + dj;
                    // Input rows y = i + di - 1 and columns x = j + dj - 1 inside the image.
                    let (y0, y1) = ((di as isize - 1).max(0) as usize, (h + di - 1).min(h));
                    let (x0, x1) = ((dj as isize - 1).max(0) as usize, (w + dj - 1).min(w));
                    for y in y0..y1 {
                        let i = y + 1 - di;
                        let row = &mut plane[y * w..][..w];
                        for x in x0..x1 {
                            row[x] += sent[i * w + x + 1 - dj][k];
                        }
                    }
                }
            }
        }
    }
}
