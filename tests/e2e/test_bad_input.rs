//! Bad input gets one clear error line naming the thing and what is wrong; never a
//! panic, and nothing already done is lost.

use memscope_tests::{memscope, synthetic_images, write_cifar, write_idx, write_job};
use std::path::Path;

fn run_job(dir: &Path, text: &str) -> String {
    let job = write_job(dir, text);
    memscope(dir, &["run", job.to_str().unwrap(), "--out", "runs", "--quiet"]).clean_failure()
}

#[test]
fn unknown_config_key_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let err = run_job(dir.path(), "name = \"x\"\n[data]\nformat = \"digits\"\n[train]\nepochs = 2\nlearning_rate = 0.1\n");
    assert!(err.contains("learning_rate") && err.contains("line 6, column 1"), "{err}");
    assert!(err.contains("job.toml"), "{err}");
}

#[test]
fn wrong_type_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let err = run_job(dir.path(), "name = \"x\"\n[data]\nformat = \"digits\"\n[train]\nbatch_size = \"big\"\n");
    assert!(err.contains("line 5, column 14") && err.contains("expected a non-negative integer"), "{err}");
}

#[test]
fn several_invalid_values_are_listed_together() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "name = \"x\"\n[data]\nformat = \"idx\"\n[train]\nepochs = 0\nmomentum = 1.5\n");
    let f = memscope(dir.path(), &["run", job.to_str().unwrap(), "--quiet"]);
    let err = f.stderr();
    f.clean_failure();
    for key in ["data.path", "data.labels", "train.epochs", "train.momentum"] {
        assert!(err.contains(key), "{key} missing from:\n{err}");
    }
}

#[test]
fn missing_dataset_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err =
        run_job(dir.path(), "name = \"x\"\n[data]\nformat = \"idx\"\npath = \"nowhere/train-images\"\nlabels = \"nowhere/train-labels\"\n");
    assert!(err.contains("nowhere/train-images") && err.contains("No such file"), "{err}");
}

#[test]
fn truncated_idx_file_says_expected_and_found_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let (pixels, labels) = synthetic_images(10, 1, 6, 6, 3);
    write_idx(&dir.path().join("images"), &[10, 6, 6], &pixels[..300], false);
    write_idx(&dir.path().join("labels"), &[10], &labels, true);
    let err = run_job(dir.path(), "name = \"x\"\n[data]\nformat = \"idx\"\npath = \"images\"\nlabels = \"labels\"\n");
    assert!(err.contains("images") && err.contains("needs 360 data bytes, found 300"), "{err}");
}

#[test]
fn idx_images_and_labels_of_different_counts_are_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let (pixels, labels) = synthetic_images(10, 1, 6, 6, 3);
    write_idx(&dir.path().join("images"), &[10, 6, 6], &pixels, false);
    write_idx(&dir.path().join("labels"), &[9], &labels[..9], false);
    let err = run_job(dir.path(), "name = \"x\"\n[data]\nformat = \"idx\"\npath = \"images\"\nlabels = \"labels\"\n");
    assert!(err.contains("10 images but 9 labels"), "{err}");
}

#[test]
fn truncated_cifar_file_says_record_size() {
    let dir = tempfile::tempdir().unwrap();
    let (pixels, labels) = synthetic_images(3, 3, 32, 32, 3);
    write_cifar(&dir.path().join("data_batch_1.bin"), &labels, None, &pixels);
    let bytes = std::fs::read(dir.path().join("data_batch_1.bin")).unwrap();
    std::fs::write(dir.path().join("data_batch_1.bin"), &bytes[..bytes.len() - 100]).unwrap();
    let err = run_job(dir.path(), "name = \"x\"\n[data]\nformat = \"cifar10\"\npath = \".\"\n");
    assert!(err.contains("data_batch_1.bin") && err.contains("3073-byte record"), "{err}");
}

#[test]
fn labels_outside_the_declared_classes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (pixels, mut labels) = synthetic_images(10, 1, 6, 6, 3);
    labels[7] = 12;
    write_idx(&dir.path().join("images"), &[10, 6, 6], &pixels, false);
    write_idx(&dir.path().join("labels"), &[10], &labels, false);
    let err = run_job(dir.path(), "name = \"x\"\n[data]\nformat = \"idx\"\npath = \"images\"\nlabels = \"labels\"\nclasses = 10\n");
    assert!(err.contains("sample 7 has label 12") && err.contains("10 classes"), "{err}");

    let (pixels, mut labels) = synthetic_images(3, 3, 32, 32, 3);
    labels[1] = 11;
    write_cifar(&dir.path().join("c10.bin"), &labels, None, &pixels);
    let err = run_job(dir.path(), "name = \"y\"\n[data]\nformat = \"cifar10\"\npath = \"c10.bin\"\n");
    assert!(err.contains("c10.bin") && err.contains("record 1: label 11 is out of range 0..10"), "{err}");
}

#[test]
fn resume_of_a_directory_that_is_not_a_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = memscope(dir.path(), &["run", "--resume", dir.path().to_str().unwrap(), "--quiet"]).clean_failure();
    assert!(err.contains("config.toml"), "{err}");
}
