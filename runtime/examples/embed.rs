//! memscope embedded in a Rust program: a network written with tch, a dataset the
//! program makes in memory, a scorer of its own run in-process, and the job's events
//! printed as they come. Nothing is written to disk.
//!
//!     cargo run --release --example embed
//!
//! The data: 4 classes of 12x12 images (class k is a bright bar at row 2 + 2k, plus
//! noise); 5 % of the labels are then changed on purpose. A memorization score should
//! put those samples first: the program prints how many of its top-ranked samples are
//! the changed ones.

use memscope::config::parse_job;
use memscope::data::{ImageShape, InMemoryDataset};
use memscope::{Job, JobEvent};
use memscope_sdk::{Hook, Host, Plugin, PluginResult, ScoreBatch};
use std::path::Path;
use tch::{nn, Kind, Tensor};

const SAMPLES: usize = 800;
const CLASSES: usize = 4;
const SIDE: usize = 12;

/// The program's network: two convolutions and a linear layer.
fn small_cnn(p: &nn::Path, shape: ImageShape, classes: usize) -> nn::SequentialT {
    let conv = nn::ConvConfig { padding: 1, ..Default::default() };
    let flat = 16 * (shape.height as i64 / 2) * (shape.width as i64 / 2);
    nn::seq_t()
        .add(nn::conv2d(p / "conv1", shape.channels as i64, 8, 3, conv))
        .add_fn(|x| x.relu())
        .add(nn::conv2d(p / "conv2", 8, 16, 3, conv))
        .add_fn(|x| x.max_pool2d_default(2).relu().flatten(1, -1))
        .add(nn::linear(p / "out", flat, classes as i64, Default::default()))
}

/// The program's scorer: one minus the probability the network gives the label (high
/// when the network does not believe the label).
struct Doubt;

impl Plugin for Doubt {
    fn name() -> &'static str {
        "doubt"
    }

    fn hooks() -> &'static [Hook] {
        &[Hook::ScoreBatch]
    }

    fn create(_config: &str, _host: &Host) -> PluginResult<Self> {
        Ok(Doubt)
    }

    fn score_batch(&mut self, host: &Host, _batch: &ScoreBatch, images: &Tensor, labels: &Tensor) -> PluginResult<Tensor> {
        let logits = tch::no_grad(|| host.forward(images))?;
        let p_label = logits.f_softmax(-1, Kind::Float)?.f_gather(1, &labels.f_unsqueeze(1)?, false)?.f_squeeze_dim(1)?;
        Ok(p_label.f_neg()?.f_add_scalar(1.0)?)
    }
}

/// Bars with noise (a small deterministic generator), and which labels were changed.
fn make_data() -> (InMemoryDataset, Vec<bool>) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let mut images = Vec::with_capacity(SAMPLES * SIDE * SIDE);
    let mut labels = Vec::with_capacity(SAMPLES);
    let mut changed = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let class = i % CLASSES;
        for row in 0..SIDE {
            for _ in 0..SIDE {
                let bar = if row == 2 + 2 * class { 0.8 } else { 0.0 };
                images.push((bar + 0.2 * next()).min(1.0));
            }
        }
        let flip = next() < 0.05;
        let label = if flip { (class + 1 + (next() * (CLASSES - 1) as f32) as usize) % CLASSES } else { class };
        labels.push(label as i64);
        changed.push(label != class);
    }
    let shape = ImageShape { channels: 1, height: SIDE, width: SIDE };
    let data = InMemoryDataset::new(shape, CLASSES, images, labels).expect("consistent sizes");
    (data.with_class_names((0..CLASSES).map(|k| format!("bar{k}")).collect()), changed)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The job's settings, as a job file would give them; `[data]` is not read (the
    // program gives the data), and there are no `[[plugins]]` to load from libraries.
    let config = parse_job(
        r#"
            name = "embedded"
            seed = 1
            [data]
            format = "digits"
            [train]
            epochs = 6
            batch_size = 32
            lr = 0.05
            [score]
            builtin = ["loss"]
            every = 2
        "#,
        "<embed.rs>",
        &[],
        Path::new("."),
    )?;
    let (data, changed) = make_data();

    let job = Job::new(config)
        .model_named("small cnn", small_cnn)
        .dataset(data)
        .plugin::<Doubt>(toml::Table::new())
        .on_event(|event| match event {
            JobEvent::JobStarted { samples, epochs, device, .. } => println!("started: {samples} samples, {epochs} epochs on {device}"),
            JobEvent::TrainEpochEnd(s) => println!("epoch {}: loss {:.4}, accuracy {:.3}", s.epoch, s.loss, s.accuracy),
            JobEvent::ScoresReady { epoch, scorer, seconds, .. } => println!("scored `{scorer}` after epoch {epoch} in {seconds:.2} s"),
            JobEvent::JobEnded { message, .. } => println!("ended: {message}"),
            _ => {}
        })
        .run_dir(None)
        .spawn()?;
    let outcome = job.join()?;

    let flipped = changed.iter().filter(|&&c| c).count();
    println!("train accuracy {:.3} (labels as given)", outcome.summary.train_accuracy);
    for name in ["loss", "doubt"] {
        let score = outcome.score(name).ok_or("a score is missing")?;
        let mut order: Vec<usize> = (0..score.len()).collect();
        order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
        let found = order[..flipped].iter().filter(|&&i| changed[i]).count();
        println!("{name}: {found} of the {flipped} changed labels are among its top {flipped} samples");
    }
    Ok(())
}
