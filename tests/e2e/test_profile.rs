//! Profiling the scoring passes: `MEMSCOPE_PROFILE_SCORING=DIR` saves a Chrome trace of
//! libtorch's profiler for each scored snapshot, what a user opens in Perfetto (or sums
//! with `bench/profile_summary.py`) to see where scoring spends its time.

use memscope_tests::{memscope_bin, repo_root};
use std::process::Command;

#[test]
fn each_scored_snapshot_leaves_a_chrome_trace_of_its_operators() {
    let out = tempfile::tempdir().unwrap();
    let traces = out.path().join("profile");
    let config = repo_root().join("configs/digits.toml");
    let status = Command::new(memscope_bin())
        .args(["run", config.to_str().unwrap(), "--out", out.path().join("runs").to_str().unwrap(), "--quiet"])
        .args(["--set", "train.epochs=2", "--set", "score.every=1", "--set", "data.limit=300"])
        .env("MEMSCOPE_PROFILE_SCORING", &traces)
        .env("MEMSCOPE_LOG", "warn")
        .status()
        .unwrap();
    assert!(status.success());
    let mut files: Vec<String> =
        std::fs::read_dir(&traces).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["scoring-epoch-1.json", "scoring-epoch-2.json"]);
    let trace: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(traces.join(&files[1])).unwrap()).unwrap();
    let ops: Vec<&str> =
        trace["traceEvents"].as_array().unwrap().iter().filter(|e| e["cat"] == "cpu_op").filter_map(|e| e["name"].as_str()).collect();
    // The curvature plugin's passes (its own library, the same libtorch) and eval_loss's.
    assert!(ops.iter().any(|op| op.starts_with("aten::")), "no operator in the trace");
    assert!(
        ops.contains(&"aten::log_softmax") || ops.contains(&"aten::_log_softmax"),
        "no loss in the trace: {:?}",
        &ops[..ops.len().min(30)]
    );
}
