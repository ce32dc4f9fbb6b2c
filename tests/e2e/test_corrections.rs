//! Corrections close the loop: a user runs a job, decides some labels are wrong
//! (`corrections.csv`, as the review page writes it into the run), and the next run
//! names that file in `[data] corrections`: the relabelled samples train with their
//! new labels and the excluded ones are gone, with no change to the dataset.

use memscope_tests::images::png;
use memscope_tests::{memscope, read_npy_i64, read_summary, synthetic_images, write_idx, write_job};
use std::path::{Path, PathBuf};

/// Runs `text` as `dir/job.toml` into `dir/runs/<name>`; returns the run directory.
fn run(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = write_job(dir, text);
    memscope(dir, &["run", path.to_str().unwrap(), "--out", "runs", "--quiet", "--force"]).success();
    dir.join("runs").join(name)
}

fn read_strings(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The SHA-256 of a file, by the system's `sha256sum`.
fn sha256(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().expect("sha256sum");
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

#[test]
fn a_rerun_with_corrections_trains_the_new_labels_without_the_excluded_samples() {
    let dir = tempfile::tempdir().unwrap();
    let job = |name: &str, extra: &str| {
        format!(
            "name = \"{name}\"\nseed = 0\n[data]\nformat = \"digits\"\n{extra}\n[train]\nepochs = 2\n[score]\nbuiltin = [\"loss\"]\n\
             [[plugins]]\nname = \"noise\"\nconfig = {{ fraction = 0.1, kind = \"symmetric\" }}\n"
        )
    };
    let first = run(dir.path(), "first", &job("first", ""));
    let labels = read_npy_i64(&first.join("original_labels.npy"));
    let sources = read_strings(&first.join("sources.json"));
    assert_eq!(sources[5], "digits.csv#5");

    // The user's decisions, appended as made: by source (as sources.json names the
    // samples) or by index; the last row for a sample wins.
    let relabel_to = |i: usize| ((labels[i] + 1) % 10).to_string();
    let corrections = first.join("corrections.csv");
    let rows = [
        "index,source,action,label,time".to_string(),
        format!("5,{},relabel,{},2025-06-01T10:00:00Z", sources[5], relabel_to(5)),
        format!(",{},relabel,{},2025-06-01T10:00:01Z", sources[40], relabel_to(40)),
        format!("77,,relabel,{},2025-06-01T10:00:02Z", relabel_to(77)),
        format!(",{},exclude,,2025-06-01T10:00:03Z", sources[3]),
        "1000,,exclude,,2025-06-01T10:00:04Z".to_string(),
        "12,,exclude,,2025-06-01T10:00:05Z".to_string(),
        "12,,keep,,2025-06-01T10:00:06Z".to_string(),
    ];
    std::fs::write(&corrections, rows.join("\n") + "\n").unwrap();

    let second = run(dir.path(), "second", &job("second", "corrections = \"runs/first/corrections.csv\""));
    let kept = read_npy_i64(&second.join("kept_indices.npy"));
    let expected_kept: Vec<i64> = (0..1797).filter(|&i| i != 3 && i != 1000).collect();
    assert_eq!(kept, expected_kept, "the excluded samples 3 and 1000 are gone, the rest in order");
    let corrected = read_npy_i64(&second.join("original_labels.npy"));
    assert_eq!(corrected.len(), 1795);
    let sources_now = read_strings(&second.join("sources.json"));
    for (k, &i) in kept.iter().enumerate() {
        let i = i as usize;
        assert_eq!(sources_now[k], sources[i]);
        let expected = if [5, 40, 77].contains(&i) { (labels[i] + 1) % 10 } else { labels[i] };
        assert_eq!(corrected[k], expected, "sample {i}: the noise injector starts from the corrected labels");
    }
    // labels.npy (after the noise injector, seeded) holds the relabels too where the
    // injector left them alone.
    let trained = read_npy_i64(&second.join("labels.npy"));
    let mask = read_npy_i64(&second.join("noise_mask.npy"));
    assert_eq!((trained.len(), mask.len()), (1795, 1795));
    for (k, &i) in kept.iter().enumerate() {
        if [5, 40, 77].contains(&(i as usize)) && mask[k] == 0 {
            assert_eq!(trained[k], (labels[i as usize] + 1) % 10);
        }
    }

    let summary = read_summary(&second);
    assert_eq!(summary["samples"], 1795);
    let c = &summary["corrections"];
    assert_eq!(c["file"], corrections.display().to_string());
    assert_eq!(c["sha256"], sha256(&corrections));
    assert_eq!(
        (c["rows"].as_u64(), c["relabelled"].as_u64(), c["excluded"].as_u64(), c["kept"].as_u64()),
        (Some(7), Some(3), Some(2), Some(1))
    );
    assert_eq!(c["samples_read"], 1797);
    let html = std::fs::read_to_string(second.join("report/index.html")).unwrap();
    assert!(
        html.contains("3 relabelled, 2 excluded, 1 kept as they were (of 1797 samples read; 1795 trained)"),
        "the report says what was applied"
    );
    assert!(read_summary(&first).get("corrections").is_none(), "a run without corrections records none");

    // The corrections file stays as the first run left it; the dataset is untouched.
    assert_eq!(read_npy_i64(&first.join("original_labels.npy")), labels);
}

/// Two classes of 8x8 PNGs (`cat`, `dog`), `n` each, in `root/<class>/img<i>.png`.
fn write_pets(root: &Path, n: usize) {
    let (pixels, labels) = synthetic_images(2 * n, 1, 8, 8, 2);
    for (i, &label) in labels.iter().enumerate() {
        let dir = root.join(["cat", "dog"][label as usize]);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("img{i:03}.png")), png(&pixels[i * 64..(i + 1) * 64])).unwrap();
    }
}

#[test]
fn an_image_folder_is_corrected_by_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let pets = dir.path().join("pets");
    write_pets(&pets, 20);
    let cat = |i: usize| pets.join(format!("cat/img{i:03}.png")).display().to_string();
    // A file name as sources.json writes it, one relative to the folder, one through `..`.
    std::fs::write(
        pets.join("corrections.csv"),
        format!(
            "index,source,action,label,time\n,{},relabel,dog,\n,cat/img004.png,exclude,,\n,dog/img007.png,relabel,cat,\n,{}/../pets/cat/img008.png,exclude,,\n",
            cat(2),
            pets.display()
        ),
    )
    .unwrap();
    let text =
        "name = \"pets\"\nseed = 0\n[data]\nformat = \"folder\"\npath = \"jobs/../pets\"\nimage_size = [1, 8, 8]\ncache_dir = \"cache\"\n\
                corrections = \"pets/corrections.csv\"\n[train]\nepochs = 2\n[score]\nbuiltin = [\"loss\"]\n";
    let run_dir = run(dir.path(), "pets", text);

    let sources = read_strings(&run_dir.join("sources.json"));
    assert_eq!(sources.len(), 38);
    assert!(sources.iter().all(|s| !s.contains("..")), "sources are normalized: {:?}", &sources[..2]);
    assert!(!sources.contains(&cat(4)) && !sources.contains(&cat(8)), "the excluded files are gone");
    let labels = read_npy_i64(&run_dir.join("labels.npy"));
    let label_of = |source: &str| labels[sources.iter().position(|s| s == source).unwrap_or_else(|| panic!("{source} not trained"))];
    assert_eq!(label_of(&cat(2)), 1, "cat/img002.png relabelled dog");
    assert_eq!(label_of(&pets.join("dog/img007.png").display().to_string()), 0, "dog/img007.png relabelled cat");
    assert_eq!(label_of(&cat(0)), 0);
    // The folder lists cat/img000, img002, img004, ... first: img004 and img008 were
    // its samples 2 and 4.
    let kept = read_npy_i64(&run_dir.join("kept_indices.npy"));
    assert_eq!(kept, (0..40).filter(|&i| i != 2 && i != 4).collect::<Vec<i64>>());
    // The report re-opens the folder and shows the samples trained (kept_indices.npy).
    let csv = std::fs::read_to_string(run_dir.join("report/scores.csv")).unwrap();
    assert!(!csv.contains("cat/img004.png") && csv.contains("cat/img002.png"), "scores.csv lists the trained samples");
}

#[test]
fn a_bad_corrections_file_is_one_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (pixels, labels) = synthetic_images(30, 1, 8, 8, 3);
    write_idx(&dir.path().join("train-images"), &[30, 8, 8], &pixels, false);
    write_idx(&dir.path().join("train-labels"), &[30], &labels, false);
    let job = "name = \"idx\"\nseed = 0\n[data]\nformat = \"idx\"\npath = \"train-images\"\nlabels = \"train-labels\"\ncorrections = \"corrections.csv\"\n\
               [train]\nepochs = 1\n[score]\nbuiltin = [\"loss\"]\n[report]\nenabled = false\n";
    let file = dir.path().join("corrections.csv");
    let image_file = dir.path().join("train-images").display().to_string();
    for (body, expected) in [
        ("1,,relabel,7,\n".to_string(), "line 2: label `7` is not a class of the dataset (classes: 0, 1, 2)"),
        ("1,,keep,,\n30,,exclude,,\n".to_string(), "line 3: index 30 is not a sample: the training set has 30 samples (0..=29)"),
        (format!(",{image_file}#31,exclude,,\n"), "is not a sample of the training set"),
        ("2,,delete,,\n".to_string(), "line 2: action `delete` is not relabel, exclude or keep"),
    ] {
        std::fs::write(&file, format!("index,source,action,label,time\n{body}")).unwrap();
        let path = write_job(dir.path(), job);
        let error = memscope(dir.path(), &["run", path.to_str().unwrap(), "--out", "runs", "--quiet", "--force"]).clean_failure();
        assert!(error.starts_with(&format!("error: corrections file {}: ", file.display())), "{error}");
        assert!(error.contains(expected), "{body:?}: {error}");
        assert!(!dir.path().join("runs/idx").exists(), "a bad corrections file leaves no run directory");
    }
    // IDX samples by source: the file and record as sources.json names them, or
    // relative to the data's directory.
    std::fs::write(&file, format!("index,source,action,label,time\n,{image_file}#4,relabel,0,\n,train-images#5,exclude,,\n")).unwrap();
    let path = write_job(dir.path(), job);
    memscope(dir.path(), &["run", path.to_str().unwrap(), "--out", "runs", "--quiet", "--force"]).success();
    let run_dir = dir.path().join("runs/idx");
    let kept = read_npy_i64(&run_dir.join("kept_indices.npy"));
    assert_eq!(kept, (0..30).filter(|&i| i != 5).collect::<Vec<i64>>());
    assert_eq!(read_npy_i64(&run_dir.join("labels.npy"))[4], 0, "sample 4 (label {}) relabelled 0", labels[4]);
}

/// Corrections find samples by the names `sources.json` gives them: one name per
/// file, however the config and a manifest reach it (no `..` or `.` parts).
#[test]
fn sources_name_each_file_one_way() {
    let dir = tempfile::tempdir().unwrap();
    write_pets(&dir.path().join("imgs"), 4);
    std::fs::create_dir_all(dir.path().join("lists")).unwrap();
    let rows: String = (0..8).map(|i| format!("../imgs/./{}/img{i:03}.png,{}\n", ["cat", "dog"][i % 2], ["cat", "dog"][i % 2])).collect();
    std::fs::write(dir.path().join("lists/m.csv"), format!("path,label\n{rows}")).unwrap();
    let text = "name = \"csv\"\nseed = 0\n[data]\nformat = \"csv\"\npath = \"./jobs/../lists/m.csv\"\nimage_size = [1, 8, 8]\ncache_dir = \"cache\"\n\
                [train]\nepochs = 1\n[score]\nbuiltin = [\"loss\"]\n[report]\nenabled = false\n";
    let run_dir = run(dir.path(), "csv", text);
    let sources = read_strings(&run_dir.join("sources.json"));
    let expected: Vec<String> =
        (0..8).map(|i| dir.path().join(format!("imgs/{}/img{i:03}.png", ["cat", "dog"][i % 2])).display().to_string()).collect();
    assert_eq!(sources, expected);
    let config = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    assert!(config.contains(&format!("path = \"{}\"", dir.path().join("lists/m.csv").display())), "{config}");
}

/// A run with corrections resumes only with the corrections it started with: a file
/// changed in between is named, and put back, the run resumes and completes.
#[test]
fn a_resumed_run_keeps_its_corrections() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("corrections.csv");
    let decided = "index,source,action,label,time\n4,,exclude,,\n9,,relabel,3,\n";
    std::fs::write(&file, decided).unwrap();
    let text = "name = \"resumed\"\nseed = 0\n[data]\nformat = \"digits\"\nlimit = 400\ncorrections = \"corrections.csv\"\n\
                [train]\nepochs = 40\n[score]\nbuiltin = [\"loss\"]\n[report]\nenabled = false\n";
    let job = write_job(dir.path(), text);
    let args = ["run", job.to_str().unwrap(), "--out", "runs", "--quiet"];
    let status = memscope_tests::run_until_epoch_then_interrupt(dir.path(), &args, 2);
    assert!(!status.success(), "an interrupted run exits non-zero");
    let run_dir = dir.path().join("runs/resumed");

    std::fs::write(&file, format!("{decided}5,,exclude,,\n")).unwrap();
    let error = memscope(dir.path(), &["run", "--resume", run_dir.to_str().unwrap(), "--quiet"]).clean_failure();
    assert!(error.contains("kept_indices.npy") && error.contains("was the corrections file changed?"), "{error}");

    std::fs::write(&file, decided).unwrap();
    memscope(dir.path(), &["run", "--resume", run_dir.to_str().unwrap(), "--quiet"]).success();
    let summary = read_summary(&run_dir);
    assert!(summary["resumed_at_epoch"].as_u64().unwrap() >= 2, "{summary}");
    assert_eq!((summary["samples"].as_u64(), summary["corrections"]["excluded"].as_u64()), (Some(399), Some(1)));
    assert_eq!(read_npy_i64(&run_dir.join("labels.npy"))[8], 3, "sample 9 is the 9th kept (sample 4 is gone), relabelled 3");
}
