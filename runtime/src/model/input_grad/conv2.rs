//! conv2 (3x3, padding 1, `CONV1` -> `CONV2` channels) and its transpose as loops
//! over the values that are not zero, each fused with its neighbours while an image
//! is in cache.
//!
//! Why: most of what libtorch's dense convolutions multiply is zero. conv1's ReLU
//! zeroes about half of conv2's input (51 % on a trained digits network, 84 % on
//! MNIST, whose background is blank), and conv2's output gradient is zero except at
//! each pool window's winner, and there only where the pooled value survived its
//! ReLU (15 % of the positions on that digits network, 4 % on MNIST). Each image's
//! nonzero inputs are found first, as bit masks with one bit per channel, and the
//! loops visit the set bits only. The cost thus follows the nonzero values: a dense
//! network costs about what oneDNN's direct convolution does, and a typical one much
//! less.
//!
//! Both loops run one kernel tap at a time over the whole image, so that the tap's
//! weights (8 KiB) stay in L1 while every pixel reads them.
//!
//! - forward ([`conv2_pool_relu`]): conv2, then 2x2 max-pool and ReLU, with the
//!   pool's winners kept for the backward;
//! - backward ([`conv2_conv1_backward`]): conv2's transpose from the pooled
//!   features' gradient, then conv1's ReLU mask and input gradient.

use super::kernels::{block, conv1_backward_taps, conv1_relu_backward_image, pool_relu_image, Avx2, Dims, Isa, Portable, CONV1, CONV2};
use super::parallel::{in_parallel, row_ranges};

/// conv2's weights `[CONV2, CONV1, 3, 3]`, regrouped tap major: entry `t * INNER + i`
/// is tap `t`'s weights from input-side channel `i` (conv1's channel going forward,
/// conv2's going backward) as a vector over the other side's channels.
fn taps<const INNER: usize, const OUTER: usize>(weight: &[f32], forward: bool) -> Vec<[f32; OUTER]> {
    assert_eq!(weight.len(), CONV2 * CONV1 * 9, "conv2's weight is [{CONV2}, {CONV1}, 3, 3]");
    let mut taps = vec![[0f32; OUTER]; 9 * INNER];
    for (o, per_output) in weight.chunks_exact(CONV1 * 9).enumerate() {
        for (ci, per_input) in per_output.chunks_exact(9).enumerate() {
            for (t, w) in per_input.iter().enumerate() {
                let (inner, outer) = if forward { (ci, o) } else { (o, ci) };
                taps[t * INNER + inner][outer] = *w;
            }
        }
    }
    taps
}

/// Takes the lowest set bit `i` off `bits` and adds `values[i] * rows[i]` to `acc`:
/// one nonzero input channel's contribution through one tap.
#[inline(always)]
fn add_lowest<M: Isa, const N: usize>(isa: M, bits: &mut u64, values: &[f32], rows: &[[f32; N]], acc: &mut [f32; N]) {
    let i = bits.trailing_zeros() as usize;
    *bits &= *bits - 1;
    let (v, row) = (values[i], &rows[i]);
    for k in 0..N {
        acc[k] = isa.mac(acc[k], v, row[k]);
    }
}

/// The rows (or columns) of conv2's output that read input row `y + d - 1` through
/// tap offset `d` in 0..3, for an image of `n` rows: those where it is inside.
fn reading(d: usize, n: usize) -> std::ops::Range<usize> {
    usize::from(d == 0)..if d == 2 { n - 1 } else { n }
}

/// The rows of conv1's output that receive, through tap offset `d`, the gradient of
/// conv2's output row `y + 1 - d`: those where that row is inside.
fn receiving(d: usize, n: usize) -> std::ops::Range<usize> {
    usize::from(d == 2)..if d == 0 { n - 1 } else { n }
}

/// `features = relu(maxpool2(conv2(r1)))` of NHWC `r1` (conv1's ReLU output), NHWC,
/// with the pool's `winner` per pooled value (see [`pool_relu_image`]).
///
/// `weight` is conv2's `[CONV2, CONV1, 3, 3]`, `bias` its `[CONV2]`.
pub fn conv2_pool_relu(r1: &[f32], dims: Dims, weight: &[f32], bias: &[f32], features: &mut [f32], winner: &mut [u8], threads: usize) {
    let (in_row, out_row) = (dims.pixels() * CONV1, dims.pooled() * CONV2);
    let rows = r1.len() / in_row;
    assert!(bias.len() == CONV2 && features.len() == rows * out_row && winner.len() == rows * out_row);
    let taps = taps::<CONV1, CONV2>(weight, true);
    let bias: [f32; CONV2] = bias.try_into().expect("checked above");
    let (per, ranges) = row_ranges(rows, threads);
    let jobs: Vec<_> = ranges.into_iter().zip(features.chunks_mut(per * out_row)).zip(winner.chunks_mut(per * out_row)).collect();
    let avx2 = Avx2::detect();
    in_parallel(jobs, |((range, features), winner)| {
        let r1 = &r1[range.start * in_row..range.end * in_row];
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = avx2 {
            // SAFETY: an `Avx2` token exists only where the CPU has AVX2 and FMA, the
            // features the wrapper is compiled for.
            return unsafe { conv2_pool_relu_avx2(isa, r1, dims, &taps, &bias, features, winner) };
        }
        let _ = avx2;
        conv2_pool_relu_rows(Portable, r1, dims, &taps, &bias, features, winner)
    });
}

/// [`conv2_pool_relu_rows`] compiled for AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA; holding `isa` proves it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn conv2_pool_relu_avx2(
    isa: Avx2,
    r1: &[f32],
    dims: Dims,
    taps: &[[f32; CONV2]],
    bias: &[f32; CONV2],
    features: &mut [f32],
    winner: &mut [u8],
) {
    conv2_pool_relu_rows(isa, r1, dims, taps, bias, features, winner)
}

#[inline(always)]
fn conv2_pool_relu_rows<M: Isa>(
    isa: M,
    r1: &[f32],
    dims: Dims,
    taps: &[[f32; CONV2]],
    bias: &[f32; CONV2],
    features: &mut [f32],
    winner: &mut [u8],
) {
    let (h, w, pooled) = (dims.h, dims.w, dims.pooled() * CONV2);
    let mut a2 = vec![[0f32; CONV2]; h * w];
    let mut alive = vec![0u32; h * w];
    let images = r1.chunks_exact(h * w * CONV1).zip(features.chunks_exact_mut(pooled)).zip(winner.chunks_exact_mut(pooled));
    for ((r1, features), winner) in images {
        // Per pixel, the channels conv1's ReLU let through.
        for (p, bits) in alive.iter_mut().enumerate() {
            *bits = isa.positive_bits(block(r1, p * CONV1));
        }
        a2.fill(*bias);
        for t in 0..9 {
            let (di, dj) = (t / 3, t % 3);
            let tap: &[[f32; CONV2]; CONV1] = block(taps, t * CONV1);
            for y in reading(di, h) {
                for x in reading(dj, w) {
                    let (q, p) = (y * w + x, (y + di - 1) * w + x + dj - 1);
                    let input: &[f32; CONV1] = block(r1, p * CONV1);
                    let mut acc = a2[q];
                    let mut bits = u64::from(alive[p]);
                    while bits != 0 {
                        add_lowest::<M, CONV2>(isa, &mut bits, input, tap, &mut acc);
                    }
                    a2[q] = acc;
                }
            }
        }
        pool_relu_image(a2.as_flattened(), dims, features, winner);
    }
}

/// What [`conv2_conv1_backward`] reads: the forward's kept values and the two
/// convolutions' weights.
pub struct BackwardInput<'a> {
    /// NHWC gradient of the pooled features.
    pub d_features: &'a [f32],
    /// The pool's winners, from [`conv2_pool_relu`].
    pub winner: &'a [u8],
    /// conv1's NHWC ReLU output.
    pub r1: &'a [f32],
    /// The input images' size.
    pub dims: Dims,
    /// `[CONV2, CONV1, 3, 3]`.
    pub conv2_weight: &'a [f32],
    /// `[CONV1, C, 3, 3]`.
    pub conv1_weight: &'a [f32],
}

/// The input gradient of conv1, its ReLU, and [`conv2_pool_relu`] behind it: the
/// pooled features' gradient to NCHW `dx` (overwritten).
pub fn conv2_conv1_backward(input: &BackwardInput, dx: &mut [f32], threads: usize) {
    // conv1's taps, 9 per input channel, in whole vectors; pixels per step.
    match input.dims.c {
        1 => backward_with::<16, 4>(input, dx, threads),
        2 | 3 => backward_with::<32, 2>(input, dx, threads),
        c => panic!("conv2_conv1_backward: {c} input channels (1 to 3 are supported)"),
    }
}

fn backward_with<const T: usize, const P: usize>(input: &BackwardInput, dx: &mut [f32], threads: usize) {
    let BackwardInput { d_features, winner, r1, dims, conv2_weight, conv1_weight } = *input;
    let (pooled_row, r1_row, dx_row) = (dims.pooled() * CONV2, dims.pixels() * CONV1, dims.c * dims.pixels());
    let rows = r1.len() / r1_row;
    assert!(d_features.len() == rows * pooled_row && winner.len() == rows * pooled_row && dx.len() == rows * dx_row);
    let taps2 = taps::<CONV2, CONV1>(conv2_weight, false);
    let taps1 = conv1_backward_taps::<T>(conv1_weight, dims.c);
    let (per, ranges) = row_ranges(rows, threads);
    let jobs: Vec<_> = ranges.into_iter().zip(dx.chunks_mut(per * dx_row)).collect();
    let avx2 = Avx2::detect();
    in_parallel(jobs, |(range, dx)| {
        let pooled = range.start * pooled_row..range.end * pooled_row;
        let rows = BackwardRows {
            d_features: &d_features[pooled.clone()],
            winner: &winner[pooled],
            r1: &r1[range.start * r1_row..range.end * r1_row],
            dims,
            taps2: &taps2,
            taps1: &taps1,
        };
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = avx2 {
            // SAFETY: an `Avx2` token exists only where the CPU has AVX2 and FMA, the
            // features the wrapper is compiled for.
            return unsafe { backward_avx2::<T, P>(isa, &rows, dx) };
        }
        let _ = avx2;
        backward_rows::<Portable, T, P>(Portable, &rows, dx)
    });
}

/// What the backward of a range of rows reads, the weights regrouped.
struct BackwardRows<'a, const T: usize> {
    d_features: &'a [f32],
    winner: &'a [u8],
    r1: &'a [f32],
    dims: Dims,
    taps2: &'a [[f32; CONV1]],
    taps1: &'a [[f32; T]; CONV1],
}

/// [`backward_rows`] compiled for AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA; holding `isa` proves it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn backward_avx2<const T: usize, const P: usize>(isa: Avx2, rows: &BackwardRows<T>, dx: &mut [f32]) {
    backward_rows::<Avx2, T, P>(isa, rows, dx)
}

#[inline(always)]
fn backward_rows<M: Isa, const T: usize, const P: usize>(isa: M, rows: &BackwardRows<T>, dx: &mut [f32]) {
    let BackwardRows { d_features, winner, r1, dims, taps2, taps1 } = *rows;
    let (h, w, w2, pooled) = (dims.h, dims.w, dims.w / 2, dims.pooled() * CONV2);
    let mut dr1 = vec![[0f32; CONV1]; h * w];
    let mut sent = vec![[0f32; T]; h * w];
    // Per pooled position and place in its window (row-major), the channels whose
    // gradient goes there: those whose pool that place won, and whose ReLU let the
    // value through.
    let mut routed = vec![[0u64; 4]; dims.pooled()];
    let images = d_features.chunks_exact(pooled).zip(winner.chunks_exact(pooled)).zip(r1.chunks_exact(h * w * CONV1));
    for (((d_features, winner), r1), dx) in images.zip(dx.chunks_exact_mut(dims.c * h * w)) {
        for (cell, places) in routed.iter_mut().enumerate() {
            // A loop, not a closure: a closure is a function of its own, compiled
            // without AVX2, and the intrinsics would not be inlined into it.
            for (k, bits) in places.iter_mut().enumerate() {
                *bits = isa.equal_bits(block(winner, cell * CONV2), k as u8);
            }
        }
        dr1.fill([0.0; CONV1]);
        for t in 0..9 {
            let (di, dj) = (t / 3, t % 3);
            let tap: &[[f32; CONV1]; CONV2] = block(taps2, t * CONV2);
            for y in receiving(di, h) {
                for x in receiving(dj, w) {
                    // conv2's output q read this pixel through tap t.
                    let (qy, qx) = (y + 1 - di, x + 1 - dj);
                    let cell = (qy / 2) * w2 + qx / 2;
                    let gradient: &[f32; CONV2] = block(d_features, cell * CONV2);
                    let mut bits = routed[cell][(qy % 2) * 2 + qx % 2];
                    // Two sums, taking turns: one sum's 4 vectors would wait on the
                    // multiply-add latency (4 cycles) with half the units idle.
                    let (mut even, mut odd) = (dr1[y * w + x], [0f32; CONV1]);
                    while bits != 0 {
                        add_lowest::<M, CONV1>(isa, &mut bits, gradient, tap, &mut even);
                        if bits == 0 {
                            break;
                        }
                        add_lowest::<M, CONV1>(isa, &mut bits, gradient, tap, &mut odd);
                    }
                    let out = &mut dr1[y * w + x];
                    for ci in 0..CONV1 {
                        out[ci] = even[ci] + odd[ci];
                    }
                }
            }
        }
        conv1_relu_backward_image::<M, T, P>(isa, dr1.as_flattened(), r1, dims, taps1, &mut sent, dx);
    }
}
