//! The machine's GPUs as `nvidia-smi` lists them: index and memory in use. Read when
//! the daemon resolves `gpus = "auto"` and at each `/metrics` scrape.
//!
//! `MEMSCOPE_NVIDIA_SMI` names another program to run in place of `nvidia-smi` (with
//! the same arguments). It is for tests: a script printing nvidia-smi's CSV gives a
//! machine without GPUs a fake inventory that goes through this same parsing.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The query the inventory runs; its answer is one `index, used, total` line per GPU,
/// memory in MiB.
pub const QUERY: [&str; 2] = ["--query-gpu=index,memory.used,memory.total", "--format=csv,noheader,nounits"];

/// The environment variable naming a program to run in place of `nvidia-smi` (tests).
pub const PROGRAM_VAR: &str = "MEMSCOPE_NVIDIA_SMI";

/// One GPU of the inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuMemory {
    /// Its index (what `CUDA_VISIBLE_DEVICES` names).
    pub index: u32,
    /// Memory in use, MiB.
    pub used_mib: u64,
    /// Memory in all, MiB.
    pub total_mib: u64,
}

/// Why the inventory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The program does not exist: this machine has no NVIDIA driver tools.
    #[error("`{program}` was not found (no NVIDIA GPUs on this machine)")]
    NotFound {
        /// The program run.
        program: String,
    },
    /// The program could not be run, or it failed.
    #[error("`{program}` failed: {message}")]
    Failed {
        /// The program run.
        program: String,
        /// What went wrong (its stderr, or the error starting it).
        message: String,
    },
    /// A line of its answer is not `index, used, total`.
    #[error("`{program}` printed `{line}`, not `index, memory.used, memory.total`")]
    BadLine {
        /// The program run.
        program: String,
        /// The line.
        line: String,
    },
}

/// The program that lists GPUs: `nvidia-smi`, or what `MEMSCOPE_NVIDIA_SMI` names.
pub fn program() -> String {
    std::env::var(PROGRAM_VAR).ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "nvidia-smi".into())
}

/// How long the inventory program may take: nvidia-smi can hang on a GPU in a bad
/// state, and neither a scrape nor a reload may wait for it forever.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the inventory program and parses its answer.
pub fn read() -> Result<Vec<GpuMemory>, InventoryError> {
    read_from(&program(), TIMEOUT)
}

/// Runs `program` with the query, killing it after `timeout`. Its answer is a line a
/// GPU, far below a pipe's buffer, so it is read once the program ended.
fn read_from(program: &str, timeout: Duration) -> Result<Vec<GpuMemory>, InventoryError> {
    let failed = |message: String| InventoryError::Failed { program: program.to_string(), message };
    let mut child = Command::new(program).args(QUERY).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(
        |e| match e.kind() {
            std::io::ErrorKind::NotFound => InventoryError::NotFound { program: program.to_string() },
            _ => failed(e.to_string()),
        },
    )?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| failed(e.to_string()))? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(failed(format!("no answer within {timeout:?}")));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child.stdout.take().expect("stdout is piped").read_to_string(&mut stdout).map_err(|e| failed(e.to_string()))?;
    child.stderr.take().expect("stderr is piped").read_to_string(&mut stderr).map_err(|e| failed(e.to_string()))?;
    if !status.success() {
        return Err(failed(stderr.lines().next().map(str::to_string).unwrap_or_else(|| format!("it ended with {status}"))));
    }
    parse(&stdout).map_err(|line| InventoryError::BadLine { program: program.to_string(), line })
}

/// Parses nvidia-smi's CSV (`0, 1024, 81559` a line); the error is the first bad line.
pub fn parse(text: &str) -> Result<Vec<GpuMemory>, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            match fields[..] {
                [index, used, total] => match (index.parse(), used.parse(), total.parse()) {
                    (Ok(index), Ok(used_mib), Ok(total_mib)) => Ok(GpuMemory { index, used_mib, total_mib }),
                    _ => Err(line.to_string()),
                },
                _ => Err(line.to_string()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvidia_smi_csv_is_parsed_and_a_bad_line_is_named() {
        let gpus = parse("0, 1024, 81559\n1, 0, 81559\n").unwrap();
        assert_eq!(gpus, [GpuMemory { index: 0, used_mib: 1024, total_mib: 81559 }, GpuMemory { index: 1, used_mib: 0, total_mib: 81559 }]);
        assert_eq!(parse("").unwrap(), []);
        assert_eq!(parse("0, [N/A], 81559\n").unwrap_err(), "0, [N/A], 81559");
        assert_eq!(parse("0, 12\n").unwrap_err(), "0, 12");
    }

    /// A script standing in for nvidia-smi.
    fn script(dir: &std::path::Path, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("smi");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    }

    #[test]
    fn a_missing_failing_or_hanging_program_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none").display().to_string();
        let error = read_from(&missing, TIMEOUT).unwrap_err().to_string();
        assert_eq!(error, format!("`{missing}` was not found (no NVIDIA GPUs on this machine)"));
        let failing = script(dir.path(), "echo 'NVIDIA-SMI has failed' >&2; exit 9");
        assert_eq!(read_from(&failing, TIMEOUT).unwrap_err().to_string(), format!("`{failing}` failed: NVIDIA-SMI has failed"));
        let hanging = script(dir.path(), "exec sleep 30");
        let started = Instant::now();
        let error = read_from(&hanging, Duration::from_millis(300)).unwrap_err().to_string();
        assert_eq!(error, format!("`{hanging}` failed: no answer within 300ms"));
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        let answering = script(dir.path(), "echo \"$1 $2\" >&2; echo '3, 10, 20'");
        assert_eq!(read_from(&answering, TIMEOUT).unwrap(), [GpuMemory { index: 3, used_mib: 10, total_mib: 20 }]);
    }
}
