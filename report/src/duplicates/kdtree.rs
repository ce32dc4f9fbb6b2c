//! A k-d tree over low-dimensional points for fixed-radius searches: "every point
//! within `r` of this one". Built by median splits along the widest dimension, so it
//! has O(log N) depth; a search with a small radius visits O(log N) nodes plus the
//! points near the query.

/// Points stored in leaves of at most this many.
const LEAF_SIZE: usize = 16;

/// A k-d tree over `len` points of `dims` coordinates.
pub struct KdTree {
    dims: usize,
    /// Coordinates, reordered so that every leaf's points are contiguous.
    coords: Vec<f32>,
    /// The caller's index of each stored point.
    ids: Vec<usize>,
    nodes: Vec<Node>,
}

enum Node {
    /// Points `start..end` of the reordered storage.
    Leaf { start: usize, end: usize },
    /// Points with `coord[dim] <= value` are under `left`, the others under `right`.
    Split { dim: usize, value: f32, left: usize, right: usize },
}

impl KdTree {
    /// Builds the tree over `points` (`dims` coordinates per point, row after row);
    /// point `i` is reported as `i` by [`KdTree::within`].
    pub fn build(points: &[f32], dims: usize) -> Self {
        let len = points.len().checked_div(dims).unwrap_or(0);
        let mut ids: Vec<usize> = (0..len).collect();
        let mut nodes = Vec::new();
        if len > 0 {
            build_node(points, dims, &mut ids, 0, &mut nodes);
        }
        let mut coords = Vec::with_capacity(len * dims);
        for &i in &ids {
            coords.extend_from_slice(&points[i * dims..(i + 1) * dims]);
        }
        KdTree { dims, coords, ids, nodes }
    }

    /// Appends to `found` every point whose Euclidean distance to `query` is at most
    /// `radius`.
    pub fn within(&self, query: &[f32], radius: f32, found: &mut Vec<usize>) {
        if self.nodes.is_empty() {
            return;
        }
        let limit = radius * radius;
        let mut stack = vec![0usize];
        while let Some(n) = stack.pop() {
            match self.nodes[n] {
                Node::Leaf { start, end } => {
                    for p in start..end {
                        let point = &self.coords[p * self.dims..(p + 1) * self.dims];
                        if squared_distance_below(point, query, limit) {
                            found.push(self.ids[p]);
                        }
                    }
                }
                Node::Split { dim, value, left, right } => {
                    let offset = query[dim] - value;
                    let (near, far) = if offset <= 0.0 { (left, right) } else { (right, left) };
                    if offset.abs() <= radius {
                        stack.push(far);
                    }
                    stack.push(near);
                }
            }
        }
    }
}

/// Builds the subtree over `ids` (a slice of the whole id list starting at `offset`),
/// returning its node index.
fn build_node(points: &[f32], dims: usize, ids: &mut [usize], offset: usize, nodes: &mut Vec<Node>) -> usize {
    let at = nodes.len();
    if ids.len() <= LEAF_SIZE {
        nodes.push(Node::Leaf { start: offset, end: offset + ids.len() });
        return at;
    }
    let coord = |i: usize, d: usize| points[i * dims + d];
    let widest = (0..dims)
        .map(|d| {
            let (lo, hi) = ids.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &i| (lo.min(coord(i, d)), hi.max(coord(i, d))));
            (d, hi - lo)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0, |(d, _)| d);
    let middle = ids.len() / 2;
    ids.select_nth_unstable_by(middle, |&a, &b| coord(a, widest).total_cmp(&coord(b, widest)));
    let value = coord(ids[middle], widest);
    // Left holds everything up to and including the median, so `<= value` goes left.
    let (left_ids, right_ids) = ids.split_at_mut(middle + 1);
    nodes.push(Node::Leaf { start: 0, end: 0 }); // placeholder, replaced below
    let left = build_node(points, dims, left_ids, offset, nodes);
    let right = build_node(points, dims, right_ids, offset + middle + 1, nodes);
    nodes[at] = Node::Split { dim: widest, value, left, right };
    at
}

/// Whether `|a - b|^2 <= limit`, stopping as soon as the sum exceeds it.
fn squared_distance_below(a: &[f32], b: &[f32], limit: f32) -> bool {
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        sum += (x - y) * (x - y);
        if sum > limit {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn finds_exactly_the_points_a_scan_finds() {
        let dims = 4;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let points: Vec<f32> = (0..2000 * dims).map(|_| rng.random::<f32>()).collect();
        let tree = KdTree::build(&points, dims);
        for q in (0..2000).step_by(97) {
            let query = &points[q * dims..(q + 1) * dims];
            for radius in [0.0, 0.05, 0.2] {
                let mut found = Vec::new();
                tree.within(query, radius, &mut found);
                found.sort_unstable();
                let scan: Vec<usize> = (0..2000)
                    .filter(|&i| {
                        let p = &points[i * dims..(i + 1) * dims];
                        p.iter().zip(query).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() <= radius * radius
                    })
                    .collect();
                assert_eq!(found, scan, "query {q}, radius {radius}");
            }
        }
    }

    #[test]
    fn equal_points_are_all_found() {
        let points = vec![1.0f32; 3 * 100];
        let tree = KdTree::build(&points, 3);
        let mut found = Vec::new();
        tree.within(&[1.0, 1.0, 1.0], 0.0, &mut found);
        assert_eq!(found.len(), 100);
    }
}
