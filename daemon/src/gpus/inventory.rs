//! The machine's GPUs as `nvidia-smi` lists them: index and memory in use. Read when
//! the daemon resolves `gpus = "auto"` and at each `/metrics` scrape.
//!
//! `MEMSCOPE_NVIDIA_SMI` names another program to run in place of `nvidia-smi` (with
//! the same arguments). It is for tests: a script printing nvidia-smi's CSV gives a
//! machine without GPUs a fake inventory that goes through this same parsing.

use std::process::Command;

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

/// Runs the inventory program and parses its answer.
pub fn read() -> Result<Vec<GpuMemory>, InventoryError> {
    let program = program();
    let output = Command::new(&program).args(QUERY).output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => InventoryError::NotFound { program: program.clone() },
        _ => InventoryError::Failed { program: program.clone(), message: e.to_string() },
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = stderr.lines().next().map(str::to_string).unwrap_or_else(|| format!("it ended with {}", output.status));
        return Err(InventoryError::Failed { program, message });
    }
    parse(&String::from_utf8_lossy(&output.stdout)).map_err(|line| InventoryError::BadLine { program, line })
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
}
