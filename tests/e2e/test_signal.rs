//! A user sees where over training a score finds the noisy labels (the per-epoch
//! curves of summary.json and the report's signal pictures), and chooses which epochs
//! a score combines (`[score.aggregate]`).

use memscope_tests::{memscope, read_npy_f32, read_summary, write_job};

/// AUROC by counting, over every (noisy, clean) pair, how often the noisy sample
/// scores higher (ties count half): independent of memscope's rank-based AUROC.
fn auroc_by_pairs(values: &[f32], mask: &[bool]) -> f64 {
    let noisy: Vec<f32> = values.iter().zip(mask).filter(|(_, &m)| m).map(|(&v, _)| v).collect();
    let clean: Vec<f32> = values.iter().zip(mask).filter(|(_, &m)| !m).map(|(&v, _)| v).collect();
    let mut wins = 0.0;
    for &p in &noisy {
        for &n in &clean {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (noisy.len() * clean.len()) as f64
}

/// The bool `.npy` the noise injector writes, read byte by byte after its header.
fn read_mask(path: &std::path::Path) -> Vec<bool> {
    let bytes = std::fs::read(path).unwrap();
    let header = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + header..].iter().map(|&b| b != 0).collect()
}

const JOB: &str = r#"name = "job"
seed = 1
[data]
format = "digits"
limit = 600
[model]
arch = "mlp"
[train]
epochs = 4
batch_size = 32
[score]
every = 1
builtin = ["loss", "eval_loss"]
[score.aggregate.eval_loss]
from = 2
to = 3
[score.aggregate.loss]
weighting = "decay"
half_life = 1.0
[checkpoint]
every = 0
[[plugins]]
name = "noise"
config = { fraction = 0.2, kind = "symmetric" }
"#;

#[test]
fn per_epoch_curves_match_an_independent_auroc_and_windows_choose_the_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), JOB);
    memscope(dir.path(), &["run", job.to_str().unwrap(), "--out", "runs", "--quiet"]).success();
    let run = dir.path().join("runs/job");
    let summary = read_summary(&run);
    let mask = read_mask(&run.join("noise_mask.npy"));
    assert_eq!(mask.len(), 600);

    for score in ["loss", "eval_loss"] {
        let curve = summary["curves"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["score"] == score && c["against"] == "noise_mask")
            .unwrap_or_else(|| panic!("no {score} curve in {summary}"));
        let (rows, shape) = read_npy_f32(&run.join(format!("scores/{score}_epochs.npy")));
        assert_eq!(shape, vec![4, 600]);
        assert_eq!(curve["epochs"], serde_json::json!([1, 2, 3, 4]));
        for epoch in 0..4 {
            let want = auroc_by_pairs(&rows[epoch * 600..(epoch + 1) * 600], &mask);
            let got = curve["auroc"][epoch].as_f64().unwrap();
            assert!((got - want).abs() < 1e-9, "{score} epoch {epoch}: summary {got}, by pairs {want}");
            let ap = curve["average_precision"][epoch].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&ap), "{score} epoch {epoch}: AP {ap}");
        }
        assert!(run.join(format!("report/signal_{score}.png")).exists(), "the report plots the {score} curve");
    }

    // eval_loss combines epochs 2 and 3 (1-based) only: the mean of rows 1 and 2.
    let (rows, _) = read_npy_f32(&run.join("scores/eval_loss_epochs.npy"));
    let (combined, _) = read_npy_f32(&run.join("scores/eval_loss.npy"));
    for i in [0, 17, 599] {
        let want = (rows[600 + i] + rows[1200 + i]) / 2.0;
        assert!((combined[i] - want).abs() <= 1e-6 * want.abs().max(1.0), "sample {i}: {} vs {want}", combined[i]);
    }
    let files = summary["scores"].as_array().unwrap();
    let file = |name: &str| files.iter().find(|f| f["name"] == name).unwrap().clone();
    assert_eq!(file("eval_loss")["epochs"], serde_json::json!([2, 3]));
    assert_eq!(file("eval_loss")["scored_epochs"], serde_json::json!([1, 2, 3, 4]));
    // loss sums every epoch with weights 1, 1/2, 1/4, 1/8.
    assert_eq!(file("loss")["weights"], serde_json::json!([1.0, 0.5, 0.25, 0.125]));
    let (rows, _) = read_npy_f32(&run.join("scores/loss_epochs.npy"));
    let (combined, _) = read_npy_f32(&run.join("scores/loss.npy"));
    let want: f32 = (0..4).map(|e| rows[e * 600 + 5] * 0.5f32.powi(e as i32)).sum();
    assert!((combined[5] - want).abs() <= 1e-5 * want.max(1.0), "{} vs {want}", combined[5]);
}

#[test]
fn an_aggregation_for_a_score_the_job_does_not_record_fails_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let text = JOB.replace("[score.aggregate.loss]", "[score.aggregate.curvatur]");
    let job = write_job(dir.path(), &text);
    let err = memscope(dir.path(), &["run", job.to_str().unwrap(), "--out", "runs", "--quiet"]).clean_failure();
    assert!(err.contains("score.aggregate.curvatur") && err.contains("no score `curvatur`"), "{err}");
    assert!(!dir.path().join("runs/job/checkpoints/epoch-000001").exists());
}

/// By default a snapshot score is the mean over every scored epoch; a job can say
/// which epochs (`score.window`: the first ones, or `{ last = N }`), and a job whose
/// purpose is memorization weighs its epochs rising with the square root of their place.
#[test]
fn snapshot_scores_combine_every_epoch_by_default_and_a_job_chooses_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let text = JOB
        .replace("[score.aggregate.eval_loss]\nfrom = 2\nto = 3\n", "")
        .replace("[score.aggregate.loss]\nweighting = \"decay\"\nhalf_life = 1.0\n", "")
        .replace("epochs = 4", "epochs = 5");
    assert!(!text.contains("aggregate"), "{text}");
    let job = write_job(dir.path(), &text);
    let run = dir.path().join("runs/job");
    let eval_loss = |overrides: &[&str]| {
        let mut args = vec!["run", job.to_str().unwrap(), "--out", "runs", "--quiet", "--no-report", "--force"];
        for o in overrides {
            args.extend(["--set", o]);
        }
        memscope(dir.path(), &args).success();
        let summary = read_summary(&run);
        let file = summary["scores"].as_array().unwrap().iter().find(|f| f["name"] == "eval_loss").unwrap().clone();
        let loss = summary["scores"].as_array().unwrap().iter().find(|f| f["name"] == "loss").unwrap().clone();
        assert_eq!(loss["epochs"], serde_json::json!([1, 2, 3, 4, 5]), "`loss` sums every epoch");
        (file, read_npy_f32(&run.join("scores/eval_loss.npy")).0)
    };
    let (file, combined) = eval_loss(&[]);
    assert_eq!(file["epochs"], serde_json::json!([1, 2, 3, 4, 5]));
    assert!(file.get("weights").is_none(), "{file}");
    let (rows, shape) = read_npy_f32(&run.join("scores/eval_loss_epochs.npy"));
    assert_eq!(shape, vec![5, 600], "every scored epoch is kept");
    let row = |e: usize| rows[e * 600 + 42];
    let mean = (0..5).map(row).sum::<f32>() / 5.0;
    assert!((combined[42] - mean).abs() <= 1e-6 * mean.abs().max(1.0), "{} vs {mean}", combined[42]);

    // The first 40 % of 5 epochs is 2: epochs 1 and 2.
    let (file, combined) = eval_loss(&["score.window=\"40%\""]);
    assert_eq!(file["epochs"], serde_json::json!([1, 2]));
    assert!((combined[42] - (row(0) + row(1)) / 2.0).abs() <= 1e-6 * row(0).abs().max(1.0));
    // The last 2 epochs.
    let (file, _) = eval_loss(&["score.window={ last = 2 }"]);
    assert_eq!(file["epochs"], serde_json::json!([4, 5]));
    // Memorization: every epoch, epoch k weighing sqrt(k).
    let (file, combined) = eval_loss(&["score.purpose=\"memorization\""]);
    assert_eq!(file["epochs"], serde_json::json!([1, 2, 3, 4, 5]));
    let weights: Vec<f64> = (1..=5).map(|k| (k as f64).sqrt()).collect();
    let got: Vec<f64> = file["weights"].as_array().unwrap().iter().map(|w| w.as_f64().unwrap()).collect();
    assert!(got.iter().zip(&weights).all(|(a, b)| (a - b).abs() < 1e-12), "{got:?}");
    let want = (0..5).map(|e| weights[e] * row(e) as f64).sum::<f64>() / weights.iter().sum::<f64>();
    assert!((combined[42] as f64 - want).abs() <= 1e-5 * want.abs().max(1.0), "{} vs {want}", combined[42]);
}
