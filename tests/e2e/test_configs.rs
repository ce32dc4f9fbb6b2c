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

#[test]
fn overrides_reach_plugin_settings_by_name_and_by_index() {
    let path = repo_root().join("configs/digits.toml");
    let sets = ["plugins.curvature.h=1e-4".into(), "plugins[0].config.fraction=0.2".into(), "plugins.2.optional=true".into()];
    let job = load_job_file(&path, &sets).unwrap();
    assert_eq!(job.plugins[1].config["h"].as_float(), Some(1e-4));
    assert_eq!(job.plugins[1].config["draws"].as_integer(), Some(10));
    assert_eq!(job.plugins[0].config["fraction"].as_float(), Some(0.2));
    assert!(job.plugins[2].optional);
    // Through the binary: the error names the override and the job's plugins, no line.
    let dir = tempfile::tempdir().unwrap();
    let err = memscope_tests::memscope(dir.path(), &["run", path.to_str().unwrap(), "--set", "plugins.x.h=1"]).clean_failure();
    assert_eq!(
        err,
        "error: invalid override `plugins.x.h=1`: no plugin named `x` in the job (plugins: [0] noise, [1] curvature, [2] baseline)"
    );
    let err = memscope_tests::memscope(dir.path(), &["run", path.to_str().unwrap(), "--set", "plugins[1].configg.h=1"]).clean_failure();
    assert!(err.starts_with("error: invalid override `plugins[1].configg.h=1`: unknown field `configg`"), "{err}");
    assert!(!err.contains("line"), "{err}");
}
