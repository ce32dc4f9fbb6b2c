//! Jobs on GPUs: the daemon's GPUs (`gpus` in its config), what a submitted job asks
//! for, and which free GPUs a starting job gets. A job sees only its own GPUs, through
//! `CUDA_VISIBLE_DEVICES` in its process environment (set in `child`); the runner
//! starts a queued job only when enough of the daemon's GPUs are free.

mod inventory;

use inventory::GpuMemory;
use memscope_base::config::{DeviceChoice, GpuChoice, Problem};

/// The daemon's GPUs for its `gpus` setting: `None` when it has none (it places no
/// job); for `"auto"`, every GPU of the inventory, and none (said in the log) when
/// there is no `nvidia-smi` or it fails.
pub fn resolve(choice: Option<&GpuChoice>) -> Option<Vec<u32>> {
    match choice? {
        GpuChoice::Indices(indices) => Some(indices.clone()),
        GpuChoice::Auto => match inventory::read() {
            Ok(gpus) => {
                let indices: Vec<u32> = gpus.iter().map(|g| g.index).collect();
                tracing::info!("gpus = \"auto\": jobs are placed on GPU(s) {indices:?}");
                Some(indices)
            }
            Err(e) => {
                tracing::warn!("gpus = \"auto\": {e}; jobs that ask for GPUs are refused");
                Some(Vec::new())
            }
        },
    }
}

/// How many GPUs a submitted job asks for: `asked` (the submission's `gpus`), else 1
/// for `device = "cuda"` and 0 otherwise. `daemon` is the daemon's GPUs (`None`: it
/// places nothing, and `device` is left to the job as before).
pub fn request(asked: Option<usize>, device: &DeviceChoice, daemon: Option<&[u32]>) -> Result<usize, Problem> {
    let problem = |key: &str, message: String| Problem { key: key.into(), message };
    let Some(all) = daemon else {
        return match asked {
            Some(n) if n > 0 => {
                Err(problem("gpus", format!("asks for {n} GPU(s), but this daemon places no job on GPUs (its config has no `gpus`)")))
            }
            _ => Ok(0),
        };
    };
    let cuda = match device {
        DeviceChoice::Cuda(0) => true,
        DeviceChoice::Cuda(i) => {
            let message = format!("`cuda:{i}`: under a daemon with `gpus`, a job names `cuda`, and the GPU it is given is its cuda:0");
            return Err(problem("device", message));
        }
        _ => false,
    };
    let wanted = asked.unwrap_or(usize::from(cuda));
    if cuda && wanted == 0 {
        return Err(problem("gpus", "a job with device = \"cuda\" needs at least 1 GPU".into()));
    }
    if wanted > all.len() {
        return Err(problem("gpus", format!("asks for {wanted} GPU(s); this daemon has {} ({all:?})", all.len())));
    }
    Ok(wanted)
}

/// The GPUs a job asking for `wanted` gets now: the lowest-numbered of `all` not in
/// `busy`; `None` while fewer than `wanted` are free.
pub fn place(all: &[u32], busy: &[u32], wanted: usize) -> Option<Vec<u32>> {
    let free: Vec<u32> = all.iter().copied().filter(|g| !busy.contains(g)).take(wanted).collect();
    (free.len() == wanted).then_some(free)
}

/// `CUDA_VISIBLE_DEVICES` for these GPUs (`0,1`; empty for none: the job sees no GPU).
pub fn visible_devices(gpus: &[u32]) -> String {
    gpus.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// `/metrics` lines for the memory in use and in all of each of the daemon's GPUs,
/// read from the inventory now (at the scrape). Nothing when it cannot be read: the
/// reason is logged, at debug level, since every scrape would repeat it.
pub fn metrics_text(all: &[u32]) -> String {
    let gpus = match inventory::read() {
        Ok(gpus) => gpus,
        Err(e) => {
            tracing::debug!("GPU memory for /metrics: {e}");
            return String::new();
        }
    };
    let ours: Vec<_> = gpus.iter().filter(|g| all.contains(&g.index)).collect();
    if ours.is_empty() {
        return String::new();
    }
    let series = |name: &str, help: &str, mib: fn(&GpuMemory) -> u64| {
        let lines: String = ours.iter().map(|g| format!("{name}{{gpu=\"{}\"}} {}\n", g.index, mib(g) << 20)).collect();
        format!("# HELP {name} {help}\n# TYPE {name} gauge\n{lines}")
    };
    let used = series(USED_METRIC, "Memory in use on each of the daemon's GPUs (nvidia-smi, read at the scrape).", |g| g.used_mib);
    let total = series(TOTAL_METRIC, "Memory of each of the daemon's GPUs (nvidia-smi).", |g| g.total_mib);
    used + &total
}

/// The metric of each GPU's memory in use, in bytes.
pub const USED_METRIC: &str = "memscope_daemon_gpu_memory_used_bytes";
/// The metric of each GPU's memory in all, in bytes.
pub const TOTAL_METRIC: &str = "memscope_daemon_gpu_memory_total_bytes";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_gets_the_lowest_free_gpus_or_waits() {
        assert_eq!(place(&[0, 1], &[], 1), Some(vec![0]));
        assert_eq!(place(&[0, 1], &[0], 1), Some(vec![1]));
        assert_eq!(place(&[0, 1], &[0, 1], 1), None);
        assert_eq!(place(&[3, 5], &[], 0), Some(vec![]));
        assert_eq!(visible_devices(&[0, 3]), "0,3");
        assert_eq!(visible_devices(&[]), "");
    }

    #[test]
    fn cuda_asks_for_one_gpu_and_impossible_requests_are_refused() {
        let two = Some(&[0u32, 1][..]);
        assert_eq!(request(None, &DeviceChoice::Cuda(0), two).unwrap(), 1);
        assert_eq!(request(None, &DeviceChoice::Cpu, two).unwrap(), 0);
        assert_eq!(request(Some(1), &DeviceChoice::Cpu, two).unwrap(), 1);
        assert_eq!(request(None, &DeviceChoice::Cuda(0), None).unwrap(), 0, "no `gpus`: as before");
        let refused = |asked, device, daemon| request(asked, &device, daemon).unwrap_err().message;
        assert_eq!(refused(Some(3), DeviceChoice::Cpu, two), "asks for 3 GPU(s); this daemon has 2 ([0, 1])");
        assert_eq!(request(Some(2), &DeviceChoice::Cuda(0), two).unwrap(), 2, "N GPUs: N ranks");
        assert!(refused(Some(1), DeviceChoice::Cpu, None).contains("its config has no `gpus`"));
        assert!(refused(Some(0), DeviceChoice::Cuda(0), two).contains("needs at least 1 GPU"));
        assert!(refused(None, DeviceChoice::Cuda(1), two).contains("a job names `cuda`"));
        assert_eq!(refused(None, DeviceChoice::Cuda(0), Some(&[])), "asks for 1 GPU(s); this daemon has 0 ([])");
    }
}
