//! CPU time, read from `/proc`: the whole machine's busy time and this process's own.
//!
//! Both are in clock ticks (`USER_HZ`, 100 on Linux), so that their difference is the
//! time other processes kept the cores busy.

use std::time::Instant;

/// One reading of the machine's and this process's CPU time.
#[derive(Debug, Clone, Copy)]
pub struct CpuReading {
    /// When it was read.
    pub at: Instant,
    /// Ticks every core spent busy since boot (user, nice, system, irq, softirq, steal).
    pub machine_busy: u64,
    /// Ticks this process (every thread of it) spent busy.
    pub own_busy: u64,
    /// Cores the machine has (`cpuN` lines of `/proc/stat`).
    pub cores: usize,
}

impl CpuReading {
    /// Reads `/proc/stat` and `/proc/self/stat`; `None` where they are not there or not
    /// as expected (another OS, a restricted container): the caller then keeps its count.
    pub fn now() -> Option<Self> {
        let machine = std::fs::read_to_string("/proc/stat").ok()?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        let (machine_busy, cores) = parse_machine(&machine)?;
        Some(Self { at: Instant::now(), machine_busy, own_busy: parse_own(&own)?, cores })
    }

    /// How many cores other processes kept busy, on average, between `earlier` and this
    /// reading; `None` when less than a tick's worth of time passed.
    pub fn others_busy_since(&self, earlier: &CpuReading) -> Option<f64> {
        let seconds = self.at.duration_since(earlier.at).as_secs_f64();
        if seconds < 0.02 {
            return None;
        }
        let machine = self.machine_busy.saturating_sub(earlier.machine_busy);
        let own = self.own_busy.saturating_sub(earlier.own_busy);
        Some(machine.saturating_sub(own) as f64 / TICKS_PER_SECOND / seconds)
    }
}

/// `USER_HZ`: Linux reports CPU time in hundredths of a second on every architecture.
const TICKS_PER_SECOND: f64 = 100.0;

/// The busy ticks of the `cpu` line of `/proc/stat` and the number of `cpuN` lines.
fn parse_machine(stat: &str) -> Option<(u64, usize)> {
    let mut lines = stat.lines();
    let total = lines.next()?.strip_prefix("cpu ")?;
    let fields: Vec<u64> = total.split_whitespace().map(|f| f.parse().ok()).collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is
    // already counted in user, and idle and iowait are not busy.
    let busy = [0, 1, 2, 5, 6, 7].iter().map(|&i| fields.get(i).copied().unwrap_or(0)).sum();
    let cores = lines.filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit)).count();
    (cores > 0).then_some((busy, cores))
}

/// utime + stime of `/proc/self/stat` (fields 14 and 15), read after the command name,
/// which may itself hold spaces and parentheses.
fn parse_own(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const STAT: &str =
        "cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 50 2 25 500 10 1 1 2 0 0\ncpu1 50 3 25 500 10 0 1 1 0 0\nintr 1 2 3\nctxt 4\n";

    #[test]
    fn machine_busy_time_counts_every_busy_field_and_the_cores() {
        assert_eq!(parse_machine(STAT), Some((100 + 5 + 50 + 1 + 2 + 3, 2)));
        assert_eq!(parse_machine("intr 1\n"), None);
    }

    #[test]
    fn own_time_is_read_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (my (odd) engine) R 1 2 3 4 5 6 7 8 9 10 230 70 0 0 20 0 3 0 100 200 300";
        assert_eq!(parse_own(stat), Some(300));
    }

    #[test]
    fn others_busy_time_is_the_machines_minus_this_processs_per_second() {
        let start = Instant::now();
        let earlier = CpuReading { at: start, machine_busy: 1_000, own_busy: 400, cores: 2 };
        // Over 2 s: the machine was busy 300 ticks, this process 100 of them: the
        // others kept one core busy.
        let later = CpuReading { at: start + Duration::from_secs(2), machine_busy: 1_300, own_busy: 500, cores: 2 };
        assert_eq!(later.others_busy_since(&earlier), Some(1.0));
        let too_soon = CpuReading { at: start + Duration::from_millis(5), ..later };
        assert_eq!(too_soon.others_busy_since(&earlier), None);
    }

    #[test]
    fn this_machine_can_be_read() {
        let reading = CpuReading::now().expect("Linux has /proc/stat and /proc/self/stat");
        assert!(reading.cores >= 1);
    }
}
