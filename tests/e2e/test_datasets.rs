//! Each dataset format trains end to end from files in its real on-disk format.

use memscope_tests::{memscope, read_npy_f32, read_summary, synthetic_images, write_cifar, write_idx, write_job};
use std::path::Path;

fn run_ok(dir: &Path, text: &str) -> serde_json::Value {
    let job = write_job(dir, text);
    memscope(dir, &["run", job.to_str().unwrap(), "--out", "runs", "--quiet"]).success();
    read_summary(&dir.join("runs/job"))
}

#[test]
fn gzipped_idx_with_a_test_set_reports_test_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let (pixels, labels) = synthetic_images(120, 1, 10, 10, 4);
    write_idx(&dir.path().join("train-images.gz"), &[120, 10, 10], &pixels, true);
    write_idx(&dir.path().join("train-labels.gz"), &[120], &labels, true);
    write_idx(&dir.path().join("test-images"), &[40, 10, 10], &pixels[..4000], false);
    write_idx(&dir.path().join("test-labels"), &[40], &labels[..40], false);
    let summary = run_ok(
        dir.path(),
        r#"name = "job"
[data]
format = "idx"
path = "train-images.gz"
labels = "train-labels.gz"
test_path = "test-images"
test_labels = "test-labels"
[model]
arch = "mlp"
[train]
epochs = 8
batch_size = 16
[score]
builtin = ["loss", "eval_loss"]
every = 4
"#,
    );
    assert_eq!(summary["samples"], 120);
    assert_eq!(summary["classes"], 4);
    assert!(summary["test_accuracy"].as_f64().unwrap() > 0.9, "{summary}");
    let (eval_loss, shape) = read_npy_f32(&dir.path().join("runs/job/scores/eval_loss_epochs.npy"));
    assert_eq!(shape, vec![2, 120], "scored at epochs 4 and 8");
    assert!(eval_loss.iter().all(|v| v.is_finite()));
}

#[test]
fn cifar10_directory_of_batches_trains_resnet18_with_augmentation() {
    let dir = tempfile::tempdir().unwrap();
    let (pixels, labels) = synthetic_images(24, 3, 32, 32, 10);
    write_cifar(&dir.path().join("data_batch_1.bin"), &labels[..12], None, &pixels[..12 * 3072]);
    write_cifar(&dir.path().join("data_batch_2.bin"), &labels[12..], None, &pixels[12 * 3072..]);
    write_cifar(&dir.path().join("test_batch.bin"), &labels[..6], None, &pixels[..6 * 3072]);
    let summary = run_ok(
        dir.path(),
        r#"name = "job"
[data]
format = "cifar10"
path = "."
test_path = "test_batch.bin"
augment = { crop_padding = 4, hflip = true }
[model]
arch = "resnet18"
[train]
epochs = 1
batch_size = 8
"#,
    );
    assert_eq!(summary["samples"], 24);
    assert_eq!(summary["classes"], 10);
    assert_eq!(summary["arch"], "resnet18");
    assert!(summary.get("test_accuracy").is_some());
}

#[test]
fn cifar100_fine_labels_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let (pixels, labels) = synthetic_images(20, 3, 32, 32, 5);
    let fine: Vec<u8> = labels.iter().map(|l| l * 20 + 3).collect();
    let coarse: Vec<u8> = labels.iter().map(|l| l * 4).collect();
    write_cifar(&dir.path().join("train.bin"), &fine, Some(&coarse), &pixels);
    let summary = run_ok(dir.path(), "name = \"job\"\n[data]\nformat = \"cifar100\"\npath = \".\"\n[train]\nepochs = 1\n");
    assert_eq!(summary["classes"], 100);
    let labels = memscope_tests::read_npy_i64(&dir.path().join("runs/job/labels.npy"));
    assert_eq!(labels, fine.iter().map(|&l| l as i64).collect::<Vec<_>>());
}

#[test]
fn npz_channels_last_uint8_images_train() {
    let dir = tempfile::tempdir().unwrap();
    let (pixels, labels) = synthetic_images(30, 3, 8, 8, 3);
    // synthetic_images is channel-planar; npz stores (N, H, W, C).
    let x = tch::Tensor::from_slice(&pixels).view([30, 3, 8, 8]).permute([0, 2, 3, 1]).contiguous();
    let y = tch::Tensor::from_slice(&labels.iter().map(|&l| l as i64).collect::<Vec<_>>());
    tch::Tensor::write_npz(&[("x", x), ("y", y)], dir.path().join("data.npz")).unwrap();
    let summary = run_ok(dir.path(), "name = \"job\"\n[data]\nformat = \"npz\"\npath = \"data.npz\"\n[train]\nepochs = 2\n");
    assert_eq!(summary["samples"], 30);
    assert_eq!(summary["classes"], 3);
}
