//! `index.html`: one self-contained page (inline style, no script, no network) that
//! shows the report's PNGs beside it by relative path and links its CSVs.

use super::canvas::Picture;
use super::inputs::RunInputs;
use super::write::{DuplicatesSection, FlaggedSection, ScoreSection};
use super::ReportError;
use memscope::verdict::LABEL_ISSUES_FILE;
use std::fmt::Write as _;
use std::path::Path;

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1400px;color:#222;padding:0 1em}\
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}\
th{background:#f3f3f3}td.l,th.l{text-align:left}figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}\
figcaption{font-size:.9em;color:#555}img{max-width:100%;height:auto;image-rendering:pixelated}.note{color:#555}\
summary{cursor:pointer;color:#555;margin:.5em 0}";

/// Which score to trust for what, from the measured tables (README, REPRODUCTION.md).
pub const TRUST: &str = "Which to trust: to fix labels, the flagged samples above (confident learning from this one training: \
F1 0.91 against 10 % flipped labels on MNIST 10k, 0.85 on Fashion-MNIST 10k, 0.79 with pairflip) and, to look further, the \
rankings by loss, eval_loss and margin (AUROC 0.977-0.999 there); for memorization, curvature (AUROC 0.941-0.998 against \
flipped labels, and the score the curvature paper compares with Feldman & Zhang's estimate). Measured in REPRODUCTION.md.";

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn figure(html: &mut String, picture: &Picture) {
    let (file, title) = (escape(&picture.file), escape(&picture.title));
    writeln!(
        html,
        "<figure><a href=\"{file}\"><img src=\"{file}\" width=\"{}\" height=\"{}\" alt=\"{title}\"></a><figcaption>{title}</figcaption></figure>",
        picture.width, picture.height
    )
    .expect("writing to a String");
}

/// Writes the page to `path`: the flagged samples first, then which score to trust,
/// the run's facts, the duplicates and each score.
pub fn write_index(
    path: &Path,
    inputs: &RunInputs,
    flagged: Option<&FlaggedSection>,
    sections: &[ScoreSection],
    duplicates: &DuplicatesSection,
) -> Result<(), ReportError> {
    let mut html = String::new();
    let name = escape(&inputs.config.name);
    let w = &mut html;
    writeln!(w, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>memscope report: {name}</title>\n<style>{STYLE}</style>\n</head>\n<body>").expect("writing to a String");
    writeln!(w, "<h1>memscope report: {name}</h1>").expect("writing to a String");
    flagged_section(w, inputs, flagged);
    writeln!(w, "<p class=\"note\" id=\"trust\">{}</p>", escape(TRUST)).expect("writing to a String");
    run_facts(w, inputs);

    writeln!(w, "<h2>Files</h2>\n<ul>").expect("writing to a String");
    writeln!(w, "<li><a href=\"scores.csv\">scores.csv</a>: every sample with its source, its label as trained and original label (number and class name), every score and its rank (1 = highest)</li>").expect("writing to a String");
    writeln!(w, "<li><a href=\"conflicting_duplicates.csv\">conflicting_duplicates.csv</a>: every duplicate pair with conflicting labels, ranked</li>\n</ul>").expect("writing to a String");

    duplicates_section(w, inputs, duplicates);
    for section in sections {
        writeln!(w, "<h2 id=\"score-{0}\">Score: {0}</h2>", escape(&section.name)).expect("writing to a String");
        let mut facts = Vec::new();
        if let Some(auroc) = section.auroc {
            facts.push(format!("AUROC against the noise mask {auroc:.4}"));
        }
        facts.extend(section.masks.iter().map(|(r, auroc, ap)| format!("AUROC against {} {auroc:.4}, AP {ap:.4}", escape(r))));
        facts.extend(section.spearman.iter().map(|(r, rho)| format!("Spearman with {} {rho:.3}", escape(r))));
        if !facts.is_empty() {
            writeln!(w, "<p>{}</p>", facts.join("; ")).expect("writing to a String");
        }
        if inputs.noise_mask.is_some() {
            writeln!(w, "<p class=\"note\">Red frames: samples whose label the noise injector changed (caption: label as trained, was original).</p>").expect("writing to a String");
        }
        for picture in &section.pictures {
            figure(w, picture);
        }
        if !section.folded.is_empty() {
            writeln!(w, "<details><summary>Lowest values of {}</summary>", escape(&section.name)).expect("writing to a String");
            for picture in &section.folded {
                figure(w, picture);
            }
            writeln!(w, "</details>").expect("writing to a String");
        }
    }
    writeln!(w, "</body>\n</html>").expect("writing to a String");
    std::fs::write(path, html).map_err(|e| ReportError::io(path, e))
}

/// The samples the verdict flagged: how many, by which rule, the first of them as
/// pictures and as a table (file, given and suggested label with their probabilities).
fn flagged_section(w: &mut String, inputs: &RunInputs, section: Option<&FlaggedSection>) {
    let Some(flagged) = &inputs.flagged else { return };
    writeln!(w, "<h2 id=\"flagged\">Likely wrong labels</h2>").expect("writing to a String");
    let how = match &flagged.summary {
        Some(s) => format!("by confident learning over {} of training", s.span()),
        None => "by the run's verdict".into(),
    };
    writeln!(
        w,
        "<p>{} samples flagged {how}, most likely wrong first; <a href=\"../{LABEL_ISSUES_FILE}\">{LABEL_ISSUES_FILE}</a> lists them all, \
         with the label each should probably have.</p>",
        flagged.issues.len()
    )
    .expect("writing to a String");
    if let Some(rule) = flagged.summary.as_ref().map(|s| &s.rule) {
        writeln!(w, "<details><summary>The rule</summary><p class=\"note\">{}</p></details>", escape(rule)).expect("writing to a String");
    }
    let Some(section) = section else { return };
    figure(w, &section.picture);
    writeln!(w, "<table>\n<tr><th>rank</th><th>sample</th><th class=\"l\">given label</th><th>probability</th><th class=\"l\">suggested label</th><th>probability</th></tr>")
        .expect("writing to a String");
    for issue in &flagged.issues[..section.shown] {
        writeln!(
            w,
            "<tr><td>{}</td><td>{}</td><td class=\"l\">{}</td><td>{:.3}</td><td class=\"l\">{}</td><td>{:.3}</td></tr>",
            issue.rank,
            sample(inputs, issue.index),
            escape(&issue.given_name),
            issue.given_prob,
            escape(&issue.suggested_name),
            issue.suggested_prob
        )
        .expect("writing to a String");
    }
    writeln!(w, "</table>").expect("writing to a String");
}

/// Dataset, training result and the comparer's verdicts, from `summary.json`.
fn run_facts(w: &mut String, inputs: &RunInputs) {
    let mut facts = vec![
        format!("dataset {}", escape(&inputs.dataset.description)),
        format!("{} samples", inputs.samples()),
        // The summary names what was trained (a program's own module too).
        format!(
            "model {}",
            escape(&match &inputs.summary {
                Some(summary) => summary.arch.clone(),
                None => memscope::model::ModelSource::from_config(&inputs.config.model).to_string(),
            })
        ),
    ];
    if let Some(noisy) = &inputs.noise_mask {
        facts.push(format!("{} labels changed by the noise injector", noisy.iter().filter(|&&m| m).count()));
    }
    let Some(summary) = &inputs.summary else {
        writeln!(w, "<p>{}</p>", facts.join(" · ")).expect("writing to a String");
        return;
    };
    facts.push(format!("{} epochs", summary.epochs));
    facts.push(format!("train accuracy {:.4}", summary.train_accuracy));
    if let Some(test) = summary.test_accuracy {
        facts.push(format!("test accuracy {test:.4}"));
    }
    writeln!(w, "<p>{}</p>", facts.join(" · ")).expect("writing to a String");
    if let Some(c) = &summary.corrections {
        writeln!(w, "<p id=\"corrections\">{}</p>", escape(&corrections_line(c))).expect("writing to a String");
    }
    if summary.comparisons.is_empty() {
        return;
    }
    ranking_tables(w, summary);
    writeln!(w, "<table>\n<tr><th class=\"l\">score</th><th class=\"l\">against</th><th class=\"l\">measures</th></tr>")
        .expect("writing to a String");
    for c in &summary.comparisons {
        let measures: Vec<String> = c.metrics.iter().map(|(k, v)| format!("{} {v:.4}", escape(k))).collect();
        writeln!(
            w,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
            escape(&c.score),
            escape(&c.against),
            measures.join(", ")
        )
        .expect("writing to a String");
    }
    writeln!(w, "</table>").expect("writing to a String");
}

/// `Corrections applied from FILE: 12 relabelled, 5 excluded, 3 kept as they were (of
/// 1797 samples read; 1792 trained).`
fn corrections_line(c: &memscope::data::corrections::CorrectionsSummary) -> String {
    let beyond = match c.beyond_limit {
        0 => String::new(),
        n => format!("; {n} more lie past data.limit"),
    };
    format!(
        "Corrections applied from {}: {} relabelled, {} excluded, {} kept as they were (of {} samples read; {} trained{beyond}).",
        c.file,
        c.relabelled,
        c.excluded,
        c.kept,
        c.samples_read,
        c.samples_read - c.excluded
    )
}

/// One table per comparison target ranking every score compared with it, best first
/// (`memscope::run::rank_scores`, from the summary's comparisons, so a run written
/// before rankings existed gets them too).
fn ranking_tables(w: &mut String, summary: &memscope::run::Summary) {
    for ranking in memscope::run::rank_scores(&summary.comparisons) {
        writeln!(w, "<h3>Which score finds it best: against {}</h3>", escape(&ranking.against)).expect("writing to a String");
        let headers: String = ranking.measures.iter().map(|m| format!("<th>{}</th>", escape(&memscope::run::measure_label(m)))).collect();
        writeln!(w, "<table>\n<tr><th>rank</th><th class=\"l\">score</th>{headers}</tr>").expect("writing to a String");
        for row in &ranking.rows {
            let cells: String = ranking
                .measures
                .iter()
                .map(|m| match row.values.get(m) {
                    Some(v) => format!("<td>{v:.4}</td>"),
                    None => "<td>-</td>".to_string(),
                })
                .collect();
            writeln!(w, "<tr><td>{}</td><td class=\"l\">{}</td>{cells}</tr>", row.rank, escape(&row.score)).expect("writing to a String");
        }
        writeln!(w, "</table>").expect("writing to a String");
    }
    writeln!(w, "<h3>Every measure</h3>").expect("writing to a String");
}

fn duplicates_section(w: &mut String, inputs: &RunInputs, duplicates: &DuplicatesSection) {
    let main = inputs.main_score();
    let f = &duplicates.findings;
    writeln!(w, "<h2 id=\"duplicates\">Duplicates with conflicting labels</h2>").expect("writing to a String");
    writeln!(
        w,
        "<p>{} pairs of identical or near-identical images (RMS pixel difference at most {}, pixels in [0, 1]) carry different labels as trained; \
         ranked by the higher {} of the two. {} groups of exact copies; {} candidate pairs checked; search took {:.2} s.</p>",
        duplicates.pairs.len(),
        duplicates.max_distance,
        escape(&main.name),
        f.exact_groups,
        f.candidates,
        f.exact_seconds + f.projection_seconds + f.search_seconds
    )
    .expect("writing to a String");
    if duplicates.pairs.is_empty() {
        return;
    }
    figure(w, &duplicates.picture);
    let name = escape(&main.name);
    writeln!(
        w,
        "<table>\n<tr><th>rank</th><th>sample a</th><th>sample b</th><th>label a</th><th>label b</th><th>distance</th><th>{name} a</th><th>{name} b</th></tr>"
    )
    .expect("writing to a String");
    for (n, p) in duplicates.pairs[..duplicates.shown].iter().enumerate() {
        let distance = if p.exact { "exact".to_string() } else { format!("{:.4}", p.distance) };
        writeln!(
            w,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{distance}</td><td>{:.4}</td><td>{:.4}</td></tr>",
            n + 1,
            sample(inputs, p.a),
            sample(inputs, p.b),
            label(inputs, p.a),
            label(inputs, p.b),
            main.values[p.a],
            main.values[p.b]
        )
        .expect("writing to a String");
    }
    writeln!(w, "</table>").expect("writing to a String");
}

/// The sample's index and, under it, its source (the file to open to fix its label).
fn sample(inputs: &RunInputs, i: usize) -> String {
    format!("{i}<br><span class=\"note\">{}</span>", escape(&inputs.dataset.source(i)))
}

/// The label as trained by class name, with the original when a plugin changed it.
fn label(inputs: &RunInputs, i: usize) -> String {
    let (label, original) = (inputs.labels[i], inputs.original_label(i));
    let name = |l: i64| escape(&inputs.dataset.class_name(l));
    if label == original {
        name(label)
    } else {
        format!("{} (was {})", name(label), name(original))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
