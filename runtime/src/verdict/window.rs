//! Which epochs the verdict averages: the epochs before the network fits the wrong
//! labels, found as training goes, with no mask.
//!
//! A flipped label is fitted late: until then the network gives the sample's true
//! class a confident probability, and confident learning counts it as an issue
//! ([`super::confident::count_issues`]). When the network starts fitting the wrong
//! labels, the count of one epoch's probabilities falls below the count of the epochs
//! before it: the window closes at the first epoch (from the third) whose own count is
//! under [`RATIO`] of the count of the window so far, and that epoch is left out. The
//! first two epochs always open it (in the first, the network is still learning the
//! classes, and the count falls as it does). On the cells measured, the count fell
//! below 0.7 of the window's where a learning-rate step made the network fit the
//! flipped labels (MNIST and Fashion-MNIST, epoch 6 of 15), and after a slow decline at
//! a constant rate (digits, epoch 10 of 30).
//!
//! The rule and its ratio were chosen by measurement (bench/science/verdict_windows.py,
//! REPRODUCTION.md).

/// An epoch whose issue count is below this share of the window's ends the window.
pub const RATIO: f64 = 0.7;

/// Epochs that always open the window.
const ALWAYS: usize = 2;

/// The rule in words (for `summary.json`'s `label_issues.rule`).
pub const RULE: &str = "the window starts at epoch 1 and closes before the first epoch after the second whose own count of \
                        issues is below 0.7 of the window's so far: there the network starts fitting the wrong labels";

/// The window's epochs so far, and whether more may join.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    /// The epochs (0-based) averaged, in order.
    epochs: Vec<usize>,
    /// The issue count of the window's mean probabilities, after its last epoch.
    count: usize,
    /// Whether an epoch was left out (then no later one joins).
    closed: bool,
}

impl Window {
    /// A window continued from a checkpoint: its epochs, the count of its mean
    /// probabilities, and whether it had closed.
    pub fn restore(epochs: Vec<usize>, count: usize, closed: bool) -> Self {
        Window { epochs, count, closed }
    }

    /// The epochs (0-based) averaged.
    pub fn epochs(&self) -> &[usize] {
        &self.epochs
    }

    /// Whether it had closed.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// The issue count of the window's mean probabilities.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether epoch `epoch` (0-based), whose own probabilities count `count` issues,
    /// joins the window.
    pub fn admits(&mut self, epoch: usize, count: usize) -> bool {
        if self.closed {
            return false;
        }
        if self.epochs.len() >= ALWAYS && (count as f64) < RATIO * self.count as f64 {
            self.closed = true;
            return false;
        }
        self.epochs.push(epoch);
        true
    }

    /// After an admitted epoch: the issue count of the window's mean probabilities.
    pub fn set_count(&mut self, count: usize) {
        self.count = count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_closes_at_the_first_epoch_whose_count_falls_under_the_ratio() {
        let mut w = Window::default();
        // Epoch counts, and the window's count after each admitted epoch.
        for (epoch, (count, window)) in [(1716, 1716), (1252, 1263), (1121, 1113), (934, 1009), (785, 901)].into_iter().enumerate() {
            assert!(w.admits(epoch, count), "epoch {epoch}");
            w.set_count(window);
        }
        // 511 < 0.7 x 901: the network fits the wrong labels; nothing joins after.
        assert!(!w.admits(5, 511));
        assert!(!w.admits(6, 900));
        assert_eq!(w.epochs(), &[0, 1, 2, 3, 4]);
        assert!(w.closed());
    }

    #[test]
    fn the_first_two_epochs_always_join() {
        let mut w = Window::default();
        assert!(w.admits(0, 100));
        w.set_count(100);
        assert!(w.admits(1, 10), "the second epoch joins whatever its count");
        w.set_count(40);
        assert!(w.admits(2, 28), "28 is 0.7 of 40");
        w.set_count(30);
        assert!(!w.admits(3, 20));
    }
}
