//! Projecting images onto their top principal axes, so that neighbours can be searched
//! in a few dimensions. The axes are orthonormal, so a projection never lengthens a
//! difference: |P(a - b)| <= |a - b|. Two images within distance r are therefore within
//! r after projection, and a search in the projected space misses no pair; PCA keeps
//! most of the variance, so few distant pairs come out as candidates.

use tch::{Kind, Tensor};

/// Rows used to estimate the covariance: enough for stable top axes, and the
/// projection is exact-safe whatever the axes are, so more would only cost time.
const COVARIANCE_ROWS: usize = 10_000;

/// Rows projected per matrix product, to bound the memory of the copy.
const CHUNK_ROWS: usize = 8192;

/// The top `k` principal axes of the images `rows` (`dim` values each), as a
/// `[dim, k]` tensor with orthonormal columns.
pub fn principal_axes(images: &[f32], dim: usize, rows: &[usize], k: usize) -> Result<Tensor, tch::TchError> {
    let step = rows.len().div_ceil(COVARIANCE_ROWS).max(1);
    let sample: Vec<usize> = rows.iter().copied().step_by(step).collect();
    let x = gather(images, dim, &sample)?.f_to_kind(Kind::Double)?;
    let centered = x.f_sub(&x.f_mean_dim(0, true, Kind::Double)?)?;
    let covariance = centered.f_transpose(0, 1)?.f_matmul(&centered)?.f_div_scalar(sample.len().max(1) as f64)?;
    // Eigenvalues come in ascending order: the last k columns are the top axes.
    let (_, vectors) = covariance.f_linalg_eigh("L")?;
    vectors.f_narrow(1, (dim - k) as i64, k as i64)?.f_to_kind(Kind::Float)?.f_contiguous()
}

/// The images `rows` projected onto `axes` (`[dim, k]`): `rows.len() * k` values.
pub fn project(images: &[f32], dim: usize, rows: &[usize], axes: &Tensor) -> Result<Vec<f32>, tch::TchError> {
    let k = axes.size()[1] as usize;
    let mut projected = Vec::with_capacity(rows.len() * k);
    for chunk in rows.chunks(CHUNK_ROWS) {
        let product = gather(images, dim, chunk)?.f_matmul(axes)?;
        projected.extend(Vec::<f32>::try_from(&product.f_flatten(0, -1)?)?);
    }
    Ok(projected)
}

/// The images `rows` as a `[rows, dim]` float tensor.
fn gather(images: &[f32], dim: usize, rows: &[usize]) -> Result<Tensor, tch::TchError> {
    let mut values = Vec::with_capacity(rows.len() * dim);
    for &r in rows {
        values.extend_from_slice(&images[r * dim..(r + 1) * dim]);
    }
    Tensor::from_slice(&values).f_view([rows.len() as i64, dim as i64])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn projection_never_lengthens_a_difference_and_keeps_the_main_direction() {
        let dim = 12;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        // Points spread mostly along the first coordinate.
        let images: Vec<f32> = (0..500 * dim)
            .map(|i| if i % dim == 0 { rng.random::<f32>() * 10.0 } else { rng.random::<f32>() * 0.1 })
            .collect();
        let rows: Vec<usize> = (0..500).collect();
        let axes = principal_axes(&images, dim, &rows, 3).unwrap();
        assert_eq!(axes.size(), vec![dim as i64, 3]);
        let top: Vec<f32> = Vec::try_from(&axes.narrow(1, 2, 1).flatten(0, -1)).unwrap();
        assert!(top[0].abs() > 0.99, "top axis {top:?}");
        let projected = project(&images, dim, &rows, &axes).unwrap();
        for (a, b) in [(0, 1), (10, 300), (42, 499)] {
            let true_distance: f32 = (0..dim).map(|d| (images[a * dim + d] - images[b * dim + d]).powi(2)).sum::<f32>().sqrt();
            let projected_distance: f32 = (0..3).map(|d| (projected[a * 3 + d] - projected[b * 3 + d]).powi(2)).sum::<f32>().sqrt();
            assert!(projected_distance <= true_distance * (1.0 + 1e-5), "{projected_distance} > {true_distance}");
        }
    }
}
