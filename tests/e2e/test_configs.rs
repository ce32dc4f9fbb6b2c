//! Every shipped config loads and validates; `--set` reaches nested keys.

use memscope::config::{load_daemon_file, load_job_file};
use memscope_tests::repo_root;

#[test]
fn every_config_in_configs_loads_and_validates() {
    let dir = repo_root().join("configs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "daemon.toml") {
            let daemon = load_daemon_file(Some(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(daemon.listen_addr().unwrap().ip().is_loopback(), "the shipped daemon binds loopback");
        } else if path.extension().is_some_and(|e| e == "toml") {
            load_job_file(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            checked += 1;
        }
    }
    assert!(checked >= 3, "expected the shipped job configs, found {checked}");
}

#[test]
fn overrides_apply_to_the_shipped_default() {
    let path = repo_root().join("configs/digits.toml");
    let job = load_job_file(&path, &["train.epochs=2".into(), "model.arch=\"mlp\"".into()]).unwrap();
    assert_eq!(job.train.epochs, 2);
    assert_eq!(job.model.arch.map(|a| a.name()), Some("mlp"));
}
