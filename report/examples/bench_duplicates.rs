//! Timing of the duplicates finder on MNIST's 60,000 training images (28x28), as the
//! report runs it: exact copies by hashing, PCA projection, k-d tree radius search,
//! candidates verified with the true distance. A second pass plants 100 exact and 100
//! slightly noisy copies under other labels and checks that all are found.
//!
//!     cargo run --release --example bench_duplicates -- [DISTANCE] [THREADS]
//!
//! MNIST comes from `scripts/fetch-data` (`data/mnist/`). Without it, the benchmark
//! times 60,000 synthetic 28x28 images instead and says so.

use memscope::config::parse_job;
use memscope::data::load_data;
use memscope_report::duplicates::{find_conflicting_pairs, DuplicateFindings, FlatRows};
use std::path::Path;
use std::time::Instant;

const SIDE: usize = 28;
const PIXELS: usize = SIDE * SIDE;
const PLANTED: usize = 100;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let distance: f32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(0.03);
    let threads: i32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2);
    tch::set_num_threads(threads);

    let (source, mut images, mut labels) = mnist().unwrap_or_else(synthetic);
    let n = labels.len();
    println!("dataset: {source}, {n} images {SIDE}x{SIDE}, threshold RMS {distance}, {threads} threads");

    let (findings, seconds) = timed(&images, &labels, distance);
    println!("duplicates: {n} images in {seconds:.2} s, {} conflicting pairs", findings.pairs.len());
    breakdown(&findings);

    // Plant copies under another label: every one must be found.
    let mut planted = Vec::new();
    for k in 0..2 * PLANTED {
        let source = (k * 7919) % n;
        let noise = if k < PLANTED { 0.0 } else { 0.01 };
        let copy: Vec<f32> = images[source * PIXELS..(source + 1) * PIXELS]
            .iter()
            .enumerate()
            .map(|(p, &v)| (v + noise * (((p * 7 + k * 13) % 21) as f32 / 10.0 - 1.0)).clamp(0.0, 1.0))
            .collect();
        images.extend(copy);
        labels.push((labels[source] + 1) % 10);
        planted.push((source, labels.len() - 1));
    }
    let (findings, seconds) = timed(&images, &labels, distance);
    let found = planted.iter().filter(|&&(a, b)| findings.pairs.iter().any(|p| (p.a, p.b) == (a, b))).count();
    println!(
        "with {} planted copies ({PLANTED} exact, {PLANTED} with noise +-0.01): {} images in {seconds:.2} s, found {found} of {} planted pairs",
        2 * PLANTED,
        labels.len(),
        planted.len()
    );
    breakdown(&findings);
    if found != planted.len() {
        eprintln!("error: {} planted pairs were missed", planted.len() - found);
        std::process::exit(1);
    }
}

fn timed(images: &[f32], labels: &[i64], distance: f32) -> (DuplicateFindings, f64) {
    let started = Instant::now();
    let findings = find_conflicting_pairs(&FlatRows::new(images, PIXELS), labels, distance).expect("the duplicates search");
    (findings, started.elapsed().as_secs_f64())
}

fn breakdown(f: &DuplicateFindings) {
    println!(
        "  exact hashing {:.2} s ({} groups of copies), projection {:.2} s, tree and search {:.2} s ({} candidates checked)",
        f.exact_seconds, f.exact_groups, f.projection_seconds, f.search_seconds, f.candidates
    );
}

/// MNIST's training set, when `scripts/fetch-data` fetched it.
fn mnist() -> Option<(String, Vec<f32>, Vec<i64>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist");
    let (images, labels) = (root.join("train-images-idx3-ubyte"), root.join("train-labels-idx1-ubyte"));
    if !images.exists() || !labels.exists() {
        eprintln!("MNIST not found in {} (run scripts/fetch-data); using synthetic images", root.display());
        return None;
    }
    let text = format!("name = \"mnist\"\n[data]\nformat = \"idx\"\npath = {:?}\nlabels = {:?}\n", images, labels);
    let config = parse_job(&text, "<bench>", &[], Path::new(".")).expect("an idx config");
    let data = load_data(&config.data, &Default::default()).expect("MNIST as fetched by scripts/fetch-data").train;
    Some(("MNIST train".into(), (0..data.len()).flat_map(|i| data.image(i)).collect(), data.labels))
}

/// 60,000 synthetic 28x28 images: a few soft strokes each at seeded places, so that
/// images differ as handwriting does rather than as white noise.
fn synthetic() -> (String, Vec<f32>, Vec<i64>) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32
    };
    let n = 60_000;
    let mut images = vec![0.0f32; n * PIXELS];
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        labels.push((i % 10) as i64);
        let image = &mut images[i * PIXELS..(i + 1) * PIXELS];
        for _ in 0..3 {
            let (x0, y0, x1, y1) = (next() * 20.0 + 4.0, next() * 20.0 + 4.0, next() * 20.0 + 4.0, next() * 20.0 + 4.0);
            for step in 0..=20 {
                let t = step as f32 / 20.0;
                let (cx, cy) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
                for (p, value) in image.iter_mut().enumerate() {
                    let (dx, dy) = ((p % SIDE) as f32 - cx, (p / SIDE) as f32 - cy);
                    let ink = (-(dx * dx + dy * dy) / 2.0).exp();
                    *value = value.max(ink);
                }
            }
        }
    }
    ("synthetic strokes (MNIST unavailable)".into(), images, labels)
}
