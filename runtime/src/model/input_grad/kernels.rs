//! The cnn's first layer, its pool, and what the loops of the fused input gradient
//! share. libtorch runs these layers as several passes with layout conversions
//! between them (conv1's single input channel makes its output NCHW while the rest
//! of the network is channels-last; max-pool's backward zero-fills its output, then
//! scatters into it with int64 indices; ReLU's backward is a pass of its own). Here
//! conv1 and its ReLU are one loop over the rows, split across the job's threads;
//! the pool and conv1's backward run per image inside [`super::conv2`]'s loops.
//!
//! Layouts: `x` and `dx` are NCHW (one channel on digits and MNIST, where NCHW and
//! NHWC are the same bytes); activations and the pooled features are NHWC (the
//! caller permutes fc1's columns to match).
//!
//! The loops are written for the compiler to vectorize: fixed-size arrays (no
//! bounds checks in the inner loops), several pixels per step (independent
//! multiply-add chains), padded images (no edge tests), and an AVX2/FMA build of
//! each loop chosen at run time ([`Isa`]).

use super::parallel::{in_parallel, row_ranges};

/// Channels of the cnn's first convolution.
pub const CONV1: usize = 32;
/// Channels of the cnn's second convolution.
pub const CONV2: usize = 64;
/// The pooled position that won no window, or lost to the ReLU: no gradient.
pub(super) const DEAD: u8 = 4;

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
    pub(super) fn pixels(self) -> usize {
        self.h * self.w
    }

    pub(super) fn pooled(self) -> usize {
        (self.h / 2) * (self.w / 2)
    }
}

/// The few operations whose best form depends on the instruction set; each loop is
/// generic over it and compiled twice, for [`Avx2`] and [`Portable`]. The methods take
/// the instruction set as a value: running AVX2 code needs an [`Avx2`], and only CPU
/// detection makes one.
pub(super) trait Isa: Copy {
    /// `acc + a * b`.
    fn mac(self, acc: f32, a: f32, b: f32) -> f32;
    /// Bit `i` set where `v[i] > 0`.
    fn positive_bits(self, v: &[f32; 32]) -> u32;
    /// Bit `i` set where `bytes[i] == k`.
    fn equal_bits(self, bytes: &[u8; 64], k: u8) -> u64;
}

/// Proof that this CPU has AVX2 and FMA: [`Avx2::detect`] is the only way to get one
/// (the field is private), so a function holding it may run those instructions. The
/// loops compiled for them (the `*_avx2` wrappers) take it as their first argument.
#[derive(Debug, Clone, Copy)]
pub(super) struct Avx2 {
    _detected: (),
}

/// Any CPU.
#[derive(Debug, Clone, Copy)]
pub(super) struct Portable;

impl Avx2 {
    /// The token, when the CPU has AVX2 and FMA (and the calling thread did not ask
    /// for the portable loops, see `portable_only`).
    pub(super) fn detect() -> Option<Avx2> {
        if PORTABLE_ONLY.with(|p| p.get()) || portable_by_environment() {
            return None;
        }
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Some(Avx2 { _detected: () });
        }
        None
    }
}

impl Isa for Avx2 {
    /// One instruction where FMA is enabled (a slow library call where it is not).
    #[inline(always)]
    fn mac(self, acc: f32, a: f32, b: f32) -> f32 {
        a.mul_add(b, acc)
    }

    #[inline(always)]
    fn positive_bits(self, v: &[f32; 32]) -> u32 {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::*;
            // SAFETY: unaligned loads of 4 x 8 floats inside `v`; the instructions are
            // AVX, which the CPU has: `self` exists only where detection found AVX2.
            unsafe {
                let zero = _mm256_setzero_ps();
                let mut bits = 0u32;
                for k in 0..4 {
                    let gt = _mm256_cmp_ps::<_CMP_GT_OQ>(_mm256_loadu_ps(v.as_ptr().add(8 * k)), zero);
                    bits |= (_mm256_movemask_ps(gt) as u32) << (8 * k);
                }
                bits
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Portable.positive_bits(v)
    }

    #[inline(always)]
    fn equal_bits(self, bytes: &[u8; 64], k: u8) -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::*;
            // SAFETY: unaligned loads of 2 x 32 bytes inside `bytes`; AVX2, which the
            // CPU has: `self` exists only where detection found it.
            unsafe {
                let key = _mm256_set1_epi8(k as i8);
                let lo = _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256(bytes.as_ptr().cast()), key)) as u32;
                let hi = _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256(bytes.as_ptr().add(32).cast()), key)) as u32;
                (hi as u64) << 32 | lo as u64
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Portable.equal_bits(bytes, k)
    }
}

impl Isa for Portable {
    #[inline(always)]
    fn mac(self, acc: f32, a: f32, b: f32) -> f32 {
        acc + a * b
    }

    #[inline(always)]
    fn positive_bits(self, v: &[f32; 32]) -> u32 {
        v.iter().enumerate().fold(0, |bits, (i, x)| bits | ((*x > 0.0) as u32) << i)
    }

    #[inline(always)]
    fn equal_bits(self, bytes: &[u8; 64], k: u8) -> u64 {
        bytes.iter().enumerate().fold(0, |bits, (i, b)| bits | ((*b == k) as u64) << i)
    }
}

std::thread_local! {
    /// Set by tests on the calling thread to run the portable build of the loops on a
    /// CPU that has AVX2.
    static PORTABLE_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The environment variable that holds these loops to their portable build on any CPU.
const CPU_ISA_VARIABLE: &str = "MEMSCOPE_CPU_ISA";

/// Whether `MEMSCOPE_CPU_ISA=portable` asks for the portable loops on a CPU that has
/// AVX2: with libtorch held to its baseline kernels too (`ATEN_CPU_CAPABILITY=default`),
/// a process computes what it would on a CPU without AVX2, which is how `make test`
/// covers such CPUs wherever it runs. Read once; `native` (or unset) detects the CPU,
/// any other value is warned about once and detects.
fn portable_by_environment() -> bool {
    static PORTABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PORTABLE.get_or_init(|| match std::env::var(CPU_ISA_VARIABLE) {
        Ok(value) if value == "portable" => true,
        Ok(value) if value.is_empty() || value == "native" => false,
        Ok(value) => {
            tracing::warn!("{CPU_ISA_VARIABLE}={value:?} is neither `portable` nor `native`: the CPU's own instruction set is used");
            false
        }
        Err(_) => false,
    })
}

/// Runs `f` with the kernels it calls (from this thread) on their portable build.
#[cfg(test)]
pub fn portable_only<R>(f: impl FnOnce() -> R) -> R {
    PORTABLE_ONLY.with(|p| p.set(true));
    let result = f();
    PORTABLE_ONLY.with(|p| p.set(false));
    result
}

/// The `N` values of `s` from `at`, as an array (checked once, not per element).
#[inline(always)]
pub(super) fn block<T, const N: usize>(s: &[T], at: usize) -> &[T; N] {
    s[at..at + N].try_into().expect("in bounds")
}

#[inline(always)]
pub(super) fn block_mut<T, const N: usize>(s: &mut [T], at: usize) -> &mut [T; N] {
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
    let avx2 = Avx2::detect();
    in_parallel(jobs, |(range, out)| {
        let x = &x[range.start * in_row..range.end * in_row];
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = avx2 {
            // SAFETY: an `Avx2` token exists only where the CPU has AVX2 and FMA, the
            // features the wrapper is compiled for.
            return unsafe { conv1_relu_avx2(isa, x, dims, &taps, &bias, out) };
        }
        let _ = avx2;
        conv1_relu_rows(Portable, x, dims, &taps, &bias, out)
    });
}

/// [`conv1_relu_rows`] compiled for AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA; holding `isa` proves it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn conv1_relu_avx2(isa: Avx2, x: &[f32], dims: Dims, taps: &[[f32; CONV1]], bias: &[f32; CONV1], out: &mut [f32]) {
    conv1_relu_rows(isa, x, dims, taps, bias, out)
}

#[inline(always)]
fn conv1_relu_rows<M: Isa>(isa: M, x: &[f32], dims: Dims, taps: &[[f32; CONV1]], bias: &[f32; CONV1], out: &mut [f32]) {
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
                                acc[o] = isa.mac(acc[o], v, tap[o]);
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

/// 2x2 max-pool, then ReLU, of one NHWC image's `a2` (`CONV2` channels) into its
/// NHWC `features`. `winner` records, per pooled value, which of the window's four
/// inputs it came from (the first maximum, as libtorch's max-pool), or `DEAD` where
/// the ReLU zeroed it.
#[inline(always)]
pub(super) fn pool_relu_image(a2: &[f32], dims: Dims, features: &mut [f32], winner: &mut [u8]) {
    let (w, w2) = (dims.w, dims.w / 2);
    for p in 0..dims.pooled() {
        let corner = (2 * (p / w2)) * w + 2 * (p % w2);
        let [x0, x1, x2, x3] = [corner, corner + 1, corner + w, corner + w + 1].map(|q| block::<f32, CONV2>(a2, q * CONV2));
        let (f, win) = (block_mut::<f32, CONV2>(features, p * CONV2), block_mut::<u8, CONV2>(winner, p * CONV2));
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

/// conv1's weights for [`conv1_relu_backward_image`]: output channel major, taps
/// minor, padded with zeros to `T` (the `9 * C` taps rounded up to whole vectors):
/// one output channel's taps are a vector, multiplied by that channel's gradient at
/// a pixel.
pub(super) fn conv1_backward_taps<const T: usize>(weight: &[f32], channels: usize) -> [[f32; T]; CONV1] {
    let taps_n = channels * 9;
    assert!(taps_n <= T && weight.len() == CONV1 * taps_n, "conv1_backward_taps: {channels} input channels do not fit {T} taps");
    let mut taps = [[0f32; T]; CONV1];
    for (o, tap) in taps.iter_mut().enumerate() {
        tap[..taps_n].copy_from_slice(&weight[o * taps_n..][..taps_n]);
    }
    taps
}

/// The input gradient of [`conv1_relu`] for one image: `dx = conv1^T(dr1 * (r1 > 0))`,
/// NHWC `dr1` and `r1` to NCHW `dx` (overwritten). `P` pixels go through each step;
/// `sent` is scratch for `H * W` pixels.
#[inline(always)]
pub(super) fn conv1_relu_backward_image<M: Isa, const T: usize, const P: usize>(
    isa: M,
    dr1: &[f32],
    r1: &[f32],
    dims: Dims,
    taps: &[[f32; T]; CONV1],
    sent: &mut [[f32; T]],
    dx: &mut [f32],
) {
    let Dims { c, h, w } = dims;
    assert!(dims.pixels().is_multiple_of(P) && sent.len() == h * w, "conv1_relu_backward_image: pixels in whole steps");
    // Per pixel of conv1's output, what each of its taps sends back to the input.
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
                    acc[p][k] = isa.mac(acc[p][k], d[p][o], tap[k]);
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
