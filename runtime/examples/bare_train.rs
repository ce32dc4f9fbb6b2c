//! A bare tch training loop: no actors, channels, loader thread or plugins, the same
//! data, network and optimizer as a job config. It is the baseline for measuring the
//! runtime's own overhead (compare with `memscope run` on the same config, which
//! `bench/bench.py` does).
//!
//!     cargo run --release --example bare_train -- [EPOCHS] [THREADS] [CONFIG [KEY=VALUE...]]
//!
//! CONFIG defaults to configs/bench-digits.toml; KEY=VALUE are `--set` overrides.
//! Prints one JSON line.

use memscope::config::load_job_file;
use memscope::data::load_data;
use memscope::model::{ModelSource, Network, Optimizer};
use std::path::PathBuf;
use std::time::Instant;
use tch::{Device, Kind, Reduction, Tensor};

fn main() {
    // The same allocator settings as the `memscope` binary: a process setting, not
    // part of the runtime's overhead.
    memscope::allocator::tune();
    let args: Vec<String> = std::env::args().collect();
    let epochs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let threads: i32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2);
    let config = args.get(3).map(PathBuf::from).unwrap_or_else(|| "configs/bench-digits.toml".into());
    let overrides: Vec<String> = args.iter().skip(4).cloned().collect();
    let job = load_job_file(&config, &overrides).unwrap_or_else(|e| panic!("{e}"));
    tch::set_num_threads(threads);
    tch::manual_seed(job.seed as i64);

    let data = load_data(&job.data, &Default::default()).unwrap_or_else(|e| panic!("{e}")).train;
    let n = data.len() as i64;
    let s = data.shape;
    let mut pixels = vec![0.0f32; data.len() * s.len()];
    data.pixels.read_range(0..data.len(), &mut pixels);
    data.normalize(&mut pixels);
    let x = Tensor::from_slice(&pixels).view([n, s.channels as i64, s.height as i64, s.width as i64]);
    let y = Tensor::from_slice(&data.labels);
    let net =
        Network::build(&ModelSource::from_config(&job.model), data.shape, data.classes, Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
    let train = &job.train;
    let mut opt = Optimizer::new(train, net.parameters().expect("parameters"));
    let start = Instant::now();
    for _ in 0..epochs {
        let perm = Tensor::randperm(n, (Kind::Int64, Device::Cpu));
        for b in (0..n).step_by(train.batch_size) {
            let idx = perm.narrow(0, b, (train.batch_size as i64).min(n - b));
            let logits = net.forward(&x.index_select(0, &idx), true).expect("forward");
            let per = logits.cross_entropy_loss::<Tensor>(&y.index_select(0, &idx), None, Reduction::None, -100, 0.0);
            let grads = opt.gradients(&per.mean(Kind::Float)).expect("gradients");
            opt.step(train.lr, &grads).expect("sgd step");
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{{\"impl\": \"bare-tch\", \"samples\": {n}, \"epochs\": {epochs}, \"threads\": {threads}, \"train_seconds\": {seconds}, \"samples_per_second\": {}}}",
        (n as usize * epochs) as f64 / seconds
    );
}
