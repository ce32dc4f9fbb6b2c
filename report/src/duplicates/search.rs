//! The search for duplicates with conflicting labels: exact copies by hashing, then
//! near copies by a radius search in a PCA projection, verified with the true distance.
//!
//! Cost for N images of D values: hashing O(N D); the covariance of at most 10,000
//! rows and one eigendecomposition of D x D; the projection O(N D k); the k-d tree
//! O(N log N); each radius search visits O(log N) nodes plus its candidates. No step
//! looks at all pairs.

use super::exact::exact_groups;
use super::kdtree::KdTree;
use super::projection::{principal_axes, project};
use super::rows::ImageRows;
use std::collections::BTreeMap;
use std::time::Instant;

/// Dimensions of the projected space searched for neighbours. More keep more of the
/// images' variance (fewer false candidates) but make the tree less selective.
pub const PROJECTED_DIMS: usize = 16;

/// Two images, identical or nearly so, whose labels differ.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictingPair {
    /// The smaller sample index.
    pub a: usize,
    /// The larger sample index.
    pub b: usize,
    /// Root-mean-square difference of their pixel values (0 for exact copies).
    pub distance: f32,
    /// Whether the two images are bit-for-bit equal.
    pub exact: bool,
}

/// What the search found and what it cost.
#[derive(Debug, Clone)]
pub struct DuplicateFindings {
    /// Every conflicting pair, ordered by `(a, b)`.
    pub pairs: Vec<ConflictingPair>,
    /// Groups of two or more exact copies (whatever their labels).
    pub exact_groups: usize,
    /// Candidate pairs from the projected space checked with the true distance.
    pub candidates: usize,
    /// Seconds spent hashing exact copies.
    pub exact_seconds: f64,
    /// Seconds spent finding the principal axes and projecting.
    pub projection_seconds: f64,
    /// Seconds spent building the tree and searching it.
    pub search_seconds: f64,
}

/// Root-mean-square difference of two images' values: the distance the threshold of
/// the search is expressed in (pixels in `[0, 1]` give distances in `[0, 1]`).
pub fn rms_distance(a: &[f32], b: &[f32]) -> f32 {
    let sum: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    (sum / a.len().max(1) as f32).sqrt()
}

/// Finds the pairs of images (`dim` values each, one `label` per image) whose RMS
/// distance is at most `max_distance` and whose labels differ.
///
/// An image with exact copies is represented by its first copy of each label: a
/// sample is paired with the first sample of every other label among its copies and
/// among the copies of each near neighbour, so a group of many identical images gives
/// O(group size x labels) pairs rather than every pair.
pub fn find_conflicting_pairs(images: &dyn ImageRows, labels: &[i64], max_distance: f32) -> Result<DuplicateFindings, tch::TchError> {
    let started = Instant::now();
    let dim = images.dim();
    let groups: Vec<Group> = exact_groups(images).into_iter().map(|members| Group::new(members, labels)).collect();
    let mut pairs = PairSet::default();
    for group in groups.iter().filter(|g| g.first_by_label.len() > 1) {
        pair_groups(group, group, 0.0, true, labels, &mut pairs);
    }
    let exact_seconds = started.elapsed().as_secs_f64();

    let mut candidates = 0;
    let (mut projection_seconds, mut search_seconds) = (0.0, 0.0);
    if max_distance > 0.0 && groups.len() > 1 {
        let started = Instant::now();
        let representatives: Vec<usize> = groups.iter().map(|g| g.members[0]).collect();
        let (points, dims) = if dim <= PROJECTED_DIMS {
            (representatives.iter().flat_map(|&r| images.row(r)).collect(), dim)
        } else {
            let axes = principal_axes(images, &representatives, PROJECTED_DIMS)?;
            (project(images, &representatives, &axes)?, PROJECTED_DIMS)
        };
        projection_seconds = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let tree = KdTree::build(&points, dims);
        // The threshold in Euclidean units, widened a little so that float rounding in
        // the projection cannot drop a pair that lies exactly on the threshold.
        let radius = max_distance * (dim as f32).sqrt() * (1.0 + 1e-4) + 1e-6;
        let mut near = Vec::new();
        let (mut row_a, mut row_b) = (vec![0.0f32; dim], vec![0.0f32; dim]);
        for (i, group) in groups.iter().enumerate() {
            near.clear();
            tree.within(&points[i * dims..(i + 1) * dims], radius, &mut near);
            for &j in near.iter().filter(|&&j| j > i) {
                let other = &groups[j];
                if !group.may_conflict_with(other) {
                    continue;
                }
                candidates += 1;
                let (a, b) = (group.members[0], other.members[0]);
                images.read_row(a, &mut row_a);
                images.read_row(b, &mut row_b);
                let distance = rms_distance(&row_a, &row_b);
                if distance <= max_distance {
                    pair_groups(group, other, distance, false, labels, &mut pairs);
                }
            }
        }
        search_seconds = started.elapsed().as_secs_f64();
    }

    Ok(DuplicateFindings {
        pairs: pairs.0.into_iter().map(|((a, b), (distance, exact))| ConflictingPair { a, b, distance, exact }).collect(),
        exact_groups: groups.iter().filter(|g| g.members.len() > 1).count(),
        candidates,
        exact_seconds,
        projection_seconds,
        search_seconds,
    })
}

/// A set of exact copies.
struct Group {
    /// Sample indices, ascending.
    members: Vec<usize>,
    /// `(label, first member with it)` for each label among the members.
    first_by_label: Vec<(i64, usize)>,
}

impl Group {
    fn new(members: Vec<usize>, labels: &[i64]) -> Self {
        let mut first_by_label: Vec<(i64, usize)> = Vec::new();
        for &m in &members {
            if !first_by_label.iter().any(|&(l, _)| l == labels[m]) {
                first_by_label.push((labels[m], m));
            }
        }
        Group { members, first_by_label }
    }

    /// False when both groups carry one and the same label: nothing to report, so
    /// the true distance need not be computed.
    fn may_conflict_with(&self, other: &Group) -> bool {
        !(self.first_by_label.len() == 1 && other.first_by_label.len() == 1 && self.first_by_label[0].0 == other.first_by_label[0].0)
    }
}

/// Conflicting pairs keyed by `(smaller, larger)` index, with `(distance, exact)`.
#[derive(Default)]
struct PairSet(BTreeMap<(usize, usize), (f32, bool)>);

impl PairSet {
    fn insert(&mut self, x: usize, y: usize, distance: f32, exact: bool) {
        if x != y {
            self.0.entry((x.min(y), x.max(y))).or_insert((distance, exact));
        }
    }
}

/// Pairs each member of `g` with the first member of each other label in `h`, and
/// the other way round.
fn pair_groups(g: &Group, h: &Group, distance: f32, exact: bool, labels: &[i64], pairs: &mut PairSet) {
    for (from, to) in [(g, h), (h, g)] {
        for &m in &from.members {
            for &(label, first) in &to.first_by_label {
                if label != labels[m] {
                    pairs.insert(m, first, distance, exact);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duplicates::FlatRows;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeSet;

    fn rng() -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(11)
    }

    fn pair_set(findings: &DuplicateFindings) -> BTreeSet<(usize, usize)> {
        findings.pairs.iter().map(|p| (p.a, p.b)).collect()
    }

    /// Every pair within the threshold with different labels, by looking at all pairs.
    fn brute_force(images: &[f32], dim: usize, labels: &[i64], max_distance: f32) -> BTreeSet<(usize, usize)> {
        let n = labels.len();
        let mut found = BTreeSet::new();
        for a in 0..n {
            for b in a + 1..n {
                if labels[a] != labels[b] && rms_distance(&images[a * dim..(a + 1) * dim], &images[b * dim..(b + 1) * dim]) <= max_distance
                {
                    found.insert((a, b));
                }
            }
        }
        found
    }

    #[test]
    fn planted_exact_and_noisy_copies_with_other_labels_are_found_and_nothing_else() {
        let (n, dim) = (3000, 64);
        let mut rng = rng();
        let mut images: Vec<f32> = (0..n * dim).map(|_| rng.random::<f32>()).collect();
        let mut labels: Vec<i64> = (0..n as i64).map(|i| i % 10).collect();
        let mut copy = |source: usize, noise: f32, label: i64, images: &mut Vec<f32>, labels: &mut Vec<i64>| {
            let pixels: Vec<f32> = images[source * dim..(source + 1) * dim]
                .iter()
                .map(|&v| if noise > 0.0 { (v + (rng.random::<f32>() - 0.5) * 2.0 * noise).clamp(0.0, 1.0) } else { v })
                .collect();
            images.extend(pixels);
            labels.push(label);
            labels.len() - 1
        };
        let mut expected = BTreeSet::new();
        for source in 0..10 {
            let exact = copy(source, 0.0, (labels[source] + 1) % 10, &mut images, &mut labels);
            expected.insert((source, exact));
            // Uniform noise of +-0.01: an RMS difference of about 0.006.
            let noisy = copy(source + 100, 0.01, (labels[source + 100] + 3) % 10, &mut images, &mut labels);
            expected.insert((source + 100, noisy));
        }
        // Not conflicts: a copy with the same label, and a copy far too noisy (RMS ~0.17).
        copy(500, 0.0, labels[500], &mut images, &mut labels);
        copy(600, 0.3, (labels[600] + 1) % 10, &mut images, &mut labels);

        let findings = find_conflicting_pairs(&FlatRows::new(&images, dim), &labels, 0.03).unwrap();
        assert_eq!(pair_set(&findings), expected);
        assert_eq!(findings.exact_groups, 11, "10 conflicting copies and 1 same-label copy");
        assert!(findings.pairs.iter().filter(|p| p.exact).all(|p| p.distance == 0.0));
        assert_eq!(findings.pairs.iter().filter(|p| p.exact).count(), 10);
        assert!(findings.pairs.iter().filter(|p| !p.exact).all(|p| p.distance > 0.0 && p.distance < 0.01));

        // With threshold 0 only the exact copies remain.
        let exact_only = find_conflicting_pairs(&FlatRows::new(&images, dim), &labels, 0.0).unwrap();
        assert_eq!(exact_only.pairs.len(), 10);
        assert!(exact_only.pairs.iter().all(|p| p.exact));
    }

    #[test]
    fn the_projected_search_misses_no_pair_a_full_scan_finds() {
        // Clusters whose members lie on both sides of the threshold, in more dimensions
        // than the projection keeps, with few labels so that many pairs conflict.
        let (clusters, per_cluster, dim) = (150, 4, 100);
        let mut rng = rng();
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..clusters {
            let centre: Vec<f32> = (0..dim).map(|_| rng.random::<f32>()).collect();
            for member in 0..per_cluster {
                let noise = 0.02 * member as f32; // RMS about 0, 0.012, 0.023, 0.035
                images.extend(centre.iter().map(|&v| v + (rng.random::<f32>() - 0.5) * 2.0 * noise));
                labels.push(rng.random_range(0..3i64));
            }
        }
        let max_distance = 0.03;
        let findings = find_conflicting_pairs(&FlatRows::new(&images, dim), &labels, max_distance).unwrap();
        let expected = brute_force(&images, dim, &labels, max_distance);
        assert!(expected.len() > 100, "the test needs many pairs near the threshold, has {}", expected.len());
        assert_eq!(pair_set(&findings), expected);
    }

    #[test]
    fn low_dimensional_images_are_searched_without_projection() {
        let dim = 4;
        let images = [0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.01, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5];
        let labels = [0, 1, 1, 2];
        let findings = find_conflicting_pairs(&FlatRows::new(&images, dim), &labels, 0.03).unwrap();
        assert_eq!(pair_set(&findings), BTreeSet::from([(0, 2), (1, 3)]));
        assert!(findings.pairs[1].exact && !findings.pairs[0].exact);
    }

    #[test]
    fn a_group_of_identical_images_gives_pairs_per_label_not_per_pair() {
        // 30 identical images with labels 0, 1, 2 in turn: each image is paired with
        // the first image of each other label (10 * 2 per label, minus shared pairs).
        let dim = 5;
        let images = vec![0.25f32; 30 * dim];
        let labels: Vec<i64> = (0..30).map(|i| i % 3).collect();
        let findings = find_conflicting_pairs(&FlatRows::new(&images, dim), &labels, 0.03).unwrap();
        assert_eq!(findings.exact_groups, 1);
        assert!(findings.pairs.len() <= 30 * 2, "{} pairs", findings.pairs.len());
        for i in 0..30 {
            let partners: BTreeSet<i64> = findings
                .pairs
                .iter()
                .filter_map(|p| {
                    if p.a == i {
                        Some(labels[p.b])
                    } else if p.b == i {
                        Some(labels[p.a])
                    } else {
                        None
                    }
                })
                .collect();
            assert_eq!(partners.len(), 2, "image {i} is paired with both other labels");
        }
    }
}
