//! A user's own list of known-bad samples is a mask: `memscope report RUN --reference
//! flipped.npy` with a bool (or 0/1) array, and `kind = "mask"` in the baseline
//! comparer, give AUROC, average precision and the per-epoch signal against it, not a
//! rank correlation.

use memscope_tests::{memscope, read_npy_f32, read_npy_i64, read_summary, write_job};

/// 600 digits, 3 epochs, 10 % of the labels flipped by the seeded noise injector.
fn job(extra: &str) -> String {
    format!(
        "name = \"job\"\nseed = 0\n[data]\nformat = \"digits\"\nlimit = 600\n[train]\nepochs = 3\n[score]\nbuiltin = [\"loss\", \"eval_loss\"]\n\
         [[plugins]]\nname = \"noise\"\nconfig = {{ fraction = 0.1, kind = \"symmetric\" }}\n{extra}"
    )
}

fn auroc(score: &[f32], mask: &[bool]) -> f64 {
    let values: Vec<f64> = score.iter().map(|&v| v as f64).collect();
    memscope_stats::auroc(&values, mask).unwrap()
}

#[test]
fn a_bool_reference_is_a_mask_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_job(dir.path(), &job(""));
    memscope(dir.path(), &["run", path.to_str().unwrap(), "--out", "runs", "--quiet", "--no-report"]).success();
    let run = dir.path().join("runs/job");
    // The user's list of the labels they know are wrong: a bool array, and the same as
    // numbers 0 and 1 in a CSV.
    std::fs::copy(run.join("noise_mask.npy"), dir.path().join("flipped.npy")).unwrap();
    let mask: Vec<bool> = read_npy_i64(&run.join("noise_mask.npy")).iter().map(|&v| v != 0).collect();
    assert_eq!(mask.iter().filter(|&&m| m).count(), 60);
    let csv: String = mask.iter().map(|&m| if m { "1\n" } else { "0.0\n" }).collect();
    std::fs::write(dir.path().join("flipped01.csv"), format!("flipped\n{csv}")).unwrap();

    let out =
        memscope(dir.path(), &["report", run.to_str().unwrap(), "--reference", "flipped.npy", "--reference", "flipped01.csv"]).success();
    let stdout = out.stdout();
    let (loss, _) = read_npy_f32(&run.join("scores/loss.npy"));
    for reference in ["flipped", "flipped01"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("loss vs {reference}: ")))
            .unwrap_or_else(|| panic!("no loss vs {reference} in:\n{stdout}"));
        assert!(line.starts_with(&format!("loss vs {reference}: AUROC {:.4}, AP ", auroc(&loss, &mask))), "{line}");
        assert!(!line.contains("Spearman"), "{line}");
        for file in [
            format!("roc_loss_vs_{reference}.png"),
            format!("signal_loss_vs_{reference}.png"),
            format!("signal_eval_loss_vs_{reference}.png"),
        ] {
            assert!(run.join("report").join(&file).is_file(), "no {file}");
        }
        assert!(!run.join(format!("report/vs_{reference}_loss.png")).exists(), "no correlation chart for a mask");
    }
    assert!(auroc(&loss, &mask) > 0.8, "the loss finds the flipped labels");
    let html = std::fs::read_to_string(run.join("report/index.html")).unwrap();
    assert!(
        html.contains("AUROC against flipped ") && !html.contains("Spearman with flipped"),
        "the page gives AUROC and AP, not Spearman"
    );
    assert!(html.contains("per epoch vs flipped: best AUROC"), "the per-epoch signal against the user's mask");

    // A reference of scores stays a score.
    let scores: String = loss.iter().map(|v| format!("{v}\n")).collect();
    std::fs::write(dir.path().join("other.csv"), scores).unwrap();
    let out = memscope(dir.path(), &["report", run.to_str().unwrap(), "--reference", "other.csv"]).success();
    assert!(out.stdout().contains("loss vs other: Spearman 1.000"), "{}", out.stdout());
}

#[test]
fn the_comparer_takes_a_file_of_kind_mask_as_a_mask() {
    let dir = tempfile::tempdir().unwrap();
    // Samples of class 0 as the known list: what the mask holds does not matter here,
    // only that it is compared as a mask (a file of 0/1 needs no `kind`).
    let path = write_job(dir.path(), &job(""));
    memscope(dir.path(), &["run", path.to_str().unwrap(), "--out", "first", "--quiet", "--no-report"]).success();
    let classes = read_npy_i64(&dir.path().join("first/job/original_labels.npy"));
    let zeros: Vec<bool> = classes.iter().map(|&c| c == 0).collect();
    memscope::run::write_bool_npy(&dir.path().join("zeros.npy"), &zeros).unwrap();
    let numbers: String = zeros.iter().map(|&z| format!("{}\n", z as u8)).collect();
    std::fs::write(dir.path().join("zeros.csv"), numbers).unwrap();

    let baseline = "[[plugins]]\nname = \"baseline\"\nconfig = { against = [{ file = \"zeros.npy\", kind = \"mask\" }, { name = \"zeros01\", file = \"zeros.csv\" }], k = [10] }\n";
    let path = write_job(dir.path(), &job(baseline));
    memscope(dir.path(), &["run", path.to_str().unwrap(), "--out", "runs", "--quiet", "--no-report"]).success();
    let summary = read_summary(&dir.path().join("runs/job"));
    let comparisons = summary["comparisons"].as_array().unwrap();
    for against in ["zeros", "zeros01"] {
        let c = comparisons
            .iter()
            .find(|c| c["score"] == "loss" && c["against"] == against)
            .unwrap_or_else(|| panic!("no loss vs {against}: {comparisons:?}"));
        assert!(c["auroc"].is_f64() && c["average_precision"].is_f64() && c["precision_at_10"].is_f64(), "{c}");
        assert!(c.get("spearman").is_none(), "a mask is not correlated: {c}");
    }

    // A declared mask that holds something else is one error naming the file.
    std::fs::write(dir.path().join("zeros.csv"), zeros.iter().enumerate().map(|(i, _)| format!("{}\n", i % 3)).collect::<String>())
        .unwrap();
    let baseline = "[[plugins]]\nname = \"baseline\"\nconfig = { against = [{ file = \"zeros.csv\", kind = \"mask\" }] }\n";
    let path = write_job(dir.path(), &job(baseline));
    let error =
        memscope(dir.path(), &["run", path.to_str().unwrap(), "--out", "runs", "--quiet", "--no-report", "--force"]).clean_failure();
    assert!(error.contains("zeros.csv (kind = \"mask\"): value 2 is 2: a mask holds only 0 and 1"), "{error}");
}
