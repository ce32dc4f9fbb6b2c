//! Samples ranked by a score, read the way the score declares: what a program asks
//! first of a finished job ("which samples did the network memorize most?").

use memscope_sdk::Direction;

/// Every sample index, the most memorized first as `direction` reads the values (the
/// highest first for [`Direction::HigherIsMemorized`], the lowest first for
/// [`Direction::LowerIsMemorized`]); equal values keep index order, and NaN (no value)
/// comes last.
pub fn most_memorized_first(values: &[f32], direction: Direction) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    let key = |i: &usize| {
        let v = values[*i];
        // NaN sorts last either way; the sign puts the most memorized first.
        let v = match direction {
            Direction::HigherIsMemorized => -v,
            Direction::LowerIsMemorized => v,
        };
        (v.is_nan(), if v.is_nan() { 0.0 } else { v })
    };
    order.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
    });
    order
}

/// The first `k` of [`most_memorized_first`] (all of them when `k` is larger).
pub fn top_k(values: &[f32], direction: Direction, k: usize) -> Vec<usize> {
    let mut order = most_memorized_first(values, direction);
    order.truncate(k);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declared_direction_decides_which_end_comes_first() {
        let values = [0.5, f32::NAN, 2.0, -1.0, 2.0];
        assert_eq!(most_memorized_first(&values, Direction::HigherIsMemorized), vec![2, 4, 0, 3, 1]);
        assert_eq!(most_memorized_first(&values, Direction::LowerIsMemorized), vec![3, 0, 2, 4, 1]);
        assert_eq!(top_k(&values, Direction::HigherIsMemorized, 2), vec![2, 4]);
        assert_eq!(top_k(&values, Direction::LowerIsMemorized, 9).len(), 5);
    }
}
