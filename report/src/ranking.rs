//! Orders and ranks of samples by a score, shared by the grids, the CSVs and the
//! duplicates table. Rank 1 is the highest score (the most memorized sample).

/// Sample indices by descending score; ties keep index order, so reports are stable.
pub fn descending(values: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    order
}

/// `ranks[i]`: 1 + the position of sample `i` in `order`.
pub fn ranks(order: &[usize]) -> Vec<usize> {
    let mut ranks = vec![0; order.len()];
    for (position, &i) in order.iter().enumerate() {
        ranks[i] = position + 1;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_score_has_rank_one_and_ties_keep_index_order() {
        let values = [0.5, 2.0, 0.5, -1.0];
        let order = descending(&values);
        assert_eq!(order, vec![1, 0, 2, 3]);
        assert_eq!(ranks(&order), vec![2, 1, 3, 4]);
    }
}
