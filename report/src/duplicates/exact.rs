//! Exact copies: images whose pixel values are bit-for-bit equal. Images are bucketed
//! by a hash of their bits and compared within a bucket, so a hash collision never
//! merges two different images. One pass, O(N * D).

use super::rows::ImageRows;
use std::collections::HashMap;

/// Groups the `images` into sets of exact copies. Every image is in exactly one
/// group; groups and their members are in index order. Rows are read one at a time.
pub fn exact_groups(images: &dyn ImageRows) -> Vec<Vec<usize>> {
    let count = images.rows();
    let (mut pixels, mut other) = (vec![0.0f32; images.dim()], vec![0.0f32; images.dim()]);
    let mut groups: Vec<Vec<usize>> = Vec::new();
    // hash -> indices into `groups` of the groups whose images have that hash
    let mut buckets: HashMap<u64, Vec<usize>> = HashMap::with_capacity(count);
    for i in 0..count {
        images.read_row(i, &mut pixels);
        let bucket = buckets.entry(bits_hash(&pixels)).or_default();
        let same = bucket.iter().copied().find(|&g| {
            images.read_row(groups[g][0], &mut other);
            same_bits(&other, &pixels)
        });
        match same {
            Some(g) => groups[g].push(i),
            None => {
                bucket.push(groups.len());
                groups.push(vec![i]);
            }
        }
    }
    groups
}

/// FNV-1a over the 32-bit words of the values: fast, and collisions are harmless
/// because bucket members are compared exactly.
fn bits_hash(values: &[f32]) -> u64 {
    values.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| (h ^ v.to_bits() as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duplicates::FlatRows;

    #[test]
    fn copies_share_a_group_and_near_copies_do_not() {
        let images = [
            0.0,
            0.5,
            1.0, // 0
            0.2,
            0.2,
            0.2, // 1
            0.0,
            0.5,
            1.0, // 2: copy of 0
            0.0,
            0.5,
            1.0 + f32::EPSILON, // 3: one ulp away from 0
            0.2,
            0.2,
            0.2, // 4: copy of 1
        ];
        assert_eq!(exact_groups(&FlatRows::new(&images, 3)), vec![vec![0, 2], vec![1, 4], vec![3]]);
    }
}
