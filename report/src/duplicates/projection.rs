//! Projecting images onto their principal subspace, so that neighbours can be searched
//! in a few dimensions. The basis is orthonormal, so a projection never lengthens a
//! difference: |P(a - b)| <= |a - b|. Two images within distance r are therefore within
//! r after projection, and a search in the projected space misses no pair; the
//! principal subspace keeps most of the variance, so few distant pairs come out as
//! candidates. Any orthonormal basis of that subspace gives the same distances, so
//! the basis need not be the eigenvectors themselves.
//!
//! The covariance is one large matrix product (libtorch). The top subspace is found by
//! subspace iteration in plain Rust rather than by libtorch's `linalg_eigh`: on the
//! 784 x 784 covariance of MNIST, `eigh` took 6 to 9 s with two threads on a busy
//! two-core machine (0.15 s with one), while the iteration takes a fraction of a
//! second whatever the load, and it never touches libtorch's global thread settings.

use super::rows::ImageRows;
use tch::{Kind, Tensor};

/// Rows used to estimate the covariance: enough for a stable subspace, and the
/// projection is safe whatever the subspace is, so more would only cost time.
const COVARIANCE_ROWS: usize = 10_000;

/// Rounds of subspace iteration: past about 20 the captured variance no longer grows
/// measurably on image data.
const ITERATIONS: usize = 30;

/// Rows projected per matrix product, to bound the memory of the copy.
const CHUNK_ROWS: usize = 8192;

/// An orthonormal basis (as a `[dim, k]` tensor) of the top-`k` principal subspace of
/// the images `rows` (`dim` values each). Columns are the dominant directions first;
/// a direction the data do not span is left as a zero column, which keeps the
/// projection a contraction.
pub fn principal_axes(images: &dyn ImageRows, rows: &[usize], k: usize) -> Result<Tensor, tch::TchError> {
    let dim = images.dim();
    let step = rows.len().div_ceil(COVARIANCE_ROWS).max(1);
    let sample: Vec<usize> = rows.iter().copied().step_by(step).collect();
    let x = gather(images, &sample)?;
    let centered = x.f_sub(&x.f_mean_dim(0, true, Kind::Float)?)?;
    let covariance = centered.f_transpose(0, 1)?.f_matmul(&centered)?.f_div_scalar(sample.len().max(1) as f64)?;
    let covariance = Vec::<f32>::try_from(&covariance.f_flatten(0, -1)?)?;
    let basis = top_subspace(&covariance, dim, k);
    Tensor::from_slice(&basis).f_view([dim as i64, k as i64])
}

/// The images `rows` projected onto `axes` (`[dim, k]`): `rows.len() * k` values.
pub fn project(images: &dyn ImageRows, rows: &[usize], axes: &Tensor) -> Result<Vec<f32>, tch::TchError> {
    let k = axes.size()[1] as usize;
    let mut projected = Vec::with_capacity(rows.len() * k);
    for chunk in rows.chunks(CHUNK_ROWS) {
        let product = gather(images, chunk)?.f_matmul(axes)?;
        projected.extend(Vec::<f32>::try_from(&product.f_flatten(0, -1)?)?);
    }
    Ok(projected)
}

/// The images `rows` as a `[rows, dim]` float tensor.
fn gather(images: &dyn ImageRows, rows: &[usize]) -> Result<Tensor, tch::TchError> {
    let dim = images.dim();
    let mut values = vec![0.0f32; rows.len() * dim];
    for (&r, out) in rows.iter().zip(values.chunks_exact_mut(dim.max(1))) {
        images.read_row(r, out);
    }
    Tensor::from_slice(&values).f_view([rows.len() as i64, dim as i64])
}

/// Subspace iteration: `Q <- orthonormalize(C Q)` from a fixed pseudo-random start, so
/// that reports are reproducible. `covariance` is `dim x dim`; the result is `dim x k`,
/// row-major.
fn top_subspace(covariance: &[f32], dim: usize, k: usize) -> Vec<f32> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut q: Vec<f32> = (0..dim * k)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    orthonormalize(&mut q, dim, k);
    let mut product = vec![0.0f32; dim * k];
    for _ in 0..ITERATIONS {
        product.fill(0.0);
        for i in 0..dim {
            let out = &mut product[i * k..(i + 1) * k];
            for (j, &c) in covariance[i * dim..(i + 1) * dim].iter().enumerate() {
                for (o, &v) in out.iter_mut().zip(&q[j * k..(j + 1) * k]) {
                    *o += c * v;
                }
            }
        }
        std::mem::swap(&mut q, &mut product);
        orthonormalize(&mut q, dim, k);
    }
    q
}

/// Modified Gram-Schmidt on the `k` columns of a `dim x k` row-major matrix, in f64
/// and twice over ("twice is enough") so that the columns are orthonormal to rounding.
/// A column with (almost) nothing left after removing the others becomes zero.
fn orthonormalize(q: &mut [f32], dim: usize, k: usize) {
    let mut columns: Vec<Vec<f64>> = (0..k).map(|t| (0..dim).map(|i| q[i * k + t] as f64).collect()).collect();
    for _ in 0..2 {
        for t in 0..k {
            for s in 0..t {
                let dot: f64 = columns[t].iter().zip(&columns[s]).map(|(a, b)| a * b).sum();
                let previous = columns[s].clone();
                for (a, b) in columns[t].iter_mut().zip(&previous) {
                    *a -= dot * b;
                }
            }
            let norm = columns[t].iter().map(|a| a * a).sum::<f64>().sqrt();
            let scale = if norm > 1e-9 { 1.0 / norm } else { 0.0 };
            columns[t].iter_mut().for_each(|a| *a *= scale);
        }
    }
    for (t, column) in columns.iter().enumerate() {
        for (i, &a) in column.iter().enumerate() {
            q[i * k + t] = a as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duplicates::FlatRows;
    use rand::{Rng, SeedableRng};

    #[test]
    fn projection_never_lengthens_a_difference_and_finds_the_main_direction() {
        let dim = 12;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        // Points spread mostly along the first coordinate.
        let images: Vec<f32> =
            (0..500 * dim).map(|i| if i % dim == 0 { rng.random::<f32>() * 10.0 } else { rng.random::<f32>() * 0.1 }).collect();
        let rows: Vec<usize> = (0..500).collect();
        let axes = principal_axes(&FlatRows::new(&images, dim), &rows, 3).unwrap();
        assert_eq!(axes.size(), vec![dim as i64, 3]);
        let basis: Vec<f32> = Vec::try_from(&axes.flatten(0, -1)).unwrap();
        assert!(basis[0].abs() > 0.99, "the first column is the main direction: {:?}", &basis[..3]);
        for s in 0..3 {
            for t in 0..3 {
                let dot: f32 = (0..dim).map(|i| basis[i * 3 + s] * basis[i * 3 + t]).sum();
                assert!((dot - if s == t { 1.0 } else { 0.0 }).abs() < 1e-5, "columns {s}, {t}: {dot}");
            }
        }
        let projected = project(&FlatRows::new(&images, dim), &rows, &axes).unwrap();
        for (a, b) in [(0, 1), (10, 300), (42, 499)] {
            let true_distance: f32 = (0..dim).map(|d| (images[a * dim + d] - images[b * dim + d]).powi(2)).sum::<f32>().sqrt();
            let projected_distance: f32 = (0..3).map(|d| (projected[a * 3 + d] - projected[b * 3 + d]).powi(2)).sum::<f32>().sqrt();
            assert!(projected_distance <= true_distance * (1.0 + 1e-5), "{projected_distance} > {true_distance}");
        }
    }

    #[test]
    fn identical_images_give_zero_columns_and_rank_one_data_a_finite_contraction() {
        let dim = 6;
        let rows: Vec<usize> = (0..50).collect();
        let same = vec![0.5f32; 50 * dim];
        let basis: Vec<f32> = Vec::try_from(&principal_axes(&FlatRows::new(&same, dim), &rows, 3).unwrap().flatten(0, -1)).unwrap();
        assert!(basis.iter().all(|&v| v == 0.0), "no variance, no direction: {basis:?}");

        // Rank 1: every image is a multiple of the same vector.
        let images: Vec<f32> = (0..50).flat_map(|i| (0..dim).map(move |d| i as f32 * (d + 1) as f32 / 300.0)).collect();
        let axes = principal_axes(&FlatRows::new(&images, dim), &rows, 3).unwrap();
        let basis: Vec<f32> = Vec::try_from(&axes.flatten(0, -1)).unwrap();
        assert!(basis.iter().all(|v| v.is_finite()));
        let projected = project(&FlatRows::new(&images, dim), &rows, &axes).unwrap();
        for (a, b) in [(0, 49), (3, 4)] {
            let true_distance: f32 = (0..dim).map(|d| (images[a * dim + d] - images[b * dim + d]).powi(2)).sum::<f32>().sqrt();
            let projected_distance: f32 = (0..3).map(|d| (projected[a * 3 + d] - projected[b * 3 + d]).powi(2)).sum::<f32>().sqrt();
            assert!(projected_distance <= true_distance * (1.0 + 1e-5), "{projected_distance} > {true_distance}");
            assert!(projected_distance >= true_distance * 0.999, "the one direction of the data is kept");
        }
    }
}
