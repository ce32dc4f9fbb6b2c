//! A user reviews a finished run: `memscope review RUN` serves a page and its JSON API
//! (pages sorted and filtered, one sample and its history, the data map, thumbnails),
//! and the decisions they make land in the run's `corrections.csv`. The browser test
//! does it through the page in headless chromium, with clicks.

use memscope_tests::browser::Browser;
use memscope_tests::daemon::memory_of;
use memscope_tests::review::ReviewServer;
use memscope_tests::{memscope, read_npy_f32, read_npy_i64, write_job};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The run every test reviews: digits, 3 epochs, 10 % of the labels changed by the
/// noise injector, the loss and curvature (2 draws) per epoch.
const JOB: &str = "name = \"small\"\nseed = 0\nthreads = 2\n[data]\nformat = \"digits\"\n[train]\nepochs = 3\n\
                   [score]\nbuiltin = [\"loss\"]\n[[plugins]]\nname = \"noise\"\nconfig = { fraction = 0.1, kind = \"symmetric\" }\n\
                   [[plugins]]\nname = \"curvature\"\nconfig = { draws = 2 }\n";

/// Trains the small run in `dir` and returns its run directory.
fn small_run(dir: &Path) -> PathBuf {
    write_job(dir, JOB);
    memscope(dir, &["run", "job.toml", "--out", "runs", "--no-report", "-q"]).success();
    dir.join("runs/small")
}

/// The samples of `among` by `values`, highest first (`descending`), ties by index: the
/// page's order.
fn sorted(values: &[f32], among: impl Iterator<Item = usize>, descending: bool) -> Vec<usize> {
    let mut order: Vec<usize> = among.collect();
    order.sort_by(|&a, &b| {
        let by_value = if descending { values[b].total_cmp(&values[a]) } else { values[a].total_cmp(&values[b]) };
        by_value.then(a.cmp(&b))
    });
    order
}

fn indices(page: &Value) -> Vec<usize> {
    page["items"].as_array().unwrap().iter().map(|c| c["index"].as_u64().unwrap() as usize).collect()
}

fn error_of(reply: &memscope_tests::daemon::Reply) -> String {
    reply.json()["error"].as_str().unwrap_or_default().to_string()
}

/// The rows of `corrections.csv` after its header, as cells.
fn corrections(run: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(run.join("corrections.csv")).unwrap();
    let mut rows = memscope::data::parse_csv(&text).unwrap().into_iter().map(|(_, cells)| cells);
    assert_eq!(rows.next().unwrap(), ["index", "source", "action", "label", "time"]);
    rows.collect()
}

/// `2026-01-02T03:04:05Z`.
fn is_rfc3339_utc(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 20
        && [4, 7].iter().all(|&i| b[i] == b'-')
        && b[10] == b'T'
        && [13, 16].iter().all(|&i| b[i] == b':')
        && b[19] == b'Z'
        && text.chars().filter(char::is_ascii_digit).count() == 14
}

/// The verdict's files as the `verdict` branch writes them, with values the test
/// knows: samples 10, 20 and 30 flagged (ranks 1-3) with the next class suggested;
/// every other sample most likely its given class; four epochs of label probability,
/// constant 0.5 but for sample 0 (0.25, 0.25, 0.75, 0.75).
fn write_verdict(run: &Path, labels: &[i64]) -> Vec<(usize, i64)> {
    let n = labels.len();
    let flagged: Vec<(usize, i64)> = [10, 20, 30].iter().map(|&i| (i, (labels[i] + 1) % 10)).collect();
    let mut probs = vec![0.125f32 / 8.0; n * 10];
    for (i, &label) in labels.iter().enumerate() {
        let next = ((label + 1) % 10) as usize;
        let (given, other) = if flagged.iter().any(|&(f, _)| f == i) { (0.125, 0.75) } else { (0.625, 0.25) };
        probs[i * 10 + label as usize] = given;
        probs[i * 10 + next] = other;
    }
    std::fs::create_dir_all(run.join("predictions")).unwrap();
    tch::Tensor::from_slice(&probs).view([n as i64, 10]).write_npy(run.join("predictions/probs.npy")).unwrap();
    let mut epochs = vec![0.5f32; 4 * n];
    for (e, value) in [0.25, 0.25, 0.75, 0.75].into_iter().enumerate() {
        epochs[e * n] = value;
    }
    tch::Tensor::from_slice(&epochs).view([4, n as i64]).write_npy(run.join("predictions/label_prob_epochs.npy")).unwrap();
    let mut csv =
        String::from("rank,index,source,given_label,given_name,given_prob,suggested_label,suggested_name,suggested_prob,flagged_by\n");
    for (rank, &(i, suggested)) in flagged.iter().enumerate() {
        let given = labels[i];
        csv += &format!("{},{i},digits.csv#{i},{given},{given},0.125,{suggested},{suggested},0.75,confident_learning\n", rank + 1);
    }
    std::fs::write(run.join("label_issues.csv"), csv).unwrap();
    flagged
}

#[test]
fn the_review_api_pages_sorts_filters_and_saves_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let run = small_run(dir.path());
    // First as a run made before the verdict: no label_issues.csv, no predictions.
    let _ = std::fs::remove_file(run.join("label_issues.csv"));
    let _ = std::fs::remove_dir_all(run.join("predictions"));
    let labels = read_npy_i64(&run.join("labels.npy"));
    let (loss, _) = read_npy_f32(&run.join("scores/loss.npy"));
    let server = ReviewServer::start(&run);

    let overview = server.json("run");
    assert_eq!(overview["samples"], 1797);
    let taken = server.url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let error = memscope(dir.path(), &["review", run.to_str().unwrap(), "--listen", &taken]).clean_failure();
    assert!(error.contains(&format!("cannot listen on {taken}: ")), "{error}");
    let classes = overview["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 10);
    for class in classes {
        let label = class["label"].as_i64().unwrap();
        assert_eq!(class["count"].as_u64().unwrap() as usize, labels.iter().filter(|&&l| l == label).count());
    }
    let sorts: Vec<&str> = overview["sorts"].as_array().unwrap().iter().map(|s| s["key"].as_str().unwrap()).collect();
    assert_eq!(sorts, ["score:curvature", "score:loss", "index"], "no verdict: no rank, probability or data-map sorts");
    assert!(overview.get("verdict").is_none() && overview["pairs"] == json!([]) && overview["history_epochs"] == 0, "{overview}");

    // Sorted by the loss, highest first, one page after another; then within a class.
    let first = server.json("samples?sort=score:loss&limit=10");
    assert_eq!((first["total"].as_u64(), first["order"].as_str()), (Some(1797), Some("desc")));
    let by_loss = sorted(&loss, 0..1797, true);
    assert_eq!(indices(&first), by_loss[..10]);
    assert_eq!(indices(&server.json("samples?sort=score:loss&limit=10&offset=10")), by_loss[10..20]);
    assert_eq!(indices(&server.json("samples?sort=score:loss&order=asc&limit=5")), sorted(&loss, 0..1797, false)[..5]);
    let threes = server.json("samples?sort=score:loss&class=3&limit=500");
    let expected_threes = sorted(&loss, (0..1797).filter(|&i| labels[i] == 3), true);
    assert_eq!(threes["total"].as_u64().unwrap() as usize, expected_threes.len());
    assert_eq!(indices(&threes), expected_threes);

    // A card: source, given label, what the noise injector changed, every score.
    let top = &first["items"][0];
    let i = by_loss[0];
    assert_eq!(top["source"], format!("digits.csv#{i}"));
    assert_eq!(top["given"]["label"], labels[i]);
    assert_eq!(top["scores"][1]["name"], "loss");
    assert_eq!(top["scores"][1]["value"].as_f64().unwrap() as f32, loss[i]);
    let noisy = read_npy_i64(&run.join("noise_mask.npy"));
    let changed = (0..1797).find(|&j| noisy[j] != 0).unwrap();
    let original = read_npy_i64(&run.join("original_labels.npy"))[changed];
    assert_eq!(server.json(&format!("samples/{changed}"))["original"]["label"], original);

    // Its history: every per-epoch score as the run holds it, epochs 1-based.
    let history = server.json(&format!("samples/{i}/history"));
    let (loss_epochs, shape) = read_npy_f32(&run.join("scores/loss_epochs.npy"));
    let series = history["series"].as_array().unwrap().iter().find(|s| s["name"] == "loss").expect("a loss series");
    assert_eq!(series["epochs"], json!([1, 2, 3]));
    let values: Vec<f32> = series["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    assert_eq!(values, (0..shape[0] as usize).map(|e| loss_epochs[e * 1797 + i]).collect::<Vec<_>>());

    // Its thumbnail: the 8x8 image as the dataset reads it.
    let (status, png) = server.bytes(&format!("samples/{i}/image.png"));
    assert_eq!(status, 200);
    let image = image::load_from_memory(&png).unwrap().to_luma8();
    assert_eq!(image.dimensions(), (8, 8));
    let config = memscope::config::parse_job("name = \"d\"\n[data]\nformat = \"digits\"\n", "<digits>", &[], Path::new(".")).unwrap();
    let digits = memscope::data::load_data(&config.data, &Default::default()).unwrap().train;
    let expected: Vec<u8> = digits.image(i).iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect();
    assert_eq!(image.into_raw(), expected);

    // What this run cannot do is said, not guessed.
    let flagged = server.get("samples?flagged=true");
    assert_eq!(flagged.status, 400);
    assert!(error_of(&flagged).contains("no verdict (no label_issues.csv)"), "{}", flagged.body);
    let map = server.get("datamap");
    assert_eq!(map.status, 404);
    assert!(error_of(&map).contains("predictions/label_prob_epochs.npy"), "{}", map.body);

    // Decisions, saved as they are made; the last one of a sample wins.
    let (relabelled, excluded) = (by_loss[0], by_loss[1]);
    let new_class = (labels[relabelled] + 1) % 10;
    let answer = server.decide(json!({"index": relabelled, "action": "relabel", "label": new_class.to_string()}));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["decision"]["label"]["label"], new_class);
    assert_eq!(server.decide(json!({"index": excluded, "action": "exclude"})).status, 200);
    assert_eq!(server.decide(json!({"index": 7, "action": "exclude"})).status, 200);
    let kept = server.decide(json!({"index": 7, "action": "keep"}));
    assert_eq!(kept.json()["decisions"], json!({"relabel": 1, "exclude": 1, "keep": 1}));
    let rows = corrections(&run);
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0][..4], [relabelled.to_string(), format!("digits.csv#{relabelled}"), "relabel".into(), new_class.to_string()]);
    assert_eq!(rows[1][..4], [excluded.to_string(), format!("digits.csv#{excluded}"), "exclude".into(), String::new()]);
    assert_eq!(rows[3][..3], ["7".to_string(), "digits.csv#7".into(), "keep".into()]);
    assert!(rows.iter().all(|r| is_rfc3339_utc(&r[4])), "{rows:?}");
    assert_eq!(server.json(&format!("samples/{excluded}"))["decision"]["action"], "exclude");
    assert_eq!(indices(&server.json("samples?decided=true&sort=index")), {
        let mut decided = vec![relabelled, excluded, 7];
        decided.sort();
        decided
    });

    // Bad requests get one line saying what is wrong.
    for (reply, status, message) in [
        (server.decide(json!({"index": 1, "action": "relabel", "label": "ten"})), 400, "`label`: `ten` is not a class of this run"),
        (server.decide(json!({"index": 1, "action": "exclude", "label": "3"})), 400, "exclude takes no `label`"),
        (server.decide(json!({"index": 1, "action": "relabel"})), 400, "relabel needs `label`"),
        (server.decide(json!({"index": 1797, "action": "exclude"})), 404, "no sample 1797: the run has 1797"),
        (server.decide(json!({"index": 1, "action": "delete"})), 400, "unknown variant `delete`"),
        (server.post("decisions", "{\"index\": 1, \"action\": \"exclude\"}", "text/plain"), 415, "application/json"),
        (server.get("samples?sort=score:nope"), 400, "cannot be sorted by `score:nope` (it can by: score:curvature, score:loss, index)"),
        (server.get("samples?class=10"), 400, "`class`: class 10 does not exist (0..10)"),
        (server.get("samples?pair=3-5"), 400, "no suggested labels"),
        (server.get("samples?limit=0"), 400, "`limit`: 0; expected 1 to 500"),
        (server.get("samples?colour=red"), 400, "unknown field `colour`"),
        (server.get("samples/x"), 400, "bad path"),
        (server.get("decisions"), 405, "allowed: POST"),
    ] {
        assert_eq!(reply.status, status, "{}", reply.body);
        assert!(error_of(&reply).contains(message), "expected `{message}` in {}", reply.body);
    }
    assert_eq!(corrections(&run).len(), 4, "refused decisions are not saved");
    drop(server);

    // The verdict's files appear (as every run now writes them): the page opens with
    // the flagged samples, their pairs, and the data map.
    let flagged = write_verdict(&run, &labels);
    let server = ReviewServer::start(&run);
    let overview = server.json("run");
    assert_eq!(overview["verdict"]["flagged"], 3);
    assert_eq!(overview["history_epochs"], 4);
    assert_eq!(overview["decisions"], json!({"relabel": 1, "exclude": 1, "keep": 1}), "decisions read back from corrections.csv");
    let sorts: Vec<&str> = overview["sorts"].as_array().unwrap().iter().map(|s| s["key"].as_str().unwrap()).collect();
    assert_eq!(sorts, ["rank", "score:curvature", "score:loss", "given_prob", "confidence", "variability", "index"]);
    let pairs: usize = overview["pairs"].as_array().unwrap().iter().map(|p| p["count"].as_u64().unwrap() as usize).sum();
    assert_eq!(pairs, 3, "only the flagged samples are suggested another class: {}", overview["pairs"]);

    let page = server.json("samples?flagged=true");
    assert_eq!(page["sort"], "rank");
    assert_eq!(indices(&page), [10, 20, 30]);
    let card = &page["items"][0];
    assert_eq!(card["flagged"], json!({"rank": 1, "by": "confident_learning"}));
    assert_eq!(
        (card["given"]["prob"].as_f64(), card["suggested"]["label"].as_i64(), card["suggested"]["prob"].as_f64()),
        (Some(0.125), Some(flagged[0].1), Some(0.75))
    );
    let (g, s) = (labels[20], flagged[1].1);
    assert!(indices(&server.json(&format!("samples?pair={g}-{s}"))).contains(&20));
    assert_eq!(indices(&server.json("samples?sort=given_prob&limit=3")), [10, 20, 30], "the least probable labels first");
    assert_eq!(indices(&server.json("samples?sort=variability&limit=1")), [0]);

    let map = server.json("datamap");
    assert_eq!(map["epochs"], 4);
    assert_eq!(map["flagged"], json!([10, 20, 30]));
    assert_eq!((map["confidence"][0].as_f64(), map["variability"][0].as_f64()), (Some(0.5), Some(0.25)));
    assert_eq!((map["confidence"][1].as_f64(), map["variability"][1].as_f64()), (Some(0.5), Some(0.0)));
    let label_prob = server.json("samples/0/history")["series"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(label_prob["name"], "label_prob");
    assert_eq!((label_prob["epochs"].clone(), label_prob["values"].clone()), (json!([1, 2, 3, 4]), json!([0.25, 0.25, 0.75, 0.75])));
    drop(server);

    // A corrections file that names an unknown class stops the review with its line.
    let mut text = std::fs::read_to_string(run.join("corrections.csv")).unwrap();
    text += "3,digits.csv#3,relabel,eleven,2026-01-01T00:00:00Z\n";
    std::fs::write(run.join("corrections.csv"), text).unwrap();
    let error = memscope(dir.path(), &["review", run.to_str().unwrap(), "--listen", "127.0.0.1:0"]).clean_failure();
    assert!(error.contains("corrections.csv line 6: unknown class `eleven` (classes: 0, 1, 2"), "{error}");
}

#[test]
fn memscope_review_refuses_what_it_cannot_serve() {
    let dir = tempfile::tempdir().unwrap();
    let missing = memscope(dir.path(), &["review", "runs/none"]).clean_failure();
    assert!(missing.contains("run directory runs/none does not exist"), "{missing}");
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let empty = memscope(dir.path(), &["review", "empty"]).clean_failure();
    assert!(empty.contains("empty is not a finished run directory: no config.toml"), "{empty}");
    let listen = memscope(dir.path(), &["review", "empty", "--listen", "localhost"]).clean_failure();
    assert!(listen.contains("--listen `localhost` is not an address and port (e.g. 127.0.0.1:7465)"), "{listen}");
}

#[test]
fn the_review_page_in_a_browser_saves_decisions_made_with_clicks_that_the_next_run_applies() {
    let dir = tempfile::tempdir().unwrap();
    let run = small_run(dir.path());
    let labels = read_npy_i64(&run.join("labels.npy"));
    let (loss, _) = read_npy_f32(&run.join("scores/loss.npy"));
    let server = ReviewServer::start(&run);
    let mut browser = Browser::start();
    browser.goto(&server.url);

    let cards = "[...document.querySelectorAll('#cards .card')].map(c => Number(c.dataset.index))";
    browser.wait_for("document.querySelectorAll('#cards .card').length === 48", "the first page of cards");
    assert_eq!(browser.eval("document.getElementById('run-name').textContent"), "small");
    // Every card's thumbnail is a decoded 8x8 image.
    browser.wait_for("[...document.querySelectorAll('#cards img')].every(i => i.complete && i.naturalWidth === 8)", "the thumbnails");

    // Filter: the 3s only.
    browser.click("#classes button[data-class='3']");
    browser.wait_for("document.getElementById('cards').dataset.query.includes('class=3')", "the page of class 3");
    let threes: Vec<usize> = (0..1797).filter(|&i| labels[i] == 3).collect();
    let range = browser.eval("document.getElementById('range').textContent");
    assert_eq!(range, format!("1–48 of {}", threes.len()));

    // Sort: by the loss, highest first; clicked again, lowest first.
    browser.click("#sorts button[data-sort='score:loss']");
    browser.wait_for("document.getElementById('cards').dataset.query.includes('sort=score%3Aloss&order=desc')", "the loss sort");
    let shown: Vec<usize> = serde_json::from_value(browser.eval(cards)).unwrap();
    let by_loss = sorted(&loss, threes.iter().copied(), true);
    assert_eq!(shown, by_loss[..48]);
    browser.click("#sorts button[data-sort='score:loss']");
    browser.wait_for("document.getElementById('cards').dataset.query.includes('sort=score%3Aloss&order=asc')", "the ascending loss sort");
    let shown: Vec<usize> = serde_json::from_value(browser.eval(cards)).unwrap();
    assert_eq!(shown, sorted(&loss, threes.iter().copied(), false)[..48]);
    browser.click("#sorts button[data-sort='score:loss']");
    browser.wait_for("document.getElementById('cards').dataset.query.includes('order=desc')", "the loss sort again");
    browser.click("#next");
    browser.wait_for("document.getElementById('cards').dataset.query.includes('offset=48')", "the second page");
    let shown: Vec<usize> = serde_json::from_value(browser.eval(cards)).unwrap();
    assert_eq!(shown, by_loss[48..96]);
    browser.click("#prev");
    browser.wait_for("document.getElementById('cards').dataset.query.includes('offset=0')", "the first page again");

    // Open the sample with the highest loss: its facts, scores and history.
    let (first, second) = (by_loss[0], by_loss[1]);
    browser.click(&format!("#cards .card[data-index='{first}']"));
    browser.wait_for(
        &format!("document.getElementById('detail').dataset.index === '{first}' && !document.getElementById('detail').hidden"),
        "the sample",
    );
    browser.wait_for(
        "document.querySelector('#history svg[data-series=\"loss\"]') && document.querySelector('#history svg[data-series=\"curvature\"]')",
        "its history",
    );
    let facts = browser.eval("document.getElementById('detail-facts').textContent");
    assert!(facts.as_str().unwrap().contains(&format!("digits.csv#{first}")), "{facts}");

    // Relabel it to another class; exclude the next one.
    let new_class = (labels[first] + 2) % 10;
    browser.click(&format!("#relabel button[data-label='{new_class}']"));
    browser.wait_for(&format!("document.getElementById('decision').textContent === 'Relabel to {new_class}'"), "the relabel decision");
    browser.wait_for(&format!("document.querySelector(\".card[data-index='{first}'] .badge.relabel\")"), "the card's relabel badge");
    browser.click(&format!("#cards .card[data-index='{second}']"));
    browser.wait_for(&format!("document.getElementById('detail').dataset.index === '{second}'"), "the second sample");
    browser.click("#exclude");
    browser.wait_for("document.getElementById('decision').textContent === 'Exclude from training'", "the exclude decision");
    browser.wait_for("document.getElementById('facts').textContent.includes('1 relabel, 1 exclude, 0 keep')", "the counts");

    let rows = corrections(&run);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0][..4], [first.to_string(), format!("digits.csv#{first}"), "relabel".into(), new_class.to_string()]);
    assert_eq!(rows[1][..4], [second.to_string(), format!("digits.csv#{second}"), "exclude".into(), String::new()]);
    assert!(rows.iter().all(|r| is_rfc3339_utc(&r[4])), "{rows:?}");
    assert!(browser.exceptions().is_empty(), "the page threw: {:?}", browser.exceptions());
    drop(server);

    // With the verdict's files (written here with known values): the flagged samples
    // only, and a click on the data map opens the sample under it.
    write_verdict(&run, &labels);
    let server = ReviewServer::start(&run);
    browser.goto(&server.url);
    browser.wait_for("document.querySelectorAll('#cards .card').length === 48", "the first page of cards");
    browser.click("#flagged");
    browser.wait_for("document.getElementById('cards').dataset.query.includes('flagged=true')", "the flagged samples");
    let shown: Vec<usize> = serde_json::from_value(browser.eval(cards)).unwrap();
    assert_eq!(shown, [10, 20, 30], "by the verdict's rank");
    browser.wait_for("document.getElementById('map-note').textContent.includes('4 epochs')", "the data map");
    // Sample 0 is the only one whose label probability varied (variability 0.25).
    let point = browser.eval(
        "(() => { const c = document.getElementById('datamap'); c.scrollIntoView({block: 'center'}); const r = c.getBoundingClientRect();
           const [x, y] = mapPoint(0); return [r.left + x * r.width / c.width, r.top + y * r.height / c.height]; })()",
    );
    browser.click_at(point[0].as_f64().unwrap(), point[1].as_f64().unwrap());
    browser.wait_for(
        "document.getElementById('detail').dataset.index === '0' && !document.getElementById('detail').hidden",
        "sample 0 from the map",
    );
    browser.wait_for("document.querySelector('#history svg[data-series=\"label_prob\"]')", "the probability of its label over training");
    assert!(browser.exceptions().is_empty(), "the page threw: {:?}", browser.exceptions());
    drop(server);

    // The next run names the file: the relabelled sample trains with its new class, the
    // excluded one is left out, every other sample keeps the dataset's label.
    let job = format!(
        "name = \"fixed\"\nseed = 0\nthreads = 2\n[data]\nformat = \"digits\"\ncorrections = \"{}\"\n[train]\nepochs = 1\n[score]\nbuiltin = [\"loss\"]\n",
        run.join("corrections.csv").display()
    );
    std::fs::write(dir.path().join("fixed.toml"), job).unwrap();
    memscope(dir.path(), &["run", "fixed.toml", "--out", "runs", "--no-report", "-q"]).success();
    let fixed = dir.path().join("runs/fixed");
    let sources: Vec<String> = serde_json::from_str(&std::fs::read_to_string(fixed.join("sources.json")).unwrap()).unwrap();
    let fixed_labels = read_npy_i64(&fixed.join("labels.npy"));
    let dataset_labels = read_npy_i64(&run.join("original_labels.npy"));
    assert_eq!(sources.len(), 1796);
    assert!(!sources.contains(&format!("digits.csv#{second}")), "the excluded sample is not trained");
    for (row, source) in sources.iter().enumerate() {
        let i: usize = source.strip_prefix("digits.csv#").unwrap().parse().unwrap();
        let expected = if i == first { new_class } else { dataset_labels[i] };
        assert_eq!(fixed_labels[row], expected, "{source}");
    }
    let applied = &memscope_tests::read_summary(&fixed)["corrections"];
    assert_eq!((applied["relabelled"].as_u64(), applied["excluded"].as_u64()), (Some(1), Some(1)), "{applied}");

    // The corrected run is reviewed in turn, by its own rows.
    let server = ReviewServer::start(&fixed);
    assert_eq!(server.json("run")["samples"], 1796);
    let row = sources.iter().position(|s| *s == format!("digits.csv#{first}")).unwrap();
    let sample = server.json(&format!("samples/{row}"));
    assert_eq!(
        (sample["source"].as_str(), sample["given"]["label"].as_i64()),
        (Some(format!("digits.csv#{first}").as_str()), Some(new_class))
    );
}

#[test]
fn the_daemon_serves_the_review_of_its_runs_behind_its_guard() {
    use memscope_tests::daemon::Daemon;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
    let daemon = Daemon::start(dir.path(), "auth_token_file = \"token\"\n");
    let job = "name = \"d\"\nthreads = 2\n[data]\nformat = \"digits\"\n[train]\nepochs = 1\n[score]\nbuiltin = [\"loss\"]\n";
    let submitted = daemon.post_with("/v1/jobs", job, Some("s3cret"));
    assert_eq!(submitted.status, 201, "{}", submitted.body);
    let id = submitted.json()["id"].as_str().unwrap().to_string();
    let bearer = ("Authorization", "Bearer s3cret");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let record = loop {
        let record = daemon.get_with(&format!("/v1/jobs/{id}"), Some("s3cret")).unwrap().json();
        if record["state"] != "queued" && record["state"] != "running" {
            break record;
        }
        assert!(std::time::Instant::now() < deadline, "job {id} did not finish: {record}\n{}", daemon.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(record["state"], "completed", "{record}");
    let run_dir = PathBuf::from(record["run_dir"].as_str().unwrap());
    let review = format!("/v1/jobs/{id}/review");

    // The page's files open in a browser without the token (they hold no run data)...
    let moved = daemon.raw("GET", &review, &[], "");
    assert_eq!((moved.status, moved.header("location")), (301, Some("review/".to_string())));
    let page = daemon.raw("GET", &format!("{review}/"), &[], "");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<script src=\"app.js\">"), "{}", page.body);
    assert_eq!(daemon.raw("GET", &format!("{review}/app.js"), &[], "").status, 200);
    // ...but not from a page of another site, nor under a name that is not the daemon's.
    assert_eq!(daemon.raw("GET", &format!("{review}/"), &[("Host", "evil.example:80")], "").status, 421);

    // The API needs the token; with it, the run is reviewed as `memscope review` does.
    let unauthorized = daemon.raw("GET", &format!("{review}/api/run"), &[], "");
    assert_eq!(unauthorized.status, 401, "{}", unauthorized.body);
    let overview = daemon.raw("GET", &format!("{review}/api/run"), &[bearer], "");
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert_eq!((overview.json()["name"].as_str(), overview.json()["samples"].as_u64()), (Some("d"), Some(1797)));
    // A long answer (500 cards, about 60 KB) comes through whole, as the engine streams it.
    let long = daemon.raw("GET", &format!("{review}/api/samples?sort=index&limit=500"), &[bearer], "");
    assert_eq!(long.status, 200, "{}", long.body);
    assert_eq!(long.header("content-length"), Some(long.body.len().to_string()));
    let cards: Vec<u64> = long.json()["items"].as_array().unwrap().iter().map(|c| c["index"].as_u64().unwrap()).collect();
    assert_eq!(cards, (0..500).collect::<Vec<u64>>());
    // HEAD is GET without the body, as everywhere in the daemon.
    let head = daemon.raw("HEAD", &format!("{review}/api/samples?sort=index&limit=500"), &[bearer], "");
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    assert_eq!(head.header("content-length"), long.header("content-length"));
    let json = ("Content-Type", "application/json");
    let decision = r#"{"index": 4, "action": "relabel", "label": "7"}"#;
    let saved = daemon.raw("POST", &format!("{review}/api/decisions"), &[bearer, json], decision);
    assert_eq!(saved.status, 200, "{}", saved.body);
    let rows = corrections(&run_dir);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][..4], ["4", "digits.csv#4", "relabel", "7"]);

    // Decisions come from the daemon's own page only, as JSON.
    let foreign = daemon.raw("POST", &format!("{review}/api/decisions"), &[bearer, json, ("Origin", "http://evil.example")], decision);
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    let form = daemon.raw("POST", &format!("{review}/api/decisions"), &[bearer, ("Content-Type", "text/plain")], decision);
    assert_eq!(form.status, 415, "{}", form.body);
    assert_eq!(corrections(&run_dir).len(), 1, "refused decisions are not saved");
    let missing = daemon.raw("GET", "/v1/jobs/000009/review/api/run", &[bearer], "");
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("no job `000009`"), "{}", missing.body);

    // In a browser, the link carries the token in its fragment: the page sends it with
    // its API requests and thumbnails, and its decisions pass the daemon's checks.
    let mut browser = Browser::start();
    browser.goto(&format!("{}{review}#token=s3cret", daemon.url));
    browser.wait_for("document.querySelectorAll('#cards .card').length === 48", "the cards, fetched with the token");
    browser.wait_for("[...document.querySelectorAll('#cards img')].every(i => i.complete && i.naturalWidth === 8)", "the thumbnails");
    assert_eq!(browser.eval("location.hash"), "", "the token is taken out of the address bar");
    let first = browser.eval("document.querySelector('#cards .card').dataset.index");
    browser.click("#cards .card");
    browser.wait_for(&format!("document.getElementById('detail').dataset.index === {first}"), "the sample");
    browser.click("#exclude");
    browser.wait_for("document.getElementById('decision').textContent === 'Exclude from training'", "the decision");
    let rows = corrections(&run_dir);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][..3], [first.as_str().unwrap().to_string(), format!("digits.csv#{}", first.as_str().unwrap()), "exclude".into()]);
    assert!(browser.exceptions().is_empty(), "the page threw: {:?}", browser.exceptions());

    // All of it without libtorch in the daemon: its review engine, a process of its
    // own, holds it.
    assert!(!memory_of(daemon.pid()).1, "the daemon mapped libtorch to serve the review");
    let engine = daemon.review_engine().expect("a review engine runs");
    assert!(memory_of(engine).1, "the review engine maps no libtorch");
}

/// The review under the daemon is served by an engine process: started by the first
/// review request, reachable by the daemon only, started again after a crash or when
/// the data roots change, ended when idle and with the daemon.
#[test]
fn the_daemons_review_engine_starts_on_demand_and_ends_idle_after_a_crash_or_with_the_daemon() {
    use memscope_tests::daemon::{has_ended, Daemon};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::create_dir_all(dir.path().join("more")).unwrap();
    let settings = "review_idle_seconds = 3\ndata_roots = [\"data\"]\n";
    let mut daemon = Daemon::start(dir.path(), settings);
    let id =
        daemon.submit_ok("name = \"e\"\nthreads = 2\n[data]\nformat = \"digits\"\n[train]\nepochs = 1\n[score]\nbuiltin = [\"loss\"]\n");
    assert_eq!(daemon.wait_done(&id, std::time::Duration::from_secs(120))["state"], "completed");
    assert_eq!(daemon.review_engine(), None, "an engine started before any review request");
    let overview = format!("/v1/jobs/{id}/review/api/run");
    let review = |daemon: &Daemon| {
        let started = Instant::now();
        let reply = daemon.get(&overview).unwrap();
        assert_eq!(reply.status, 200, "{}\n{}", reply.body, daemon.log());
        assert_eq!(reply.json()["samples"], 1797);
        started.elapsed()
    };
    let until = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(Instant::now() < deadline, "{what} did not happen in 30 s:\n{}", daemon.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    // The first review request starts the engine; the next ones find it running.
    let first = review(&daemon);
    let later = (0..5).map(|_| review(&daemon)).min().unwrap();
    println!("review requests under the daemon: the first (engine start) {first:?}, later ones {later:?}");
    let engine = daemon.review_engine().expect("the first review request started an engine");
    let (_, torch) = memory_of(engine);
    assert!(torch, "the review engine maps no libtorch");
    assert!(!memory_of(daemon.pid()).1, "the daemon mapped libtorch");

    // Its loopback port answers the daemon only: no other local user reads a run there.
    let addr = daemon.review_engine_addr(engine);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let run_dir = daemon.job(&id)["run_dir"].as_str().unwrap().to_string();
    for secret in [None, Some("guess")] {
        let mut request = agent.get(format!("http://{addr}{overview}")).header("x-memscope-run", &run_dir);
        if let Some(secret) = secret {
            request = request.header("x-memscope-review-secret", secret);
        }
        let mut reply = request.call().unwrap();
        let body = reply.body_mut().read_to_string().unwrap();
        assert_eq!(reply.status(), 403, "{body}");
        assert!(body.contains("this review server answers its daemon only"), "{body}");
    }

    // A crashed engine is started again by the next request.
    assert!(std::process::Command::new("kill").args(["-KILL", &engine.to_string()]).status().unwrap().success());
    // (Its threads end after it shows as ended; the daemon reaps it within a second.)
    let noticed = format!("the review engine (pid {engine}) ended by itself (signal: 9 (SIGKILL))");
    until("the daemon's notice of the crash", &|| daemon.log().contains(&noticed));
    review(&daemon);
    let restarted = daemon.review_engine().expect("an engine after the crash");
    assert_ne!(restarted, engine);

    // Idle for review_idle_seconds, it ends; the next request starts another.
    until("the idle engine's end", &|| daemon.review_engine().is_none());
    assert!(daemon.log().contains(&format!("the review engine (pid {restarted}) was idle for 3 s: it ends")), "{}", daemon.log());
    review(&daemon);
    let again = daemon.review_engine().expect("an engine after the idle one");

    // Other data roots (a reload) take another engine, which opens data under them.
    let config = dir.path().join("daemon.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace("data_roots = [\"data\"]", "data_roots = [\"data\", \"more\"]");
    std::fs::write(&config, text).unwrap();
    daemon.signal("HUP");
    until("the reload", &|| daemon.log().contains("reloaded the config"));
    review(&daemon);
    let with_more = daemon.review_engine().expect("an engine for the new roots");
    assert_ne!(with_more, again);
    let command = std::fs::read(format!("/proc/{with_more}/cmdline")).unwrap();
    assert!(
        String::from_utf8_lossy(&command).contains(&dir.path().join("more").display().to_string()),
        "{}",
        String::from_utf8_lossy(&command)
    );

    // The daemon's stop ends it.
    assert!(daemon.terminate(Duration::from_secs(60)).success(), "{}", daemon.log());
    assert!(has_ended(with_more), "the review engine outlived the daemon");
}
