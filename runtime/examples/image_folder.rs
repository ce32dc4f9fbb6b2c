//! The image-folder benchmark's two tools (`bench/decode.sh` drives them):
//!
//!   image_folder write IMAGES.idx LABELS.idx OUT_DIR N   # first N images as OUT_DIR/<label>/<i>.png
//!   image_folder load JOB.toml                           # loads the job's data, says how fast
//!
//! `load` prints one line: `images N seconds S images_per_second R decoded true|false`
//! (`decoded` is false when the cache answered).

use memscope::config::load_job_file;
use memscope::data::images::encode_png;
use memscope::data::{load_data, Access, LoadOptions, ProgressFn};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("write") if args.len() == 6 => {
            write(Path::new(&args[2]), Path::new(&args[3]), Path::new(&args[4]), args[5].parse().expect("N"))
        }
        Some("load") if args.len() == 3 => load(Path::new(&args[2])),
        _ => {
            eprintln!("usage: image_folder write IMAGES.idx LABELS.idx OUT_DIR N | image_folder load JOB.toml");
            std::process::exit(2);
        }
    }
}

fn idx(path: &Path, dims: usize) -> (Vec<usize>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = 4 + 4 * dims;
    let shape = (0..dims).map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize).collect();
    (shape, bytes[header..].to_vec())
}

fn write(images: &Path, labels: &Path, out: &Path, n: usize) {
    let (shape, pixels) = idx(images, 3);
    let (_, labels) = idx(labels, 1);
    let (h, w) = (shape[1], shape[2]);
    let n = n.min(shape[0]);
    for label in labels[..n].iter().collect::<std::collections::BTreeSet<_>>() {
        std::fs::create_dir_all(out.join(label.to_string())).unwrap();
    }
    let started = Instant::now();
    (0..n).into_par_iter().for_each(|i| {
        let file: PathBuf = out.join(labels[i].to_string()).join(format!("{i:05}.png"));
        std::fs::write(&file, encode_png(&pixels[i * h * w..(i + 1) * h * w], 1, h, w)).unwrap();
    });
    eprintln!("wrote {n} PNG files under {} in {:.1} s", out.display(), started.elapsed().as_secs_f64());
}

fn load(job: &Path) {
    let config = load_job_file(job, &[]).unwrap_or_else(|e| panic!("{e}"));
    let decoded = Arc::new(AtomicBool::new(false));
    let flag = decoded.clone();
    let progress: ProgressFn = Arc::new(move |_| flag.store(true, Ordering::Relaxed));
    let started = Instant::now();
    let data = load_data(&config.data, &LoadOptions { access: Access::Anything, progress: Some(progress), skip_corrections: false })
        .unwrap_or_else(|e| panic!("{e}"))
        .train;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "images {} seconds {seconds:.3} images_per_second {:.0} decoded {}",
        data.len(),
        data.len() as f64 / seconds,
        decoded.load(Ordering::Relaxed)
    );
}
