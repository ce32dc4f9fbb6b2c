//! Learning-rate schedules, evaluated per epoch (as PyTorch's epoch-stepped schedulers).

use crate::config::{ScheduleKind, TrainConfig};

/// The learning rate for 0-based `epoch`.
pub fn learning_rate(train: &TrainConfig, epoch: usize) -> f64 {
    match train.schedule {
        ScheduleKind::Constant => train.lr,
        ScheduleKind::Step => train.lr * train.gamma.powi((epoch / train.step_epochs) as i32),
        ScheduleKind::Cosine => {
            let t = epoch as f64 / train.epochs as f64;
            0.5 * train.lr * (1.0 + (std::f64::consts::PI * t).cos())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_match_their_definitions() {
        let mut t = TrainConfig { lr: 0.1, epochs: 10, step_epochs: 3, gamma: 0.5, ..Default::default() };
        assert_eq!(learning_rate(&t, 9), 0.1);
        t.schedule = ScheduleKind::Step;
        assert_eq!(learning_rate(&t, 2), 0.1);
        assert_eq!(learning_rate(&t, 3), 0.05);
        assert_eq!(learning_rate(&t, 7), 0.025);
        t.schedule = ScheduleKind::Cosine;
        assert_eq!(learning_rate(&t, 0), 0.1);
        assert!((learning_rate(&t, 5) - 0.05).abs() < 1e-12);
    }
}
