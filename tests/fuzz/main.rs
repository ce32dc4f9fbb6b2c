//! Property-based fuzzing of everything that parses outside input: job configs with
//! `--set` overrides, the daemon config, submitted job bodies under the daemon's
//! policy, every dataset reader (IDX, CIFAR binary, npz), corrections files
//! (`[data] corrections`, read, located and applied), reference arrays (npy, npz, csv;
//! as scores and as masks) and checkpoints (`state.json`, safetensors). Inputs are valid files and texts
//! with random edits (bytes overwritten, inserted, deleted, truncated, header words set
//! to extreme values). The property: an error or a value, never a panic, an abort or
//! a runaway allocation; and an accepted job serializes and reads back unchanged (the
//! daemon stores what it accepted).
//!
//! `cargo test` runs a short round of each target (`PROPTEST_CASES`, default 48) plus
//! the failures proptest recorded (`tests/fuzz/regressions/`); `make fuzz` runs each
//! target for `MEMSCOPE_FUZZ_SECONDS` and prints how many inputs it tried.
//! cargo-fuzz was not used: its targets would have to link libtorch under sanitizers.

mod edits;

use edits::{apply, edits, Edit};
use memscope::config::{load_daemon_file, parse_job, DaemonConfig};
use memscope::model::{CheckpointState, Checkpoints};
use memscope_daemon::{Policy, SettingsChecker};
use memscope_tests::{synthetic_images, write_cifar, write_idx};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRng, TestRunner};
use std::path::Path;
use std::time::{Duration, Instant};
use tch::Tensor;

/// Runs `check` on inputs from `strategy`: one round of `PROPTEST_CASES` cases, or
/// rounds with fresh seeds for `MEMSCOPE_FUZZ_SECONDS`. Failures are shrunk, recorded
/// in `regressions/<name>.txt` and replayed first on every later run.
fn fuzz<S: Strategy>(name: &str, strategy: S, check: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let seconds: Option<u64> = std::env::var("MEMSCOPE_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok());
    let cases: u32 = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(48);
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fuzz/regressions/{name}.txt"));
    let regressions: &'static str = regressions.to_str().unwrap().to_string().leak();
    let config = Config { cases, failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))), ..Config::default() };
    let started = Instant::now();
    let (mut executions, mut round) = (0u64, 0u64);
    loop {
        let seed: [u8; 32] = std::array::from_fn(|i| (round.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 8 * 8)) as u8 ^ i as u8);
        let rng =
            if round == 0 { TestRng::deterministic_rng(config.rng_algorithm) } else { TestRng::from_seed(config.rng_algorithm, &seed) };
        let mut runner = TestRunner::new_with_rng(config.clone(), rng);
        if let Err(e) = runner.run(&strategy, &check) {
            panic!("fuzz target `{name}`: {e}");
        }
        executions += u64::from(cases);
        round += 1;
        if seconds.is_none_or(|s| started.elapsed() >= Duration::from_secs(s)) {
            break;
        }
    }
    println!("fuzz {name}: {executions} inputs in {:.1} s, no failure", started.elapsed().as_secs_f64());
}

const JOB: &str = "name = \"fuzz\"\nseed = 3\nthreads = 1\n[data]\nformat = \"digits\"\nlimit = 100\n[model]\narch = \"mlp\"\n\
    [train]\nepochs = 2\nbatch_size = 32\nlr = 0.1\n[score]\nevery = 1\nbuiltin = [\"loss\"]\n[checkpoint]\nkeep = 2\n\
    [[plugins]]\nname = \"noise\"\nconfig = { fraction = 0.1, kind = \"symmetric\" }\n";

/// Keys and values `--set` is given: real ones, and anything.
fn override_strategy() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("train.epochs".to_string()),
        Just("train.prefetch".to_string()),
        Just("name".to_string()),
        Just("data.format".to_string()),
        Just("score.builtin".to_string()),
        Just("plugins".to_string()),
        Just("plugins.noise.fraction".to_string()),
        Just("plugins[0].config.kind".to_string()),
        Just("plugins.0.optional".to_string()),
        Just("plugins[1].config.h".to_string()),
        "[a-z_.\\[\\]0-9]{0,20}",
    ];
    let value = prop_oneof![
        Just("5".to_string()),
        Just("-1".to_string()),
        Just("1e9".to_string()),
        Just("99999999999999999999".to_string()),
        Just("\"x\"".to_string()),
        Just("[\"loss\", \"loss\"]".to_string()),
        Just("{ a = 1 }".to_string()),
        ".{0,12}",
    ];
    (key, value, any::<bool>()).prop_map(|(k, v, eq)| if eq { format!("{k}={v}") } else { format!("{k}{v}") })
}

#[test]
fn job_configs_with_overrides() {
    let strategy = (edits(8), prop::collection::vec(override_strategy(), 0..4));
    fuzz("job_configs_with_overrides", strategy, |(edits, overrides): (Vec<Edit>, Vec<String>)| {
        let text = String::from_utf8_lossy(&apply(JOB.as_bytes(), &edits)).into_owned();
        if let Ok(job) = parse_job(&text, "fuzz.toml", &overrides, Path::new("/nonexistent")) {
            round_trips(&job)?;
        }
        Ok(())
    });
}

/// An accepted job serializes and reads back as the same job.
fn round_trips(job: &memscope::config::JobConfig) -> Result<(), TestCaseError> {
    let stored = toml::to_string_pretty(job).map_err(|e| TestCaseError::fail(format!("an accepted job does not serialize: {e}")))?;
    let back = parse_job(&stored, "stored.toml", &[], Path::new("/nonexistent"))
        .map_err(|e| TestCaseError::fail(format!("a stored job does not read back: {e}\n{stored}")))?;
    prop_assert_eq!(&back, job);
    Ok(())
}

#[test]
fn daemon_configs() {
    let text = std::fs::read_to_string(memscope_tests::repo_root().join("configs/daemon.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    fuzz("daemon_configs", edits(8), |edits: Vec<Edit>| {
        let path = dir.path().join("daemon.toml");
        std::fs::write(&path, apply(text.as_bytes(), &edits)).unwrap();
        if let Ok(config) = load_daemon_file(Some(&path)) {
            let _ = config.listen_addr();
            let _: DaemonConfig = toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
        }
        Ok(())
    });
}

#[test]
fn submitted_job_bodies() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("data.npz"), b"x").unwrap();
    let policy = Policy::new(&[root.path().to_path_buf()], &[], 1);
    // No plugin directories: no plugin is found, so no settings check process runs.
    let checker = SettingsChecker::new("/nonexistent/memscope-engine".into());
    let body = format!("{JOB}[[plugins]]\nname = \"baseline\"\nconfig = {{ against = [\"noise_mask\", \"data.npz\"] }}\n");
    fuzz("submitted_job_bodies", edits(8), |edits: Vec<Edit>| {
        let text = String::from_utf8_lossy(&apply(body.as_bytes(), &edits)).into_owned();
        if let Ok(job) = policy.check(&text, &checker) {
            toml::to_string_pretty(&job).map_err(|e| TestCaseError::fail(format!("an accepted job does not serialize: {e}")))?;
        }
        Ok(())
    });
}

/// Opens a dataset of `format` at `path` (and `labels`) the way a job does.
fn open(format: &str, path: &Path, labels: Option<&Path>) {
    let labels = labels.map(|l| format!("labels = {:?}\n", l.display().to_string())).unwrap_or_default();
    let text = format!("name = \"f\"\n[data]\nformat = \"{format}\"\npath = {:?}\n{labels}", path.display().to_string());
    let job = parse_job(&text, "fuzz.toml", &[], Path::new("/")).expect("a valid dataset job");
    let _ = memscope::data::load_data(&job.data, &Default::default());
}

#[test]
fn idx_files() {
    let dir = tempfile::tempdir().unwrap();
    let (pixels, labels) = synthetic_images(6, 1, 4, 4, 3);
    let (images_path, labels_path) = (dir.path().join("images.idx"), dir.path().join("labels.idx"));
    write_idx(&images_path, &[6, 4, 4], &pixels, false);
    write_idx(&labels_path, &[6], &labels, false);
    let (images, labels) = (std::fs::read(&images_path).unwrap(), std::fs::read(&labels_path).unwrap());
    fuzz("idx_files", (edits(6), edits(3), any::<bool>()), |(image_edits, label_edits, gzip): (Vec<Edit>, Vec<Edit>, bool)| {
        let (a, b) = (dir.path().join("a.idx"), dir.path().join("b.idx"));
        let mut image_bytes = apply(&images, &image_edits);
        if gzip {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&image_bytes).unwrap();
            image_bytes = enc.finish().unwrap();
        }
        std::fs::write(&a, image_bytes).unwrap();
        std::fs::write(&b, apply(&labels, &label_edits)).unwrap();
        open("idx", &a, Some(&b));
        Ok(())
    });
}

#[test]
fn cifar_files() {
    let dir = tempfile::tempdir().unwrap();
    let (pixels, labels) = synthetic_images(3, 3, 32, 32, 10);
    let valid = dir.path().join("valid.bin");
    write_cifar(&valid, &labels, None, &pixels);
    let bytes = std::fs::read(&valid).unwrap();
    fuzz("cifar_files", (edits(6), any::<bool>()), |(edits, hundred): (Vec<Edit>, bool)| {
        let path = dir.path().join("data_batch_1.bin");
        std::fs::write(&path, apply(&bytes, &edits)).unwrap();
        open(if hundred { "cifar100" } else { "cifar10" }, &path, None);
        Ok(())
    });
}

#[test]
fn npz_files() {
    let dir = tempfile::tempdir().unwrap();
    let valid = dir.path().join("valid.npz");
    let x = Tensor::from_slice(&[7u8; 2 * 3 * 3]).reshape([2, 3, 3]);
    let y = Tensor::from_slice(&[0i64, 1]);
    Tensor::write_npz(&[("x", &x), ("y", &y)], &valid).unwrap();
    let bytes = std::fs::read(&valid).unwrap();
    fuzz("npz_files", edits(6), |edits: Vec<Edit>| {
        let path = dir.path().join("data.npz");
        std::fs::write(&path, apply(&bytes, &edits)).unwrap();
        open("npz", &path, None);
        Ok(())
    });
}

#[test]
fn reference_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("valid.npy");
    Tensor::from_slice(&[0.5f32, 1.5, 2.5]).write_npy(&npy).unwrap();
    let npz = dir.path().join("valid.npz");
    Tensor::write_npz(&[("scores", &Tensor::from_slice(&[1.0f64, 2.0]))], &npz).unwrap();
    let inputs = [
        ("a.npy", std::fs::read(&npy).unwrap(), None),
        ("a.npz", std::fs::read(&npz).unwrap(), Some("scores")),
        ("a.csv", b"index,score\n0,0.5\n1,1e3\n2,-inf\n".to_vec(), None),
    ];
    fuzz("reference_arrays", (0..inputs.len(), edits(6)), |(which, edits): (usize, Vec<Edit>)| {
        let (name, bytes, key) = &inputs[which];
        let path = dir.path().join(name);
        std::fs::write(&path, apply(bytes, &edits)).unwrap();
        if let Ok(values) = memscope_reference::read_values(&path, *key) {
            let _ = memscope_reference::as_mask(&values);
        }
        Ok(())
    });
}

#[test]
fn corrections_files() {
    use memscope::data::corrections::CorrectionsFile;
    use memscope::data::{load_data, Access, LoadOptions};
    let dir = tempfile::tempdir().unwrap();
    let config = parse_job(JOB, "job.toml", &[], dir.path()).unwrap();
    let train = load_data(&config.data, &LoadOptions::default()).unwrap().train;
    let valid =
        b"index,source,action,label,time\n3,,relabel,7,2025-01-01T00:00:00Z\n,digits.csv#5,exclude,,\n\"9\",\"\",keep,,\n12,,relabel,0,\n"
            .to_vec();
    fuzz("corrections_files", edits(6), |edits: Vec<Edit>| {
        let path = dir.path().join("corrections.csv");
        std::fs::write(&path, apply(&valid, &edits)).unwrap();
        if let Ok(file) = CorrectionsFile::read(&path, &Access::Anything) {
            if let Ok(located) = file.locate(&train, None, &[dir.path().to_path_buf()]) {
                let mut corrected = train.clone();
                let _ = located.apply(&mut corrected);
            }
        }
        Ok(())
    });
}

#[test]
fn checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let valid = dir.path().join("valid");
    let state =
        CheckpointState { epochs_done: 1, steps: 4, samples: 3, train_seconds: 0.5, score_seconds: 0.1, scored_samples: 3, world: 1 };
    let weights = vec![("fc.weight".to_string(), Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).reshape([2, 2]))];
    let scores = vec![("loss".to_string(), Tensor::from_slice(&[0.1f32, 0.2, 0.3]))];
    let written = Checkpoints::new(valid.clone(), 2)
        .write(&state, &weights, &weights, &scores, &memscope::plugins::PluginStates::default(), &[])
        .unwrap();
    let files: Vec<(String, Vec<u8>)> = ["state.json", "model.safetensors", "optimizer.safetensors", "scores.safetensors"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(written.join(f)).unwrap()))
        .collect();
    // Without checksums (as an older memscope wrote), damaged safetensors reach the
    // reader instead of being refused by the checksum.
    let mut plain: serde_json::Value = serde_json::from_slice(&files[0].1).unwrap();
    plain.as_object_mut().unwrap().remove("sha256");
    let plain = serde_json::to_vec(&plain).unwrap();
    fuzz("checkpoints", (0..files.len(), edits(6), any::<bool>()), |(which, edits, checked): (usize, Vec<Edit>, bool)| {
        let root = dir.path().join("run");
        let checkpoint = root.join("epoch-000001");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&checkpoint).unwrap();
        for (i, (name, bytes)) in files.iter().enumerate() {
            let bytes = if i == 0 && !checked { &plain } else { bytes };
            let bytes = if i == which { apply(bytes, &edits) } else { bytes.clone() };
            std::fs::write(checkpoint.join(name), bytes).unwrap();
        }
        if let Ok(Some(found)) = Checkpoints::new(root.clone(), 2).latest() {
            let _ = found.read();
            let _ = Tensor::read_safetensors(found.dir.join("model.safetensors"));
            let _ = Tensor::read_safetensors(found.dir.join("optimizer.safetensors"));
        }
        Ok(())
    });
}

/// The crash `make fuzz` found (recorded in `regressions/npz_files.txt` too): an `.npz`
/// whose entry is flagged as encrypted made tch's reader panic, taking the job (or
/// `memscope report`) down instead of naming the file.
#[test]
fn an_npz_entry_flagged_as_encrypted_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.npz");
    let x = Tensor::from_slice(&[7u8; 2 * 3 * 3]).reshape([2, 3, 3]);
    Tensor::write_npz(&[("x", &x), ("y", &Tensor::from_slice(&[0i64, 1]))], &path).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    // Bit 0 of the general-purpose flags: in the first local header and in every
    // central directory entry.
    bytes[6] |= 1;
    let central: Vec<usize> = (0..bytes.len() - 4).filter(|&i| bytes[i..i + 4] == *b"PK\x01\x02").collect();
    for at in central {
        bytes[at + 8] |= 1;
    }
    std::fs::write(&path, &bytes).unwrap();
    assert!(std::panic::catch_unwind(|| Tensor::read_npz(&path)).is_err(), "tch's own reader panics on this file");
    let err = memscope_reference::read_npz(&path).unwrap_err();
    assert!(err.contains("damaged or unsupported zip archive") || err.contains("ncrypt") || err.contains("assword"), "{err}");
    let text = format!("name = \"f\"\n[data]\nformat = \"npz\"\npath = {:?}\n", path.display().to_string());
    let job = parse_job(&text, "job.toml", &[], Path::new("/")).unwrap();
    let Err(err) = memscope::data::load_data(&job.data, &Default::default()) else { panic!("an error, not a dataset") };
    let err = err.to_string();
    assert!(err.contains("data.npz") && err.contains("not a readable .npz"), "{err}");
}
