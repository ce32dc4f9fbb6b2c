//! A process's place in its group, from the launcher's variables.
//!
//! torchrun sets `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR` and `MASTER_PORT`;
//! a Slurm script sets them from `SLURM_PROCID` and friends; the Kubeflow training
//! operator sets all but `LOCAL_RANK` (one process per pod, so it defaults to 0).

use super::liveness::{LivenessTiming, DEFAULT_LOST_AFTER};
use super::DistError;
use std::time::Duration;

/// How long any wait of the group may take (the rendezvous, each collective) unless
/// `MEMSCOPE_DIST_TIMEOUT` says otherwise: PyTorch's default for Gloo, so that a
/// rank that is slow to load a large dataset is not taken for a dead one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// The largest bucket of gradients all-reduced at once unless `MEMSCOPE_DIST_BUCKET_MB`
/// says otherwise: DDP's default `bucket_cap_mb` (25 MiB).
pub const DEFAULT_BUCKET_BYTES: usize = 25 * 1024 * 1024;

/// The cap of the first bucket (the last layers' gradients, which backward produces
/// first), DDP's: 1 MiB, or the bucket cap when that is smaller.
pub const FIRST_BUCKET_BYTES: usize = 1024 * 1024;

/// This process's place in a group of several, and where the group meets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// Global rank, `0..world`; rank 0 serves the store and alone writes the run.
    pub rank: usize,
    /// How many processes take part (more than one).
    pub world: usize,
    /// Rank on this machine: the CUDA device a rank uses.
    pub local_rank: usize,
    /// Host of the `TCPStore` (rank 0's machine).
    pub master_addr: String,
    /// Port of the `TCPStore`.
    pub master_port: u16,
    /// The longest any wait may take (`MEMSCOPE_DIST_TIMEOUT`, seconds).
    pub timeout: Duration,
    /// Whether the launcher's agent serves the store at `MASTER_ADDR:MASTER_PORT`
    /// (torchrun sets `TORCHELASTIC_USE_AGENT_STORE=True`): then rank 0 connects to
    /// it like every other rank instead of serving its own.
    pub agent_store: bool,
    /// The most bytes of gradients all-reduced in one bucket (`MEMSCOPE_DIST_BUCKET_MB`,
    /// MiB): smaller buckets start earlier in the backward pass, larger ones cost
    /// fewer collectives.
    pub bucket_bytes: usize,
    /// The liveness watch's timing ([`crate::dist`]'s liveness module): `None` when
    /// `MEMSCOPE_DIST_LIVENESS=0` turns it off.
    pub liveness: Option<LivenessTiming>,
    /// How many times the launcher restarted the group (`TORCHELASTIC_RESTART_COUNT`):
    /// each incarnation keeps its keys apart in a store that outlives it (torchrun's).
    pub restart: usize,
}

impl Launch {
    /// The launch described by the process's environment: `None` when `WORLD_SIZE`
    /// is unset or 1 (one process, no group).
    pub fn from_env() -> Result<Option<Launch>, DistError> {
        Launch::from_vars(|var| std::env::var(var).ok())
    }

    /// [`Launch::from_env`] over any source of variables (tests pass a map).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Option<Launch>, DistError> {
        let Some(world_text) = get("WORLD_SIZE") else { return Ok(None) };
        let world: usize = number("WORLD_SIZE", &world_text)?;
        if world == 0 {
            return Err(env_error("WORLD_SIZE", &world_text, "the group needs at least one process"));
        }
        if world == 1 {
            return Ok(None);
        }
        let required = |var: &'static str| {
            get(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                env_error(
                    var,
                    "",
                    "not set, but WORLD_SIZE is above 1: a launcher sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT together",
                )
            })
        };
        let rank_text = required("RANK")?;
        let rank: usize = number("RANK", &rank_text)?;
        if rank >= world {
            return Err(env_error("RANK", &rank_text, &format!("ranks of a group of {world} are 0 to {}", world - 1)));
        }
        let local_rank = match get("LOCAL_RANK") {
            Some(text) => number("LOCAL_RANK", &text)?,
            None => 0,
        };
        let master_addr = required("MASTER_ADDR")?;
        let port_text = required("MASTER_PORT")?;
        let master_port: u16 = number("MASTER_PORT", &port_text)?;
        if master_port == 0 {
            return Err(env_error("MASTER_PORT", &port_text, "the store needs a fixed port that every rank knows"));
        }
        let timeout = match get("MEMSCOPE_DIST_TIMEOUT") {
            Some(text) => {
                let seconds: f64 = text.trim().parse().map_err(|_| env_error("MEMSCOPE_DIST_TIMEOUT", &text, "not a number of seconds"))?;
                if !(seconds.is_finite() && seconds > 0.0) {
                    return Err(env_error("MEMSCOPE_DIST_TIMEOUT", &text, "must be a positive number of seconds"));
                }
                Duration::from_secs_f64(seconds)
            }
            None => DEFAULT_TIMEOUT,
        };
        let agent_store = get("TORCHELASTIC_USE_AGENT_STORE").is_some_and(|v| v == "True");
        let bucket_bytes = match get("MEMSCOPE_DIST_BUCKET_MB") {
            Some(text) => {
                let mib: f64 = text.trim().parse().map_err(|_| env_error("MEMSCOPE_DIST_BUCKET_MB", &text, "not a number of MiB"))?;
                if !(mib.is_finite() && mib > 0.0 && mib <= 1024.0 * 1024.0) {
                    return Err(env_error("MEMSCOPE_DIST_BUCKET_MB", &text, "must be a positive number of MiB (at most 1048576)"));
                }
                ((mib * 1024.0 * 1024.0) as usize).max(1)
            }
            None => DEFAULT_BUCKET_BYTES,
        };
        let liveness = match get("MEMSCOPE_DIST_LIVENESS") {
            Some(text) => {
                let seconds: f64 =
                    text.trim().parse().map_err(|_| env_error("MEMSCOPE_DIST_LIVENESS", &text, "not a number of seconds"))?;
                if !(seconds.is_finite() && seconds >= 0.0) {
                    return Err(env_error("MEMSCOPE_DIST_LIVENESS", &text, "must be a number of seconds (0 turns the watch off)"));
                }
                (seconds > 0.0).then(|| LivenessTiming { lost_after: Duration::from_secs_f64(seconds) })
            }
            None => Some(LivenessTiming { lost_after: DEFAULT_LOST_AFTER }),
        };
        let restart = match get("TORCHELASTIC_RESTART_COUNT") {
            Some(text) => number("TORCHELASTIC_RESTART_COUNT", &text)?,
            None => 0,
        };
        Ok(Some(Launch { rank, world, local_rank, master_addr, master_port, timeout, agent_store, bucket_bytes, liveness, restart }))
    }
}

fn number<T: std::str::FromStr>(var: &'static str, text: &str) -> Result<T, DistError> {
    text.trim().parse().map_err(|_| env_error(var, text, "not a non-negative whole number in range"))
}

fn env_error(var: &'static str, value: &str, reason: &str) -> DistError {
    DistError::Env { var, value: value.to_string(), reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn launch(vars: &[(&str, &str)]) -> Result<Option<Launch>, DistError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Launch::from_vars(|k| map.get(k).cloned())
    }

    const TORCHRUN: &[(&str, &str)] =
        &[("RANK", "1"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "1"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500")];

    #[test]
    fn no_launcher_or_a_world_of_one_means_a_single_process() {
        assert_eq!(launch(&[]).unwrap(), None);
        assert_eq!(launch(&[("WORLD_SIZE", "1"), ("RANK", "0")]).unwrap(), None);
    }

    #[test]
    fn torchruns_variables_place_the_process() {
        let got = launch(TORCHRUN).unwrap().unwrap();
        let expected = Launch {
            rank: 1,
            world: 2,
            local_rank: 1,
            master_addr: "127.0.0.1".into(),
            master_port: 29500,
            timeout: DEFAULT_TIMEOUT,
            agent_store: false,
            bucket_bytes: DEFAULT_BUCKET_BYTES,
            liveness: Some(LivenessTiming { lost_after: DEFAULT_LOST_AFTER }),
            restart: 0,
        };
        assert_eq!(got, expected);
        let agent: Vec<_> = TORCHRUN.iter().copied().chain([("TORCHELASTIC_USE_AGENT_STORE", "True")]).collect();
        assert!(launch(&agent).unwrap().unwrap().agent_store, "torchrun's agent serves the store");
        // A PyTorchJob pod has no LOCAL_RANK: one process per pod.
        let pod: Vec<_> = TORCHRUN.iter().copied().filter(|(k, _)| *k != "LOCAL_RANK").chain([("MEMSCOPE_DIST_TIMEOUT", "2.5")]).collect();
        let got = launch(&pod).unwrap().unwrap();
        assert_eq!((got.local_rank, got.timeout), (0, Duration::from_millis(2500)));
        let small: Vec<_> = TORCHRUN.iter().copied().chain([("MEMSCOPE_DIST_BUCKET_MB", "0.5")]).collect();
        assert_eq!(launch(&small).unwrap().unwrap().bucket_bytes, 512 * 1024);
        let watched: Vec<_> =
            TORCHRUN.iter().copied().chain([("MEMSCOPE_DIST_LIVENESS", "5"), ("TORCHELASTIC_RESTART_COUNT", "2")]).collect();
        let got = launch(&watched).unwrap().unwrap();
        assert_eq!((got.liveness, got.restart), (Some(LivenessTiming { lost_after: Duration::from_secs(5) }), 2));
        let unwatched: Vec<_> = TORCHRUN.iter().copied().chain([("MEMSCOPE_DIST_LIVENESS", "0")]).collect();
        assert_eq!(launch(&unwatched).unwrap().unwrap().liveness, None, "0 turns the watch off");
    }

    #[test]
    fn bad_variables_are_named_with_their_value_and_the_problem() {
        let with = |var: &str, value: &str| -> String {
            let vars: Vec<_> = TORCHRUN.iter().copied().filter(|(k, _)| *k != var).chain([(var, value)]).collect();
            launch(&vars).unwrap_err().to_string()
        };
        assert_eq!(with("RANK", "2"), "RANK=\"2\": ranks of a group of 2 are 0 to 1");
        assert_eq!(with("WORLD_SIZE", "two"), "WORLD_SIZE=\"two\": not a non-negative whole number in range");
        assert_eq!(with("MASTER_PORT", "70000"), "MASTER_PORT=\"70000\": not a non-negative whole number in range");
        assert_eq!(with("MASTER_PORT", "0"), "MASTER_PORT=\"0\": the store needs a fixed port that every rank knows");
        assert_eq!(with("MEMSCOPE_DIST_TIMEOUT", "-1"), "MEMSCOPE_DIST_TIMEOUT=\"-1\": must be a positive number of seconds");
        assert_eq!(with("MEMSCOPE_DIST_BUCKET_MB", "big"), "MEMSCOPE_DIST_BUCKET_MB=\"big\": not a number of MiB");
        assert_eq!(
            with("MEMSCOPE_DIST_BUCKET_MB", "0"),
            "MEMSCOPE_DIST_BUCKET_MB=\"0\": must be a positive number of MiB (at most 1048576)"
        );
        assert_eq!(
            with("MEMSCOPE_DIST_LIVENESS", "-3"),
            "MEMSCOPE_DIST_LIVENESS=\"-3\": must be a number of seconds (0 turns the watch off)"
        );
        let vars: Vec<_> = TORCHRUN.iter().copied().filter(|(k, _)| *k != "MASTER_ADDR").collect();
        let err = launch(&vars).unwrap_err().to_string();
        assert!(err.starts_with("MASTER_ADDR=\"\": not set, but WORLD_SIZE is above 1"), "{err}");
    }
}
