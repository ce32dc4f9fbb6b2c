//! Feldman & Zhang's memorization estimate (NeurIPS 2020) from the outcomes of models
//! trained on random subsets: for sample i,
//!
//! ```text
//! mem(i) = P(correct on i | i in the subset) - P(correct on i | i out of it)
//! ```
//!
//! each probability the share of the models of that side that classify i as labelled.
//! Pure arithmetic on masks, so that it is checked by hand (the tests) apart from any
//! training.

/// What one finished model says about every sample of the training set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelOutcome {
    /// The model's index in the estimate.
    pub model: usize,
    /// Whether the model trained on each sample (its subset).
    pub trained: Vec<bool>,
    /// Whether the model classifies each sample as labelled, after training.
    pub correct: Vec<bool>,
}

/// The estimate per sample, over the models that finished.
#[derive(Debug, Clone, PartialEq)]
pub struct Memorization {
    /// `mem(i)`, in [-1, 1]; NaN where no model trained on the sample or none left it
    /// out (the difference is then undefined).
    pub mem: Vec<f64>,
    /// Its standard error: `sqrt(p_in (1 - p_in) / n_in + p_out (1 - p_out) / n_out)`,
    /// the plug-in error of a difference of two independent proportions (0 when both
    /// sides agree unanimously; NaN where `mem` is).
    pub se: Vec<f64>,
    /// Models that trained on each sample.
    pub in_counts: Vec<u32>,
    /// Models that left each sample out.
    pub out_counts: Vec<u32>,
}

impl Memorization {
    /// The estimate over `models`, each with `n` samples (a model of another length is a
    /// caller's bug: the reader checks lengths first).
    pub fn estimate(n: usize, models: &[ModelOutcome]) -> Self {
        let mut in_counts = vec![0u32; n];
        let mut out_counts = vec![0u32; n];
        let mut in_correct = vec![0u32; n];
        let mut out_correct = vec![0u32; n];
        for m in models {
            assert!(
                m.trained.len() == n && m.correct.len() == n,
                "model {} has {} / {} values, not {n}",
                m.model,
                m.trained.len(),
                m.correct.len()
            );
            for i in 0..n {
                let (count, correct) = if m.trained[i] { (&mut in_counts, &mut in_correct) } else { (&mut out_counts, &mut out_correct) };
                count[i] += 1;
                correct[i] += m.correct[i] as u32;
            }
        }
        let mut mem = vec![f64::NAN; n];
        let mut se = vec![f64::NAN; n];
        for i in 0..n {
            if in_counts[i] == 0 || out_counts[i] == 0 {
                continue;
            }
            let (n_in, n_out) = (in_counts[i] as f64, out_counts[i] as f64);
            let p_in = in_correct[i] as f64 / n_in;
            let p_out = out_correct[i] as f64 / n_out;
            mem[i] = p_in - p_out;
            se[i] = (p_in * (1.0 - p_in) / n_in + p_out * (1.0 - p_out) / n_out).sqrt();
        }
        Memorization { mem, se, in_counts, out_counts }
    }

    /// Samples whose estimate is undefined (never in, or never out).
    pub fn undefined(&self) -> usize {
        self.mem.iter().filter(|m| m.is_nan()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(model: usize, trained: [u8; 4], correct: [u8; 4]) -> ModelOutcome {
        ModelOutcome { model, trained: trained.iter().map(|&b| b == 1).collect(), correct: correct.iter().map(|&b| b == 1).collect() }
    }

    /// Four models, four samples, worked by hand:
    ///
    /// | sample | in: models, correct | out: models, correct | mem             | se                  |
    /// |--------|---------------------|----------------------|-----------------|---------------------|
    /// | 0      | 0, 1: 2 of 2        | 2, 3: 1 of 2         | 1 - 1/2 = 0.5   | sqrt(0 + 1/4 / 2)   |
    /// | 1      | 0, 2: 2 of 2        | 1, 3: 1 of 2         | 0.5             | sqrt(1/8)           |
    /// | 2      | 1, 2, 3: 3 of 3     | 0: 0 of 1            | 1 - 0 = 1       | 0                   |
    /// | 3      | all four: 2 of 4    | none                 | undefined (NaN) | NaN                 |
    #[test]
    fn the_estimate_of_a_case_worked_by_hand() {
        let models = [
            model(0, [1, 1, 0, 1], [1, 1, 0, 1]),
            model(1, [1, 0, 1, 1], [1, 0, 1, 0]),
            model(2, [0, 1, 1, 1], [1, 1, 1, 1]),
            model(3, [0, 0, 1, 1], [0, 1, 1, 0]),
        ];
        let m = Memorization::estimate(4, &models);
        assert_eq!(m.in_counts, [2, 2, 3, 4]);
        assert_eq!(m.out_counts, [2, 2, 1, 0]);
        assert_eq!(&m.mem[..3], [0.5, 0.5, 1.0]);
        assert_eq!(m.se[0], (1.0f64 / 8.0).sqrt());
        assert_eq!(m.se[1], (1.0f64 / 8.0).sqrt());
        assert_eq!(m.se[2], 0.0);
        assert!(m.mem[3].is_nan() && m.se[3].is_nan());
        assert_eq!(m.undefined(), 1);
    }

    /// A sample classified correctly more often when left out than when trained on has
    /// a negative estimate; one every model gets right whatever its side, zero.
    #[test]
    fn the_sign_follows_which_side_is_right_more_often() {
        let models = [model(0, [1, 1, 0, 0], [0, 1, 1, 1]), model(1, [0, 0, 1, 1], [1, 1, 1, 1])];
        let m = Memorization::estimate(4, &models);
        assert_eq!(m.mem[0], -1.0);
        assert_eq!(m.mem[1], 0.0);
        assert_eq!(m.mem[2], 0.0);
    }
}
