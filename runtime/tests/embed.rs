//! `examples/embed.rs`, the library's opening example, runs as a user would run it
//! (`cargo test` builds the examples of this crate before its tests).

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/embed`, beside this test's `deps/` directory.
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile = exe.parent().and_then(|d| d.parent()).expect("target/<profile>/deps/<test>");
    let path = profile.join("examples").join("embed");
    assert!(path.is_file(), "{} is missing (`cargo test` builds it)", path.display());
    path
}

#[test]
fn the_embed_example_trains_scores_and_finds_the_changed_labels() {
    let output = Command::new(example()).env("MEMSCOPE_LOG", "warn").output().expect("running the example");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the example failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    // Events count epochs from 1: the 6th epoch is 6, and scoring every 2nd epoch
    // scores epochs 2, 4 and 6.
    for line in [
        "started: 800 samples, 6 epochs",
        "epoch 6: loss",
        "scored `doubt` after epoch 2 ",
        "scored `doubt` after epoch 6 ",
        "ended: completed (in memory)",
    ] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }
    for line in ["epoch 0:", "after epoch 5 "] {
        assert!(!stdout.contains(line), "`{line}` in:\n{stdout}");
    }
    // Each score puts most of the 40 changed labels among its top 40 samples.
    for score in ["loss", "doubt"] {
        let line = stdout.lines().find(|l| l.starts_with(&format!("{score}: "))).unwrap_or_else(|| panic!("no {score} line:\n{stdout}"));
        let found: usize = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a count");
        assert!(found >= 30, "{line}");
    }
}
