//! The suite scorers that need only `score_batch` (EL2N, in-confidence), built with the
//! SDK's typed settings, find relabelled digits in a job with the noise plugin; and the
//! run ranks every score against the noise mask, in its summary, its output and its
//! report, and records what each plugin's hooks cost.

use memscope_tests::{memscope, read_npy_f32, read_summary, write_job};

#[test]
fn el2n_and_in_confidence_find_the_relabelled_digits() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "name = \"suite\"\nseed = 1\n[data]\nformat = \"digits\"\n[train]\nepochs = 4\n\
         [score.aggregate.el2n]\nto = \"25%\"\n[score.aggregate.in-confidence]\nto = \"100%\"\n\
         [[plugins]]\nname = \"noise\"\nconfig = { fraction = 0.1 }\n\
         [[plugins]]\nname = \"el2n\"\n\
         [[plugins]]\nname = \"in-confidence\"\n\
         [[plugins]]\nname = \"baseline\"\nconfig = { against = [\"noise_mask\"] }\n",
    );
    let stdout = memscope(dir.path(), &["run", job.to_str().unwrap(), "--out", "runs", "--quiet"]).success().stdout();
    let run = dir.path().join("runs/suite");
    let summary = read_summary(&run);
    let auroc = |score: &str| {
        summary["comparisons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["score"] == score && c["against"] == "noise_mask")
            .and_then(|c| c["auroc"].as_f64())
            .unwrap_or_else(|| panic!("no {score} vs noise_mask in {summary}"))
    };
    for score in ["el2n", "in-confidence"] {
        assert!(auroc(score) > 0.9, "{score}: AUROC {} against the noise mask\n{stdout}", auroc(score));
        let (values, shape) = read_npy_f32(&run.join(format!("scores/{score}.npy")));
        assert_eq!(shape, vec![1797]);
        assert!(values.iter().all(|v| v.is_finite() && *v >= 0.0), "{score}");
    }
    let (el2n, _) = read_npy_f32(&run.join("scores/el2n.npy"));
    assert!(el2n.iter().all(|v| *v <= 2f32.sqrt() + 1e-5), "EL2N is at most sqrt 2");
    let (confidence, _) = read_npy_f32(&run.join("scores/in-confidence.npy"));
    assert!(confidence.iter().all(|v| *v <= 1.0 + 1e-6), "1 - p is at most 1");
    // The windows the job chose (epochs counted from 1): el2n the first epoch, in-confidence all four.
    let epochs = |name: &str| summary["scores"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()["epochs"].clone();
    assert_eq!(epochs("el2n"), serde_json::json!([1]));
    assert_eq!(epochs("in-confidence"), serde_json::json!([1, 2, 3, 4]));

    // What each scorer cost: its seconds in score_batch, inside the scoring time.
    let timings = &summary["timings"];
    let spent = |plugin: &str| {
        timings["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["plugin"] == plugin)
            .unwrap_or_else(|| panic!("no {plugin} in {timings}"))
            .clone()
    };
    for plugin in ["el2n", "in-confidence"] {
        let t = spent(plugin);
        let in_score = t["hooks"]["score_batch"].as_f64().unwrap();
        assert!(in_score > 0.0 && in_score < timings["score_seconds"].as_f64().unwrap(), "{plugin}: {t}");
        let total: f64 = t["hooks"].as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum();
        assert!((t["seconds"].as_f64().unwrap() - total).abs() < 1e-9, "{t}");
    }
    assert!(spent("baseline")["hooks"]["on_job_end"].as_f64().unwrap() > 0.0);
    assert!(spent("noise")["hooks"].get("score_batch").is_none(), "only hooks a plugin has are timed");

    // One ranking against the noise mask holds every compared score, best AUROC first,
    // with the comparisons' own values.
    let rankings = summary["rankings"].as_array().unwrap();
    assert_eq!(rankings.len(), 1, "{summary}");
    assert_eq!(rankings[0]["against"], "noise_mask");
    let rows = rankings[0]["rows"].as_array().unwrap();
    let ranked: Vec<&str> = rows.iter().map(|r| r["score"].as_str().unwrap()).collect();
    let compared = summary["comparisons"].as_array().unwrap().iter().filter(|c| c["against"] == "noise_mask").count();
    assert_eq!(ranked.len(), compared, "every compared score is ranked: {ranked:?}");
    for score in ["el2n", "in-confidence", "loss"] {
        assert!(ranked.contains(&score), "{score} is ranked: {ranked:?}");
    }
    let aurocs: Vec<f64> = rows.iter().map(|r| r["values"]["auroc"].as_f64().unwrap()).collect();
    assert!(aurocs.windows(2).all(|w| w[0] >= w[1]), "best first: {aurocs:?}");
    for row in rows {
        assert_eq!(row["values"]["auroc"].as_f64().unwrap(), auroc(row["score"].as_str().unwrap()));
    }
    assert_eq!(rows[0]["rank"], 1);

    // `memscope run` prints it in that order, even with --quiet (it is the verdict).
    let printed = stdout.split("scores against noise_mask, best first:").nth(1).unwrap_or_else(|| panic!("no ranking in\n{stdout}"));
    let printed: Vec<&str> = printed.lines().skip(1).take(ranked.len()).map(|l| l.split_whitespace().nth(1).unwrap()).collect();
    assert_eq!(printed, ranked, "{stdout}");

    // The report shows the same table.
    let html = std::fs::read_to_string(run.join("report/index.html")).unwrap();
    let table = html.split("Which score finds it best: against noise_mask").nth(1).expect("a ranking table in the report");
    let first = table.find(&format!("<td class=\"l\">{}</td>", ranked[0])).unwrap();
    let last = table.find(&format!("<td class=\"l\">{}</td>", ranked[ranked.len() - 1])).unwrap();
    assert!(first < last, "the report lists the best score first");
}

/// GraNd at epoch 1 only (`until_epoch = 1`, window `to = 1`): it finds the relabelled
/// digits, and the later snapshots score 0 without a gradient computed.
#[test]
fn grand_at_the_first_epoch_finds_the_relabelled_digits_and_skips_the_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "name = \"grand\"\nseed = 1\n[data]\nformat = \"digits\"\n[model]\narch = \"mlp\"\n[train]\nepochs = 3\n[report]\nenabled = false\n\
         [score.aggregate.grand]\nto = 1\n\
         [[plugins]]\nname = \"noise\"\nconfig = { fraction = 0.1 }\n\
         [[plugins]]\nname = \"grand\"\nconfig = { until_epoch = 1 }\n\
         [[plugins]]\nname = \"baseline\"\nconfig = { against = [\"noise_mask\"] }\n",
    );
    let stdout = memscope(dir.path(), &["run", job.to_str().unwrap(), "--out", "runs", "--quiet"]).success().stdout();
    let run = dir.path().join("runs/grand");
    let summary = read_summary(&run);
    let auroc = summary["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["score"] == "grand" && c["against"] == "noise_mask")
        .and_then(|c| c["auroc"].as_f64())
        .unwrap_or_else(|| panic!("no grand vs noise_mask in {summary}"));
    eprintln!("grand vs noise_mask: AUROC {auroc:.4}");
    assert!(auroc > 0.9, "grand: AUROC {auroc} against the noise mask\n{stdout}");
    let (per_epoch, shape) = read_npy_f32(&run.join("scores/grand_epochs.npy"));
    assert_eq!(shape, vec![3, 1797]);
    assert!(per_epoch[..1797].iter().all(|v| v.is_finite() && *v > 0.0), "epoch 1 is scored");
    assert!(per_epoch[1797..].iter().all(|v| *v == 0.0), "epochs 2 and 3 are not");
    let epochs = summary["scores"].as_array().unwrap().iter().find(|s| s["name"] == "grand").unwrap()["epochs"].clone();
    assert_eq!(epochs, serde_json::json!([1]));
}
