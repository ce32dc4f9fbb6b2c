//! The pictures of samples: grids of the highest and lowest scores, and the
//! conflicting duplicate pairs side by side.

use super::canvas::{Canvas, Picture};
use super::duplicates::ConflictingPair;
use super::inputs::{RunInputs, Score};
use super::tiles::{short, Caption, TileStyle, BLUE, GREY, INK, LINE, RED, WHITE};
use super::ReportError;
use memscope::verdict::LabelIssue;
use std::path::Path;

/// Space between tiles and around the picture.
const GAP: u32 = 10;
/// Height of a picture's title line.
const TITLE: u32 = 30;
const TITLE_SIZE: f32 = 17.0;
/// Tiles per row of a sample grid.
const GRID_COLUMNS: usize = 10;
/// Pairs per row of the duplicates picture.
const PAIR_COLUMNS: usize = 3;

/// Characters of a class name shown in a caption: a tile is about 18 characters wide.
const NAME_CHARS: usize = 10;
/// Characters of a file name shown in a caption.
const FILE_CHARS: usize = 18;
/// Caption lines under every tile: the first line, the file name, the label, and the
/// verdict's suggestion (empty for a sample it did not flag).
pub const CAPTION_LINES: u32 = 4;

/// The caption of sample `i` under a `first` line: the file it came from, the label as
/// trained and, when the noise injector changed it, the original one (in red), by
/// class name ("label cat (was dog)"), then, when the verdict flagged it, the label it
/// suggests with its probability ("→ dog 0.91", in blue).
fn sample_caption(inputs: &RunInputs, i: usize, first: String) -> Vec<Caption> {
    let (label, original) = (inputs.labels[i], inputs.original_label(i));
    let name = |l: i64| clip(&inputs.dataset.class_name(l), NAME_CHARS);
    let label_line = if label != original {
        (format!("label {} (was {})", name(label), name(original)), RED)
    } else {
        (format!("label {}", name(label)), INK)
    };
    let suggestion = match inputs.flagged.as_ref().and_then(|f| f.issue(i)) {
        Some(issue) => (format!("→ {} {:.2}", clip(&issue.suggested_name, NAME_CHARS), issue.suggested_prob), BLUE),
        None => (String::new(), INK),
    };
    let file = (clip_start(&file_name(&inputs.dataset.source(i)), FILE_CHARS), INK);
    vec![(first, INK), file, label_line, suggestion]
}

/// The first caption line of a score's grid: index and value.
fn score_line(i: usize, score: &Score) -> String {
    format!("#{i}  {}", short(score.values[i]))
}

/// The last part of a source: the file name (with its `#record` for records of a file).
fn file_name(source: &str) -> String {
    source.rsplit(['/', '\\']).next().unwrap_or(source).to_string()
}

/// `text` cut to `chars` characters, with an ellipsis when cut.
fn clip(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_string()
    } else {
        text.chars().take(chars - 1).chain(['…']).collect()
    }
}

/// `text` cut to its last `chars` characters, with an ellipsis first when cut (file
/// names differ at their end).
fn clip_start(text: &str, chars: usize) -> String {
    let count = text.chars().count();
    if count <= chars {
        text.to_string()
    } else {
        ['…'].into_iter().chain(text.chars().skip(count - (chars - 1))).collect()
    }
}

fn border(inputs: &RunInputs, i: usize) -> [u8; 3] {
    if inputs.is_noisy(i) {
        RED
    } else {
        GREY
    }
}

/// Writes a grid of `samples` (in the given order) with `title`, each tile captioned
/// with its index, `score` value, file name, labels and the verdict's suggestion.
pub fn write_sample_grid(
    dir: &Path,
    file: &str,
    title: &str,
    samples: &[usize],
    score: &Score,
    inputs: &RunInputs,
    style: &TileStyle,
) -> Result<Picture, ReportError> {
    let captions = samples.iter().map(|&i| sample_caption(inputs, i, score_line(i, score))).collect();
    draw_grid(dir, file, title, samples, captions, inputs, style)
}

/// Writes a grid of flagged samples (in rank order) with `title`, each tile captioned
/// with its rank and index, file name, given label and probability, and the suggested
/// label and probability.
pub fn write_flagged_grid(
    dir: &Path,
    file: &str,
    title: &str,
    issues: &[LabelIssue],
    inputs: &RunInputs,
    style: &TileStyle,
) -> Result<Picture, ReportError> {
    let samples: Vec<usize> = issues.iter().map(|issue| issue.index).collect();
    let captions = issues
        .iter()
        .map(|issue| {
            let mut caption = sample_caption(inputs, issue.index, format!("{}. #{}", issue.rank, issue.index));
            // The label line with the probability the network gave it.
            caption[2].0 = format!("{} {:.2}", caption[2].0, issue.given_prob);
            caption
        })
        .collect();
    draw_grid(dir, file, title, &samples, captions, inputs, style)
}

/// Draws `samples` ten to a row under `title`, each with its caption.
fn draw_grid(
    dir: &Path,
    file: &str,
    title: &str,
    samples: &[usize],
    captions: Vec<Vec<Caption>>,
    inputs: &RunInputs,
    style: &TileStyle,
) -> Result<Picture, ReportError> {
    let (width, height) = sample_grid_size(samples.len(), style);
    let columns = GRID_COLUMNS.min(samples.len()).max(1) as u32;
    let (tile_w, tile_h) = (style.tile_width(), style.tile_height(CAPTION_LINES));
    let mut canvas = Canvas::new(width, height, WHITE);
    canvas.text(GAP, 8, title, TITLE_SIZE, INK);
    for (n, (&i, caption)) in samples.iter().zip(&captions).enumerate() {
        let (row, column) = ((n / columns as usize) as u32, (n % columns as usize) as u32);
        let (x, y) = (GAP + column * (tile_w + GAP), TITLE + GAP + row * (tile_h + GAP));
        style.draw(&mut canvas, x, y, &inputs.dataset.image(i), border(inputs, i), caption);
    }
    canvas.save(dir, file, title)
}

/// Writes the conflicting pairs (already ranked) side by side: each pair's two images
/// next to each other, with their labels, distance and `score` values.
pub fn write_pairs(
    dir: &Path,
    file: &str,
    title: &str,
    pairs: &[ConflictingPair],
    score: &Score,
    inputs: &RunInputs,
    style: &TileStyle,
) -> Result<Picture, ReportError> {
    let columns = PAIR_COLUMNS.min(pairs.len()).max(1) as u32;
    let rows = pairs.len().div_ceil(columns as usize).max(1) as u32;
    let (tile_w, tile_h) = (style.tile_width(), style.tile_height(CAPTION_LINES));
    let pair_w = 2 * tile_w + GAP / 2;
    let pair_h = tile_h + 2 * LINE + 4;
    let width = GAP + columns * (pair_w + 2 * GAP);
    let height = TITLE + GAP + rows * (pair_h + GAP);
    let mut canvas = Canvas::new(width, height, WHITE);
    canvas.text(GAP, 8, title, TITLE_SIZE, INK);
    if pairs.is_empty() {
        canvas.text(GAP, TITLE + GAP, "no conflicting pairs", 13.0, INK);
    }
    for (n, pair) in pairs.iter().enumerate() {
        let (row, column) = ((n / columns as usize) as u32, (n % columns as usize) as u32);
        let (x, y) = (GAP + column * (pair_w + 2 * GAP), TITLE + GAP + row * (pair_h + GAP));
        for (k, i) in [pair.a, pair.b].into_iter().enumerate() {
            let tile_x = x + k as u32 * (tile_w + GAP / 2);
            style.draw(&mut canvas, tile_x, y, &inputs.dataset.image(i), RED, &sample_caption(inputs, i, format!("#{i}")));
        }
        let kind = if pair.exact { "exact copy".to_string() } else { format!("RMS distance {:.4}", pair.distance) };
        canvas.text(x + 2, y + tile_h, &format!("{}. {kind}", n + 1), 12.0, INK);
        let values = format!("{} {} / {}", score.name, short(score.values[pair.a]), short(score.values[pair.b]));
        canvas.text(x + 2, y + tile_h + LINE, &values, 12.0, INK);
    }
    canvas.save(dir, file, title)
}

/// Width and height of a grid of `samples` tiles.
pub fn sample_grid_size(samples: usize, style: &TileStyle) -> (u32, u32) {
    let columns = GRID_COLUMNS.min(samples).max(1) as u32;
    let rows = samples.div_ceil(columns as usize).max(1) as u32;
    (GAP + columns * (style.tile_width() + GAP), TITLE + GAP + rows * (style.tile_height(CAPTION_LINES) + GAP))
}

#[cfg(test)]
mod tests {
    use super::*;
    use memscope::data::{Dataset, ImageShape, PixelStore, Sources};

    fn inputs(labels: Vec<i64>, original: Vec<i64>, names: &[&str]) -> RunInputs {
        let n = labels.len();
        let shape = ImageShape { channels: 1, height: 2, width: 2 };
        let mut dataset = Dataset::new(
            "test".into(),
            shape,
            PixelStore::floats(vec![0.5; 4 * n], 4),
            original.clone(),
            names.len(),
            Sources::records("pets", n),
        );
        dataset.class_names = names.iter().map(|s| s.to_string()).collect();
        RunInputs {
            dir: "run".into(),
            config: memscope::config::parse_job("name = \"t\"\n[data]\nformat = \"digits\"\n", "t", &[], Path::new(".")).unwrap(),
            summary: None,
            noise_mask: Some(labels.iter().zip(&original).map(|(a, b)| a != b).collect()),
            labels,
            original_labels: Some(original),
            scores: vec![Score { name: "loss".into(), values: vec![0.25; n], epochs: None }],
            dataset,
            flagged: None,
        }
    }

    #[test]
    fn captions_name_the_file_the_classes_the_label_a_sample_had_before_the_noise_and_the_suggestion() {
        let mut run = inputs(vec![1, 0], vec![0, 0], &["cat", "a-very-long-class-name"]);
        let caption = sample_caption(&run, 0, score_line(0, &run.scores[0]));
        assert_eq!(caption[0].0, "#0  0.250");
        assert_eq!(caption[1].0, "pets#0");
        assert_eq!(caption[2], ("label a-very-lo… (was cat)".to_string(), RED));
        assert_eq!(caption[3].0, "", "not flagged: no suggestion");
        assert_eq!(sample_caption(&run, 1, "#1".into())[2], ("label cat".to_string(), INK));

        let issue = LabelIssue {
            rank: 1,
            index: 0,
            source: "pets#0".into(),
            given_label: 1,
            given_name: "a-very-long-class-name".into(),
            given_prob: 0.03,
            suggested_label: 0,
            suggested_name: "cat".into(),
            suggested_prob: 0.912,
            flagged_by: "confident_learning".into(),
        };
        run.flagged = Some(crate::inputs::Flagged::new(vec![issue], None));
        assert_eq!(sample_caption(&run, 0, "#0".into())[3], ("→ cat 0.91".to_string(), BLUE));
        assert_eq!(sample_caption(&run, 1, "#1".into())[3].0, "");
    }

    #[test]
    fn file_names_are_the_end_of_the_source() {
        assert_eq!(file_name("/data/pets/train/cat/img 001.png"), "img 001.png");
        assert_eq!(file_name("train-images-idx3-ubyte.gz#4123"), "train-images-idx3-ubyte.gz#4123");
        assert_eq!(clip_start("train-images-idx3-ubyte.gz#4123", 18), "…dx3-ubyte.gz#4123");
        assert_eq!(clip_start("short.png", 18), "short.png");
    }
}
