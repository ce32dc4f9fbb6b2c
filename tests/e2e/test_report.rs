//! A user opens the report of a run: grids of the most and least memorized samples,
//! charts per score, and the duplicates with conflicting labels, found among digits
//! where the test planted copies of images under other labels.

use memscope_tests::{memscope, read_npy_i64, write_job};
use std::collections::BTreeSet;
use std::path::Path;

/// The embedded digits (1797 images 8x8, values in [0, 1]) and their labels.
fn digits() -> (Vec<f32>, Vec<i64>) {
    let config = memscope::config::parse_job("name = \"d\"\n[data]\nformat = \"digits\"\n", "<digits>", &[], Path::new(".")).unwrap();
    let data = memscope::data::load_data(&config.data, &Default::default()).unwrap().train;
    ((0..data.len()).flat_map(|i| data.image(i)).collect(), data.labels)
}

/// Writes `data.npz` with `x` (N, 8, 8) float32 and `y` int64.
fn write_npz(dir: &Path, images: &[f32], labels: &[i64]) {
    let n = labels.len() as i64;
    let x = tch::Tensor::from_slice(images).view([n, 8, 8]);
    let y = tch::Tensor::from_slice(labels);
    tch::Tensor::write_npz(&[("x", x), ("y", y)], dir.join("data.npz")).unwrap();
}

/// A short job: the reference cnn, 4 epochs, curvature with 2 draws.
fn job(data: &str, plugins: &str) -> String {
    format!(
        "name = \"job\"\nseed = 0\n{data}\n[train]\nepochs = 4\n[score]\nbuiltin = [\"loss\"]\n\
         [[plugins]]\nname = \"curvature\"\nconfig = {{ draws = 2 }}\n{plugins}"
    )
}

/// A CSV file as a header and rows of cells.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut lines = memscope::data::parse_csv(&text).unwrap().into_iter().map(|(_, fields)| fields);
    let header = lines.next().expect("a header line");
    (header, lines.collect())
}

fn column(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column `{name}` in {header:?}"))
}

/// Every `src="..."` and `href="..."` of the page.
fn links(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attribute) {
            let rest = &html[at + attribute.len()..];
            found.push(rest[..rest.find('"').expect("a closing quote")].to_string());
        }
    }
    found
}

/// The page links only files that exist beside it, and every image is a PNG of the
/// size the page gives. Returns the image file names.
fn check_page(report: &Path) -> Vec<String> {
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    let links = links(&html);
    assert!(links.len() >= 5, "too few links: {links:?}");
    for link in &links {
        assert!(!link.contains("://") && !link.starts_with('/'), "not a relative link: {link}");
        assert!(report.join(link).is_file(), "index.html links {link}, which does not exist");
    }
    let mut images = Vec::new();
    for tag in html.split("<img ").skip(1) {
        let attr = |name: &str| {
            let start = tag.find(&format!("{name}=\"")).unwrap_or_else(|| panic!("<img {tag} has no {name}")) + name.len() + 2;
            tag[start..start + tag[start..].find('"').unwrap()].to_string()
        };
        let file = attr("src");
        let decoded = image::open(report.join(&file)).unwrap_or_else(|e| panic!("{file} is not a readable image: {e}"));
        let size = (attr("width").parse::<u32>().unwrap(), attr("height").parse::<u32>().unwrap());
        assert_eq!((decoded.width(), decoded.height()), size, "{file} is not the size the page gives");
        images.push(file);
    }
    images
}

#[test]
fn planted_copies_with_other_labels_are_found_and_ranked_near_the_top() {
    let dir = tempfile::tempdir().unwrap();
    let (mut images, mut labels) = digits();
    let original = labels.len();
    // Ten exact copies and ten copies with slight noise (uniform +-0.01, RMS ~0.006),
    // each under another label than its source.
    let mut planted = BTreeSet::new();
    for k in 0..20usize {
        let source = 37 + 89 * k;
        let noise = if k < 10 { 0.0 } else { 0.01 };
        let copy: Vec<f32> = images[source * 64..(source + 1) * 64]
            .iter()
            .enumerate()
            .map(|(p, &v)| (v + noise * (((p * 7 + k * 13) % 21) as f32 / 10.0 - 1.0)).clamp(0.0, 1.0))
            .collect();
        images.extend(copy);
        labels.push((labels[source] + 1 + k as i64 % 9) % 10);
        planted.insert((source, labels.len() - 1));
    }
    write_npz(dir.path(), &images, &labels);
    let job_file = write_job(dir.path(), &job("[data]\nformat = \"npz\"\npath = \"data.npz\"", ""));
    // The report is written at the end of the run.
    memscope(dir.path(), &["run", job_file.to_str().unwrap(), "--out", "runs", "--quiet"]).success();
    let report = dir.path().join("runs/job/report");

    let (header, rows) = read_csv(&report.join("conflicting_duplicates.csv"));
    let (a, b, exact) = (column(&header, "index_a"), column(&header, "index_b"), column(&header, "exact"));
    let found: BTreeSet<(usize, usize)> = rows.iter().map(|r| (r[a].parse().unwrap(), r[b].parse().unwrap())).collect();
    assert_eq!(found, planted, "the conflicting pairs are exactly the planted ones");
    assert_eq!(rows.iter().filter(|r| r[exact] == "true").count(), 10);

    // Ranked by curvature: each pair's higher curvature is near the top of all samples,
    // and the pairs come in that order.
    let (score_header, samples) = read_csv(&report.join("scores.csv"));
    assert_eq!(samples.len(), original + 20);
    let (curvature, rank) = (column(&score_header, "curvature"), column(&score_header, "rank_curvature"));
    let value = |i: usize| samples[i][curvature].parse::<f64>().unwrap();
    let best_rank = |p: &Vec<String>| -> usize {
        let (x, y): (usize, usize) = (p[a].parse().unwrap(), p[b].parse().unwrap());
        samples[x][rank].parse::<usize>().unwrap().min(samples[y][rank].parse().unwrap())
    };
    let ranks: Vec<usize> = rows.iter().map(best_rank).collect();
    assert!(
        ranks.iter().all(|&r| r <= samples.len() / 20),
        "planted pairs should have a sample in the top 5 % by curvature, ranks {ranks:?}"
    );
    let pair_values: Vec<f64> = rows.iter().map(|p| value(p[a].parse().unwrap()).max(value(p[b].parse().unwrap()))).collect();
    assert!(pair_values.windows(2).all(|w| w[0] >= w[1]), "pairs not ranked by curvature: {pair_values:?}");

    let pictures = check_page(&report);
    for file in [
        "conflicting_duplicates.png",
        "top_curvature.png",
        "bottom_curvature.png",
        "hist_curvature.png",
        "epochs_curvature.png",
        "top_loss.png",
    ] {
        assert!(pictures.iter().any(|p| p == file), "{file} is not on the page: {pictures:?}");
    }
    // 8x8 digits are upscaled to at least 64 pixels, ten to a row.
    let grid = image::open(report.join("top_curvature.png")).unwrap();
    assert!(grid.width() >= 10 * 64 && grid.height() >= 4 * 64, "{}x{}", grid.width(), grid.height());
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("20 pairs of identical or near-identical images"), "{html}");
}

#[test]
fn clean_digits_have_no_conflicting_pairs_even_with_label_noise_and_the_report_shows_the_noise() {
    let dir = tempfile::tempdir().unwrap();
    let text = job("[data]\nformat = \"digits\"", "[[plugins]]\nname = \"noise\"\nconfig = { fraction = 0.1 }\n");
    let job_file = write_job(dir.path(), &text);
    memscope(dir.path(), &["run", job_file.to_str().unwrap(), "--out", "runs", "--quiet", "--no-report"]).success();
    let run = dir.path().join("runs/job");
    assert!(!run.join("report").exists(), "--no-report wrote a report");

    // A reference score (the paper's binned plot): the noise flag plus a small spread per
    // sample, so that it is a score and not a mask (a file of only 0 and 1 is compared as
    // a mask: test_mask_reference).
    let noisy: Vec<f32> = read_npy_i64(&run.join("labels.npy"))
        .iter()
        .zip(read_npy_i64(&run.join("original_labels.npy")))
        .enumerate()
        .map(|(i, (&l, o))| (l != o) as i64 as f32 + (i % 10) as f32 / 100.0)
        .collect();
    tch::Tensor::from_slice(&noisy).write_npy(dir.path().join("flipped.npy")).unwrap();
    let out = memscope(dir.path(), &["report", "runs/job", "--reference", "flipped.npy"]).success().stdout();
    assert!(out.contains("runs/job/report/index.html (0 conflicting duplicate pairs)"), "{out}");

    let report = run.join("report");
    let (_, pairs) = read_csv(&report.join("conflicting_duplicates.csv"));
    assert!(pairs.is_empty(), "false conflicting pairs on clean digits: {pairs:?}");

    let (header, samples) = read_csv(&report.join("scores.csv"));
    assert_eq!(samples.len(), 1797);
    let (label, original, flag) = (column(&header, "label"), column(&header, "original_label"), column(&header, "noisy"));
    assert_eq!(samples.iter().filter(|r| r[flag] == "1").count(), 180);
    assert!(samples.iter().all(|r| (r[label] != r[original]) == (r[flag] == "1")), "noisy flag and labels disagree");

    let pictures = check_page(&report);
    for file in ["roc_curvature.png", "hist_curvature.png", "vs_flipped_curvature.png", "roc_loss.png"] {
        assert!(pictures.iter().any(|p| p == file), "{file} is not on the page: {pictures:?}");
    }
    for chart in ["roc_curvature.png", "hist_loss.png", "epochs_curvature.png", "vs_flipped_curvature.png"] {
        let decoded = image::open(report.join(chart)).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (640, 420), "{chart}");
    }
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("AUROC against the noise mask") && html.contains("Spearman with flipped"), "{html}");
    // The page opens with the samples to fix: the verdict's flagged samples, before any
    // score, with its file; the trust line follows; the lowest values are folded away.
    let at = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("no `{needle}` on the page"));
    assert!(at("<h2 id=\"flagged\">") < at("id=\"trust\"") && at("id=\"trust\"") < at("<h2 id=\"score-"), "{html}");
    assert!(pictures.iter().any(|p| p == "flagged.png") && html.contains("href=\"../label_issues.csv\""), "{pictures:?}");
    let folded = &html[at("<details><summary>Lowest values of curvature")..];
    assert!(folded[..folded.find("</details>").unwrap()].contains("bottom_curvature.png"), "the lowest grid is folded away");
    let flagged = memscope::verdict::read_label_issues(&std::fs::read_to_string(run.join("label_issues.csv")).unwrap()).unwrap();
    let first = &flagged[0];
    assert!(html.contains(&format!("<td>1</td><td>{}<br>", first.index)), "the table starts with rank 1, sample {}", first.index);
    // Most flagged samples are framed red in the grid: the verdict finds the noise.
    let grid = image::open(report.join("flagged.png")).unwrap().to_rgb8();
    let red = grid.pixels().filter(|p| p.0 == [214, 39, 40]).count();
    assert!(red > 20 * 4 * 64, "too few red frame pixels ({red}) in the flagged grid");
    // The top grid frames noisy samples in red: most of the top curvature samples are noisy.
    let grid = image::open(report.join("top_curvature.png")).unwrap().to_rgb8();
    let red = grid.pixels().filter(|p| p.0 == [214, 39, 40]).count();
    assert!(red > 20 * 4 * 64, "too few red frame pixels ({red}) in the top grid");
}

/// A run directory made by hand: 50 digits, labels, one score of `score_len` values.
fn fake_run(dir: &Path, score_len: usize) -> std::path::PathBuf {
    let run = dir.join("run");
    std::fs::create_dir_all(run.join("scores")).unwrap();
    std::fs::write(run.join("config.toml"), "name = \"fake\"\n[data]\nformat = \"digits\"\nlimit = 50\n").unwrap();
    let (_, labels) = digits();
    tch::Tensor::from_slice(&labels[..50]).write_npy(run.join("labels.npy")).unwrap();
    let score: Vec<f32> = (0..score_len).map(|i| i as f32).collect();
    tch::Tensor::from_slice(&score).write_npy(run.join("scores/loss.npy")).unwrap();
    run
}

#[test]
fn bad_input_is_one_error_line_naming_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let err = memscope(cwd, &["report", "nowhere"]).clean_failure();
    assert!(err.contains("run directory nowhere does not exist"), "{err}");

    std::fs::create_dir(cwd.join("empty")).unwrap();
    let err = memscope(cwd, &["report", "empty"]).clean_failure();
    assert!(err.contains("empty is not a finished run directory: no config.toml"), "{err}");

    let run = fake_run(cwd, 49);
    let err = memscope(cwd, &["report", run.to_str().unwrap()]).clean_failure();
    assert!(err.contains("scores/loss.npy") && err.contains("49 values, but the run has 50 samples"), "{err}");

    let gone = fake_run(&cwd.join("gone"), 50);
    std::fs::write(gone.join("config.toml"), "name = \"fake\"\n[data]\nformat = \"npz\"\npath = \"gone.npz\"\n").unwrap();
    let err = memscope(cwd, &["report", gone.to_str().unwrap()]).clean_failure();
    assert!(err.contains("cannot re-open the run's dataset") && err.contains("gone.npz"), "{err}");
    assert_eq!(err.to_lowercase().matches("no such file").count(), 1, "the cause is said once: {err}");

    let run = fake_run(&cwd.join("ok"), 50);
    let run = run.to_str().unwrap();
    let err = memscope(cwd, &["report", run, "--reference", "missing.npy"]).clean_failure();
    assert!(err.contains("reference missing.npy: no such file"), "{err}");
    std::fs::write(cwd.join("short.csv"), "score\n1\n2\n3\n").unwrap();
    let err = memscope(cwd, &["report", run, "--reference", "short.csv"]).clean_failure();
    assert!(err.contains("reference short.csv: 3 values, but the run has 50 samples"), "{err}");
    std::fs::write(cwd.join("bad.csv"), "score\n1\nlots\n").unwrap();
    let err = memscope(cwd, &["report", run, "--reference", "bad.csv"]).clean_failure();
    assert!(err.contains("bad.csv") && err.contains("line 3") && err.contains("`lots` is not a number"), "{err}");
    let err = memscope(cwd, &["report", run, "--top-k", "0"]).clean_failure();
    assert!(err.contains("top_k") && err.contains("not in 1..=1000"), "{err}");

    // The hand-made run itself is fine: a report without summary, mask or epochs.
    memscope(cwd, &["report", run]).success();
    check_page(&Path::new(run).join("report"));
}
