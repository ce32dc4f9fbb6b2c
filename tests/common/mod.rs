//! Shared fixtures for the end-to-end tests: the real `memscope` binary, temporary run
//! directories, and small datasets in real formats written by the tests themselves.

pub mod browser;
pub mod daemon;
pub mod images;
pub mod review;
pub mod torchscript;
pub mod trajectory;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the repo").to_path_buf()
}

/// The `memscope` binary of the same build profile as this test binary
/// (`make test` builds it first).
pub fn memscope_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("memscope");
    assert!(bin.exists(), "{} is missing: build it first (`make test` does)", bin.display());
    bin
}

/// The test fixture plugins (`tests/fixtures/*`), copied into `dir/fixture-plugins/`
/// under names discovery finds (`libfixture_faulty.so` for `fixture-faulty`); returns
/// that directory. The build leaves them beside the binary as
/// `libmemscope_fixture_*.so`, names discovery never takes, so they do not ship.
pub fn fixture_plugins(dir: &Path) -> PathBuf {
    let plugins = dir.join("fixture-plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let built = memscope_bin().parent().unwrap().to_path_buf();
    for entry in std::fs::read_dir(&built).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_prefix("libmemscope_fixture_").and_then(|n| n.strip_suffix(".so")) {
            std::fs::copy(entry.path(), plugins.join(format!("libfixture_{stem}.so"))).unwrap();
        }
    }
    plugins
}

/// A finished `memscope` invocation.
#[derive(Debug)]
pub struct Finished {
    /// Exit status and output.
    pub output: Output,
}

impl Finished {
    /// Standard error as text.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Standard output as text.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// Asserts success and returns self.
    pub fn success(self) -> Self {
        assert!(self.output.status.success(), "memscope failed:\n{}\n{}", self.stdout(), self.stderr());
        self
    }

    /// Asserts a clean failure (non-zero exit, an `error:` line, no panic) and returns
    /// the error line.
    pub fn clean_failure(self) -> String {
        let err = self.stderr();
        assert!(!self.output.status.success(), "expected failure, got success:\n{err}");
        assert!(!err.contains("' panicked at"), "a panic reached the terminal instead of an error:\n{err}");
        err.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("no `error:` line in:\n{err}")).to_string()
    }
}

/// A user plugin directory that does not exist: what [`memscope`] gives every run, so
/// plugins installed by the person running the tests (`memscope plugins install`) are
/// never searched (tests read nothing outside the repo).
pub const NO_USER_PLUGINS: &str = "/nonexistent/memscope-tests/user-plugins";

/// Runs `memscope ARGS` from `cwd` with two libtorch threads (the CI machine's cores),
/// without the user plugin directory ([`NO_USER_PLUGINS`]).
pub fn memscope(cwd: &Path, args: &[&str]) -> Finished {
    let output = Command::new(memscope_bin())
        .args(args)
        .current_dir(cwd)
        .env("MEMSCOPE_LOG", "warn")
        .env("MEMSCOPE_PLUGIN_DIR", NO_USER_PLUGINS)
        .output()
        .expect("spawning memscope");
    Finished { output }
}

/// A job config file `job.toml` in `dir` with the given text.
pub fn write_job(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("job.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Reads a float `.npy` file as `f32` values (flattened) and its shape.
pub fn read_npy_f32(path: &Path) -> (Vec<f32>, Vec<i64>) {
    let t = tch::Tensor::read_npy(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let shape = t.size();
    (Vec::<f32>::try_from(&t.flatten(0, -1).to_kind(tch::Kind::Float)).unwrap(), shape)
}

/// Reads an integer `.npy` file.
pub fn read_npy_i64(path: &Path) -> Vec<i64> {
    let t = tch::Tensor::read_npy(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Vec::<i64>::try_from(&t.flatten(0, -1).to_kind(tch::Kind::Int64)).unwrap()
}

/// Reads `summary.json` of a run directory.
pub fn read_summary(run_dir: &Path) -> serde_json::Value {
    let path = run_dir.join("summary.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Small synthetic images: class `k` is a bright bar at row/column `k`, with noise,
/// so a network can learn them. Pixels as bytes, `n` images of `h x w x channels`
/// (channel-planar), labels `i % classes`.
pub fn synthetic_images(n: usize, channels: usize, h: usize, w: usize, classes: usize) -> (Vec<u8>, Vec<u8>) {
    let mut pixels = Vec::with_capacity(n * channels * h * w);
    let mut labels = Vec::with_capacity(n);
    let mut state = 12345u32;
    for i in 0..n {
        let k = i % classes;
        labels.push(k as u8);
        for _ in 0..channels {
            for r in 0..h {
                for c in 0..w {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    let noise = (state >> 24) as u8 / 4;
                    let on = r == k % h || c == (k / h) % w;
                    pixels.push(if on { 200u8.saturating_add(noise / 2) } else { noise });
                }
            }
        }
    }
    (pixels, labels)
}

/// Writes an IDX file: `dims` big-endian after the magic for unsigned bytes.
pub fn write_idx(path: &Path, dims: &[u32], data: &[u8], gzip: bool) {
    let mut bytes = vec![0u8, 0, 8, dims.len() as u8];
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend_from_slice(data);
    if gzip {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&bytes).unwrap();
        bytes = enc.finish().unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

/// Writes CIFAR binary records: `label_bytes` (1 for CIFAR-10; 2 for CIFAR-100: coarse
/// then fine) followed by 3072 channel-planar pixels.
pub fn write_cifar(path: &Path, labels: &[u8], coarse: Option<&[u8]>, pixels: &[u8]) {
    let mut bytes = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        if let Some(c) = coarse {
            bytes.push(c[i]);
        }
        bytes.push(*label);
        bytes.extend_from_slice(&pixels[i * 3072..(i + 1) * 3072]);
    }
    std::fs::write(path, bytes).unwrap();
}

/// Asserts that two float arrays agree element by element to a relative 1e-4 (absolute
/// below 1), naming the first element that does not.
pub fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-4 * x.abs().max(1.0), "{what}[{i}]: {x} vs {y}");
    }
}

/// Runs `memscope ARGS --events-json` from `cwd`, waits (on the job's own events) until
/// epoch `epoch` (counted from 1, as the events count) has ended, then presses Ctrl-C
/// (SIGINT), as a user would.
/// Returns how the process ended.
pub fn run_until_epoch_then_interrupt<S: AsRef<std::ffi::OsStr>>(cwd: &Path, args: &[S], epoch: u64) -> std::process::ExitStatus {
    use std::io::BufRead;
    let mut child = Command::new(memscope_bin())
        .args(args)
        .arg("--events-json")
        .current_dir(cwd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawning memscope");
    let events = std::io::BufReader::new(child.stdout.take().unwrap());
    for line in events.lines() {
        let event: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if event["event"] == "train_epoch_end" && event["epoch"].as_u64().unwrap() >= epoch {
            break;
        }
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    child.wait().unwrap()
}

/// kill -9 of `child` as soon as the checkpoint whose `state.json` is `state` exists.
pub fn kill_at_checkpoint(child: &mut std::process::Child, state: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !state.exists() {
        assert!(std::time::Instant::now() < deadline, "no checkpoint appeared");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its first checkpoint");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The verdict a run wrote (`label_issues.csv`), read as the library reads it.
pub fn read_verdict(run_dir: &Path) -> Vec<memscope::verdict::LabelIssue> {
    let path = run_dir.join("label_issues.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    memscope::verdict::read_label_issues(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Asserts that two runs reached the same verdict: the same samples flagged, in the same
/// order, with the same suggested labels, their probabilities and the per-epoch
/// probability of each label within [`assert_close`]'s tolerance.
pub fn assert_same_verdict(a: &Path, b: &Path) {
    let (x, y) = (read_verdict(a), read_verdict(b));
    let key =
        |v: &[memscope::verdict::LabelIssue]| v.iter().map(|i| (i.rank, i.index, i.given_label, i.suggested_label)).collect::<Vec<_>>();
    assert_eq!(key(&x), key(&y), "the flagged samples of {} and {}", a.display(), b.display());
    let probs = |v: &[memscope::verdict::LabelIssue]| v.iter().flat_map(|i| [i.given_prob, i.suggested_prob]).collect::<Vec<_>>();
    assert_close(&probs(&x), &probs(&y), "the flagged samples' probabilities");
    assert_eq!(read_summary(a)["label_issues"]["epochs"], read_summary(b)["label_issues"]["epochs"], "the epochs averaged");
    let file = "predictions/label_prob_epochs.npy";
    let ((pa, sa), (pb, sb)) = (read_npy_f32(&a.join(file)), read_npy_f32(&b.join(file)));
    assert_eq!(sa, sb, "{file} shape");
    assert_close(&pa, &pb, file);
}
